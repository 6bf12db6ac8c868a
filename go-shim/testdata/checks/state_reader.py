"""Reads host state each run: is the value one whole publication?"""

from pyhost import AgentCheck, host


class StateReader(AgentCheck):
    def check(self, instance):
        v = host.get(instance["name"])
        gen = v["gen"]
        whole = len(v["records"]) == instance["records"] and all(
            r["gen"] == gen for r in v["records"]
        )
        self.gauge("state.whole", 1 if whole else 0)
        self.gauge("state.gen", gen)
