"""Turns the agent's check status summary into health checks.

The agent publishes ``pyhost.checks`` (every instance's status) as runs
complete; this module is notified, and raises ``CHECKS_FAILING`` while any
instance is in error, timed out or stuck (severity ``error`` once at least
``error_after`` instances are), ``CHECKS_WARNING`` while any has warnings.
"""

from __future__ import annotations

from typing import Any

import pyhost

FAILING = ("error", "timeout", "stuck")


class Module(pyhost.Module):
    NOTIFY_TYPES = ["pyhost.checks"]
    MODULE_OPTIONS = [
        pyhost.Option(
            "error_after",
            type="uint",
            default=1,
            min=1,
            desc="failing instances that make CHECKS_FAILING an error rather than a warning",
        ),
        pyhost.Option(
            "ignore", type="str", default="", desc="check names to ignore, comma-separated"
        ),
    ]

    def notify(self, kind: str, key: str) -> None:
        self.update(self.get("pyhost.checks", {}))

    def update(self, checks: Any) -> None:
        ignore = {n.strip() for n in self.get_option("ignore").split(",") if n.strip()}
        failing, warning = [], []
        for check_id, summary in sorted(checks.items()):
            if summary["name"] in ignore:
                continue
            line = f"{check_id}: {summary['status']}"
            if summary.get("message"):
                line += f" ({summary['message']})"
            if summary["status"] in FAILING:
                failing.append(line)
            elif summary["status"] == "warning":
                warning.append(line)
        health: dict[str, dict[str, Any]] = {}
        if failing:
            severity = "error" if len(failing) >= self.get_option("error_after") else "warning"
            health["CHECKS_FAILING"] = {
                "severity": severity,
                "summary": f"{len(failing)} check instance(s) failing",
                "detail": failing,
            }
        if warning:
            health["CHECKS_WARNING"] = {
                "severity": "warning",
                "summary": f"{len(warning)} check instance(s) with warnings",
                "detail": warning,
            }
        self.set_health_checks(health)
        self.log.debug("health updated: %d failing, %d warning", len(failing), len(warning))

    @pyhost.command
    def failing(self) -> list[str]:
        """The check instances failing now."""
        return list(self.get_health_checks().get("CHECKS_FAILING", {}).get("detail", []))
