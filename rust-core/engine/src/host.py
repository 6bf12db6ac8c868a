"""Python-side helpers of the pyhost engine (module ``_pyhost_host``).

Runs inside the embedded interpreter only. Kept small: everything here is
either easier to say in Python (class selection, traceback formatting) or
must be Python (the logging handler).
"""

import importlib
import importlib.util
import logging
import os
import sys
import traceback

import _pyhost


class HostLogHandler(logging.Handler):
    """Forwards every log record to the host, with the check it came from."""

    def emit(self, record):
        try:
            message = self.format(record)
            _pyhost.log(
                record.levelno,
                record.name,
                str(getattr(record, "check_id", "") or ""),
                message,
            )
        except Exception:  # noqa: BLE001 - logging must never raise into a check
            self.handleError(record)


def install_logging(level):
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, HostLogHandler):
            handler.setLevel(level)
            break
    else:
        handler = HostLogHandler(level)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


def extend_path(entries):
    for entry in reversed(entries):
        if entry not in sys.path:
            sys.path.insert(0, entry)


def type_name(exc_type):
    module = getattr(exc_type, "__module__", "builtins")
    name = getattr(exc_type, "__qualname__", exc_type.__name__)
    return name if module == "builtins" else f"{module}.{name}"


def describe(exc):
    """(type, message, traceback) of an exception instance."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return type_name(type(exc)), str(exc), text


def load_module(source):
    """Imports a module by name, or loads a ``.py`` file by path."""
    if source.endswith(".py") or os.sep in source:
        path = os.path.abspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"check file not found: {path}")
        name = os.path.splitext(os.path.basename(path))[0]
        existing = sys.modules.get(name)
        if existing is not None and getattr(existing, "__file__", None) == path:
            return existing
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load check file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    return importlib.import_module(source)


def _check_bases():
    bases = []
    for module_name in ("pyhost", "datadog_checks.base"):
        module = sys.modules.get(module_name)
        if module is None:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
        base = getattr(module, "AgentCheck", None)
        if isinstance(base, type):
            bases.append(base)
    return tuple(bases)


def pick_class(module, class_name):
    """The named class, or the single check class of the module: the
    AgentCheck subclass that has no subclass of its own there."""
    if class_name:
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            raise LookupError(f"module {module.__name__!r} has no class {class_name!r}")
        return cls
    bases = _check_bases()
    if not bases:
        raise ImportError("no AgentCheck base class is importable (is the pyhost SDK installed?)")
    candidates = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, bases) and obj not in bases
    ]
    leaves = [c for c in candidates if not any(o is not c and issubclass(o, c) for o in candidates)]
    if not leaves:
        raise LookupError(f"module {module.__name__!r} defines no AgentCheck subclass")
    if len(leaves) > 1:
        names = ", ".join(sorted(c.__name__ for c in leaves))
        raise LookupError(
            f"module {module.__name__!r} has several check classes ({names}); name one"
        )
    return leaves[0]


def load_check_class(source, class_name):
    return pick_class(load_module(source), class_name)


def load_function(module_name, name):
    module = load_module(module_name)
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
