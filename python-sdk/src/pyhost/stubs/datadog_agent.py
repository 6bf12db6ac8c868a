"""Stand-in for the host's in-memory ``datadog_agent`` module.

Configuration values and the hostname can be set with :func:`set_config` and
:func:`set_hostname`; :func:`reset` restores the defaults.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

__all__ = [
    "get_config",
    "get_hostname",
    "get_version",
    "log",
    "reset",
    "set_config",
    "set_hostname",
]

STUB_VERSION = "0.0.0-stub"

_logger = logging.getLogger("pyhost.datadog_agent")
_config: dict[str, Any] = {}
_hostname: str | None = None


def get_version() -> str:
    """Return the agent version (a fixed placeholder outside the agent)."""
    return STUB_VERSION


def get_hostname() -> str:
    """Return the agent's hostname (the machine's hostname unless overridden)."""
    return _hostname if _hostname is not None else socket.gethostname()


def get_config(key: str) -> Any:
    """Return the agent configuration value for ``key``, or ``None`` if unset."""
    return _config.get(key)


def log(message: str, level: int) -> None:
    """Log ``message`` at ``level`` (a :mod:`logging` level) through Python logging."""
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        level = resolved if isinstance(resolved, int) else logging.INFO
    _logger.log(int(level), "%s", message)


def set_config(key: str, value: Any) -> None:
    """Test helper: make :func:`get_config` return ``value`` for ``key``."""
    _config[key] = value


def set_hostname(hostname: str | None) -> None:
    """Test helper: override :func:`get_hostname` (``None`` restores the default)."""
    global _hostname
    _hostname = hostname


def reset() -> None:
    """Test helper: forget configuration values and hostname overrides."""
    global _hostname
    _config.clear()
    _hostname = None
