"""Python-side helpers of the pyhost engine's Datadog layer (``_pyhost_datadog``).

The Datadog Agent's in-memory modules (``datadog_agent``, ``_util``) check
their arguments in Rust and call the ``agent_*``, ``cache_*`` and
``run_subprocess`` helpers here: the agent settings, the persistent cache
(SQLite) and subprocesses. It also tells the lower layers what
datadog_checks_base looks like: its ``AgentCheck`` is a check base class,
its log handler a duplicate of the host's, its check id a record id, and
``datadog_checks`` a namespace package that grows with ``sys.path``.
"""

import copy
import importlib
import json
import logging
import os
import pkgutil
import socket
import subprocess
import sys
import threading
import time

import _pyhost
import _pyhost_checks
import _pyhost_host

_log = logging.getLogger("pyhost.datadog")

# ---------------------------------------------------------------------------
# datadog_checks_base, as the lower layers need to know it
# ---------------------------------------------------------------------------


def _is_agent_log_handler(handler):
    # datadog_checks_base puts its own handler on the root logger; it sends
    # every record through datadog_agent.log, which would reach the host a
    # second time.
    cls = type(handler)
    return cls.__name__ == "AgentLogHandler" and cls.__module__.startswith("datadog_checks.")


def _refresh_namespace():
    # datadog_checks is a pkgutil-style namespace package: its __path__ was
    # computed when it was first imported, and new sys.path entries may hold
    # more integrations (datadog_checks.NAME).
    package = sys.modules.get("datadog_checks")
    if package is not None and isinstance(getattr(package, "__path__", None), list):
        package.__path__ = pkgutil.extend_path(package.__path__, "datadog_checks")
        importlib.invalidate_caches()


# A check written for datadog_checks_base has imported it already.
_pyhost_checks.add_base("datadog_checks.base", False)
_pyhost_host.add_duplicate_handler(_is_agent_log_handler)
# datadog_checks_base stamps ``_check_id`` ("unknown" before the host set it).
_pyhost_host.add_record_id("_check_id", ("unknown",))
_pyhost_host.add_path_listener(_refresh_namespace)


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
                self._set_up(db, sqlite3)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _set_up(self, db, sqlite3):
        # Switching a new file to WAL takes an exclusive lock without waiting
        # on the busy handler, so two processes opening the file at once can
        # see "database is locked" at once: retry until the busy timeout.
        deadline = time.monotonic() + self.BUSY_TIMEOUT
        pause = 0.001
        while True:
            try:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS persistent_cache ("
                    " key TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL)"
                )
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

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
                "(the host did not call _pyhost_datadog.configure with run_dir)"
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

# How often a waiting subprocess call looks whether its check's run was
# cancelled.
_WAIT_SLICE = 0.2


# ---------------------------------------------------------------------------
# Obfuscation: the Datadog Agent's own obfuscator, in Go, as a module the host
# defines (the pyhost agent does; a Go program embedding pyhost calls
# datadog.DefineObfuscator).
# ---------------------------------------------------------------------------

_OBFUSCATOR = "_pyhost_obfuscate"


def _obfuscator(function):
    try:
        return importlib.import_module(_OBFUSCATOR)
    except ImportError:
        raise RuntimeError(
            f"{function} is not available: the host program defines no obfuscator "
            f"(the pyhost agent does; a Go program calls datadog.DefineObfuscator)"
        ) from None


def _obfuscate(function, name, *args):
    fn = getattr(_obfuscator(function), name)
    try:
        return fn(*args)
    except Exception as e:  # the agent raises RuntimeError with the Go error's text
        raise RuntimeError(str(e)) from None


def obfuscate_sql(query, options):
    return _obfuscate("obfuscate_sql", "sql", query, options)


def obfuscate_sql_exec_plan(plan, normalize):
    return _obfuscate("obfuscate_sql_exec_plan", "sql_exec_plan", plan, normalize)


def obfuscate_mongodb_string(command):
    return _obfuscate("obfuscate_mongodb_string", "mongodb", command)


def run_subprocess(argv, env):
    """Runs ``argv`` (no shell) with ``env`` (None: the agent's environment)
    and returns ``(stdout, stderr, returncode)``; text is decoded as UTF-8 with
    replacement, a child killed by a signal reports -1. Waiting releases the
    GIL. Past the settings' ``subprocess_timeout`` the child is killed and
    TimeoutError raised; a cancelled run kills it too, then raises
    CheckCancelled."""
    timeout = float(_settings.get("subprocess_timeout") or DEFAULT_SUBPROCESS_TIMEOUT)
    deadline = time.monotonic() + timeout
    cancel_requested = _pyhost_checks.cancel_requested
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
                    # A safe point of this helper's own: the child is killed
                    # below, then the run stops.
                    if cancel_requested():
                        raise _pyhost.CheckCancelled(
                            f"cancelled while waiting for {argv[0]!r}"
                        ) from None
        except BaseException:
            proc.kill()
            raise
    code = proc.returncode
    return (
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        -1 if code < 0 else code,
    )
