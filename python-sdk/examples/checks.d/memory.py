"""Memory and swap usage from ``<procfs>/meminfo`` and ``<procfs>/vmstat``."""

from __future__ import annotations

import os

from pyhost import AgentCheck

KIB_PER_MIB = 1024


def parse_meminfo(text):
    """Return ``{field: kibibytes}`` for the lines of a meminfo file."""
    values = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        parts = rest.split()
        if sep and parts:
            values[key.strip()] = int(parts[0])
    return values


def parse_vmstat(text):
    """Return ``{counter: value}`` for the lines of a vmstat file."""
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            values[parts[0]] = int(parts[1])
    return values


class MemoryCheck(AgentCheck):
    """Reports ``system.mem.*`` and ``system.swap.*`` in MiB, swap traffic in bytes/s."""

    def check(self, instance):
        procfs = instance.get("procfs_path") or self.init_config.get("procfs_path") or "/proc"
        tags = list(instance.get("tags", []))

        with open(os.path.join(procfs, "meminfo")) as f:
            mem = parse_meminfo(f.read())

        total = mem["MemTotal"]
        free = mem["MemFree"]
        # MemAvailable is missing on kernels older than 3.14: estimate it the classic way.
        usable = mem.get("MemAvailable", free + mem.get("Buffers", 0) + mem.get("Cached", 0))
        self.gauge("system.mem.total", total / KIB_PER_MIB, tags=tags)
        self.gauge("system.mem.free", free / KIB_PER_MIB, tags=tags)
        self.gauge("system.mem.usable", usable / KIB_PER_MIB, tags=tags)
        self.gauge("system.mem.used", (total - free) / KIB_PER_MIB, tags=tags)
        if total:
            self.gauge("system.mem.pct_usable", usable / total, tags=tags)

        swap_total = mem.get("SwapTotal", 0)
        swap_free = mem.get("SwapFree", 0)
        self.gauge("system.swap.total", swap_total / KIB_PER_MIB, tags=tags)
        self.gauge("system.swap.free", swap_free / KIB_PER_MIB, tags=tags)
        self.gauge("system.swap.used", (swap_total - swap_free) / KIB_PER_MIB, tags=tags)

        try:
            with open(os.path.join(procfs, "vmstat")) as f:
                vmstat = parse_vmstat(f.read())
        except OSError as exc:
            self.warning("Cannot read swap activity: %s", exc)
            return
        page_size = os.sysconf("SC_PAGE_SIZE")
        # Cumulative counters: rate() turns successive samples into bytes per second.
        if "pswpin" in vmstat:
            self.rate("system.swap.swapped_in", vmstat["pswpin"] * page_size, tags=tags)
        if "pswpout" in vmstat:
            self.rate("system.swap.swapped_out", vmstat["pswpout"] * page_size, tags=tags)
