from pyhost import AgentCheck


class LogsCheck(AgentCheck):
    """Logs the instance's message, then submits a gauge."""

    def check(self, instance):
        self.log.warning(instance.get("message", "logs check ran"))
        self.gauge("logs.ran", 1)
