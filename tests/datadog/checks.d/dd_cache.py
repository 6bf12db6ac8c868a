"""A datadog_checks.base check counting its runs in the persistent cache."""

from datadog_checks.base import AgentCheck


class CacheCheck(AgentCheck):
    def check(self, instance):
        runs = int(self.read_persistent_cache("runs") or 0) + 1
        self.write_persistent_cache("runs", str(runs))
        self.gauge("dd.cache.runs", runs)
        for i in range(instance.get("writes", 0)):
            self.write_persistent_cache(f"{instance['writer']}.{i}", str(i))
