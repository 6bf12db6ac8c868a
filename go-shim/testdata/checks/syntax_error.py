from pyhost import AgentCheck


class Broken(AgentCheck)
    def check(self, instance):
        pass
