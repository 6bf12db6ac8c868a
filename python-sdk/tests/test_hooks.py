"""Hook decorators, collection, and the pure-Python hook point."""

from __future__ import annotations

import sys
import types

import pytest

import pyhost
from pyhost.hooks import collect, hooks_of, method_hooks
from pyhost.testing import HookPoint


def make_module(name="hooked_sample"):
    module = types.ModuleType(name)
    cache: set[str] = set()

    @pyhost.dispatch("lookup")
    def known_absent(req):
        return False if req in cache else None

    @pyhost.completion("lookup")
    def learn(req, found):
        if not found:
            cache.add(req)

    @pyhost.completion("create")
    def invalidate(req, result):
        cache.discard(req)

    module.known_absent = known_absent
    module.learn = learn
    module.invalidate = invalidate
    module.cache = cache
    return module


def test_hooks_are_collected_by_kind_and_operation():
    assert hooks_of(make_module()) == [
        ("completion", "create", "invalidate"),
        ("completion", "lookup", "learn"),
        ("dispatch", "lookup", "known_absent"),
    ]


def test_collect_imports_by_name(tmp_path, monkeypatch):
    (tmp_path / "hooked_file.py").write_text(
        "import pyhost\n\n@pyhost.dispatch('op')\ndef d(req):\n    return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert collect("hooked_file") == [["dispatch", "op", "d"]]
    assert collect("hooked_file") == [["dispatch", "op", "d"]]  # the module imported once
    sys.modules.pop("hooked_file")


def test_two_hooks_of_a_kind_for_one_operation_are_refused():
    module = types.ModuleType("twice")
    module.a = pyhost.dispatch("op")(lambda req: None)
    module.b = pyhost.dispatch("op")(lambda req: None)
    with pytest.raises(ValueError, match="two dispatch hooks"):
        hooks_of(module)


@pytest.mark.parametrize(
    "mark", [("dispatch", 7), ("dispach", "op"), ("dispatch",), "dispatch:op", ("completion", "")]
)
def test_a_mark_that_no_decorator_makes_is_refused_by_name(mark):
    module = types.ModuleType("marked_by_hand")

    def hook(req):
        return None

    hook.__pyhost_hook__ = mark  # type: ignore[attr-defined]
    module.hook = hook
    with pytest.raises(ValueError, match=r"marked_by_hand\.hook: __pyhost_hook__ is"):
        hooks_of(module)

    class Marked(pyhost.Module):
        pass

    Marked.hook = hook  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"Marked\.hook: __pyhost_hook__ is"):
        method_hooks(Marked)


def test_an_operation_name_is_required():
    with pytest.raises(TypeError, match="operation's name"):
        pyhost.dispatch("")


def test_the_hook_point_answers_learns_and_invalidates():
    module = make_module()
    files = {"a.php"}
    lookups = []

    def lookup(name):
        lookups.append(name)
        return name in files

    hp = HookPoint("lookup", module)
    assert hp.call("b.php", lookup) is False  # a miss, learnt
    assert hp.call("b.php", lookup) is False  # answered from the cache
    assert lookups == ["b.php"] and hp.answered == 1
    assert hp.call("a.php", lookup) is True
    files.add("b.php")
    HookPoint("create", module).call("b.php", lambda name: True)
    assert hp.call("b.php", lookup) is True  # found after the create


def test_a_raising_hook_passes_through_and_is_counted():
    hp = HookPoint("op")
    hp.dispatch = lambda req: 1 / 0
    hp.completion = lambda req, res: {1, 2}  # a set cannot cross to Go
    assert hp.call(5, lambda r: r * 2) == 10
    assert hp.errors == 2
    assert isinstance(hp.failures[0], ZeroDivisionError)


def test_a_completion_replaces_the_result():
    hp = HookPoint("op")
    hp.completion = lambda req, res: res + 1
    assert hp.call(1, lambda r: r) == 2 and hp.replaced == 1


def test_no_hooks_is_a_plain_call():
    hp = HookPoint("op")
    assert hp.call(3, lambda r: r) == 3 and hp.calls == 0


def test_module_methods_are_hooks():
    class Base(pyhost.Module):
        @pyhost.dispatch("lookup")
        def first(self, req):
            return None

    class Cache(Base):
        @pyhost.dispatch("lookup")
        def better(self, req):
            return None

        @pyhost.completion("lookup")
        def learn(self, req, result):
            return None

    assert method_hooks(Cache) == [
        ("completion", "lookup", "learn"),
        ("dispatch", "lookup", "better"),
    ]

    class Twice(pyhost.Module):
        @pyhost.dispatch("op")
        def a(self, req):
            return None

        @pyhost.dispatch("op")
        def b(self, req):
            return None

    with pytest.raises(ValueError, match="two dispatch hooks"):
        method_hooks(Twice)


def test_each_hook_gets_its_own_copy_and_shared_values_cross_back():
    from types import MappingProxyType

    module = types.ModuleType("copies")
    cached = MappingProxyType({"found": True})

    @pyhost.dispatch("op")
    def lower(req):
        req["path"] = req["path"].lower()  # changes the hook's copy only
        return cached if req["path"] == "/cached" else None

    module.lower = lower
    hp = HookPoint("op", module)
    seen = []
    assert hp.call({"path": "/B"}, lambda r: seen.append(r["path"]) or "probed") == "probed"
    assert seen == ["/B"]
    # A value from host.get crosses back as the answer.
    assert hp.call({"path": "/CACHED"}, lambda r: "probed") is cached
    assert (hp.answered, hp.errors) == (1, 0)


def test_a_lone_surrogate_cannot_cross():
    module = types.ModuleType("surrogate")
    module.bad = pyhost.dispatch("op")(lambda req: "file:\udcff")
    hp = HookPoint("op", module)
    assert hp.call("x", lambda r: "probed") == "probed"
    assert hp.errors == 1 and isinstance(hp.failures[0], UnicodeEncodeError)


def test_an_object_answering_every_attribute_is_not_a_hook():
    class AnswersAll:
        def __call__(self):
            return None

        def __getattr__(self, name):
            return lambda *a: None  # as an xmlrpc ServerProxy does

    module = types.ModuleType("proxying")
    module.proxy = AnswersAll()
    assert hooks_of(module) == []
