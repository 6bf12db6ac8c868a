from __future__ import annotations

import os

MEMINFO = """\
MemTotal:       16384000 kB
MemFree:         4096000 kB
MemAvailable:    8192000 kB
Buffers:          512000 kB
Cached:          2048000 kB
SwapCached:            0 kB
SwapTotal:       2097152 kB
SwapFree:        1048576 kB
HugePages_Total:       0
"""

VMSTAT = """\
nr_free_pages 1024000
pswpin 100
pswpout 250
pgfault 123456
"""


def test_reports_memory_and_swap(aggregator, run_check, memory_module, procfs):
    root = procfs(meminfo=MEMINFO, vmstat=VMSTAT)
    check = memory_module.MemoryCheck("memory", {}, [{"procfs_path": root, "tags": ["env:test"]}])
    run_check(check)

    tags = ["env:test"]
    expected = {
        "system.mem.total": 16384000 / 1024,
        "system.mem.free": 4096000 / 1024,
        "system.mem.usable": 8192000 / 1024,
        "system.mem.used": (16384000 - 4096000) / 1024,
        "system.mem.pct_usable": 0.5,
        "system.swap.total": 2048.0,
        "system.swap.free": 1024.0,
        "system.swap.used": 1024.0,
    }
    for name, value in expected.items():
        aggregator.assert_metric(
            name, value=value, tags=tags, count=1, metric_type=aggregator.GAUGE
        )

    page_size = os.sysconf("SC_PAGE_SIZE")
    aggregator.assert_metric(
        "system.swap.swapped_in",
        value=100 * page_size,
        tags=tags,
        count=1,
        metric_type=aggregator.RATE,
    )
    aggregator.assert_metric(
        "system.swap.swapped_out",
        value=250 * page_size,
        tags=tags,
        count=1,
        metric_type=aggregator.RATE,
    )
    aggregator.assert_all_metrics_covered()
    assert check.get_warnings() == []


def test_estimates_usable_without_memavailable(aggregator, run_check, memory_module, procfs):
    meminfo = "".join(line + "\n" for line in MEMINFO.splitlines() if "MemAvailable" not in line)
    root = procfs(meminfo=meminfo, vmstat=VMSTAT)
    run_check(memory_module.MemoryCheck("memory", {}, [{"procfs_path": root}]))

    aggregator.assert_metric("system.mem.usable", value=(4096000 + 512000 + 2048000) / 1024)


def test_missing_vmstat_warns_and_keeps_memory(aggregator, run_check, memory_module, procfs):
    check = memory_module.MemoryCheck("memory", {}, [{"procfs_path": procfs(meminfo=MEMINFO)}])
    run_check(check)

    aggregator.assert_metric("system.mem.total", value=16000.0)
    assert aggregator.metrics("system.swap.swapped_in") == []
    (warning,) = check.get_warnings()
    assert warning.startswith("Cannot read swap activity")


def test_real_procfs(aggregator, run_check, memory_module):
    run_check(memory_module.MemoryCheck("memory", {}, [{}]))
    (total,) = aggregator.metrics("system.mem.total")
    assert total.value > 0
    (usable,) = aggregator.metrics("system.mem.usable")
    assert 0 < usable.value <= total.value
    for name in ("system.swap.total", "system.swap.free", "system.swap.used"):
        (metric,) = aggregator.metrics(name)
        assert metric.value >= 0
