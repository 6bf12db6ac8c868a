from pyhost import AgentCheck


class FirstCheck(AgentCheck):
    def check(self, instance):
        self.gauge("first", 1)


class SecondCheck(AgentCheck):
    def check(self, instance):
        self.gauge("second", 2)
