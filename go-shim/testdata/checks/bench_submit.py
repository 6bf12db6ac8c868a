from pyhost import AgentCheck


class BenchSubmitCheck(AgentCheck):
    """Submits `count` gauges with 2 tags each (the metric benchmark)."""

    def check(self, instance):
        gauge = self.gauge
        tags = ["shard:1", "env:bench"]
        for i in range(instance.get("count", 100000)):
            gauge("bench.metric", float(i), tags)
