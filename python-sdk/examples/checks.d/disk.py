"""Filesystem usage of configured paths through ``os.statvfs``."""

from __future__ import annotations

import os

from pyhost import AgentCheck


class DiskCheck(AgentCheck):
    """Reports ``system.disk.*`` (KiB) per path and a ``system.disk.can_read`` service check.

    A path that cannot be read gets a CRITICAL service check and a warning; the other
    paths are still reported.
    """

    def check(self, instance):
        paths = instance.get("paths") or ["/"]
        base_tags = list(instance.get("tags", []))

        for path in paths:
            tags = [f"device_path:{path}", *base_tags]
            try:
                st = os.statvfs(path)
            except OSError as exc:
                self.warning("Cannot read disk usage of %s: %s", path, exc)
                self.service_check(
                    "system.disk.can_read", self.CRITICAL, tags=tags, message=str(exc)
                )
                continue

            total = st.f_blocks * st.f_frsize
            free = st.f_bavail * st.f_frsize  # space available to unprivileged users
            used = (st.f_blocks - st.f_bfree) * st.f_frsize
            self.gauge("system.disk.total", total / 1024, tags=tags)
            self.gauge("system.disk.used", used / 1024, tags=tags)
            self.gauge("system.disk.free", free / 1024, tags=tags)
            self.gauge(
                "system.disk.in_use", used / (used + free) if used + free else 0.0, tags=tags
            )
            self.service_check("system.disk.can_read", self.OK, tags=tags)
