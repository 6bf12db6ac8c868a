"""Testing helpers for pyhost plugins, outside the agent (the pytest plugin lives
in ``plugin``).

Inside the agent the host publishes state and defines modules of Go functions;
in a test these stand in for it:

* :func:`publish` puts a value where ``pyhost.host.get`` finds it, frozen as the
  engine freezes it;
* :func:`define_module` makes an importable module of Python functions standing
  in for the Go functions the host would define;
* :class:`ModuleHarness` runs a :class:`pyhost.Module` (options, notifications,
  commands, store, health, serve) as the agent would;
* :class:`HookPoint` runs an operation through a module's hooks as the Go side
  does.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pyhost.stubs import _pyhost_bridge

__all__ = [
    "HookPoint",
    "ModuleHarness",
    "define_module",
    "publish",
    "remove_module",
    "reset_host_state",
]


def publish(name: str, value: Any) -> int:
    """Publishes ``value`` under ``name`` for ``pyhost.host.get``; returns its version."""
    return _pyhost_bridge.publish(name, value)


def reset_host_state() -> None:
    """Forgets everything :func:`publish` published."""
    _pyhost_bridge.reset()


def define_module(name: str, functions: dict[str, Callable[..., Any]]) -> ModuleType:
    """Makes ``import name`` give a module of ``functions``, as the host's
    ``DefineModule`` does; refuses a name already imported or importable."""
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not a module name")
    if name in sys.modules or importlib.util.find_spec(name) is not None:
        raise ValueError(f"{name} would shadow an existing module")
    module = ModuleType(name, f"Stand-in for the host's {name} module.")
    for fname, fn in functions.items():
        setattr(module, fname, fn)
    sys.modules[name] = module
    return module


def remove_module(name: str) -> None:
    """Removes a module :func:`define_module` made."""
    sys.modules.pop(name, None)


from pyhost.testing.hooks import HookPoint  # noqa: E402
from pyhost.testing.modules import ModuleHarness  # noqa: E402  (it uses publish)
