from pyhost import AgentCheck


class FetchError(Exception):
    pass


class RaisingCheck(AgentCheck):
    def check(self, instance):
        self.gauge("raising.before", 1)
        raise FetchError("endpoint unreachable")
