"""Calls the in-memory aggregator directly with wrong types; records what it raised."""

import aggregator
from pyhost import AgentCheck


class DirectBuiltinsCheck(AgentCheck):
    def check(self, instance):
        cases = {
            "string value": (aggregator.GAUGE, "m", "abc", None, None),
            "nan": (aggregator.GAUGE, "m", float("nan"), None, None),
            "int tag": (aggregator.GAUGE, "m", 1.0, ["a:b", 42], None),
            "tags not a list": (aggregator.GAUGE, "m", 1.0, "a:b", None),
            "name not str": (aggregator.GAUGE, 123, 1.0, None, None),
            "bad type": (99, "m", 1.0, None, None),
            "hostname not str": (aggregator.GAUGE, "m", 1.0, None, 5),
        }
        for label, (mtype, name, value, tags, host) in cases.items():
            try:
                aggregator.submit_metric(self, self.check_id, mtype, name, value, tags, host)
            except (TypeError, ValueError) as e:
                self.gauge("raised", 1, tags=[f"case:{label}", f"exc:{type(e).__name__}"])
        try:
            aggregator.submit_metric(self, self.check_id, aggregator.GAUGE, "m")
        except TypeError:
            self.gauge("raised", 1, tags=["case:missing args", "exc:TypeError"])
        self.gauge("survivor", 1, tags=["x:y"])
