"""A datadog_checks_base check that raises (go-shim/datadog_test.go)."""

from datadog_checks.base import AgentCheck


class RaisingCheck(AgentCheck):
    def check(self, instance):
        self.gauge("before.raise", 1)
        {}["missing"]
