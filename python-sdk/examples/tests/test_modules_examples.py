"""The example modules, run through the module harness."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

MODULES_D = Path(__file__).resolve().parent.parent / "modules.d"


def _load(stem):
    spec = importlib.util.spec_from_file_location(f"example_{stem}", MODULES_D / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.Module


def summary(name, status, message=""):
    return {"name": name, "status": status, "runs": 1, "errors": 0, "message": message}


def test_check_health_raises_checks_failing(module_harness):
    h = module_harness(_load("check_health"), {"error_after": 2})
    h.publish("pyhost.checks", {"disk:1": summary("disk", "ok")})
    assert h.health == {}
    h.publish(
        "pyhost.checks",
        {"disk:1": summary("disk", "error", "boom"), "load:2": summary("load", "stuck")},
    )
    failing = h.health["CHECKS_FAILING"]
    assert failing["severity"] == "error"
    assert failing["detail"] == ["disk:1: error (boom)", "load:2: stuck"]
    assert h.command("failing") == failing["detail"]
    h.publish("pyhost.checks", {"disk:1": summary("disk", "timeout")})
    assert h.health["CHECKS_FAILING"]["severity"] == "warning"
    h.publish("pyhost.checks", {"disk:1": summary("disk", "ok")})
    assert h.health == {}


def test_check_health_ignores_configured_checks(module_harness):
    h = module_harness(_load("check_health"), {"ignore": "disk, load"})
    h.publish("pyhost.checks", {"disk:1": summary("disk", "error")})
    assert h.health == {}


def test_notes_commands_and_expiry(module_harness):
    h = module_harness(_load("notes"), {"max_notes": 2})
    note = h.command("add", key="disk", text="replace sdb")
    assert note["text"] == "replace sdb" and note["expires"] is None
    h.command("add", key="net", text="flaky", ttl=1)
    with pytest.raises(ValueError, match="max_notes"):
        h.command("add", key="third", text="x")
    assert [n["key"] for n in h.command("list")] == ["disk", "net"]
    assert [n["key"] for n in h.command("list", order="newest", limit=1)] == ["net"]
    h.store.set(
        h.name,
        "note/net",
        h.store.get(h.name, "note/net").replace('"expires": ', '"expires": 1, "x": '),
    )
    assert h.module.expire() == 1
    assert h.command("remove", key="disk") is True
    assert h.command("remove", key="disk") is False
    assert h.stored() == {}
