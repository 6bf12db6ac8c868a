import time

from pyhost import AgentCheck


class SleepCheck(AgentCheck):
    def check(self, instance):
        time.sleep(instance.get("seconds", 0.1))
        self.gauge("sleep.slept", 1)
