from __future__ import annotations

import os

import pytest

FAKE_PATH = "/fake/volume"
# 4 KiB fragments; 1000 blocks, 400 free, 300 available to unprivileged users.
FAKE_STAT = os.statvfs_result((4096, 4096, 1000, 400, 300, 100, 50, 50, 0, 255))


@pytest.fixture
def fake_statvfs(monkeypatch):
    real_statvfs = os.statvfs

    def statvfs(path):
        return FAKE_STAT if path == FAKE_PATH else real_statvfs(path)

    monkeypatch.setattr(os, "statvfs", statvfs)


def test_reports_usage_in_kib(aggregator, run_check, disk_module, fake_statvfs):
    check = disk_module.DiskCheck("disk", {}, [{"paths": [FAKE_PATH], "tags": ["env:test"]}])
    run_check(check)

    tags = [f"device_path:{FAKE_PATH}", "env:test"]
    aggregator.assert_metric("system.disk.total", value=1000 * 4.0, tags=tags, count=1)
    aggregator.assert_metric("system.disk.used", value=600 * 4.0, tags=tags, count=1)
    aggregator.assert_metric("system.disk.free", value=300 * 4.0, tags=tags, count=1)
    aggregator.assert_metric("system.disk.in_use", value=600 / 900, tags=tags, count=1)
    aggregator.assert_service_check("system.disk.can_read", status=check.OK, tags=tags, count=1)
    aggregator.assert_all_metrics_covered()
    assert check.get_warnings() == []


def test_unreadable_path_is_critical_and_others_still_reported(
    aggregator, run_check, disk_module, fake_statvfs, tmp_path
):
    missing = str(tmp_path / "does-not-exist")
    check = disk_module.DiskCheck("disk", {}, [{"paths": [missing, FAKE_PATH]}])
    run_check(check)

    aggregator.assert_service_check(
        "system.disk.can_read", status=check.CRITICAL, tags=[f"device_path:{missing}"], count=1
    )
    aggregator.assert_service_check(
        "system.disk.can_read", status=check.OK, tags=[f"device_path:{FAKE_PATH}"], count=1
    )
    for name in ("system.disk.total", "system.disk.used", "system.disk.free"):
        aggregator.assert_metric(name, tags=[f"device_path:{FAKE_PATH}"], count=1)
        aggregator.assert_metric_has_tag(name, f"device_path:{missing}", count=0)
    (critical,) = [sc for sc in aggregator.service_checks("system.disk.can_read") if sc.status]
    assert "No such file or directory" in critical.message
    (warning,) = check.get_warnings()
    assert missing in warning


def test_real_root_filesystem(aggregator, run_check, disk_module):
    run_check(disk_module.DiskCheck("disk", {}, [{}]))
    (total,) = aggregator.metrics("system.disk.total")
    assert total.value > 0
    assert total.tags == ["device_path:/"]
    (in_use,) = aggregator.metrics("system.disk.in_use")
    assert 0 <= in_use.value <= 1
    aggregator.assert_service_check("system.disk.can_read", status=0, count=1)
