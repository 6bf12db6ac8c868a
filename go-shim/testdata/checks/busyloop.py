from pyhost import AgentCheck


class BusyLoop(AgentCheck):
    def check(self, instance):
        while True:
            pass
