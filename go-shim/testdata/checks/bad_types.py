from pyhost import AgentCheck


class BadTypesCheck(AgentCheck):
    def check(self, instance):
        self.gauge("bad.string_value", "abc")
        self.gauge("bad.nan", float("nan"))
        self.gauge("bad.tags", 1, tags=["ok:1", 42])
        self.gauge("good.after", 7, tags=["fine:yes"])
