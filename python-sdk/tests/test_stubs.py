"""The stub modules behave exactly like the host's native modules."""

from __future__ import annotations

import logging
import math
import socket

import pytest

from pyhost.stubs import _pyhost
from pyhost.stubs import aggregator as agg

# --- aggregator.submit_metric validation ----------------------------------------------

GOOD = ("check", "id", agg.GAUGE, "m", 1.0, ["a"], "host")


def submit(**overrides):
    names = ("check", "check_id", "mtype", "name", "value", "tags", "hostname")
    args = dict(zip(names, GOOD))
    args.update(overrides)
    agg.submit_metric(*args.values())


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"check_id": None}, TypeError),
        ({"check_id": 1}, TypeError),
        ({"mtype": "gauge"}, TypeError),
        ({"mtype": -1}, ValueError),
        ({"mtype": 7}, ValueError),
        ({"name": None}, TypeError),
        ({"name": b"m"}, TypeError),
        ({"value": "abc"}, TypeError),
        ({"value": "1.5"}, TypeError),
        ({"value": None}, TypeError),
        ({"value": math.nan}, ValueError),
        ({"value": math.inf}, ValueError),
        ({"value": -math.inf}, ValueError),
        ({"value": 10**400}, ValueError),
        ({"tags": "a"}, TypeError),
        ({"tags": {"a"}}, TypeError),
        ({"tags": ["a", 1]}, TypeError),
        ({"tags": [b"a"]}, TypeError),
        ({"hostname": 1}, TypeError),
        ({"hostname": b"h"}, TypeError),
    ],
)
def test_submit_metric_rejects(aggregator, overrides, error):
    with pytest.raises(error):
        submit(**overrides)
    assert aggregator.metric_names == []


def test_submit_metric_not_finite_message(aggregator):
    with pytest.raises(ValueError, match="not finite"):
        submit(value=math.nan)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"value": True}, {"value": 3}, {"tags": None}, {"tags": ("a", "b")}, {"hostname": None}],
)
def test_submit_metric_accepts(aggregator, overrides):
    submit(**overrides)
    assert len(aggregator.metrics("m")) == 1


def test_submit_metric_flush_first_value_is_optional(aggregator):
    agg.submit_metric(None, "id", agg.MONOTONIC_COUNT, "m", 1, None, None)
    agg.submit_metric(None, "id", agg.MONOTONIC_COUNT, "m", 2, None, None, True)
    assert [m.flush_first_value for m in aggregator.metrics("m")] == [False, True]


def test_metric_records(aggregator):
    agg.submit_metric(None, "id", agg.RATE, "m", 2, ["z", "a"], None, False)
    (metric,) = aggregator.metrics("m")
    assert metric == agg.MetricStub("m", agg.RATE, 2.0, ["a", "z"], None, False, "id")
    assert (metric.name, metric.type, metric.value, metric.tags) == ("m", 1, 2.0, ["a", "z"])
    assert aggregator.metrics("other") == []


# --- aggregator.submit_service_check / submit_event validation ------------------------


@pytest.mark.parametrize(
    "args, error",
    [
        ((None, "n", 0, None, None, None), TypeError),
        (("id", None, 0, None, None, None), TypeError),
        (("id", "n", "OK", None, None, None), TypeError),
        (("id", "n", 4, None, None, None), ValueError),
        (("id", "n", -1, None, None, None), ValueError),
        (("id", "n", 0, "a", None, None), TypeError),
        (("id", "n", 0, [1], None, None), TypeError),
        (("id", "n", 0, None, 1, None), TypeError),
        (("id", "n", 0, None, None, 1), TypeError),
    ],
)
def test_submit_service_check_rejects(aggregator, args, error):
    with pytest.raises(error):
        agg.submit_service_check(None, *args)
    assert aggregator.service_check_names == []


def test_submit_service_check_records(aggregator):
    agg.submit_service_check(None, "id", "svc", 3, ("b", "a"), "h", "msg")
    agg.submit_service_check(None, "id", "svc", 0, None, None, None)
    first, second = aggregator.service_checks("svc")
    assert first == agg.ServiceCheckStub("svc", 3, ["a", "b"], "h", "msg", "id")
    assert second == agg.ServiceCheckStub("svc", 0, [], None, None, "id")


@pytest.mark.parametrize("event", [None, "text", [("msg_text", "x")]])
def test_submit_event_rejects_non_dicts(aggregator, event):
    with pytest.raises(TypeError):
        agg.submit_event(None, "id", event)
    assert aggregator.events == []


def test_events_are_copied(aggregator):
    event = {"msg_text": "hello"}
    agg.submit_event(None, "id", event)
    event["msg_text"] = "changed"
    assert aggregator.events == [{"msg_text": "hello"}]


def test_reset(aggregator):
    submit()
    agg.submit_service_check(None, "id", "svc", 0, None, None, None)
    agg.submit_event(None, "id", {})
    aggregator.assert_metric("m")
    aggregator.reset()
    assert (aggregator.metric_names, aggregator.service_check_names, aggregator.events) == (
        [],
        [],
        [],
    )
    assert aggregator.not_asserted() == []


def test_unknown_module_attribute():
    with pytest.raises(AttributeError):
        agg.does_not_exist  # noqa: B018


# --- assertion helpers ----------------------------------------------------------------


@pytest.fixture
def submitted(aggregator):
    agg.submit_metric(None, "id", agg.GAUGE, "cpu", 0.5, ["core:0"], "h1", False)
    agg.submit_metric(None, "id", agg.GAUGE, "cpu", 0.7, ["core:1"], "h1", False)
    agg.submit_metric(None, "id", agg.RATE, "net", 10, ["if:eth0", "env:a"], None, False)
    return aggregator


def test_assert_metric_passes(submitted):
    submitted.assert_metric("cpu")
    submitted.assert_metric("cpu", count=2)
    submitted.assert_metric("cpu", at_least=2)
    submitted.assert_metric("cpu", value=0.1 + 0.4, tags=["core:0"], hostname="h1", count=1)
    submitted.assert_metric("net", tags=["env:a", "if:eth0"], metric_type=agg.RATE)
    submitted.assert_metric("missing", count=0)


@pytest.mark.parametrize(
    "kwargs, expected_text",
    [
        ({"name": "cpu", "value": 0.6}, "value=0.6"),
        ({"name": "cpu", "tags": ["core:0", "extra"]}, "tags=['core:0', 'extra']"),
        ({"name": "cpu", "tags": []}, "tags=[]"),
        ({"name": "cpu", "count": 1}, "exactly 1"),
        ({"name": "cpu", "at_least": 3}, "at least 3"),
        ({"name": "cpu", "hostname": "h2"}, "hostname='h2'"),
        ({"name": "cpu", "metric_type": agg.COUNT}, "metric_type='count'"),
    ],
)
def test_assert_metric_fails_with_details(submitted, kwargs, expected_text):
    with pytest.raises(AssertionError) as info:
        submitted.assert_metric(**kwargs)
    message = str(info.value)
    assert expected_text in message
    assert "Submitted metrics named 'cpu':" in message
    assert "value=0.5" in message and "value=0.7" in message


def test_assert_metric_unknown_name_lists_submitted_names(submitted):
    with pytest.raises(
        AssertionError, match=r"(?s)No metric named 'nope'.*\['cpu', 'net'\]"
    ) as info:
        submitted.assert_metric("nope")
    assert "Submitted metric names" in str(info.value)


def test_assert_metric_has_tag(submitted):
    submitted.assert_metric_has_tag("cpu", "core:1", count=1)
    submitted.assert_metric_has_tag("net", "env:a")
    with pytest.raises(AssertionError, match="tag='core:9'"):
        submitted.assert_metric_has_tag("cpu", "core:9")
    with pytest.raises(AssertionError):
        submitted.assert_metric_has_tag("cpu", "core:0", count=2)


def test_coverage(submitted):
    assert submitted.metric_names == ["cpu", "net"]
    assert submitted.not_asserted() == ["cpu", "net"]
    submitted.assert_metric("cpu", value=0.5)
    assert submitted.not_asserted() == ["net"]
    with pytest.raises(AssertionError, match="net"):
        submitted.assert_all_metrics_covered()
    submitted.assert_metric_has_tag("net", "if:eth0")
    submitted.assert_all_metrics_covered()


def test_failed_assertion_does_not_count_as_coverage(submitted):
    with pytest.raises(AssertionError):
        submitted.assert_metric("cpu", count=5)
    assert "cpu" in submitted.not_asserted()


def test_assert_service_check(aggregator):
    agg.submit_service_check(None, "id", "svc", 2, ["a"], "h", "down")
    aggregator.assert_service_check("svc")
    aggregator.assert_service_check("svc", status=2, tags=["a"], hostname="h", message="down")
    aggregator.assert_service_check("svc", count=1)
    aggregator.assert_service_check("other", count=0)
    for kwargs in (
        {"status": 0},
        {"tags": []},
        {"hostname": "x"},
        {"message": "up"},
        {"count": 2},
    ):
        with pytest.raises(AssertionError, match="status=2"):
            aggregator.assert_service_check("svc", **kwargs)
    with pytest.raises(AssertionError, match="No service check named 'other'"):
        aggregator.assert_service_check("other")


def test_assert_event(aggregator):
    agg.submit_event(None, "id", {"msg_text": "hi", "alert_type": "error", "tags": ["b", "a"]})
    aggregator.assert_event("hi")
    aggregator.assert_event("hi", alert_type="error", tags=["a", "b"], count=1)
    aggregator.assert_event(alert_type="error")
    aggregator.assert_event("bye", count=0)
    with pytest.raises(AssertionError, match="(?s)Submitted events:.*'msg_text': 'hi'"):
        aggregator.assert_event("bye")
    with pytest.raises(AssertionError, match="exactly 2"):
        aggregator.assert_event("hi", count=2)
    with pytest.raises(AssertionError):
        aggregator.assert_event("hi", alert_type="info")
    aggregator.reset()
    with pytest.raises(AssertionError, match="No event was submitted"):
        aggregator.assert_event()


# --- datadog_agent and _pyhost --------------------------------------------------------


def test_datadog_agent(datadog_agent, caplog):
    assert datadog_agent.get_version() == "0.0.0-stub"
    assert datadog_agent.get_hostname() == socket.gethostname()
    assert datadog_agent.get_config("api_key") is None
    datadog_agent.set_config("procfs_path", "/host/proc")
    datadog_agent.set_hostname("box")
    assert datadog_agent.get_config("procfs_path") == "/host/proc"
    assert datadog_agent.get_hostname() == "box"
    datadog_agent.reset()
    assert datadog_agent.get_config("procfs_path") is None
    assert datadog_agent.get_hostname() == socket.gethostname()

    with caplog.at_level(logging.DEBUG, logger="pyhost.datadog_agent"):
        datadog_agent.log("hello %s", logging.ERROR)
    assert [(r.getMessage(), r.levelno) for r in caplog.records] == [("hello %s", logging.ERROR)]
    with pytest.raises(TypeError, match="level must be int"):
        datadog_agent.log("by name", "info")  # the agent takes an int level only


def test_datadog_agent_has_the_agents_defaults_and_functions(datadog_agent):
    assert datadog_agent.get_config("enable_metadata_collection") is True
    assert datadog_agent.get_config("log_level") in ("trace", "debug", "info", "warn", "error")
    datadog_agent.set_config("tags", ["a"])
    datadog_agent.get_config("tags").append("b")  # a copy
    assert datadog_agent.get_config("tags") == ["a"]
    assert datadog_agent.get_host_tags() == '{"system": []}'
    assert datadog_agent.get_clustername() == ""
    assert datadog_agent.headers(http_host="h")["Host"] == "h"
    datadog_agent.set_check_metadata("c:1", "version.raw", "1.2")
    assert datadog_agent.metadata == {"c:1": {"version.raw": "1.2"}}
    datadog_agent.set_external_tags([("host", {"vsphere": ["a:1"]})])
    assert datadog_agent.external_tags == [[("host", {"vsphere": ["a:1"]})]]
    assert datadog_agent.read_persistent_cache("k") == ""
    datadog_agent.write_persistent_cache("k", "v")
    assert datadog_agent.read_persistent_cache("k") == "v"
    datadog_agent.reset()
    assert datadog_agent.metadata == {} and datadog_agent.read_persistent_cache("k") == ""


def test_check_cancelled_stub():
    assert issubclass(_pyhost.CheckCancelled, BaseException)
    assert not issubclass(_pyhost.CheckCancelled, Exception)

    import pyhost

    assert pyhost.CheckCancelled is _pyhost.CheckCancelled
