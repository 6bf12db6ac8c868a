"""Stand-in for the host's in-memory ``datadog_agent`` module, with the agent's
signatures and defaults.

Configuration values, the hostname, host tags and the cluster name can be set
with :func:`set_config`, :func:`set_hostname`, :func:`set_host_tags` and
:func:`set_clustername`; what checks send (metadata, external tags, the
persistent cache) is kept for tests to read; :func:`reset` restores the
defaults.
"""

from __future__ import annotations

import copy
import json
import logging
import socket
from typing import Any

__all__ = [
    "external_tags",
    "get_clustername",
    "get_config",
    "get_host_tags",
    "get_hostname",
    "get_version",
    "headers",
    "log",
    "metadata",
    "read_persistent_cache",
    "reset",
    "set_check_metadata",
    "set_clustername",
    "set_config",
    "set_external_tags",
    "set_host_tags",
    "set_hostname",
    "write_persistent_cache",
]

STUB_VERSION = "0.0.0-stub"

_logger = logging.getLogger("pyhost.datadog_agent")
_config: dict[str, Any] = {}
_hostname: str | None = None
_host_tags: dict[str, list[str]] = {}
_clustername = ""
#: ``set_check_metadata`` calls: ``{check_id: {name: value}}``.
metadata: dict[str, dict[str, str]] = {}
#: ``set_external_tags`` calls, in order: each the list it was given.
external_tags: list[Any] = []
_cache: dict[str, str] = {}


def _require(what: str, value: object, kind: type) -> None:
    # The agent parses these arguments as C strings and ints do: a wrong type
    # raises TypeError there too.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{what} must be {kind.__name__}, not {type(value).__name__}")


def get_version() -> str:
    """Return the agent version (a fixed placeholder outside the agent)."""
    return STUB_VERSION


def get_hostname() -> str:
    """Return the agent's hostname (the machine's hostname unless overridden)."""
    return _hostname if _hostname is not None else socket.gethostname()


def get_host_tags() -> str:
    """The host tags as the agent gives them: JSON text, ``{"system": [...]}``."""
    return json.dumps(_host_tags or {"system": []})


def get_clustername() -> str:
    """The cluster name ("" outside a cluster)."""
    return _clustername


def get_config(key: str) -> Any:
    """The agent configuration value for ``key`` (a copy): what :func:`set_config`
    set, else the agent's defaults that checks read (``enable_metadata_collection``
    True, ``log_level`` the root logger's level name), else None."""
    if key in _config:
        return copy.deepcopy(_config[key])
    if key == "enable_metadata_collection":
        return True
    if key == "log_level":
        level = logging.getLogger().level
        for limit, name in ((7, "trace"), (10, "debug"), (20, "info"), (30, "warn"), (40, "error")):
            if level <= limit:
                return name
        return "critical"
    return None


def headers(agentConfig: Any = None, **kwargs: Any) -> dict[str, str]:  # noqa: N803 (the agent's name)
    """The agent's standard HTTP headers (``http_host`` sets ``Host``)."""
    out = {
        "User-Agent": f"Datadog Agent/{STUB_VERSION}",
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "text/html, */*",
    }
    if "http_host" in kwargs:
        out["Host"] = kwargs["http_host"]
    return out


def log(message: str, level: int) -> None:
    """Log ``message`` at ``level`` (an int :mod:`logging` level, as the agent
    requires) through Python logging."""
    _require("message", message, str)
    _require("level", level, int)
    _logger.log(level, "%s", message)


def set_check_metadata(check_id: str, name: str, value: str) -> None:
    """Records a metadata value for a check (read it in :data:`metadata`)."""
    for what, v in (("check_id", check_id), ("name", name), ("value", value)):
        _require(what, v, str)
    metadata.setdefault(check_id, {})[name] = value


def set_external_tags(tags: Any) -> None:
    """Records external host tags: ``[(hostname, {source_type: [tags]}), ...]``."""
    if not isinstance(tags, list):
        raise TypeError("tags must be a list")
    external_tags.append(copy.deepcopy(tags))


def write_persistent_cache(key: str, value: str) -> None:
    """Stores ``value`` under ``key`` (for the test's life)."""
    _require("key", key, str)
    _require("value", value, str)
    _cache[key] = value


def read_persistent_cache(key: str) -> str:
    """The value stored under ``key``, or ""."""
    _require("key", key, str)
    return _cache.get(key, "")


def set_config(key: str, value: Any) -> None:
    """Test helper: make :func:`get_config` return ``value`` for ``key``."""
    _config[key] = value


def set_hostname(hostname: str | None) -> None:
    """Test helper: override :func:`get_hostname` (``None`` restores the default)."""
    global _hostname
    _hostname = hostname


def set_host_tags(tags: dict[str, list[str]]) -> None:
    """Test helper: what :func:`get_host_tags` returns (as JSON)."""
    global _host_tags
    _host_tags = copy.deepcopy(tags)


def set_clustername(name: str) -> None:
    """Test helper: what :func:`get_clustername` returns."""
    global _clustername
    _clustername = name


def reset() -> None:
    """Test helper: forget configuration values, overrides and what checks sent."""
    global _hostname, _host_tags, _clustername
    _config.clear()
    _hostname = None
    _host_tags = {}
    _clustername = ""
    metadata.clear()
    external_tags.clear()
    _cache.clear()
