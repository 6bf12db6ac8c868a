"""Python-side helpers of the pyhost engine's runtime layer (``_pyhost_host``).

Runs inside the embedded interpreter only: loading modules and functions,
describing exceptions, the logging handler that forwards records to the
host, ``sys.path``, and what the interpreter is. The layers above register
what they add here (``add_*``) instead of this module naming them.
"""

import importlib
import importlib.util
import logging
import os
import sys
import traceback

# ---------------------------------------------------------------------------
# Hooks the layers above register
# ---------------------------------------------------------------------------

# Record attributes that name the object a log record came from, in order,
# each with the values that mean "none" (e.g. a check id).
_record_ids = []
# Predicates on the root logger's other handlers: a handler for which one is
# true is muted (it would send the same record to the host a second time).
_duplicate_handlers = []
# Called after sys.path gained entries.
_path_listeners = []
# Called after a module was loaded for the host.
_load_listeners = []


def add_record_id(attribute, none_values=()):
    """Read ``attribute`` of a log record as the id of what logged it."""
    _record_ids.append((attribute, frozenset(none_values)))


def add_duplicate_handler(predicate):
    """Mute root-logger handlers for which ``predicate(handler)`` is true."""
    _duplicate_handlers.append(predicate)


def add_path_listener(listener):
    _path_listeners.append(listener)


def add_load_listener(listener):
    _load_listeners.append(listener)


# ---------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------


def _silence(record):
    return False


class HostLogHandler(logging.Handler):
    """Forwards every log record to the host, with the id of what logged it.

    Other handlers on the root logger that a layer marked as duplicates (a
    library's own forwarder) are muted, so each record reaches the host
    once, from this handler.
    """

    def __init__(self, level, forward):
        super().__init__(level)
        self.forward = forward
        self._handlers_seen = -1

    def mute_duplicates(self):
        handlers = logging.getLogger().handlers
        if len(handlers) == self._handlers_seen:
            return
        self._handlers_seen = len(handlers)
        for handler in handlers:
            if handler is self or _silence in handler.filters:
                continue
            if any(predicate(handler) for predicate in _duplicate_handlers):
                handler.addFilter(_silence)

    def emit(self, record):
        try:
            self.mute_duplicates()
            message = self.format(record)
            self.forward(record.levelno, record.name, _record_id(record), message)
        except Exception:  # noqa: BLE001 - logging must never raise into a plugin
            self.handleError(record)


def _record_id(record):
    for attribute, none_values in _record_ids:
        value = getattr(record, attribute, None)
        if value and value not in none_values:
            return str(value)
    return ""


def _host_handler():
    for handler in logging.getLogger().handlers:
        if isinstance(handler, HostLogHandler):
            return handler
    return None


def install_logging(level, forward):
    root = logging.getLogger()
    handler = _host_handler()
    if handler is not None:
        handler.setLevel(level)
        handler.forward = forward
    else:
        handler = HostLogHandler(level, forward)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


# ---------------------------------------------------------------------------
# sys.path, modules, functions
# ---------------------------------------------------------------------------


def extend_path(entries):
    for entry in reversed(entries):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    for listener in _path_listeners:
        listener()


def type_name(exc_type):
    module = getattr(exc_type, "__module__", "builtins")
    name = getattr(exc_type, "__qualname__", exc_type.__name__)
    return name if module == "builtins" else f"{module}.{name}"


def describe(exc):
    """(type, message, traceback) of an exception instance."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the error
        message = f"<unprintable {type_name(type(exc))} object>"
    return type_name(type(exc)), message, text


def load_module(source):
    """Imports a module by name, or loads a ``.py`` file by path."""
    if source.endswith(".py") or os.sep in source:
        path = os.path.abspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"file not found: {path}")
        name = os.path.splitext(os.path.basename(path))[0]
        existing = sys.modules.get(name)
        if existing is not None and getattr(existing, "__file__", None) == path:
            return existing
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    return importlib.import_module(source)


def loaded(load):
    """Runs ``load()`` (which imports plugin code) and tells the listeners."""
    try:
        return load()
    finally:
        handler = _host_handler()
        if handler is not None:
            handler.mute_duplicates()
        for listener in _load_listeners:
            listener()


def load_function(module_name, name):
    module = loaded(lambda: load_module(module_name))
    function = getattr(module, name, None)
    if not callable(function):
        raise LookupError(f"module {module.__name__!r} has no callable {name!r}")
    return function


def python_info():
    libpython = ""
    engine = ""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rstrip("\n").split(" ")[-1]
                if not libpython and "/libpython" in path:
                    libpython = path
                if not engine and "/libpyhost_engine" in path:
                    engine = path
    except OSError:
        pass
    return {
        "version": sys.version,
        "version_info": list(sys.version_info[:3]),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "path": list(sys.path),
        "libpython": libpython,
        "engine": engine,
    }


# ---------------------------------------------------------------------------
# Calls that would end the host's process
# ---------------------------------------------------------------------------

_HOST_PID = os.getpid()


class ProcessExitRefused(SystemExit):
    """Raised instead of ending the host's process: ``os._exit()`` or
    ``os.abort()`` from plugin code in the agent's own process. It derives
    from SystemExit, so it ends the plugin's run the way ``sys.exit()`` does
    and ``except Exception`` does not swallow it. A forked child may still
    call both."""


ProcessExitRefused.__module__ = "pyhost"


def _guard(name, real):
    def guarded(*args):
        if os.getpid() != _HOST_PID:
            return real(*args)
        shown = ", ".join(repr(a) for a in args)
        raise ProcessExitRefused(
            f"os.{name}({shown}) would end the pyhost agent's process; refused "
            "(a forked child may call it)"
        )

    guarded.__name__ = guarded.__qualname__ = name
    guarded.__doc__ = real.__doc__
    return guarded


def _guard_process_exits():
    import posix

    for name in ("_exit", "abort"):
        real = getattr(posix, name)
        guarded = _guard(name, real)
        setattr(posix, name, guarded)
        setattr(os, name, guarded)


_guard_process_exits()
