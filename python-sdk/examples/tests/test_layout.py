"""Every example is a loadable check with a matching configuration file."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from pyhost import AgentCheck

EXAMPLES = Path(__file__).resolve().parent.parent
NAMES = ["disk", "load", "memory"]


def test_examples_exist():
    assert sorted(path.stem for path in (EXAMPLES / "checks.d").glob("*.py")) == NAMES
    assert sorted(path.stem for path in (EXAMPLES / "conf.d").glob("*.yaml")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_exactly_one_leaf_check_class(name, load_example):
    module = load_example(name)
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, AgentCheck) and obj is not AgentCheck
    ]
    leaves = [c for c in classes if not any(o is not c and issubclass(o, c) for o in classes)]
    assert len(leaves) == 1


@pytest.mark.parametrize("name", NAMES)
def test_configuration_layout(name):
    lines = (EXAMPLES / "conf.d" / f"{name}.yaml").read_text().splitlines()
    assert "init_config:" in lines
    instances = lines.index("instances:")
    assert any(line.startswith("  - ") for line in lines[instances + 1 :])
