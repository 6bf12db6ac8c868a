"""Hot-path hooks: Python functions on a Go program's request path (the glupy role).

A Go program names an operation (``rt.Hooks("lookup")``) and calls it on its hot
path; a module marks functions as that operation's hooks:

* ``@pyhost.dispatch("lookup")``: ``fn(req)`` sees each request first. Returning
  None passes it on to the operation; anything else is the answer, and the
  operation is skipped.
* ``@pyhost.completion("lookup")``: ``fn(req, result)`` sees the request and the
  operation's result. Returning None keeps the result; anything else replaces it.

A hook that raises (or answers after the hook point's deadline) is ignored: the
request passes through, and the failure is counted on the Go side. Go loads a
module's hooks with ``Runtime.LoadHooks(module)``. In tests,
:class:`pyhost.testing.HookPoint` runs the same rules in pure Python.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any, Callable, TypeVar

__all__ = ["collect", "completion", "dispatch", "hooks_of", "method_hooks"]

F = TypeVar("F", bound=Callable[..., Any])

KINDS = ("dispatch", "completion")


def _mark(kind: str, op: str) -> Callable[[F], F]:
    if not isinstance(op, str) or not op:
        raise TypeError(f"@pyhost.{kind} needs the operation's name, e.g. @pyhost.{kind}('lookup')")

    def mark(fn: F) -> F:
        fn.__pyhost_hook__ = (kind, op)  # type: ignore[attr-defined]
        return fn

    return mark


def dispatch(op: str) -> Callable[[F], F]:
    """Marks ``fn(req)`` as the dispatch hook of ``op``: None passes, else the answer."""
    return _mark("dispatch", op)


def completion(op: str) -> Callable[[F], F]:
    """Marks ``fn(req, result)`` as the completion hook of ``op``: None keeps the
    result, else the replacement."""
    return _mark("completion", op)


def _mark_of(owner: str, attr: Any, value: Any) -> tuple[str, str] | None:
    """The ``(kind, op)`` a callable is marked with, None when it is not a hook;
    ValueError for a mark that is not one ``@pyhost.dispatch``/``completion``
    makes (set by hand, or by another tool using the same name)."""
    mark = getattr(value, "__pyhost_hook__", None) if callable(value) else None
    if not isinstance(mark, (tuple, str)):
        # Not a mark at all (None, or what an object answering every
        # attribute, such as an xmlrpc ServerProxy, makes up).
        return None
    if (
        isinstance(mark, tuple)
        and len(mark) == 2
        and mark[0] in KINDS
        and isinstance(mark[1], str)
        and mark[1]
        and isinstance(attr, str)
    ):
        return mark[0], mark[1]
    raise ValueError(
        f"{owner}.{attr}: __pyhost_hook__ is {mark!r}, not a hook mark "
        f"(mark hooks with @pyhost.dispatch(op) or @pyhost.completion(op))"
    )


def hooks_of(module: ModuleType) -> list[tuple[str, str, str]]:
    """``(kind, op, attribute)`` of every hook a module defines at its top level;
    ValueError if one operation has two hooks of a kind."""
    found: dict[tuple[str, str], str] = {}
    for attr, value in vars(module).items():
        mark = _mark_of(module.__name__, attr, value)
        if mark is None:
            continue
        kind, op = mark
        if (kind, op) in found:
            raise ValueError(
                f"{module.__name__}: two {kind} hooks for {op!r}: {found[kind, op]} and {attr}"
            )
        found[kind, op] = attr
    return sorted((kind, op, attr) for (kind, op), attr in found.items())


def method_hooks(cls: type) -> list[tuple[str, str, str]]:
    """``(kind, op, method name)`` of every hook a class (a ``pyhost.Module``)
    marks among its methods, base classes included; ValueError if one operation
    has two hooks of a kind."""
    found: dict[tuple[str, str], str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's hook replaces its base's
        level: dict[tuple[str, str], str] = {}
        for attr, value in vars(klass).items():
            mark = _mark_of(klass.__name__, attr, value)
            if mark is None:
                continue
            kind, op = mark
            if (kind, op) in level:
                raise ValueError(
                    f"{klass.__name__}: two {kind} hooks for {op!r}: {level[kind, op]} and {attr}"
                )
            level[kind, op] = attr
        found.update(level)
    return sorted((kind, op, attr) for (kind, op), attr in found.items())


def _load(source: str) -> ModuleType:
    """The module ``source`` names (a module name, or a ``.py`` path inside the
    host): imported as the host's ``LoadFunction`` imports it, so that the hooks
    collected and the functions installed come from the same module object."""
    host = sys.modules.get("_pyhost_host")  # the engine's own loader, inside the host
    if host is not None:
        module: ModuleType = host.load_module(source)
        return module
    return importlib.import_module(source)


def collect(source: str) -> list[list[str]]:
    """What ``Runtime.LoadHooks`` installs: ``[kind, op, attribute]`` per hook of
    the module ``source`` (a name or a ``.py`` path)."""
    return [list(h) for h in hooks_of(_load(source))]
