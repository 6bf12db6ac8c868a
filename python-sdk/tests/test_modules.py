"""pyhost.Module, its options, commands, store and health, run through the harness."""

from __future__ import annotations

import enum
import threading

import pytest

import pyhost
from pyhost import testing
from pyhost._modules_host import plain
from pyhost._store import Store
from pyhost.modules import resolve_options


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Sample(pyhost.Module):
    NOTIFY_TYPES = ["inventory"]
    MODULE_OPTIONS = [
        pyhost.Option("interval", type="secs", default=30, min=1),
        pyhost.Option("retries", type="int", default=3, min=0, max=10),
        pyhost.Option("mode", type="str", default="fast", enum_allowed=["fast", "safe"]),
        pyhost.Option("ratio", type="float", default=0.5),
        pyhost.Option("verbose", type="bool", default=False),
        pyhost.Option("limit", type="size", default="1M"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []
        self.rounds = 0

    def serve(self) -> None:
        while not self.wait_for_shutdown(0.01):
            self.rounds += 1

    def notify(self, kind: str, key: str) -> None:
        self.seen.append(self.get(kind))

    @pyhost.command
    def add(self, a: int, b: int = 1) -> int:
        """Adds two numbers."""
        return a + b

    @pyhost.command
    def paint(self, color: Color, names: list[str], note: str | None = None) -> dict:
        """Paints NAMES."""
        return {"color": color, "names": tuple(names), "note": note}

    @pyhost.command(name="fail")
    def failing(self, how: str) -> None:
        if how == "value":
            raise ValueError("bad value")
        raise RuntimeError("broken")


def test_options_come_typed_with_defaults(module_harness):
    h = module_harness(Sample, {"interval": "5m", "retries": "4", "verbose": "yes", "limit": "2K"})
    assert h.module.get_option("interval") == 300
    assert h.module.get_option("retries") == 4
    assert h.module.get_option("verbose") is True
    assert h.module.get_option("limit") == 2048
    assert h.module.get_option("mode") == "fast"
    assert h.module.get_option("ratio") == 0.5
    with pytest.raises(KeyError, match="no option 'nope'"):
        h.module.get_option("nope")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"retries": 11}, "above the maximum"),
        ({"retries": "many"}, "expected int"),
        ({"interval": 0}, "below the minimum"),
        ({"interval": "soon"}, "expected secs"),
        ({"mode": "slow"}, "not allowed"),
        ({"verbose": 3}, "expected bool"),
        ({"colour": "red"}, "unknown option 'colour'"),
    ],
)
def test_bad_option_values_are_refused(given, message):
    with pytest.raises(pyhost.OptionError, match=message):
        resolve_options(Sample.MODULE_OPTIONS, given)


def test_every_problem_is_reported_at_once():
    with pytest.raises(pyhost.OptionError) as e:
        resolve_options(Sample.MODULE_OPTIONS, {"retries": 99, "mode": "x"})
    assert "retries" in str(e.value) and "mode" in str(e.value)


def test_an_option_of_unknown_type_is_a_declaration_error():
    with pytest.raises(ValueError, match="not one of"):
        pyhost.Option("x", type="colour")


def test_commands_are_typed_from_hints(module_harness):
    h = module_harness(Sample)
    assert h.command("add", a=2, b=3) == 5
    assert h.command("add", a=2) == 3
    assert h.command("paint", color="blue", names=["a", "b"]) == {
        "color": "blue",
        "names": ["a", "b"],
        "note": None,
    }
    schema = {c: s.schema() for c, s in Sample.commands().items()}
    assert schema["add"]["help"] == "Adds two numbers."
    assert schema["add"]["arguments"] == [
        {"name": "a", "type": "int", "required": True},
        {"name": "b", "type": "int", "required": False, "default": 1},
    ]
    paint = {a["name"]: a for a in schema["paint"]["arguments"]}
    assert paint["color"]["choices"] == ["red", "blue"]
    assert paint["names"]["type"] == "list[str]"
    assert paint["note"] == {
        "name": "note",
        "type": "str",
        "required": False,
        "default": None,
        "nullable": True,
    }
    assert set(schema) == {"add", "paint", "fail"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "missing argument 'a'"),
        ({"a": "2"}, "expected int, found str"),
        ({"a": True}, "expected int, found bool"),
        ({"a": 1, "c": 2}, "unknown argument 'c'"),
    ],
)
def test_bad_arguments_are_refused(module_harness, args, message):
    h = module_harness(Sample)
    with pytest.raises(pyhost.CommandArgumentError, match=message):
        h.command("add", **args)


def test_enum_and_list_arguments_are_checked(module_harness):
    h = module_harness(Sample)
    with pytest.raises(pyhost.CommandArgumentError, match="one of 'red', 'blue'"):
        h.command("paint", color="green", names=[])
    with pytest.raises(pyhost.CommandArgumentError, match=r"names\[1\]"):
        h.command("paint", color="red", names=["a", 2])


def test_an_unsupported_hint_is_refused_when_commands_are_read():
    class Bad(pyhost.Module):
        @pyhost.command
        def go(self, when: set) -> None:  # type: ignore[type-arg]
            pass

    with pytest.raises(TypeError, match="not supported"):
        Bad.commands()


def test_notify_reads_published_state(module_harness):
    h = module_harness(Sample)
    assert h.publish("inventory", {"hosts": ["a"]})
    assert not h.publish("other", 1)
    assert h.notifications == [("inventory", "")]
    assert h.module.seen == [{"hosts": ("a",)}]


def test_store_keeps_values_per_module_and_across_instances(tmp_path, module_harness):
    store = Store(str(tmp_path / "modules.db"))
    h = module_harness(Sample, name="one", store=store)
    h.module.set_store("a/1", "x")
    h.module.set_store("a/2", "y")
    h.module.set_store("b", "z")
    assert h.module.get_store("a/1") == "x"
    assert h.module.get_store("missing", "d") == "d"
    assert h.module.get_store_prefix("a/") == {"a/1": "x", "a/2": "y"}
    h.module.set_store("a/2", None)
    other = module_harness(Sample, name="two", store=store)
    assert other.module.get_store("a/1") is None
    store.close()
    again = module_harness(Sample, name="one", store=Store(str(tmp_path / "modules.db")))
    assert again.stored() == {"a/1": "x", "b": "z"}
    with pytest.raises(TypeError, match="values are str"):
        again.module.set_store("n", 3)


def test_health_checks_are_validated(module_harness):
    h = module_harness(Sample)
    h.module.set_health_checks({"DISK": {"severity": "warning", "summary": "s", "detail": ["d"]}})
    assert h.health == {"DISK": {"severity": "warning", "summary": "s", "detail": ["d"]}}
    with pytest.raises(ValueError, match="severity"):
        h.module.set_health_checks({"X": {"severity": "fatal", "summary": ""}})
    with pytest.raises(TypeError, match="detail"):
        h.module.set_health_checks({"X": {"severity": "error", "detail": "text"}})
    with pytest.raises(TypeError, match="detail"):
        h.module.set_health_checks({"X": {"severity": "error", "detail": 3}})
    osds = (f"osd.{i}" for i in range(2))
    h.module.set_health_checks({"G": {"severity": "error", "detail": osds}})
    assert h.health["G"]["detail"] == ["osd.0", "osd.1"]  # a generator, read once
    h.module.set_health_checks({})
    assert h.health == {}


def test_serve_runs_until_shutdown(module_harness):
    h = module_harness(Sample)
    with h.serving():
        while h.module.rounds < 3:
            threading.Event().wait(0.01)
    assert h.module.shutting_down


def test_a_serve_that_ignores_shutdown_is_reported():
    class Deaf(pyhost.Module):
        def serve(self) -> None:
            threading.Event().wait(1)

    h = testing.ModuleHarness(Deaf)
    h.start()
    with pytest.raises(TimeoutError, match="did not return"):
        h.stop(timeout=0.05)


def test_a_module_cannot_be_made_directly():
    with pytest.raises(RuntimeError, match="made by the host"):
        Sample()


def test_results_cross_as_plain_values():
    assert plain({"a": (1, Color.RED), "b": frozenset()}) == {"a": [1, "red"], "b": []}


def test_can_run_is_reported(module_harness):
    class Missing(pyhost.Module):
        @staticmethod
        def can_run() -> tuple[bool, str]:
            return False, "needs libfoo"

    assert module_harness(Missing).can_run == (False, "needs libfoo")


def test_what_cannot_cross_to_go_fails_in_the_harness_as_in_the_agent():
    import math

    class Crossing(pyhost.Module):
        @pyhost.command
        def nan(self) -> float:
            return math.nan

        @pyhost.command
        def ok(self) -> float:
            return 1.5

    h = testing.ModuleHarness(Crossing, name="crossing")
    assert h.command("ok") == 1.5
    with pytest.raises(ValueError, match="cannot cross"):
        h.command("nan")

    class InfiniteDefault(pyhost.Module):
        MODULE_OPTIONS = [pyhost.Option("threshold", type="float", default=math.inf)]

    with pytest.raises(ValueError, match="cannot cross"):
        testing.ModuleHarness(InfiniteDefault, name="infinite")


def test_an_infinite_bound_is_no_bound_and_the_module_loads():
    import math

    class Unbounded(pyhost.Module):
        MODULE_OPTIONS = [pyhost.Option("limit", type="float", default=1.0, min=0.0, max=math.inf)]

    h = testing.ModuleHarness(Unbounded, {"limit": 1e300}, name="unbounded")
    assert h.options["limit"] == 1e300
    assert Unbounded.MODULE_OPTIONS[0].schema() == {
        "name": "limit",
        "type": "float",
        "default": 1.0,
        "min": 0.0,
    }
