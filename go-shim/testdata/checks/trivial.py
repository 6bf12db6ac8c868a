from pyhost import AgentCheck


class TrivialCheck(AgentCheck):
    def check(self, instance):
        self.gauge("trivial.value", 1.0)
