"""The host's side of long-running modules: the functions Go calls (package
``pyhost.dev/pyhost/modules``), each by name, with typed values.

Each Go ``modules.Host`` defines a Python module of Go functions of its own
(``next_notification``, ``set_health``) and names it at each load; a loaded
module is known by its key, unique across hosts.

Go owns the threads: ``serve`` and ``notify_loop`` are each called once per
module from a goroutine of their own and run until the module stops, so
everything a module does happens on threads pyhost owns. ``notify_loop`` waits
for its next notification in Go (``next_notification``, the GIL released), so a
module never holds up the publisher or another module.
Errors in a module are returned as values, never raised to Go.
"""

from __future__ import annotations

import enum
import importlib.util
import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pyhost._store import Store
from pyhost.hooks import hooks_of, method_hooks
from pyhost.modules import (
    CommandArgumentError,
    CommandSpec,
    Module,
    ModuleContext,
    OptionError,
    attach,
    find_module_class,
    resolve_options,
)

__all__ = ["command", "load", "notify_loop", "serve", "shutdown", "unload"]


@dataclass
class _Loaded:
    name: str
    instance: Module
    commands: dict[str, CommandSpec]
    namespace: ModuleType
    go: Any  # the host's module of Go functions


_loaded: dict[str, _Loaded] = {}
_stores: dict[str, Store] = {}
_imported: set[str] = set()  # names this host imported modules under


def _error(e: BaseException) -> dict[str, str]:
    return {
        "type": type(e).__qualname__
        if type(e).__module__ == "builtins"
        else f"{type(e).__module__}.{type(e).__qualname__}",
        "message": str(e),
        "traceback": "".join(traceback.format_exception(type(e), e, e.__traceback__)),
    }


def _import(name: str, path: str) -> ModuleType:
    if os.path.isdir(path):
        init = os.path.join(path, "__init__.py")
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[path])
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    existing = sys.modules.get(name)
    in_use = any(loaded.name == name for loaded in _loaded.values())
    if existing is not None and (in_use or name not in _imported):
        # One left by a host that went away without stopping it is replaced.
        raise ImportError(f"a module named {name!r} is already imported (from {existing.__file__})")
    if existing is None and name not in _imported:
        # Loaded under a name Python would find elsewhere, the module would
        # be what every later `import name` in the process gets.
        try:
            other = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            other = None
        own = {os.path.realpath(p) for p in (path, os.path.join(path, "__init__.py"))}
        origin = other.origin if other is not None else None
        if other is not None and (origin is None or os.path.realpath(origin) not in own):
            raise ImportError(
                f"a module named {name!r} would shadow the importable module "
                f"{other.origin or name} (rename {os.path.basename(path)})"
            )
    _imported.add(name)
    namespace = importlib.util.module_from_spec(spec)
    sys.modules[name] = namespace
    try:
        spec.loader.exec_module(namespace)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return namespace


def load(
    key: str, name: str, path: str, options: Mapping[str, Any], store_path: str, go_module: str
) -> dict[str, Any]:
    """Imports the module at ``path`` as ``name`` and makes its instance, known
    as ``key`` from then on; says how it went: ``state`` is ``ready``,
    ``disabled`` (``can_run`` said no) or ``failed``."""
    if key in _loaded:
        return {"state": "failed", "reason": f"module {name} is already loaded"}
    try:
        go = importlib.import_module(go_module)
        namespace = _import(name, path)
        cls = find_module_class(namespace, name)
        options_shown = [o.schema() for o in cls.MODULE_OPTIONS]
        described: dict[str, Any] = {
            "notify_types": [str(t) for t in cls.NOTIFY_TYPES],
            "serve": callable(getattr(cls, "serve", None)),
            "options": options_shown,
            "commands": [],
        }
        commands = cls.commands()
        described["commands"] = [c.schema() for c in commands.values()]
        ok, why = cls.can_run()
        if not ok:
            sys.modules.pop(name, None)
            return {**described, "state": "disabled", "reason": str(why) or "can_run() is false"}
        try:
            values = resolve_options(cls.MODULE_OPTIONS, options)
        except OptionError as e:
            sys.modules.pop(name, None)
            return {**described, "state": "failed", "reason": str(e)}
        for o in options_shown:
            o["value"] = values[o["name"]]
        store = _stores.get(store_path)
        if store is None:
            store = _stores[store_path] = Store(store_path)
        context = ModuleContext(name, values, store, go.set_health)
        instance = attach(cls, context)
        # Hooks: the module's top-level hook functions, and its instance's
        # hook methods, bound, under names the host can look up.
        hooks = [[kind, op, attr] for kind, op, attr in hooks_of(namespace)]
        for i, (kind, op, attr) in enumerate(method_hooks(cls)):
            alias = f"_pyhost_hook_{i}"
            setattr(namespace, alias, getattr(instance, attr))
            hooks.append([kind, op, alias])
        described["hooks"] = hooks
    except Exception as e:
        sys.modules.pop(name, None)
        err = _error(e)
        return {
            "state": "failed",
            "reason": f"{err['type']}: {err['message']}",
            "traceback": err["traceback"],
        }
    _loaded[key] = _Loaded(name, instance, commands, namespace, go)
    return {**described, "state": "ready"}


def serve(key: str) -> dict[str, str] | None:
    """Runs the module's ``serve()``; what it raised, or None."""
    instance = _loaded[key].instance
    try:
        instance.serve()  # type: ignore[attr-defined]
    except Exception as e:
        return _error(e)
    return None


def notify_loop(key: str) -> None:
    """Delivers the module's notifications, one at a time, until it stops."""
    loaded = _loaded[key]
    instance, next_notification = loaded.instance, loaded.go.next_notification
    failure: str | None = None
    while True:
        item = next_notification(loaded.name, failure)
        if item is None:
            return
        failure = None
        kind, key = item
        try:
            instance.notify(kind, key)
        except BaseException as e:  # SystemExit too: one notification fails, not the loop
            instance.log.exception("notify(%r, %r) raised", kind, key)
            failure = f"{_error(e)['type']}: {e}"


def shutdown(key: str) -> dict[str, str] | None:
    """Asks the module to stop (``serve`` returns); what ``shutdown()`` raised, or None."""
    loaded = _loaded.get(key)
    if loaded is None:
        return None
    loaded.instance._pyhost.stopping.set()
    try:
        loaded.instance.shutdown()
    except Exception as e:
        return _error(e)
    return None


def command(key: str, command: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Runs one command: ``{"result": ...}``, or ``{"error": kind, "type", "message"}``
    where kind is ``arguments`` (unknown command, bad arguments), ``value`` (the
    command raised ValueError) or ``exception``."""
    loaded = _loaded.get(key)
    if loaded is None:
        return {
            "error": "arguments",
            "type": "LookupError",
            "message": f"module {key} is not loaded",
        }
    name = loaded.name
    spec = loaded.commands.get(command)
    if spec is None:
        known = ", ".join(sorted(loaded.commands)) or "none"
        return {
            "error": "arguments",
            "type": "LookupError",
            "message": f"module {name} has no command {command!r} (its commands: {known})",
        }
    try:
        bound = spec.bind(args)
    except CommandArgumentError as e:
        return {"error": "arguments", **_error(e)}
    try:
        result = spec.function(loaded.instance, **bound)
    except ValueError as e:
        return {"error": "value", **_error(e)}
    except Exception as e:
        return {"error": "exception", **_error(e)}
    return {"result": plain(result)}


def unload(key: str) -> None:
    """Forgets the module (after it stopped)."""
    loaded = _loaded.pop(key, None)
    if loaded is not None and sys.modules.get(loaded.name) is loaded.namespace:
        del sys.modules[loaded.name]


def plain(value: Any) -> Any:
    """A result as values that cross to Go: enums as their values, mappings as
    dicts, tuples and sets as lists."""
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return value
