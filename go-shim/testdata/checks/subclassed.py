from pyhost import AgentCheck


class BaseHttpCheck(AgentCheck):
    def check(self, instance):
        self.gauge("base", 1)


class ConcreteCheck(BaseHttpCheck):
    def check(self, instance):
        self.gauge("concrete", 2)
