"""pyhost.host and the Go-module stand-ins, outside the agent."""

import math
import types

import pytest

import pyhost
from pyhost import host, testing


def test_get_returns_shared_read_only_values(host_state):
    assert host.version("a") == 0
    assert host.get("a") is None
    assert host.get("a", "fallback") == "fallback"
    assert host_state("a", {"items": [1, 2], "nested": {"x": b"raw"}}) == 1
    v = host.get("a")
    assert isinstance(v, types.MappingProxyType)
    assert v["items"] == (1, 2)
    assert isinstance(v["nested"], types.MappingProxyType)
    with pytest.raises(TypeError):
        v["new"] = 1  # type: ignore[index]
    assert host.get("a") is v  # the same object until the next publication
    assert host_state("a", [1]) == 2
    assert host.version("a") == 2
    assert host.get("a") == (1,)
    assert host.names() == ["a"]


def test_thaw_makes_a_private_mutable_copy(host_state):
    host_state("a", {"items": [1, {"k": "v"}]})
    thawed = host.thaw(host.get("a"))
    assert thawed == {"items": [1, {"k": "v"}]}
    thawed["items"].append(2)
    assert host.get("a")["items"] == (1, types.MappingProxyType({"k": "v"}))


@pytest.mark.parametrize(
    "bad, error",
    [
        (math.nan, ValueError),
        ({1: "int key"}, TypeError),
        ({1, 2}, TypeError),
        (object(), TypeError),
    ],
)
def test_values_that_cannot_cross_are_refused(host_state, bad, error):
    with pytest.raises(error):
        host_state("bad", bad)
    assert host.version("bad") == 0


def test_cyclic_values_are_refused(host_state):
    a: list[object] = []
    a.append(a)
    with pytest.raises(ValueError, match="deeper than 64"):
        host_state("cyclic", a)


def test_host_modules_stand_in_for_go(host_module):
    calls = []

    def lookup(key):
        calls.append(key)
        if key == "missing":
            raise pyhost.GoError("no such key")
        return key.upper()

    host_module("fake_go_store", {"lookup": lookup})
    import fake_go_store  # type: ignore[import-not-found]

    assert fake_go_store.lookup("a") == "A"
    with pytest.raises(pyhost.GoError, match="no such key"):
        fake_go_store.lookup("missing")
    assert calls == ["a", "missing"]
    # A module name that shadows a real one is refused, as the host does.
    with pytest.raises(ValueError, match="shadow"):
        testing.define_module("json", {})


def test_go_exceptions_are_exceptions():
    assert issubclass(pyhost.GoError, Exception)
    assert issubclass(pyhost.GoPanic, Exception)
    assert not issubclass(pyhost.GoError, pyhost.GoPanic)


def test_get_takes_a_name_only(host_state):
    with pytest.raises(TypeError):
        host.get(None)  # type: ignore[arg-type]
