from __future__ import annotations

import math

import pytest

from pyhost import AgentCheck


@pytest.fixture
def check():
    check = AgentCheck("sub", {}, [{}])
    check.check_id = "sub:1"
    return check


# --- happy path -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, mtype",
    [
        ("gauge", "GAUGE"),
        ("count", "COUNT"),
        ("monotonic_count", "MONOTONIC_COUNT"),
        ("rate", "RATE"),
        ("histogram", "HISTOGRAM"),
        ("historate", "HISTORATE"),
    ],
)
def test_metric_methods_use_their_type(aggregator, check, method, mtype):
    getattr(check, method)("m", 1.5, tags=["b:2", "a:1"], hostname="h")
    (metric,) = aggregator.metrics("m")
    assert metric.type == getattr(aggregator, mtype)
    assert (metric.value, metric.tags, metric.hostname) == (1.5, ["a:1", "b:2"], "h")
    assert (metric.flush_first_value, metric.check_id) == (False, "sub:1")
    assert check.get_warnings() == []


def test_type_constants():
    from pyhost.stubs import aggregator

    constants = ["GAUGE", "RATE", "COUNT", "MONOTONIC_COUNT", "COUNTER", "HISTOGRAM", "HISTORATE"]
    assert [getattr(aggregator, c) for c in constants] == list(range(7))


def test_monotonic_count_flush_first_value(aggregator, check):
    check.monotonic_count("m", 10, flush_first_value=True)
    (metric,) = aggregator.metrics("m")
    assert metric.flush_first_value is True


def test_flags_are_taken_by_their_truth(aggregator, check):
    check.monotonic_count("a", 1, flush_first_value=None)
    check.monotonic_count("b", 1, flush_first_value=1)
    check.gauge("c", 1, raw=0)
    assert [m.flush_first_value for m in aggregator.metrics("a") + aggregator.metrics("b")] == [
        False,
        True,
    ]
    assert aggregator.metrics("c")


def test_positional_and_default_arguments(aggregator, check):
    check.gauge("a", 1)
    check.gauge("b", 2, ("t:1",), "host")
    aggregator.assert_metric("a", value=1, tags=[], hostname=None, count=1)
    aggregator.assert_metric("b", value=2, tags=["t:1"], hostname="host", count=1)


def test_device_name_adds_a_tag(aggregator, check):
    tags = ["env:prod"]
    check.gauge("m", 1, tags=tags, device_name="sda1")
    check.rate("r", 1, device_name="sdb")
    check.count("c", 1, tags=("x:y",), device_name="sdc")
    aggregator.assert_metric("m", tags=["env:prod", "device:sda1"], count=1)
    aggregator.assert_metric("r", tags=["device:sdb"], count=1)
    aggregator.assert_metric("c", tags=["x:y", "device:sdc"], count=1)
    assert tags == ["env:prod"]  # the caller's list is not modified


def test_bool_and_int_values_are_accepted(aggregator, check):
    check.gauge("up", True)
    check.gauge("big", 2**62)
    aggregator.assert_metric("up", value=1)
    aggregator.assert_metric("big", value=float(2**62))
    assert check.get_warnings() == []


def test_service_check(aggregator, check):
    check.service_check("svc.up", check.WARNING, tags=["b", "a"], hostname="h", message="slow")
    (sc,) = aggregator.service_checks("svc.up")
    assert (sc.status, sc.tags, sc.hostname, sc.message, sc.check_id) == (
        1,
        ["a", "b"],
        "h",
        "slow",
        "sub:1",
    )


def test_event(aggregator, check):
    event = {"msg_title": "Deploy", "msg_text": "v2 rolled out", "tags": ["env:prod"]}
    check.event(event)
    (recorded,) = aggregator.events
    assert recorded["msg_title"] == "Deploy"
    assert isinstance(recorded["timestamp"], int)
    assert "timestamp" not in event  # the caller's dict is not modified
    aggregator.assert_event("v2 rolled out", msg_title="Deploy", tags=["env:prod"], count=1)


# --- bad data: never raises, warns, drops or repairs ----------------------------------


@pytest.mark.parametrize(
    "value, warning",
    [
        ("abc", "Metric 'x' has non-numeric value 'abc'; dropped"),
        (None, "Metric 'x' has non-numeric value None; dropped"),
        ([1], "Metric 'x' has non-numeric value [1]; dropped"),
        (math.nan, "Metric 'x' has non-finite value nan; dropped"),
        (math.inf, "Metric 'x' has non-finite value inf; dropped"),
        (-math.inf, "Metric 'x' has non-finite value -inf; dropped"),
        ("nan", "Metric 'x' has non-finite value 'nan'; dropped"),
        # A huge value is shown cut to its first 100 characters.
        (10**400, f"Metric 'x' has non-finite value {repr(10**400)[:100]}…; dropped"),
    ],
)
def test_bad_values_are_dropped_with_a_warning(aggregator, check, value, warning):
    check.gauge("x", value, tags=["a"])
    assert aggregator.metrics("x") == []
    assert check.get_warnings() == [warning]


def test_numeric_strings_are_converted(aggregator, check):
    from decimal import Decimal

    check.gauge("s", "1.5")
    check.gauge("d", Decimal("2.5"))
    aggregator.assert_metric("s", value=1.5, count=1)
    aggregator.assert_metric("d", value=2.5, count=1)
    assert check.get_warnings() == []


def test_bytes_tags_are_decoded_silently(aggregator, check):
    check.gauge("m", 1, tags=[b"env:prod", "role:db", bytearray(b"x:y")])
    aggregator.assert_metric("m", tags=["env:prod", "role:db", "x:y"], count=1)
    assert check.get_warnings() == []


def test_non_string_tags_are_skipped_with_a_warning(aggregator, check):
    check.gauge("m", 1, tags=["env:prod", 42, None])
    aggregator.assert_metric("m", value=1, tags=["env:prod"], count=1)
    assert check.get_warnings() == ["Metric 'm': non-string tags [42, None] skipped"]


def test_tags_given_as_a_single_string(aggregator, check):
    check.gauge("m", 1, tags="env:prod")
    aggregator.assert_metric("m", tags=["env:prod"], count=1)
    assert check.get_warnings() == [
        "Metric 'm': tags must be a list of strings, not a single string"
    ]


def test_tags_given_as_other_iterables(aggregator, check):
    check.gauge("m", 1, tags={"a"})
    check.gauge("n", 1, tags=(t for t in ["b"]))
    aggregator.assert_metric("m", tags=["a"], count=1)
    aggregator.assert_metric("n", tags=["b"], count=1)
    assert check.get_warnings() == []


def test_non_iterable_tags_are_ignored_with_a_warning(aggregator, check):
    check.gauge("m", 1, tags=5)
    aggregator.assert_metric("m", tags=[], count=1)
    assert check.get_warnings() == [
        "Metric 'm': tags must be a list of strings, not 5; tags ignored"
    ]


def test_bad_names_and_hostnames(aggregator, check):
    check.gauge(b"bytes.name", 1)
    check.gauge(42, 1)
    check.gauge("m", 1, hostname=b"host")
    check.gauge("n", 1, hostname=7)
    aggregator.assert_metric("bytes.name", count=1)
    aggregator.assert_metric("m", hostname="host", count=1)
    assert aggregator.metrics("n") == []
    assert check.get_warnings() == [
        "Metric name 42 is not a string; dropped",
        "Metric 'n' has non-string hostname 7; dropped",
    ]


def test_unfixable_submission_is_dropped_with_a_warning(aggregator, check):
    check.check_id = None  # only a broken host would do this
    check.gauge("m", 1)
    assert aggregator.metric_names == []
    (warning,) = check.get_warnings()
    assert warning.startswith("Metric 'm' could not be submitted (check_id must be str")


@pytest.mark.parametrize("method", ["count", "monotonic_count", "rate", "histogram", "historate"])
def test_every_metric_method_handles_bad_data(aggregator, check, method):
    getattr(check, method)("m", "abc")
    getattr(check, method)("m", 2, tags=[b"a", 1])
    aggregator.assert_metric("m", value=2, tags=["a"], count=1)
    assert check.get_warnings() == [
        "Metric 'm' has non-numeric value 'abc'; dropped",
        "Metric 'm': non-string tags [1] skipped",
    ]


def test_service_check_bad_data(aggregator, check):
    check.service_check("svc", 7)
    check.service_check("svc", "OK")
    check.service_check(None, check.OK)
    check.service_check("svc", check.OK, hostname=1.5)
    check.service_check("svc", check.CRITICAL, tags=[b"a", 3], hostname=b"h", message=404)
    assert check.get_warnings() == [
        "Service check 'svc' has invalid status 7; dropped",
        "Service check 'svc' has invalid status 'OK'; dropped",
        "Service check name None is not a string; dropped",
        "Service check 'svc' has non-string hostname 1.5; dropped",
        "Service check 'svc': non-string tags [3] skipped",
    ]
    (sc,) = aggregator.service_checks("svc")
    assert (sc.status, sc.tags, sc.hostname, sc.message) == (2, ["a"], "h", "404")


def test_event_bad_data(aggregator, check):
    check.event("not a dict")
    check.event({"msg_text": b"bytes text", "tags": ["a", 1]})
    assert check.get_warnings() == [
        "Event must be a dict, not str; dropped",
        "Event: non-string tags [1] skipped",
    ]
    aggregator.assert_event("bytes text", tags=["a"], count=1)


def test_an_event_keeps_what_the_agent_keeps(aggregator, check):
    check.event(
        {
            "msg_title": "deploy",
            "msg_text": "a\x00b",
            "timestamp": 1704153600.7,  # a float, as time.time() gives
            "alert_type": 3,  # not text: dropped, as the agent drops it
            "custom": "field",
        }
    )
    (recorded,) = aggregator.events
    assert recorded == {"msg_title": "deploy", "msg_text": "a", "timestamp": 1704153600}
    check.event({"msg_text": "later", "timestamp": "soon"})
    assert aggregator.events[1]["timestamp"] > 1704153600
    assert "not a number" in check.get_warnings()[-1]


def test_text_the_agent_cannot_take_is_dropped_with_a_warning(aggregator, check):
    check.gauge("x", 1, tags=["file:\udcff"])  # a non-UTF-8 name from os.listdir
    check.service_check("s", 0, message="a\x00b")
    check.gauge("kept", 1)
    assert aggregator.metrics("x") == [] and aggregator.service_checks("s") == []
    assert aggregator.metrics("kept")
    warnings = "\n".join(check.get_warnings())
    assert "could not be submitted" in warnings and "null character" in warnings, warnings


def test_a_tag_given_twice_counts_once(aggregator, check):
    check.gauge("dup", 1, tags=["a:1", "a:1", "b"])
    assert aggregator.metrics("dup")[0].tags == ["a:1", "b"]
