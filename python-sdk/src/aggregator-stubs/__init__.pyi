"""Types of ``aggregator``, the Datadog Agent's in-memory module as the pyhost
engine provides it (rtloader's positional signatures)."""

from collections.abc import Sequence
from typing import Any

GAUGE: int
RATE: int
COUNT: int
MONOTONIC_COUNT: int
COUNTER: int
HISTOGRAM: int
HISTORATE: int

def submit_metric(
    check: object,
    check_id: str,
    mtype: int,
    name: str,
    value: float,
    tags: Sequence[str] | None,
    hostname: str | None,
    flush_first_value: bool = ...,
    /,
) -> None: ...
def submit_service_check(
    check: object,
    check_id: str,
    name: str,
    status: int,
    tags: Sequence[str] | None,
    hostname: str | None,
    message: str | None,
    /,
) -> None: ...
def submit_event(check: object, check_id: str, event: dict[str, Any], /) -> None: ...
def submit_histogram_bucket(
    check: object,
    check_id: str,
    name: str,
    value: int,
    lower_bound: float,
    upper_bound: float,
    monotonic: int,
    hostname: str,
    tags: Sequence[str] | None,
    flush_first_value: bool = ...,
    /,
) -> None: ...
def submit_event_platform_event(
    check: object, check_id: str, raw_event: str | bytes, event_type: str, /
) -> None: ...
