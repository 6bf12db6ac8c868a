"""Types of ``_pyhost``, the pyhost engine's in-memory module (the SDK's link
to the host). Checked against the real module inside the engine."""

from collections.abc import Sequence
from typing import Any

from typing_extensions import Self, disjoint_base

__all__ = ["CheckBase", "CheckCancelled", "noop", "version"]

class CheckCancelled(BaseException):
    """Raised inside a running check when the host cancels it."""

@disjoint_base
class CheckBase:
    """The native base of ``pyhost.AgentCheck``: submission methods that write
    straight into the check's batch."""

    check_id: str
    def __new__(cls, *args: Any, **kwargs: Any) -> Self: ...
    def gauge(
        self,
        name: str,
        value: float,
        tags: Sequence[str] | None = None,
        hostname: str | None = None,
        device_name: str | None = None,
        raw: object = None,
    ) -> None: ...
    def rate(
        self,
        name: str,
        value: float,
        tags: Sequence[str] | None = None,
        hostname: str | None = None,
        device_name: str | None = None,
        raw: object = None,
    ) -> None: ...
    def count(
        self,
        name: str,
        value: float,
        tags: Sequence[str] | None = None,
        hostname: str | None = None,
        device_name: str | None = None,
        raw: object = None,
    ) -> None: ...
    def histogram(
        self,
        name: str,
        value: float,
        tags: Sequence[str] | None = None,
        hostname: str | None = None,
        device_name: str | None = None,
        raw: object = None,
    ) -> None: ...
    def historate(
        self,
        name: str,
        value: float,
        tags: Sequence[str] | None = None,
        hostname: str | None = None,
        device_name: str | None = None,
        raw: object = None,
    ) -> None: ...
    def monotonic_count(
        self,
        name: str,
        value: float,
        tags: Sequence[str] | None = None,
        hostname: str | None = None,
        device_name: str | None = None,
        raw: object = None,
        flush_first_value: object = None,
    ) -> None: ...

def noop(*args: object, **kwargs: object) -> None:
    """Does nothing (the floor benchmarks compare a builtin call with)."""

def version() -> str:
    """The host's version."""
