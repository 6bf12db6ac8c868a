import time

from pyhost import AgentCheck


class SlowCheck(AgentCheck):
    """Loops until cancelled; swallows ordinary exceptions like careless checks do."""

    def check(self, instance):
        self.gauge("slow.started", 1)
        self.log.info("slow check started")
        deadline = time.monotonic() + instance.get("seconds", 30)
        while time.monotonic() < deadline:
            try:
                sum(range(1000))
            except Exception:
                pass
        self.gauge("slow.finished", 1)
