"""The host's state, as the host program publishes it (``Runtime.Publish`` in Go).

``get`` returns a shared, read-only object: dicts are ``types.MappingProxyType``
and lists are tuples, all the way down, so no reader can change what another
sees. The same object is returned until the host publishes again, so a ``get``
of an unchanged value costs about a dict lookup; compare :func:`version` to see
whether it changed. :func:`thaw` makes a private, mutable copy.

The agent publishes (see docs/agent.md, "Host state"):

* ``pyhost.checks``: per check instance, ``{check_id: {"name", "status", "runs",
  "errors", "last_run", "last_duration_ms", "message"}}``;
* ``pyhost.hostname``: the agent's hostname;
* ``pyhost.host_tags``: the agent's host tags, a list of ``"key:value"`` strings.

Outside the agent, tests publish with ``pyhost.testing.publish`` (or the
``host_state`` fixture).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyhost._host import bridge

__all__ = ["get", "names", "thaw", "version"]

#: ``get(name, default=None)``: the value the host published under ``name``, or
#: ``default`` if none. The host's own function, not wrapped: a get of an
#: unchanged value is on hot paths.
get = bridge.get

#: ``version(name)``: how many times the host has published ``name`` (0: never).
version = bridge.version

#: ``names()``: the names the host has published, sorted.
names = bridge.names


def thaw(value: Any) -> Any:
    """A mutable deep copy of a value from :func:`get`: dicts and lists again."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [thaw(v) for v in value]
    return value
