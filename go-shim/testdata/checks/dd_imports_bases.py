"""A check module that imports a second base class it does not subclass."""

from datadog_checks.base import AgentCheck, OpenMetricsBaseCheckV2  # noqa: F401


class OwnCheck(AgentCheck):
    def check(self, instance):
        self.gauge("own.check", 1)
