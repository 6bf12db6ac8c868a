"""The :class:`AgentCheck` base class."""

from __future__ import annotations

import json
import logging
import math
import time
import traceback
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pyhost._host import NativeCheckBase as _NativeCheckBase
from pyhost._host import aggregator as _aggregator

__all__ = ["CRITICAL", "OK", "UNKNOWN", "WARNING", "AgentCheck", "CheckLoggerAdapter"]

OK = 0
WARNING = 1
CRITICAL = 2
UNKNOWN = 3

# Bound once at import: the submission methods are on the hot path and a module global
# is the cheapest lookup available.
_submit_metric = _aggregator.submit_metric
_submit_service_check = _aggregator.submit_service_check
_submit_event = _aggregator.submit_event

_GAUGE = _aggregator.GAUGE
_RATE = _aggregator.RATE
_COUNT = _aggregator.COUNT
_MONOTONIC_COUNT = _aggregator.MONOTONIC_COUNT
_HISTOGRAM = _aggregator.HISTOGRAM
_HISTORATE = _aggregator.HISTORATE

_EVENT_TEXT_FIELDS = (
    "event_type",
    "msg_title",
    "msg_text",
    "aggregation_key",
    "alert_type",
    "source_type_name",
    "host",
    "priority",
)

Tags = Sequence[str]

# The longest warning a check records, in characters.
MAX_WARNING_LENGTH = 2000


if TYPE_CHECKING:
    _LoggerAdapter = logging.LoggerAdapter[logging.Logger]
else:  # not subscriptable at run time before Python 3.11
    _LoggerAdapter = logging.LoggerAdapter


class CheckLoggerAdapter(_LoggerAdapter):
    """Logger adapter adding ``check_name`` and ``check_id`` to every record.

    Both are read from the check when the record is created, so a ``check_id`` assigned
    after construction is picked up.
    """

    def __init__(self, logger: logging.Logger, check: AgentCheck) -> None:
        super().__init__(logger, {})
        self._check = weakref.ref(check)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        check = self._check()
        context = {
            "check_name": check.name if check is not None else "",
            "check_id": check.check_id if check is not None else "",
        }
        extra = kwargs.get("extra")
        kwargs["extra"] = {**extra, **context} if extra else context
        return msg, kwargs


def _qualified_type_name(cls: type) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _error_report(exc: Exception) -> str:
    type_name = _qualified_type_name(type(exc))
    try:
        message = str(exc)
    except Exception:
        message = f"<unprintable {type_name} object>"
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return json.dumps([{"type": type_name, "message": message, "traceback": trace}])


def _shown(value: Any) -> str:
    """A value's repr for a warning, cut to its first 100 characters."""
    text = repr(value)
    return text if len(text) <= 100 else f"{text[:100]}…"


def _decode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return value


def _to_float(value: Any) -> float | None:
    try:
        return float(value)
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        return None


def _truth(flag: Any) -> bool:
    """A flag's truth as the host's native methods take it: an object whose
    ``__bool__`` raises counts as false (a submission never raises over a flag)."""
    try:
        return bool(flag)
    except Exception:
        return False


def _metric_method(mtype: int, doc: str) -> Any:
    """One submission method of the plain ``(name, value, tags, hostname, device_name,
    raw)`` shape: a single call into the aggregator; bad data is rejected there and only
    then handled (and possibly repaired) by ``AgentCheck._resubmit_metric``."""

    def submit(
        self: Any,
        name: str,
        value: float,
        tags: Tags | None = None,
        hostname: str | None = None,
        device_name: str | None = None,
        raw: bool = False,
    ) -> None:
        if device_name is not None:
            tags = self._with_device_tag(name, tags, device_name)
        try:
            _submit_metric(self, self.check_id, mtype, name, value, tags, hostname, False)
        except (TypeError, ValueError):
            self._resubmit_metric(mtype, name, value, tags, hostname, False)

    submit.__doc__ = doc
    return submit


class _PythonSubmissions:
    """The metric submission methods in Python, used outside the agent (against the
    stand-in aggregator). Inside the agent the host's native ``CheckBase`` provides the
    same methods with the same signatures and behaviour, without a Python frame per call.
    """

    check_id: str

    gauge = _metric_method(_GAUGE, "Submit a gauge: the latest value wins within a flush.")
    count = _metric_method(_COUNT, "Submit a count: values are summed within a flush.")
    rate = _metric_method(
        _RATE, "Submit a raw counter sample; the per-second rate between samples is reported."
    )
    histogram = _metric_method(
        _HISTOGRAM, "Submit a sample to a histogram (aggregated into percentiles, max, avg...)."
    )
    historate = _metric_method(
        _HISTORATE, "Submit a counter sample whose rates are aggregated into a histogram."
    )

    def monotonic_count(
        self,
        name: str,
        value: float,
        tags: Tags | None = None,
        hostname: str | None = None,
        device_name: str | None = None,
        raw: bool = False,
        flush_first_value: bool = False,
    ) -> None:
        """Submit an ever-increasing counter; the delta between samples is reported."""
        flush_first_value = _truth(flush_first_value)
        if device_name is not None:
            tags = self._with_device_tag(name, tags, device_name)  # type: ignore[attr-defined]
        try:
            _submit_metric(
                self,
                self.check_id,
                _MONOTONIC_COUNT,
                name,
                value,
                tags,
                hostname,
                flush_first_value,
            )
        except (TypeError, ValueError):
            self._resubmit_metric(  # type: ignore[attr-defined]
                _MONOTONIC_COUNT, name, value, tags, hostname, flush_first_value
            )


# Inside the agent the submission methods are native (see _PythonSubmissions).
_SubmissionBase: type = _NativeCheckBase if _NativeCheckBase is not None else _PythonSubmissions


class AgentCheck(_SubmissionBase):  # type: ignore[misc]
    """Base class for checks. Subclasses override :meth:`check`.

    The host constructs the check with ``AgentCheck(name, init_config, instances)``, sets
    :attr:`check_id`, then calls :meth:`run` on every collection and
    :meth:`get_warnings` after it.
    """

    OK = OK
    WARNING = WARNING
    CRITICAL = CRITICAL
    UNKNOWN = UNKNOWN

    def __init__(
        self,
        name: str,
        init_config: Mapping[str, Any] | None = None,
        instances: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        self.name = name
        self.init_config: Mapping[str, Any] = init_config if init_config is not None else {}
        self.instances: list[Any] = list(instances) if instances else []
        first = self.instances[0] if self.instances else None
        self.instance: Mapping[str, Any] = first if first is not None else {}
        self.check_id: str = ""
        self.warnings: list[str] = []
        self._cancelled = False

    # Made on first use: an agent with many instances holds no logger adapter for
    # the instances that never log. Name-mangled, so a subclass's own ``_log`` is its own.
    __log: logging.LoggerAdapter[logging.Logger] | None = None

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """The check's logger: records carry ``check_name`` and ``check_id``. A
        subclass may set its own (``self.log = ...``)."""
        log = self.__log
        if log is None:
            log = self.__log = CheckLoggerAdapter(
                logging.getLogger(f"pyhost.check.{self.name}"), self
            )
        return log

    @log.setter
    def log(self, log: logging.LoggerAdapter[logging.Logger]) -> None:
        self.__log = log

    # ----------------------------------------------------------------------------------
    # Lifecycle
    # ----------------------------------------------------------------------------------

    def check(self, instance: Mapping[str, Any]) -> None:
        """Collect and submit data. Override this in your check."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement check()")

    def run(self) -> str:
        """Run :meth:`check` once.

        Returns ``""`` on success. If the check raises an ``Exception``, returns a JSON
        list holding one object with ``type``, ``message`` and ``traceback``. Exceptions
        that do not derive from ``Exception`` (such as ``CheckCancelled``) propagate.
        """
        self._cancelled = False
        try:
            self.check(self.instance)
        except Exception as exc:
            return _error_report(exc)
        return ""

    def cancel(self) -> None:
        """Called by the host when it stops the current run (its deadline passed, or
        the agent is shutting down), from another thread, while the run goes on.

        Sets :attr:`cancelled`. Override it to make a long run return early (close a
        socket the run waits on, set an event); call ``super().cancel()`` first, do
        not block, and be thread-safe (it runs on a thread of its own, waited for
        100 ms: one that blocks longer may return after its run ended). If the run
        does not return, the host raises ``CheckCancelled`` at the next line of the
        check's own code.
        """
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        """Whether the host asked the current run to stop (see :meth:`cancel`): a long
        loop in a check can test it and return."""
        return self._cancelled

    def warning(self, message: str, *args: Any) -> None:
        """Record a warning for this run (``%``-formatted with ``args``) and log it.

        A warning longer than ``MAX_WARNING_LENGTH`` characters is cut there (a
        warning that quotes a huge value stays readable)."""
        if args:
            try:
                message = message % args
            except (TypeError, ValueError, KeyError):
                message = f"{message} {args!r}"
        else:
            message = str(message)
        if len(message) > MAX_WARNING_LENGTH:
            cut = len(message) - MAX_WARNING_LENGTH
            message = f"{message[:MAX_WARNING_LENGTH]}… ({cut} more characters)"
        self.warnings.append(message)
        self.log.warning("%s", message)

    def get_warnings(self) -> list[str]:
        """Return the pending warnings and clear them."""
        warnings, self.warnings = self.warnings, []
        return warnings

    # ----------------------------------------------------------------------------------
    # Service checks and events
    # ----------------------------------------------------------------------------------

    def service_check(
        self,
        name: str,
        status: int,
        tags: Tags | None = None,
        hostname: str | None = None,
        message: str | None = None,
    ) -> None:
        """Submit a service check with status OK, WARNING, CRITICAL or UNKNOWN."""
        try:
            _submit_service_check(self, self.check_id, name, status, tags, hostname, message)
        except (TypeError, ValueError):
            self._resubmit_service_check(name, status, tags, hostname, message)

    def event(self, event: Mapping[str, Any]) -> None:
        """Submit an event (a dict with ``msg_title``, ``msg_text``, ``tags``...).

        The dict is copied; ``timestamp`` is taken in whole seconds and defaults to the
        current time, and bytes values are decoded as UTF-8. The agent keeps the text
        fields, the timestamp and the tags.
        """
        if not isinstance(event, Mapping):
            self.warning("Event must be a dict, not %s; dropped", type(event).__name__)
            return
        payload = dict(event)
        for key in _EVENT_TEXT_FIELDS:
            if key in payload:
                payload[key] = _decode(payload[key])
        if "tags" in payload:
            payload["tags"] = self._normalize_tags(payload["tags"], "Event")
        if payload.get("timestamp") is not None:
            # Whole seconds, as datadog_checks_base sends it: the agent keeps
            # only an int (a float, say time.time(), would become "now").
            try:
                payload["timestamp"] = int(payload["timestamp"])
            except (TypeError, ValueError, OverflowError):
                self.warning(
                    "Event timestamp %r is not a number; the event is stamped now",
                    payload["timestamp"],
                )
                del payload["timestamp"]
        payload.setdefault("timestamp", int(time.time()))
        try:
            _submit_event(self, self.check_id, payload)
        except (TypeError, ValueError) as exc:
            self.warning("Event could not be submitted (%s); dropped", exc)

    # ----------------------------------------------------------------------------------
    # Error path: only reached when the aggregator rejected a submission.
    # ----------------------------------------------------------------------------------

    def _normalize_tags(self, tags: Any, context: str) -> list[str] | None:
        """Return ``tags`` as a list of str: bytes are decoded, other items skipped."""
        if tags is None:
            return None
        if isinstance(tags, (str, bytes, bytearray)):
            self.warning("%s: tags must be a list of strings, not a single string", context)
            tags = [tags]
        try:
            items = list(tags)
        except TypeError:
            self.warning("%s: tags must be a list of strings, not %r; tags ignored", context, tags)
            return None
        normalized: list[str] = []
        skipped: list[Any] = []
        for tag in items:
            tag = _decode(tag)
            if isinstance(tag, str):
                normalized.append(tag)
            else:
                skipped.append(tag)
        if skipped:
            self.warning("%s: non-string tags %r skipped", context, skipped)
        return normalized

    def _with_device_tag(self, name: Any, tags: Any, device_name: Any) -> list[str]:
        device_tag = f"device:{_decode(device_name)}"
        if tags is None:
            return [device_tag]
        if isinstance(tags, (list, tuple)):
            return [*tags, device_tag]
        return [*(self._normalize_tags(tags, f"Metric {name!r}") or ()), device_tag]

    def _resubmit_metric(
        self,
        mtype: int,
        name: Any,
        value: Any,
        tags: Any,
        hostname: Any,
        flush_first_value: bool,
        device_name: Any = None,
    ) -> None:
        if device_name is not None:
            tags = self._with_device_tag(name, tags, device_name)
        name = _decode(name)
        if not isinstance(name, str):
            self.warning("Metric name %s is not a string; dropped", _shown(name))
            return
        number = _to_float(value)
        if number is None:
            self.warning("Metric %s has non-numeric value %s; dropped", _shown(name), _shown(value))
            return
        if not math.isfinite(number):
            self.warning("Metric %s has non-finite value %s; dropped", _shown(name), _shown(value))
            return
        hostname = _decode(hostname)
        if hostname is not None and not isinstance(hostname, str):
            self.warning(
                "Metric %s has non-string hostname %s; dropped", _shown(name), _shown(hostname)
            )
            return
        tags = self._normalize_tags(tags, f"Metric {_shown(name)}")
        try:
            _submit_metric(
                self, self.check_id, mtype, name, number, tags, hostname, flush_first_value
            )
        except (TypeError, ValueError) as exc:
            self.warning("Metric %s could not be submitted (%s); dropped", _shown(name), exc)

    def _resubmit_service_check(
        self, name: Any, status: Any, tags: Any, hostname: Any, message: Any
    ) -> None:
        name = _decode(name)
        if not isinstance(name, str):
            self.warning("Service check name %r is not a string; dropped", name)
            return
        if not isinstance(status, int) or not 0 <= status <= 3:
            self.warning("Service check %r has invalid status %r; dropped", name, status)
            return
        hostname = _decode(hostname)
        if hostname is not None and not isinstance(hostname, str):
            self.warning("Service check %r has non-string hostname %r; dropped", name, hostname)
            return
        message = _decode(message)
        if message is not None and not isinstance(message, str):
            message = str(message)
        tags = self._normalize_tags(tags, f"Service check {name!r}")
        try:
            _submit_service_check(self, self.check_id, name, status, tags, hostname, message)
        except (TypeError, ValueError) as exc:
            self.warning("Service check %r could not be submitted (%s); dropped", name, exc)
