import time

from pyhost import AgentCheck


class SpinCheck(AgentCheck):
    """Computes for `seconds` (default 30), touching no lock: a check that
    only a cancellation ends early."""

    def check(self, instance):
        self.gauge("spin.started", 1)
        deadline = time.monotonic() + instance.get("seconds", 30)
        while time.monotonic() < deadline:
            sum(range(1000))
        self.gauge("spin.finished", 1)
