"""A datadog_checks.base check submitting 10,000 gauges with 2 tags."""

from datadog_checks.base import AgentCheck

COUNT = 10000


class DatadogBenchCheck(AgentCheck):
    def check(self, instance):
        tags = ["bench:datadog", "team:perf"]
        gauge = self.gauge
        for i in range(COUNT):
            gauge("bench.dd.value", i, tags=tags)
