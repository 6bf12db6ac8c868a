"""A datadog_checks_base check using every submission method (go-shim/datadog_test.go)."""

from datadog_checks.base import AgentCheck


class EverythingCheck(AgentCheck):
    __NAMESPACE__ = "dd"

    def check(self, instance):
        tags = ["team:core", *instance.get("tags", [])]
        self.gauge("gauge", 1.5, tags=tags)
        self.count("count", 2, tags=tags, hostname="other-host")
        self.monotonic_count("monotonic", 10, tags=tags, flush_first_value=True)
        self.rate("rate", "3")
        self.histogram("histogram", 4, tags=tags)
        self.historate("historate", 5)
        self.increment("increment")
        self.decrement("decrement")
        self.gauge("device", 6, device_name="sda")
        self.gauge("raw.gauge", 7, raw=True)
        self.gauge("bytes.tags", 8, tags=[b"b:1", None, "s:2"])
        self.gauge("nan", float("nan"))
        self.service_check("can_connect", AgentCheck.OK, tags=tags)
        self.service_check("degraded", AgentCheck.WARNING, message="slow", hostname="db-1")
        self.event(
            {
                "timestamp": 1700000000,
                "event_type": "deploy",
                "msg_title": "title",
                "msg_text": "text",
                "alert_type": "info",
                "aggregation_key": "agg",
                "priority": "normal",
                "host": "web-1",
                "tags": tags,
                "api_key": "not forwarded",
            }
        )
        self.submit_histogram_bucket(
            "bucket", 3, 0, 10, True, "bucket-host", tags, flush_first_value=True
        )
        self.submit_histogram_bucket("bucket", 5, 10, float("inf"), False, None, tags)
        self.database_monitoring_query_sample('{"query":"SELECT 1"}')
        self.event_platform_event(b"\xffraw", "dbm-activity")
        self.set_metadata("version", "1.2.3")
        self.set_metadata("flavor", "community")
        self.set_external_tags([("ext-host", {"vsphere": ["a:b", "c:d"]})])
        self.warning("careful: %s", "this")
        self.log.info("everything ran")
        runs = int(self.read_persistent_cache("runs") or 0) + 1
        self.write_persistent_cache("runs", str(runs))
        self.gauge("runs", runs)
