"""Every submission method of datadog_checks.base's AgentCheck."""

from datadog_checks.base import AgentCheck


class SubmissionsCheck(AgentCheck):
    __NAMESPACE__ = "dd"

    def check(self, instance):
        tags = list(instance.get("tags", []))
        self.gauge("gauge", 1.5, tags=tags)
        self.gauge("gauge.host", 2, tags=tags, hostname="db-1")
        self.count("count", 3, tags=tags + ["role:writer"])
        self.monotonic_count("monotonic", 10, tags=tags)
        self.monotonic_count("monotonic.first", 4, tags=tags, flush_first_value=True)
        self.rate("rate", 100, tags=tags)
        for value in (1, 2, 3):
            self.histogram("histogram", value, tags=tags)
        self.historate("historate", 5, tags=tags)
        self.gauge("raw.name", 7, tags=tags, raw=True)
        self.service_check("can_connect", AgentCheck.OK, tags=tags)
        self.service_check("replication", AgentCheck.WARNING, tags=tags, message="lag 30s")
        self.event(
            {
                "timestamp": 1700000000,
                "event_type": "dd.restart",
                "msg_title": "restarted",
                "msg_text": "the server restarted",
                "alert_type": "warning",
                "tags": tags,
            }
        )
        self.warning("disk %s is %d%% full", "/data", 91)
        self.set_metadata("version", "1.2.3")
