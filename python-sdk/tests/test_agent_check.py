from __future__ import annotations

import json
import logging

import pytest

import pyhost
from pyhost import AgentCheck, CheckCancelled


class Boom(Exception):
    pass


class FailingCheck(AgentCheck):
    def check(self, instance):
        raise Boom("it broke: " + instance["why"])


class GaugeCheck(AgentCheck):
    def check(self, instance):
        self.gauge("test.value", instance.get("value", 1), tags=instance.get("tags"))


def make(cls=AgentCheck, instances=None, check_id="test:1"):
    check = cls("test", {}, instances if instances is not None else [{}])
    check.check_id = check_id
    return check


# --- construction ---------------------------------------------------------------------


def test_package_exports():
    assert (pyhost.OK, pyhost.WARNING, pyhost.CRITICAL, pyhost.UNKNOWN) == (0, 1, 2, 3)
    assert (AgentCheck.OK, AgentCheck.WARNING, AgentCheck.CRITICAL, AgentCheck.UNKNOWN) == (
        0,
        1,
        2,
        3,
    )
    assert pyhost.__version__ == "0.1.0"
    assert issubclass(CheckCancelled, BaseException)
    assert not issubclass(CheckCancelled, Exception)


def test_version_matches_distribution_metadata():
    from importlib.metadata import version

    assert version("pyhost") == pyhost.__version__


def test_constructor_attributes():
    instances = [{"tags": ["a:b"]}, {"other": 1}]
    check = AgentCheck("mycheck", None, instances)
    assert check.name == "mycheck"
    assert check.init_config == {}
    assert check.instances == instances
    assert check.instance is instances[0]
    assert check.check_id == ""
    assert AgentCheck("c", {"k": 1}, []).instance == {}
    assert AgentCheck("c", {"k": 1}, []).init_config == {"k": 1}
    assert AgentCheck("c", {}, [None]).instance == {}


# --- run() ----------------------------------------------------------------------------


def test_run_success_returns_empty_string(aggregator):
    check = make(GaugeCheck, [{"value": 3}])
    assert check.run() == ""
    aggregator.assert_metric("test.value", value=3, count=1)


def test_run_error_returns_json_report():
    check = make(FailingCheck, [{"why": "disk on fire"}])
    (report,) = json.loads(check.run())
    assert set(report) == {"type", "message", "traceback"}
    assert report["type"] == f"{__name__}.Boom"
    assert report["message"] == "it broke: disk on fire"
    assert report["traceback"].startswith("Traceback (most recent call last):")
    assert "in check" in report["traceback"]
    assert report["traceback"].rstrip().endswith("Boom: it broke: disk on fire")


def test_run_error_builtin_type_name():
    report = json.loads(make(AgentCheck).run())[0]
    assert report["type"] == "NotImplementedError"

    class KeyCheck(AgentCheck):
        def check(self, instance):
            return instance["missing"]

    report = json.loads(make(KeyCheck).run())[0]
    assert report["type"] == "KeyError"
    assert report["message"] == "'missing'"


def test_run_error_with_unprintable_message():
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no")

    class Check(AgentCheck):
        def check(self, instance):
            raise Unprintable()

    report = json.loads(make(Check).run())[0]
    assert report["message"].startswith("<unprintable ")


@pytest.mark.parametrize("exc_type", [CheckCancelled, KeyboardInterrupt, SystemExit])
def test_base_exceptions_propagate_out_of_run(exc_type):
    class Check(AgentCheck):
        def check(self, instance):
            raise exc_type()

    with pytest.raises(exc_type):
        make(Check).run()


def test_cancellation_is_not_swallowed_by_except_exception():
    class Check(AgentCheck):
        def check(self, instance):
            try:
                raise CheckCancelled()
            except Exception:  # what careless check code does
                pass

    with pytest.raises(CheckCancelled):
        make(Check).run()


# --- warnings -------------------------------------------------------------------------


def test_warnings_are_collected_and_cleared(caplog):
    check = make()
    with caplog.at_level(logging.WARNING):
        check.warning("plain %s message")
        check.warning("formatted %s=%d", "x", 3)
        check.warning("bad format %d", "not a number")
    assert check.get_warnings() == [
        "plain %s message",
        "formatted x=3",
        "bad format %d ('not a number',)",
    ]
    assert check.get_warnings() == []
    assert [r.getMessage() for r in caplog.records] == [
        "plain %s message",
        "formatted x=3",
        "bad format %d ('not a number',)",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_warnings_from_a_failing_run_are_kept():
    class Check(AgentCheck):
        def check(self, instance):
            self.warning("first")
            raise ValueError("then failed")

    check = make(Check)
    assert check.run()
    assert check.get_warnings() == ["first"]


# --- logging --------------------------------------------------------------------------


def test_log_records_carry_check_name_and_id(caplog):
    check = AgentCheck("mycheck", {}, [{}])
    check.check_id = "mycheck:abc"  # set by the host after construction
    with caplog.at_level(logging.DEBUG, logger="pyhost.check.mycheck"):
        check.log.info("hello %s", "world")
        check.log.debug("with extra", extra={"custom": 1, "check_id": "spoofed"})
    first, second = caplog.records
    assert first.name == "pyhost.check.mycheck"
    assert first.getMessage() == "hello world"
    assert (first.check_name, first.check_id) == ("mycheck", "mycheck:abc")
    assert (second.custom, second.check_id) == (1, "mycheck:abc")


def test_log_check_id_is_read_at_log_time(caplog):
    check = AgentCheck("late", {}, [{}])
    with caplog.at_level(logging.INFO, logger="pyhost.check.late"):
        check.log.info("before")
        check.check_id = "late:1"
        check.log.info("after")
    assert [r.check_id for r in caplog.records] == ["", "late:1"]


def test_log_is_made_once_and_a_check_may_set_its_own(caplog):
    class Own(AgentCheck):
        def __init__(self, *args):
            super().__init__(*args)
            self._log = "a subclass's own attribute"

    check = Own("own", {}, [{}])
    assert "_AgentCheck__log" not in vars(check), "no adapter before the first use"
    first = check.log
    assert first is check.log, "made once"
    assert check._log == "a subclass's own attribute"
    with caplog.at_level(logging.INFO, logger="pyhost.check.own"):
        check.warning("careful")
    assert [r.check_name for r in caplog.records] == ["own"]
    mine = logging.LoggerAdapter(logging.getLogger("mine"), {})
    check.log = mine
    assert check.log is mine


def test_check_id_is_read_at_submission_time(aggregator):
    check = AgentCheck("c", {}, [{}])
    check.gauge("m", 1)
    check.check_id = "c:1"
    check.gauge("m", 2)
    assert [m.check_id for m in aggregator.metrics("m")] == ["", "c:1"]
