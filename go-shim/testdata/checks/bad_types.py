from pyhost import AgentCheck


class BadTypesCheck(AgentCheck):
    def check(self, instance):
        self.gauge("bad.string_value", "abc")
        self.gauge("bad.nan", float("nan"))
        self.gauge("bad.tags", 1, tags=["ok:1", 42])
        self.gauge("good.after", 7, tags=["fine:yes"])
        # Flags are taken by their truth, never raised over.
        self.gauge("flag.raw", 2, raw=0)
        self.monotonic_count("flag.flush_none", 3, flush_first_value=None)
        self.monotonic_count("flag.flush_int", 4, flush_first_value=1)
