"""pytest plugin registered through the ``pytest11`` entry point.

Fixtures:

* ``aggregator``: the stub aggregator, reset before and after each test.
* ``datadog_agent``: the stub ``datadog_agent`` module, reset before and after each test.
* ``run_check``: runs ``check.run()`` and fails the test with the check's traceback if
  the run reported an error.
* ``host_state``: ``pyhost.testing``'s ``publish`` for ``pyhost.host``, emptied before
  and after each test.
* ``host_module``: ``define_module`` for stand-ins of the host's Go modules, removed
  after the test.
* ``module_harness``: ``make(ModuleClass, options=None)`` gives a
  :class:`pyhost.testing.ModuleHarness`; host state is emptied and serving modules
  stopped after the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Callable

import pytest

from pyhost import testing
from pyhost.checks import AgentCheck
from pyhost.modules import Module
from pyhost.stubs import aggregator as _aggregator_stub
from pyhost.stubs import datadog_agent as _datadog_agent_stub
from pyhost.testing.modules import ModuleHarness


@pytest.fixture
def aggregator() -> Iterator[ModuleType]:
    """The stub aggregator with its assertion helpers, empty at the start of the test."""
    _aggregator_stub.reset()
    yield _aggregator_stub
    _aggregator_stub.reset()


@pytest.fixture
def datadog_agent() -> Iterator[ModuleType]:
    """The stub ``datadog_agent`` module; use ``set_config``/``set_hostname`` on it."""
    _datadog_agent_stub.reset()
    yield _datadog_agent_stub
    _datadog_agent_stub.reset()


@pytest.fixture
def run_check() -> Callable[[AgentCheck], None]:
    """Return a function running a check once and failing the test if it errored."""

    def _run(check: AgentCheck) -> None:
        result = check.run()
        if result:
            errors = json.loads(result)
            details = "\n".join(f"{e['type']}: {e['message']}\n{e['traceback']}" for e in errors)
            pytest.fail(f"check {check.name!r} failed:\n{details}", pytrace=False)

    return _run


@pytest.fixture
def host_state() -> Iterator[Callable[[str, object], int]]:
    """``publish(name, value)`` for ``pyhost.host.get``; nothing is published at the start."""
    testing.reset_host_state()
    yield testing.publish
    testing.reset_host_state()


@pytest.fixture
def host_module() -> Iterator[Callable[[str, dict[str, Callable[..., object]]], ModuleType]]:
    """``define(name, functions)`` making a stand-in module, removed after the test."""
    defined: list[str] = []

    def _define(name: str, functions: dict[str, Callable[..., object]]) -> ModuleType:
        module = testing.define_module(name, functions)
        defined.append(name)
        return module

    yield _define
    for name in defined:
        testing.remove_module(name)


@pytest.fixture
def module_harness() -> Iterator[Callable[..., ModuleHarness]]:
    """``make(cls, options=None, name=None)``: a harness running ``cls`` as the agent would."""
    made: list[ModuleHarness] = []
    testing.reset_host_state()

    def _make(
        cls: type[Module], options: dict[str, object] | None = None, **kw: object
    ) -> ModuleHarness:
        harness = ModuleHarness(cls, options, **kw)  # type: ignore[arg-type]
        made.append(harness)
        return harness

    yield _make
    for harness in made:
        if harness._serving is not None:
            harness.stop()
    testing.reset_host_state()
