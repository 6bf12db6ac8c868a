"""Stand-in for the host's ``_pyhost_bridge`` module, outside the agent.

Tests publish host state with :func:`publish` (the agent's Go side does it
inside the agent); ``get`` hands out the same shared, read-only objects the
engine does: dicts as ``types.MappingProxyType``, lists and tuples as tuples.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

__all__ = ["GoError", "GoPanic", "get", "names", "publish", "reset", "version"]

_MAX_DEPTH = 64


class GoError(Exception):
    """A Go function returned an error; the message is the error's text."""


class GoPanic(Exception):
    """A Go function panicked; the message is the panic value."""


_published: dict[str, tuple[int, Any]] = {}


def _freeze(value: Any, depth: int = 0) -> Any:
    """Checks ``value`` as the engine's encoding does, and freezes it."""
    if value is None or isinstance(value, (bool, int, bytes)):
        return value
    if isinstance(value, str):
        value.encode()  # a lone surrogate cannot cross: UnicodeEncodeError, as in the engine
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot cross between Python and the host")
        return value
    if isinstance(value, bytearray):
        return bytes(value)
    if depth >= _MAX_DEPTH:
        raise ValueError(f"the value nests deeper than {_MAX_DEPTH} lists and dicts")
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v, depth + 1) for v in value)
    if isinstance(value, (dict, MappingProxyType)):  # a value from get() crosses back too
        frozen = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"dict keys must be str, not {type(k).__name__}")
            k.encode()
            frozen[k] = _freeze(v, depth + 1)
        return MappingProxyType(frozen)
    raise TypeError(f"a {type(value).__name__} cannot cross between Python and the host")


def publish(name: str, value: Any) -> int:
    """Publishes ``value`` under ``name`` (what the host does); returns its version."""
    if not name:
        raise ValueError("a published value needs a name")
    frozen = _freeze(value)
    version = _published.get(name, (0, None))[0] + 1
    _published[name] = (version, frozen)
    return version


def get(name: str, default: Any | None = None) -> Any:
    """The value published under ``name`` (shared, read-only), or ``default``."""
    if not isinstance(name, str):  # the host's get takes a str only
        raise TypeError(f"argument 'name': must be str, not {type(name).__name__}")
    entry = _published.get(name)
    return default if entry is None else entry[1]


def version(name: str) -> int:
    """How many times ``name`` has been published (0: never)."""
    return _published.get(name, (0, None))[0]


def names() -> list[str]:
    """The published names, sorted."""
    return sorted(_published)


def reset() -> None:
    """Forgets everything published."""
    _published.clear()
