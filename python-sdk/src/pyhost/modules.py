"""Long-running modules: Python code that lives beside the host for the agent's
whole life, as ceph-mgr modules do.

Subclass :class:`Module`. Everything is optional:

* ``serve()`` runs on a thread pyhost owns; it must return soon after
  ``shutdown()`` is called (wait with :meth:`Module.wait_for_shutdown`). If it
  raises, the host calls it again after a back-off.
* ``NOTIFY_TYPES`` lists published names; ``notify(kind, key)`` is called, on the
  module's own thread and one at a time, when the host publishes one of them.
  The data is not passed: read it with :meth:`Module.get`.
* ``MODULE_OPTIONS`` declares typed options (:class:`Option`), read with
  :meth:`Module.get_option`; their values come from the agent's configuration.
* Methods decorated with :func:`command` are commands: typed from their hints,
  documented by their docstrings, run over the agent's HTTP API and CLI.
* Methods decorated with ``@pyhost.dispatch(op)`` / ``@pyhost.completion(op)``
  are hooks on the host's hook point ``op`` while the module runs (see
  :mod:`pyhost.hooks`).
* :meth:`Module.get_store` / :meth:`Module.set_store` keep small state in the
  agent's SQLite database, across restarts; :meth:`Module.set_health_checks`
  reports health.

``pyhost.testing.ModuleHarness`` (the ``module_harness`` fixture) runs a module in
a test, without the agent.
"""

from __future__ import annotations

import enum
import inspect
import logging
import math
import re
import threading
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, NoReturn, TypeVar, Union

from pyhost import host

__all__ = [
    "CommandArgumentError",
    "CommandSpec",
    "Module",
    "ModuleContext",
    "Option",
    "OptionError",
    "command",
]

OPTION_TYPES = ("str", "int", "uint", "float", "bool", "secs", "size")
SEVERITIES = ("warning", "error")


class OptionError(ValueError):
    """An option's value is of the wrong type, out of range or not allowed."""


class CommandArgumentError(TypeError):
    """A command was given an unknown, missing or wrongly typed argument."""


_SECS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


@dataclass(frozen=True)
class Option:
    """A module option, declared in ``MODULE_OPTIONS``.

    ``type`` is one of ``str``, ``int``, ``uint`` (an int ≥ 0), ``float``,
    ``bool``, ``secs`` (whole seconds; ``30``, ``"30s"``, ``"5m"``, ``"2h"``,
    ``"1d"``) or ``size`` (bytes; ``4096``, ``"4K"``, ``"10M"``, ``"1G"``). Numbers
    may be given as strings (``"5"``), as YAML files often have them. ``min`` and
    ``max`` bound numbers (inclusive); ``enum_allowed`` lists the values allowed.
    """

    name: str
    type: str = "str"
    default: Any = None
    min: float | None = None
    max: float | None = None
    enum_allowed: Sequence[Any] | None = None
    desc: str = ""
    long_desc: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"option name {self.name!r} is not an identifier")
        if self.type not in OPTION_TYPES:
            raise ValueError(
                f"option {self.name}: type {self.type!r} is not one of {', '.join(OPTION_TYPES)}"
            )

    def coerce(self, value: Any) -> Any:
        """``value`` as this option's type, or :class:`OptionError` saying why not."""
        if value is None:
            return None
        parsed = self._parse(value)
        if self.enum_allowed is not None and parsed not in self.enum_allowed:
            allowed = ", ".join(repr(v) for v in self.enum_allowed)
            raise OptionError(f"option {self.name}: {value!r} is not allowed (allowed: {allowed})")
        if self.min is not None and parsed < self.min:
            raise OptionError(f"option {self.name}: {value!r} is below the minimum {self.min}")
        if self.max is not None and parsed > self.max:
            raise OptionError(f"option {self.name}: {value!r} is above the maximum {self.max}")
        return parsed

    def _parse(self, value: Any) -> Any:
        kind = self.type
        if kind == "str":
            if isinstance(value, str):
                return value
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
            return self._wrong(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
                return value.lower() in ("true", "yes")
            return self._wrong(value)
        if kind == "float":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            return self._wrong(value)
        if kind in ("int", "uint"):
            number = self._integer(value)
            if kind == "uint" and number < 0:
                raise OptionError(f"option {self.name}: expected an int ≥ 0, found {value!r}")
            return number
        units = _SECS if kind == "secs" else _SIZE
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            pattern = r"(\d+)\s*([smhdw]?)" if kind == "secs" else r"(\d+)\s*([kmgt]?)i?b?"
            m = re.fullmatch(pattern, value.strip().lower())
            if m:
                return int(m.group(1)) * units.get(m.group(2), 1)
        return self._wrong(value)

    def _integer(self, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        return self._wrong(value)

    def _wrong(self, value: Any) -> NoReturn:
        examples = {"secs": " (e.g. 30, '30s', '5m')", "size": " (e.g. 4096, '10M')"}
        raise OptionError(
            f"option {self.name}: expected {self.type}{examples.get(self.type, '')}, "
            f"found {type(value).__name__} {value!r}"
        )

    def schema(self) -> dict[str, Any]:
        """The option as the agent shows it (``GET /api/modules``)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default}
        # An infinite bound (max=float("inf")) is no bound: shown as none,
        # since the schema crosses to Go, where inf cannot.
        if self.min is not None and _finite(self.min):
            out["min"] = self.min
        if self.max is not None and _finite(self.max):
            out["max"] = self.max
        if self.enum_allowed is not None:
            out["enum_allowed"] = list(self.enum_allowed)
        if self.desc:
            out["desc"] = self.desc
        return out


def _finite(bound: Any) -> bool:
    return not isinstance(bound, float) or math.isfinite(bound)


def resolve_options(options: Sequence[Option], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared option's value: ``given``'s, checked, else its default.
    Raises :class:`OptionError` listing every problem (unknown names included)."""
    problems = []
    values: dict[str, Any] = {}
    declared = {o.name: o for o in options}
    for name in given:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            problems.append(f"unknown option {name!r} (this module's options: {known})")
    for option in options:
        try:
            values[option.name] = option.coerce(given.get(option.name, option.default))
        except OptionError as e:
            problems.append(str(e))
    if problems:
        raise OptionError("; ".join(problems))
    return values


# --- commands ---------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _Argument:
    name: str
    kind: str  # str, int, float, bool, list[str], list[int], list[float], enum, any
    required: bool
    default: Any = None
    nullable: bool = False
    enum: type[enum.Enum] | None = None

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.kind, "required": self.required}
        if not self.required:
            out["default"] = (
                self.default.value if isinstance(self.default, enum.Enum) else self.default
            )
        if self.nullable:
            out["nullable"] = True
        if self.enum is not None:
            out["choices"] = [m.value for m in self.enum]
        return out

    def convert(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise CommandArgumentError(f"argument {self.name!r}: expected {self.kind}, found None")
        return _convert(self.name, self.kind, self.enum, value)


def _convert(name: str, kind: str, enum_type: type[enum.Enum] | None, value: Any) -> Any:
    def wrong() -> CommandArgumentError:
        expected = kind
        if enum_type is not None:
            expected = "one of " + ", ".join(repr(m.value) for m in enum_type)
        return CommandArgumentError(
            f"argument {name!r}: expected {expected}, found {type(value).__name__} {value!r}"
        )

    if kind == "any":
        return value
    if kind == "str":
        if isinstance(value, str):
            return value
        raise wrong()
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise wrong()
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise wrong()
    if kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise wrong()
    if kind == "enum" and enum_type is not None:
        for member in enum_type:
            if value == member.value or value == member.name:
                return member
        raise wrong()
    if kind.startswith("list["):
        if not isinstance(value, (list, tuple)):
            raise wrong()
        item = kind[5:-1]
        return [_convert(f"{name}[{i}]", item, None, v) for i, v in enumerate(value)]
    raise wrong()


_SIMPLE = {str: "str", int: "int", float: "float", bool: "bool"}


def _argument(name: str, hint: Any, param: inspect.Parameter) -> _Argument:
    required = param.default is inspect.Parameter.empty
    default = None if required else param.default
    nullable = not required and default is None  # `x: str = None` takes None
    origin = typing.get_origin(hint)
    if origin is Union or origin is getattr(types, "UnionType", Union):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) == len(typing.get_args(hint)) or len(members) != 1:
            raise TypeError(f"argument {name!r}: only Optional[X] unions are supported")
        nullable = True
        hint = members[0]
        origin = typing.get_origin(hint)
        if required:  # Optional[X] without a default defaults to None
            required = False
    if hint is inspect.Parameter.empty or hint is Any:
        return _Argument(name, "any", required, default, nullable)
    if hint in _SIMPLE:
        return _Argument(name, _SIMPLE[hint], required, default, nullable)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _Argument(name, "enum", required, default, nullable, enum=hint)
    if origin in (list, Sequence):
        (item,) = typing.get_args(hint) or (str,)
        if item in _SIMPLE and item is not bool:
            return _Argument(name, f"list[{_SIMPLE[item]}]", required, default, nullable)
    raise TypeError(
        f"argument {name!r}: type {hint!r} is not supported (str, int, float, bool, "
        "list[str], list[int], list[float], an Enum, or Optional of one)"
    )


@dataclass
class CommandSpec:
    """A command: its name, help, and arguments typed from the method's hints."""

    name: str
    help: str
    function: Callable[..., Any]
    arguments: list[_Argument] = field(default_factory=list)

    @classmethod
    def of(cls, name: str, function: Callable[..., Any]) -> CommandSpec:
        hints = typing.get_type_hints(function)
        params = list(inspect.signature(function).parameters.values())[1:]  # self
        arguments = []
        for p in params:
            if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise TypeError(f"command {name}: *args and **kwargs cannot be typed")
            arguments.append(_argument(p.name, hints.get(p.name, inspect.Parameter.empty), p))
        return cls(name, inspect.getdoc(function) or "", function, arguments)

    def schema(self) -> dict[str, Any]:
        """The command as the agent shows it (``GET /api/modules``)."""
        return {
            "name": self.name,
            "help": self.help,
            "arguments": [a.schema() for a in self.arguments],
        }

    def bind(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """``args`` converted to the hinted types; :class:`CommandArgumentError`
        for an unknown, missing or wrongly typed one."""
        if not isinstance(args, Mapping):
            raise CommandArgumentError("the arguments must be an object of name: value")
        names = {a.name for a in self.arguments}
        for given in args:
            if given not in names:
                takes = ", ".join(a.name for a in self.arguments) or "no arguments"
                raise CommandArgumentError(
                    f"command {self.name}: unknown argument {given!r} (it takes {takes})"
                )
        bound = {}
        for a in self.arguments:
            if a.name in args:
                bound[a.name] = a.convert(args[a.name])
            elif a.required:
                raise CommandArgumentError(f"command {self.name}: missing argument {a.name!r}")
        return bound


def command(function: F | None = None, *, name: str | None = None) -> Any:
    """Makes a method a command, named after it (or ``name``): ``@pyhost.command``
    or ``@pyhost.command(name="...")``. Its arguments and their types come from the
    type hints (``str``, ``int``, ``float``, ``bool``, ``list[str]``, an ``Enum``,
    ``Optional[...]``), defaults from the signature and help from the docstring;
    what it returns is the result."""

    def mark(fn: F) -> F:
        fn.__pyhost_command__ = name or fn.__name__  # type: ignore[attr-defined]
        return fn

    if function is not None:
        return mark(function)
    return mark


# --- the module -------------------------------------------------------------


class ModuleContext:
    """What a module instance is attached to: its name, option values, store,
    and where its health goes. The agent makes one per module; so does
    ``pyhost.testing.ModuleHarness``."""

    def __init__(
        self,
        name: str,
        options: Mapping[str, Any],
        store: Any,
        set_health: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.name = name
        self.options = dict(options)
        self.store = store
        self.set_health = set_health
        self.health: dict[str, Any] = {}
        self.stopping = threading.Event()


_pending = threading.local()


class Module:
    """The base class of long-running modules (see this module's docs)."""

    #: Published names this module is notified of.
    NOTIFY_TYPES: ClassVar[Sequence[str]] = ()
    #: The module's options.
    MODULE_OPTIONS: ClassVar[Sequence[Option]] = ()

    _pyhost: ModuleContext
    #: The agent's log, records carrying the module's name (``pyhost.module.NAME``).
    log: logging.Logger

    def __new__(cls, *args: Any, **kwargs: Any) -> Module:
        self = super().__new__(cls)
        ctx: ModuleContext | None = getattr(_pending, "context", None)
        if ctx is None:
            raise RuntimeError(
                f"{cls.__name__} is made by the host (or pyhost.testing.ModuleHarness), "
                "not called directly"
            )
        self._pyhost = ctx
        self.log = logging.getLogger(f"pyhost.module.{ctx.name}")
        return self

    @property
    def module_name(self) -> str:
        """The module's name, as configured."""
        return self._pyhost.name

    @staticmethod
    def can_run() -> tuple[bool, str]:
        """Whether the module's dependencies are present, and if not, why not.
        A module that cannot run is shown as ``disabled: <reason>``."""
        return True, ""

    def notify(self, kind: str, key: str) -> None:
        """Called when the host publishes ``kind``, one of ``NOTIFY_TYPES``; ``key``
        names the part that changed ("" for the whole)."""

    def shutdown(self) -> None:
        """Asks ``serve()`` to return. Overrides must call ``super().shutdown()``
        or make ``serve`` return some other way."""
        self._pyhost.stopping.set()

    def wait_for_shutdown(self, timeout: float | None = None) -> bool:
        """Sleeps until ``shutdown()`` is called or ``timeout`` seconds pass;
        True if shutting down. The way for ``serve`` to wait between rounds."""
        return self._pyhost.stopping.wait(timeout)

    @property
    def shutting_down(self) -> bool:
        """Whether ``shutdown()`` has been called."""
        return self._pyhost.stopping.is_set()

    def get(self, name: str, default: Any = None) -> Any:
        """The host's state published under ``name`` (see :mod:`pyhost.host`)."""
        return host.get(name, default)

    def get_option(self, name: str) -> Any:
        """The value of one of ``MODULE_OPTIONS``: configured, else its default."""
        try:
            return self._pyhost.options[name]
        except KeyError:
            raise KeyError(f"{type(self).__name__} declares no option {name!r}") from None

    def get_store(self, key: str, default: str | None = None) -> str | None:
        """A value this module stored, or ``default``."""
        value = self._pyhost.store.get(self._pyhost.name, key)
        return default if value is None else value

    def set_store(self, key: str, value: str | None) -> None:
        """Stores ``value`` (a str) under ``key``, kept across restarts; None deletes."""
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"set_store: values are str (or None to delete), not {type(value).__name__}"
            )
        if not isinstance(key, str) or not key:
            raise TypeError("set_store: the key must be a non-empty str")
        self._pyhost.store.set(self._pyhost.name, key, value)

    def get_store_prefix(self, prefix: str) -> dict[str, str]:
        """Every stored ``key: value`` whose key starts with ``prefix``."""
        found: dict[str, str] = self._pyhost.store.prefix(self._pyhost.name, prefix)
        return found

    def set_health_checks(self, checks: Mapping[str, Mapping[str, Any]]) -> None:
        """Replaces this module's health checks: ``{CODE: {"severity": "warning" or
        "error", "summary": str, "detail": [str, ...]}}``; ``{}`` clears them."""
        normalized = normalize_health(checks)
        self._pyhost.health = normalized
        self._pyhost.set_health(self._pyhost.name, normalized)

    def get_health_checks(self) -> dict[str, Any]:
        """The health checks last set."""
        return dict(self._pyhost.health)

    @classmethod
    def commands(cls) -> dict[str, CommandSpec]:
        """The class's commands, by name."""
        found: dict[str, CommandSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                cname = getattr(attr, "__pyhost_command__", None)
                if isinstance(cname, str):
                    found[cname] = CommandSpec.of(cname, attr)
        return found


def normalize_health(checks: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Health checks checked and copied; ValueError/TypeError saying what is wrong."""
    if not isinstance(checks, Mapping):
        raise TypeError("health checks are a dict of CODE: {severity, summary, detail}")
    out = {}
    for code, check in checks.items():
        if not isinstance(code, str) or not code:
            raise TypeError(f"health check code {code!r}: expected a non-empty str")
        if not isinstance(check, Mapping):
            raise TypeError(f"health check {code}: expected a dict, found {type(check).__name__}")
        severity = check.get("severity")
        if severity not in SEVERITIES:
            raise ValueError(
                f"health check {code}: severity must be 'warning' or 'error', found {severity!r}"
            )
        summary = check.get("summary", "")
        if not isinstance(summary, str):
            raise TypeError(f"health check {code}: summary must be a str")
        detail = check.get("detail", [])
        if isinstance(detail, str):
            raise TypeError(f"health check {code}: detail must be a list of str")
        try:
            detail = list(detail)  # once: a generator is read here, not used up by the check
        except TypeError:
            raise TypeError(f"health check {code}: detail must be a list of str") from None
        if not all(isinstance(d, str) for d in detail):
            raise TypeError(f"health check {code}: detail must be a list of str")
        unknown = set(check) - {"severity", "summary", "detail", "count"}
        if unknown:
            raise ValueError(f"health check {code}: unknown fields {sorted(unknown)}")
        out[code] = {"severity": severity, "summary": summary, "detail": detail}
    return out


def attach(cls: type[Module], context: ModuleContext) -> Module:
    """Makes an instance of ``cls`` attached to ``context`` (``cls()`` runs with
    the context pending, so a subclass ``__init__`` taking no arguments works)."""
    _pending.context = context
    try:
        return cls()
    finally:
        _pending.context = None


def find_module_class(namespace: Any, module_name: str) -> type[Module]:
    """The Module subclass a plugin file defines: the one named ``Module``, else the
    only subclass defined in it."""
    candidates = [
        v
        for v in vars(namespace).values()
        if isinstance(v, type)
        and issubclass(v, Module)
        and v is not Module
        and v.__module__ == namespace.__name__
    ]
    if not candidates:  # e.g. a package's __init__ importing it from a submodule
        candidates = [
            v
            for v in vars(namespace).values()
            if isinstance(v, type) and issubclass(v, Module) and v is not Module
        ]
    named = [c for c in candidates if c.__name__ == "Module"]
    if len(named) == 1:
        return named[0]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise TypeError(f"module {module_name} defines no pyhost.Module subclass")
    names = ", ".join(sorted(c.__name__ for c in candidates))
    raise TypeError(
        f"module {module_name} defines several pyhost.Module subclasses ({names}); name one Module"
    )
