"""System load averages from ``<procfs>/loadavg``."""

from __future__ import annotations

import os

from pyhost import AgentCheck


class LoadCheck(AgentCheck):
    """Reports ``system.load.{1,5,15}`` and the same values divided by the CPU count."""

    def check(self, instance):
        procfs = instance.get("procfs_path") or self.init_config.get("procfs_path") or "/proc"
        tags = list(instance.get("tags", []))

        with open(os.path.join(procfs, "loadavg")) as f:
            fields = f.read().split()
        loads = {"1": float(fields[0]), "5": float(fields[1]), "15": float(fields[2])}
        cpus = os.cpu_count() or 1

        for window, load in loads.items():
            self.gauge(f"system.load.{window}", load, tags=tags)
            self.gauge(f"system.load.norm.{window}", load / cpus, tags=tags)
