"""Types of ``_pyhost_bridge``, the pyhost engine's in-memory module behind
``pyhost.host`` and the exceptions Go functions raise. Checked against the
real module inside the engine."""

from typing import Any

__all__ = ["GoError", "GoPanic", "get", "names", "version"]

class GoError(Exception):
    """A Go function returned an error; the message is the error's text."""

class GoPanic(Exception):
    """A Go function panicked; the message is the panic value."""

def get(name: str, default: Any | None = None) -> Any:
    """The value the host published under ``name`` (shared, read-only), or ``default``."""

def version(name: str) -> int:
    """How many times the host has published ``name`` (0: never)."""

def names() -> list[str]:
    """The names the host has published, sorted."""
