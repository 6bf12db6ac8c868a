"""A hook point in pure Python, with the rules of the Go side's ``HookPoint``."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

from pyhost.hooks import hooks_of
from pyhost.host import thaw
from pyhost.stubs._pyhost_bridge import _freeze

__all__ = ["HookPoint"]


class HookPoint:
    """The operation ``op`` with the hooks ``module`` defines for it (or set
    ``dispatch`` / ``completion`` directly). :meth:`call` runs an operation
    through them as Go's ``HookPoint.Call`` does: a dispatch answer skips the
    operation, a completion may replace the result, a hook that raises (or
    returns a value that cannot cross to Go) passes through and is counted."""

    def __init__(self, op: str, module: ModuleType | None = None) -> None:
        self.op = op
        self.dispatch: Callable[[Any], Any] | None = None
        self.completion: Callable[[Any, Any], Any] | None = None
        self.calls = self.answered = self.replaced = self.errors = 0
        #: The exceptions hooks raised, in order.
        self.failures: list[BaseException] = []
        if module is not None:
            for kind, hook_op, attr in hooks_of(module):
                if hook_op == op:
                    setattr(self, kind, getattr(module, attr))

    def _run(self, hook: Callable[..., Any], *args: Any) -> tuple[Any, bool]:
        try:
            # Each hook gets its own copy, as Go hands it a value decoded
            # afresh: what a hook changes in it, neither the operation nor
            # the other hook sees. What cannot cross to Go fails there too.
            out = hook(*(thaw(_freeze(a)) for a in args))
            _freeze(out)
        except Exception as e:
            self.errors += 1
            self.failures.append(e)
            return None, False
        return out, True

    def call(self, req: Any, operation: Callable[[Any], Any]) -> Any:
        """``operation(req)`` with the hooks around it."""
        if self.dispatch is None and self.completion is None:
            return operation(req)
        self.calls += 1
        if self.dispatch is not None:
            answer, ok = self._run(self.dispatch, req)
            if ok and answer is not None:
                self.answered += 1
                return answer
        result = operation(req)
        if self.completion is not None:
            replacement, ok = self._run(self.completion, req, result)
            if ok and replacement is not None:
                self.replaced += 1
                return replacement
        return result
