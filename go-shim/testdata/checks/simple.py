from pyhost import AgentCheck


class SimpleCheck(AgentCheck):
    def check(self, instance):
        tags = ["env:test"] + instance.get("tags", [])
        self.gauge("simple.gauge", instance.get("value", 1.5), tags=tags)
        self.count("simple.count", 3, tags=tags, hostname="h1")
        self.monotonic_count("simple.mono", 10, tags=tags)
        self.service_check("simple.can_connect", self.OK, tags=tags, message="fine")
        self.event({"msg_title": "hello", "msg_text": "world", "tags": tags, "alert_type": "info"})
        self.log.info("simple check ran with %s", self.init_config.get("greeting", "hi"))
        if instance.get("warn"):
            self.warning("careful: %s", instance["warn"])
