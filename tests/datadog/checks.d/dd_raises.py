"""A datadog_checks.base check that raises after submitting."""

from datadog_checks.base import AgentCheck


class RaisesCheck(AgentCheck):
    def check(self, instance):
        self.gauge("dd.raises.before", 1)
        raise ConnectionError("cannot reach the database at " + instance["url"])
