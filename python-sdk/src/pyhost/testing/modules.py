"""Running a :class:`pyhost.Module` in a test, without the agent.

The harness does what the agent does, in pure Python: resolves options (an
:class:`pyhost.OptionError` for a bad one, as the agent refuses to start the
module), gives the module a real SQLite store (in memory unless a path is
given), publishes host state and delivers notifications, calls commands with
the same argument typing as the HTTP API, and runs ``serve`` on a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pyhost import testing
from pyhost._modules_host import plain
from pyhost._store import Store
from pyhost.modules import Module, ModuleContext, attach, resolve_options
from pyhost.stubs._pyhost_bridge import _freeze

__all__ = ["ModuleHarness"]


class ModuleHarness:
    """One module instance with the agent's services stood in for."""

    def __init__(
        self,
        cls: type[Module],
        options: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        store: Store | None = None,
    ) -> None:
        self.name = name or cls.__module__.rsplit(".", 1)[-1]
        self.cls = cls
        #: ``cls.can_run()``: the agent shows a module that cannot run as disabled.
        self.can_run = cls.can_run()
        self.options = resolve_options(cls.MODULE_OPTIONS, options or {})
        self.store = store or Store(":memory:")
        self.commands = cls.commands()
        # What the agent's loader hands Go must cross (an option default of
        # inf, say, fails the module's load there).
        _freeze(
            {
                "options": [
                    {**o.schema(), "value": self.options[o.schema()["name"]]}
                    for o in cls.MODULE_OPTIONS
                ],
                "commands": [c.schema() for c in self.commands.values()],
            }
        )
        #: Every ``(kind, key)`` delivered to ``notify``, in order.
        self.notifications: list[tuple[str, str]] = []
        self._health: dict[str, Any] = {}
        self._context = ModuleContext(self.name, self.options, self.store, self._set_health)
        self.module = attach(cls, self._context)
        self._serving: threading.Thread | None = None
        self._serve_error: BaseException | None = None

    def _set_health(self, name: str, checks: dict[str, Any]) -> None:
        self._health = checks

    @property
    def health(self) -> dict[str, Any]:
        """The module's health checks, as the agent would show them."""
        return dict(self._health)

    def stored(self) -> dict[str, str]:
        """Everything the module has in its store."""
        return self.store.prefix(self.name, "")

    def publish(self, name: str, value: Any, key: str = "") -> bool:
        """Publishes host state; if the module lists ``name`` in ``NOTIFY_TYPES``,
        delivers ``notify(name, key)`` (raising what it raises). True if delivered."""
        testing.publish(name, value)
        if name not in self.cls.NOTIFY_TYPES:
            return False
        self.notify(name, key)
        return True

    def notify(self, kind: str, key: str = "") -> None:
        """Delivers one notification."""
        self.notifications.append((kind, key))
        self.module.notify(kind, key)

    def command(self, command: str, **args: Any) -> Any:
        """Runs a command as the HTTP API does: arguments checked and typed from the
        hints (``CommandArgumentError`` if not), the result as it would cross to Go."""
        try:
            spec = self.commands[command]
        except KeyError:
            raise LookupError(f"module {self.name} has no command {command!r}") from None
        result = plain(spec.function(self.module, **spec.bind(args)))
        _freeze(result)  # what cannot cross to Go fails there: a 500 from the agent
        return result

    def start(self) -> None:
        """Runs ``serve()`` on a thread of its own."""
        if not callable(getattr(self.module, "serve", None)):
            raise TypeError(f"{self.cls.__name__} has no serve()")

        def run() -> None:
            try:
                self.module.serve()  # type: ignore[attr-defined]
            except BaseException as e:  # reported by stop()
                self._serve_error = e

        self._serving = threading.Thread(target=run, name=f"pyhost-module-{self.name}", daemon=True)
        self._serving.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Calls ``shutdown()`` and waits for ``serve`` to return; raises what serve
        raised, or ``TimeoutError`` if it does not return within ``timeout``."""
        self._context.stopping.set()
        self.module.shutdown()
        if self._serving is not None:
            self._serving.join(timeout)
            if self._serving.is_alive():
                raise TimeoutError(
                    f"{self.name}: serve() did not return within {timeout}s of shutdown()"
                )
            self._serving = None
        if self._serve_error is not None:
            err, self._serve_error = self._serve_error, None
            raise err

    @contextmanager
    def serving(self, timeout: float = 10.0) -> Iterator[ModuleHarness]:
        """``with harness.serving(): ...``: serve runs inside the block, stopped after."""
        self.start()
        try:
            yield self
        finally:
            self.stop(timeout)
