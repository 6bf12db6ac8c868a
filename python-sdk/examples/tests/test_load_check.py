from __future__ import annotations

import os

import pytest

LOADAVG = "0.52 1.25 2.00 3/612 12345\n"


@pytest.fixture
def cpus(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    return 4


def test_reports_load_from_procfs(aggregator, run_check, load_module, procfs, cpus):
    check = load_module.LoadCheck("load", {}, [{"procfs_path": procfs(loadavg=LOADAVG)}])
    run_check(check)

    for window, value in (("1", 0.52), ("5", 1.25), ("15", 2.0)):
        aggregator.assert_metric(
            f"system.load.{window}", value=value, tags=[], count=1, metric_type=aggregator.GAUGE
        )
        aggregator.assert_metric(f"system.load.norm.{window}", value=value / cpus, count=1)
    aggregator.assert_all_metrics_covered()
    assert check.get_warnings() == []


def test_instance_tags_are_applied(aggregator, run_check, load_module, procfs, cpus):
    instance = {"procfs_path": procfs(loadavg=LOADAVG), "tags": ["env:test", "team:infra"]}
    run_check(load_module.LoadCheck("load", {}, [instance]))

    for name in aggregator.metric_names:
        aggregator.assert_metric(name, tags=["env:test", "team:infra"], count=1)
    assert len(aggregator.metric_names) == 6


def test_missing_procfs_reports_an_error(aggregator, load_module, tmp_path):
    check = load_module.LoadCheck("load", {}, [{"procfs_path": str(tmp_path)}])
    error = check.run()
    assert "FileNotFoundError" in error
    assert aggregator.metric_names == []


def test_real_procfs(aggregator, run_check, load_module):
    run_check(load_module.LoadCheck("load", {}, [{}]))
    for name in ("system.load.1", "system.load.5", "system.load.15"):
        (metric,) = aggregator.metrics(name)
        assert metric.value >= 0
