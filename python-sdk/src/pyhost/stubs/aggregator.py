"""Stand-in for the host's in-memory ``aggregator`` module.

The ``submit_*`` functions validate their arguments exactly like the native module
(same exception types for the same inputs) and record every accepted submission. The
remaining functions are assertion helpers for tests; the ``aggregator`` pytest fixture
resets the recorded state around every test.

``events``, ``metric_names`` and ``service_check_names`` are read-only module
attributes computed on access.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

GAUGE = 0
RATE = 1
COUNT = 2
MONOTONIC_COUNT = 3
COUNTER = 4
HISTOGRAM = 5
HISTORATE = 6

METRIC_TYPE_NAMES = (
    "gauge",
    "rate",
    "count",
    "monotonic_count",
    "counter",
    "histogram",
    "historate",
)

SERVICE_CHECK_STATUS_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


class MetricStub(NamedTuple):
    """One recorded metric submission. ``tags`` is a sorted list."""

    name: str
    type: int
    value: float
    tags: list[str]
    hostname: str | None
    flush_first_value: bool
    check_id: str


class ServiceCheckStub(NamedTuple):
    """One recorded service check submission. ``tags`` is a sorted list."""

    name: str
    status: int
    tags: list[str]
    hostname: str | None
    message: str | None
    check_id: str


_metrics: dict[str, list[MetricStub]] = {}
_service_checks: dict[str, list[ServiceCheckStub]] = {}
_events: list[dict[str, Any]] = []
_asserted: set[str] = set()


# --------------------------------------------------------------------------------------
# Submission API (mirrors the native module)
# --------------------------------------------------------------------------------------


def _type_name(obj: object) -> str:
    return type(obj).__name__


def _require_str(what: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {_type_name(value)}")


def _validate_tags(tags: object) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, (list, tuple)):
        raise TypeError(f"tags must be None or a list of str, not {_type_name(tags)}")
    for tag in tags:
        if not isinstance(tag, str):
            raise TypeError(f"tags must contain only str, found {_type_name(tag)}: {tag!r}")
        tag.encode()  # a lone surrogate (a non-UTF-8 file name) cannot cross: UnicodeEncodeError
    return sorted(set(tags))  # a tag given twice counts once, as in the agent


def _validate_hostname(hostname: object) -> None:
    if hostname is not None and not isinstance(hostname, str):
        raise TypeError(f"hostname must be None or str, not {_type_name(hostname)}")


# The longest metric name the agent takes, in bytes (UTF-8), as the engine has it.
MAX_METRIC_NAME_BYTES = 4096


def submit_metric(
    check: object,
    check_id: str,
    mtype: int,
    name: str,
    value: float,
    tags: list[str] | tuple[str, ...] | None,
    hostname: str | None,
    flush_first_value: bool = False,
) -> None:
    """Record a metric.

    Raises ``TypeError`` for a non-str ``check_id``/``name``, a non-int ``mtype``, a
    value that is not an int or float (bools count as ints), malformed tags or a non-str
    hostname; ``ValueError`` for an ``mtype`` outside 0..6, a non-finite value or a
    name longer than ``MAX_METRIC_NAME_BYTES`` (UTF-8).
    """
    _require_str("check_id", check_id)
    if not isinstance(mtype, int):
        raise TypeError(f"metric type must be int, not {_type_name(mtype)}")
    if not 0 <= mtype <= HISTORATE:
        raise ValueError(f"invalid metric type {mtype}; expected 0..{HISTORATE}")
    _require_str("metric name", name)
    if len(name.encode("utf-8", "surrogatepass")) > MAX_METRIC_NAME_BYTES:
        raise ValueError(
            f"metric name {name[:64]!r}… is longer than the {MAX_METRIC_NAME_BYTES} bytes "
            "the agent takes; dropped"
        )
    if not isinstance(value, (int, float)):
        raise TypeError(f"metric {name!r} value must be int or float, not {_type_name(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"metric {name!r} value {value!r} is not finite")
    sorted_tags = _validate_tags(tags)
    _validate_hostname(hostname)
    record = MetricStub(
        name, mtype, number, sorted_tags, hostname, bool(flush_first_value), check_id
    )
    _metrics.setdefault(name, []).append(record)


def submit_service_check(
    check: object,
    check_id: str,
    name: str,
    status: int,
    tags: list[str] | tuple[str, ...] | None,
    hostname: str | None,
    message: str | None,
) -> None:
    """Record a service check.

    Raises ``TypeError`` for non-str ``check_id``/``name``, a non-int status, malformed
    tags, or a hostname/message that is neither ``None`` nor str; ``ValueError`` for a
    status outside 0..3.
    """
    _require_str("check_id", check_id)
    _require_str("service check name", name)
    if not isinstance(status, int):
        raise TypeError(f"service check status must be int, not {_type_name(status)}")
    if not 0 <= status <= 3:
        raise ValueError(f"invalid service check status {status}; expected 0..3")
    sorted_tags = _validate_tags(tags)
    _validate_hostname(hostname)
    if message is not None and not isinstance(message, str):
        raise TypeError(f"message must be None or str, not {_type_name(message)}")
    for text in (name, hostname, message):
        if isinstance(text, str) and "\0" in text:
            raise ValueError("embedded null character")
    record = ServiceCheckStub(name, status, sorted_tags, hostname, message, check_id)
    _service_checks.setdefault(name, []).append(record)


# The event fields the agent keeps, as text.
_EVENT_TEXT_KEYS = (
    "msg_title",
    "msg_text",
    "priority",
    "host",
    "alert_type",
    "aggregation_key",
    "source_type_name",
    "event_type",
)


def _event_text(value: object) -> str | None:
    """A text field as the agent keeps it: a str (up to a NUL), else dropped."""
    if not isinstance(value, str):
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        return None
    return value.split("\0", 1)[0]


def submit_event(check: object, check_id: str, event: dict[str, Any]) -> None:
    """Record an event as the agent keeps it: its text fields that are str (up to
    a NUL), an int ``timestamp`` (0, or none: the agent's "now"), and its tags;
    every other field is dropped. Raises ``TypeError`` unless ``event`` is a dict."""
    _require_str("check_id", check_id)
    if not isinstance(event, dict):
        raise TypeError(f"event must be dict, not {_type_name(event)}")
    record: dict[str, Any] = {}
    for key in _EVENT_TEXT_KEYS:
        text = _event_text(event.get(key))
        if text is not None:
            record[key] = text
    ts = event.get("timestamp")
    if isinstance(ts, int) and -(2**63) <= ts < 2**63 and ts not in (0, -1):
        record["timestamp"] = int(ts)
    if "tags" in event:
        record["tags"] = _validate_tags(event["tags"])
    _events.append(record)


# --------------------------------------------------------------------------------------
# Inspection helpers
# --------------------------------------------------------------------------------------


def reset() -> None:
    """Forget everything that was submitted or asserted."""
    _metrics.clear()
    _service_checks.clear()
    _events.clear()
    _asserted.clear()


def metrics(name: str) -> list[MetricStub]:
    """Return the metrics submitted under ``name``, in submission order."""
    return list(_metrics.get(name, ()))


def service_checks(name: str) -> list[ServiceCheckStub]:
    """Return the service checks submitted under ``name``, in submission order."""
    return list(_service_checks.get(name, ()))


def not_asserted() -> list[str]:
    """Return the sorted names of submitted metrics that no assertion has covered."""
    return sorted(name for name in _metrics if name not in _asserted)


def __getattr__(attr: str) -> Any:
    if attr == "events":
        return list(_events)
    if attr == "metric_names":
        return sorted(_metrics)
    if attr == "service_check_names":
        return sorted(_service_checks)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


# --------------------------------------------------------------------------------------
# Assertion helpers
# --------------------------------------------------------------------------------------


def _values_match(expected: float, actual: float) -> bool:
    return actual == expected or math.isclose(actual, expected, rel_tol=1e-9)


def _criteria(**kwargs: Any) -> str:
    shown = [f"{key}={value!r}" for key, value in kwargs.items() if value is not None]
    return f" matching {', '.join(shown)}" if shown else ""


def _check_count(candidates: list[Any], count: int | None, at_least: int) -> bool:
    if count is not None:
        return len(candidates) == count
    return len(candidates) >= at_least


def _fail(
    kind: str,
    name: str,
    criteria: str,
    count: int | None,
    at_least: int,
    found: int,
    submitted: list[Any],
    all_names: list[str],
) -> None:
    expected = f"exactly {count}" if count is not None else f"at least {at_least}"
    lines = [f"Expected {expected} {kind} {name!r}{criteria}; found {found}."]
    if submitted:
        lines.append(f"Submitted {kind}s named {name!r}:")
        lines.extend(f"  {record}" for record in submitted)
    else:
        lines.append(f"No {kind} named {name!r} was submitted.")
        lines.append(f"Submitted {kind} names: {all_names or 'none'}")
    raise AssertionError("\n".join(lines))


def assert_metric(
    name: str,
    value: float | None = None,
    tags: list[str] | tuple[str, ...] | None = None,
    count: int | None = None,
    at_least: int = 1,
    hostname: str | None = None,
    metric_type: int | None = None,
) -> None:
    """Assert that metric ``name`` was submitted with the given properties.

    ``tags`` must match exactly (order does not matter); ``value`` is compared with a
    relative tolerance of 1e-9. With ``count`` the number of matching submissions must be
    exactly ``count``, otherwise at least ``at_least``.
    """
    expected_tags = sorted(tags) if tags is not None else None
    submitted = _metrics.get(name, [])
    candidates = [
        metric
        for metric in submitted
        if (value is None or _values_match(value, metric.value))
        and (expected_tags is None or metric.tags == expected_tags)
        and (hostname is None or metric.hostname == hostname)
        and (metric_type is None or metric.type == metric_type)
    ]
    if not _check_count(candidates, count, at_least):
        type_name = (
            METRIC_TYPE_NAMES[metric_type]
            if metric_type is not None and metric_type in range(7)
            else metric_type
        )
        criteria = _criteria(
            value=value, tags=expected_tags, hostname=hostname, metric_type=type_name
        )
        _fail(
            "metric", name, criteria, count, at_least, len(candidates), submitted, sorted(_metrics)
        )
    if candidates:
        _asserted.add(name)


def assert_metric_has_tag(name: str, tag: str, count: int | None = None, at_least: int = 1) -> None:
    """Assert that metric ``name`` was submitted carrying ``tag``."""
    submitted = _metrics.get(name, [])
    candidates = [metric for metric in submitted if tag in metric.tags]
    if not _check_count(candidates, count, at_least):
        _fail(
            "metric",
            name,
            _criteria(tag=tag),
            count,
            at_least,
            len(candidates),
            submitted,
            sorted(_metrics),
        )
    if candidates:
        _asserted.add(name)


def assert_service_check(
    name: str,
    status: int | None = None,
    tags: list[str] | tuple[str, ...] | None = None,
    count: int | None = None,
    at_least: int = 1,
    hostname: str | None = None,
    message: str | None = None,
) -> None:
    """Assert that service check ``name`` was submitted with the given properties."""
    expected_tags = sorted(tags) if tags is not None else None
    submitted = _service_checks.get(name, [])
    candidates = [
        sc
        for sc in submitted
        if (status is None or sc.status == status)
        and (expected_tags is None or sc.tags == expected_tags)
        and (hostname is None or sc.hostname == hostname)
        and (message is None or sc.message == message)
    ]
    if not _check_count(candidates, count, at_least):
        criteria = _criteria(status=status, tags=expected_tags, hostname=hostname, message=message)
        _fail(
            "service check",
            name,
            criteria,
            count,
            at_least,
            len(candidates),
            submitted,
            sorted(_service_checks),
        )


def _event_matches(event: dict[str, Any], msg_text: str | None, expected: dict[str, Any]) -> bool:
    if msg_text is not None and event.get("msg_text") != msg_text:
        return False
    for key, value in expected.items():
        actual = event.get(key)
        if key == "tags" and value is not None and actual is not None:
            if sorted(actual) != sorted(value):
                return False
        elif actual != value:
            return False
    return True


def assert_event(
    msg_text: str | None = None, count: int | None = None, at_least: int = 1, **kwargs: Any
) -> None:
    """Assert that an event with ``msg_text`` and the given fields was submitted.

    Every keyword argument names an event field that must be equal (``tags`` are compared
    without regard to order).
    """
    candidates = [event for event in _events if _event_matches(event, msg_text, kwargs)]
    if not _check_count(candidates, count, at_least):
        expected = f"exactly {count}" if count is not None else f"at least {at_least}"
        criteria = _criteria(msg_text=msg_text, **kwargs)
        lines = [f"Expected {expected} event{criteria}; found {len(candidates)}."]
        lines.append("Submitted events:" if _events else "No event was submitted.")
        lines.extend(f"  {event!r}" for event in _events)
        raise AssertionError("\n".join(lines))


def assert_all_metrics_covered() -> None:
    """Assert that every submitted metric name was covered by an assertion."""
    missing = not_asserted()
    if missing:
        lines = [f"{len(missing)} submitted metric name(s) were never asserted:"]
        lines.extend(f"  {name}: {_metrics[name]}" for name in missing)
        raise AssertionError("\n".join(lines))
