"""Python-side helpers of the pyhost engine (module ``_pyhost_host``).

Runs inside the embedded interpreter only. Everything here is either easier
to say in Python (class selection, traceback formatting, SQLite,
subprocesses) or must be Python (the logging handler). The Datadog Agent
modules (``datadog_agent``, ``_util``) check their arguments in Rust and call
the ``agent_*``, ``cache_*`` and ``run_subprocess`` helpers below.
"""

import copy
import importlib
import importlib.util
import json
import logging
import os
import pkgutil
import socket
import subprocess
import sys
import threading
import time
import traceback

import _pyhost

_log = logging.getLogger("pyhost.host")


def _silence(record):
    return False


class HostLogHandler(logging.Handler):
    """Forwards every log record to the host, with the check it came from.

    datadog_checks_base puts its own handler on the root logger (it sends
    every record through ``datadog_agent.log``); that handler is muted here,
    so each record reaches the host once, from this handler, with its
    check id.
    """

    def __init__(self, level=logging.NOTSET):
        super().__init__(level)
        self._handlers_seen = -1

    def adopt_agent_handlers(self):
        handlers = logging.getLogger().handlers
        if len(handlers) == self._handlers_seen:
            return
        self._handlers_seen = len(handlers)
        for handler in handlers:
            cls = type(handler)
            if (
                cls.__name__ == "AgentLogHandler"
                and cls.__module__.startswith("datadog_checks.")
                and _silence not in handler.filters
            ):
                handler.addFilter(_silence)

    def emit(self, record):
        try:
            self.adopt_agent_handlers()
            message = self.format(record)
            _pyhost.log(record.levelno, record.name, _record_check_id(record), message)
        except Exception:  # noqa: BLE001 - logging must never raise into a check
            self.handleError(record)


def _record_check_id(record):
    # pyhost's SDK sets ``check_id``; datadog_checks_base sets ``_check_id``
    # ("unknown" before the host gave the check its id).
    check_id = getattr(record, "check_id", None) or getattr(record, "_check_id", None)
    if not check_id or check_id == "unknown":
        return ""
    return str(check_id)


def _host_handler():
    for handler in logging.getLogger().handlers:
        if isinstance(handler, HostLogHandler):
            return handler
    return None


def install_logging(level):
    root = logging.getLogger()
    handler = _host_handler()
    if handler is not None:
        handler.setLevel(level)
    else:
        handler = HostLogHandler(level)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


def extend_path(entries):
    for entry in reversed(entries):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    # datadog_checks is a pkgutil-style namespace package: its __path__ was
    # computed when it was first imported, and new entries may hold more
    # integrations (datadog_checks.NAME).
    package = sys.modules.get("datadog_checks")
    if package is not None and isinstance(getattr(package, "__path__", None), list):
        package.__path__ = pkgutil.extend_path(package.__path__, "datadog_checks")
        importlib.invalidate_caches()


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


def _loaded(load):
    try:
        return load()
    finally:
        handler = _host_handler()
        if handler is not None:
            handler.adopt_agent_handlers()


def _check_bases():
    bases = []
    for module_name in ("pyhost", "datadog_checks.base"):
        module = sys.modules.get(module_name)
        # A check written for datadog_checks_base has imported it already.
        if module is None and module_name == "pyhost":
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
        if module is None:
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
        # Base classes it imported (OpenMetricsBaseCheckV2, ...) are not its check.
        prefix = module.__name__ + "."
        own = [
            c for c in leaves if c.__module__ == module.__name__ or c.__module__.startswith(prefix)
        ]
        if len(own) == 1:
            return own[0]
    if len(leaves) > 1:
        names = ", ".join(sorted(c.__name__ for c in leaves))
        raise LookupError(
            f"module {module.__name__!r} has several check classes ({names}); name one"
        )
    return leaves[0]


def load_check_class(source, class_name):
    return pick_class(_loaded(lambda: load_module(source)), class_name)


def load_function(module_name, name):
    module = _loaded(lambda: load_module(module_name))
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
# Agent settings (datadog_agent.get_config, get_hostname, ...)
# ---------------------------------------------------------------------------

_SETTINGS_TYPES = {
    "run_dir": str,
    "hostname": str,
    "host_tags": dict,
    "cluster_name": str,
    "version": str,
    "config": dict,
    "subprocess_timeout": (int, float),
}
DEFAULT_SUBPROCESS_TIMEOUT = 60.0

_settings = {}


def configure(settings):
    """Sets the agent-wide settings the ``datadog_agent`` module answers with.

    ``settings`` is a dict, every key optional: ``run_dir`` (where the
    persistent cache lives), ``hostname``, ``host_tags`` (a dict),
    ``cluster_name``, ``version``, ``config`` (agent configuration keys for
    ``get_config``) and ``subprocess_timeout`` (seconds). Each call replaces
    the previous settings. Unknown keys are ignored with a warning.
    """
    global _settings
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise TypeError(f"settings must be a dict, not {type(settings).__name__}")
    accepted = {}
    for key, value in settings.items():
        expected = _SETTINGS_TYPES.get(key)
        if expected is None:
            _log.warning("pyhost settings: unknown key %r ignored", key)
            continue
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, expected):
            raise TypeError(f"settings[{key!r}] has the wrong type: {type(value).__name__}")
        accepted[key] = value
    timeout = accepted.get("subprocess_timeout")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"settings['subprocess_timeout'] must be positive, not {timeout!r}")
    _settings = accepted
    _cache.configure(accepted.get("run_dir"))


def agent_hostname():
    return _settings.get("hostname") or socket.gethostname()


def agent_version():
    return _settings.get("version") or _pyhost.version()


def agent_host_tags():
    return json.dumps(_settings.get("host_tags") or {})


def agent_cluster_name():
    return _settings.get("cluster_name") or ""


def _log_level_name():
    level = logging.getLogger().level
    for limit, name in ((7, "trace"), (10, "debug"), (20, "info"), (30, "warn"), (40, "error")):
        if level <= limit:
            return name
    return "critical"


def agent_config(key):
    """``get_config``: the host's configuration, then the agent's defaults
    that matter to checks; None for anything else."""
    config = _settings.get("config") or {}
    if key in config:
        return copy.deepcopy(config[key])
    if key == "enable_metadata_collection":
        return True
    if key == "log_level":
        return _log_level_name()
    if key == "run_path":
        return _settings.get("run_dir")
    return None


def agent_tracemalloc_enabled():
    return bool(agent_config("tracemalloc_debug"))


def agent_headers():
    return {
        "User-Agent": f"Datadog Agent/{agent_version()}",
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "text/html, */*",
    }


def _process_start_time():
    # Whole seconds since the epoch, as the agent reports it.
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return float(int(boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")))
    except (OSError, ValueError, IndexError, StopIteration):
        return float(int(time.time()))


_PROCESS_START_TIME = _process_start_time()


def agent_process_start_time():
    return _PROCESS_START_TIME


# ---------------------------------------------------------------------------
# Persistent cache (datadog_agent.read_persistent_cache / write_persistent_cache)
# ---------------------------------------------------------------------------


class PersistentCache:
    """Key-value pairs in SQLite at ``<run_dir>/persistent_cache.db``, keyed by
    the full key the check passes (AgentCheck prefixes its check id).

    WAL mode and a busy timeout let several agent processes share the file;
    each write is its own transaction (an upsert), so none is lost. One
    connection per process, used under a lock; sqlite3 releases the GIL
    while it works.
    """

    FILE = "persistent_cache.db"
    BUSY_TIMEOUT = 30.0

    def __init__(self):
        self._lock = threading.Lock()
        self._run_dir = None
        self._db = None

    def configure(self, run_dir):
        with self._lock:
            if run_dir == self._run_dir:
                return
            if self._db is not None:
                self._db.close()
                self._db = None
            self._run_dir = run_dir

    @property
    def path(self):
        return os.path.join(self._run_dir, self.FILE) if self._run_dir else None

    def _connection(self):
        if self._db is None:
            import sqlite3

            os.makedirs(self._run_dir, mode=0o700, exist_ok=True)
            # The cache may hold credentials' cursors: readable by the agent only.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            db = sqlite3.connect(
                self.path,
                timeout=self.BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                db.execute(f"PRAGMA busy_timeout = {int(self.BUSY_TIMEOUT * 1000)}")
                db.execute("PRAGMA journal_mode = WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS persistent_cache ("
                    " key TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL)"
                )
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _failed(self, action, error):
        return RuntimeError(f"persistent cache {self.path}: {action} failed: {error}")

    def read(self, key):
        if self._run_dir is None:
            return ""
        import sqlite3

        with self._lock:
            try:
                row = (
                    self._connection()
                    .execute("SELECT value FROM persistent_cache WHERE key = ?", (key,))
                    .fetchone()
                )
            except (sqlite3.Error, OSError) as e:
                raise self._failed("read", e) from e
        return row[0] if row else ""

    def write(self, key, value):
        if self._run_dir is None:
            raise RuntimeError(
                "write_persistent_cache: pyhost has no run directory for the persistent cache "
                "(the host did not call _pyhost_host.configure with run_dir)"
            )
        import sqlite3

        with self._lock:
            try:
                self._connection().execute(
                    "INSERT INTO persistent_cache (key, value, updated) VALUES (?, ?, ?)"
                    " ON CONFLICT(key) DO UPDATE"
                    " SET value = excluded.value, updated = excluded.updated",
                    (key, value, time.time()),
                )
            except (sqlite3.Error, OSError) as e:
                raise self._failed("write", e) from e


_cache = PersistentCache()


def cache_read(key):
    return _cache.read(key)


def cache_write(key, value):
    _cache.write(key, value)


# ---------------------------------------------------------------------------
# Subprocesses (_util.get_subprocess_output)
# ---------------------------------------------------------------------------

# How often a waiting subprocess call returns to Python, so that a
# cancellation of the check (raised at the next Python instruction) lands.
_WAIT_SLICE = 0.2


def run_subprocess(argv, env):
    """Runs ``argv`` (no shell) with ``env`` (None: the agent's environment)
    and returns ``(stdout, stderr, returncode)``; text is decoded as UTF-8 with
    replacement, a child killed by a signal reports -1. Waiting releases the
    GIL. Past the settings' ``subprocess_timeout`` the child is killed and
    TimeoutError raised; a cancelled check kills it too."""
    timeout = float(_settings.get("subprocess_timeout") or DEFAULT_SUBPROCESS_TIMEOUT)
    deadline = time.monotonic() + timeout
    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"command {argv[0]!r} did not finish within {timeout:g} s "
                        "(the agent's subprocess_timeout) and was killed"
                    )
                try:
                    out, err = proc.communicate(timeout=min(remaining, _WAIT_SLICE))
                    break
                except subprocess.TimeoutExpired:
                    continue
        except BaseException:
            proc.kill()
            raise
    code = proc.returncode
    return (
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        -1 if code < 0 else code,
    )
