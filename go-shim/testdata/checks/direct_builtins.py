"""Calls the in-memory aggregator directly with wrong types; records what it raised.

With the check itself as the first argument (a pyhost SDK check) the SDK's rules
apply: bad data raises. With any other object, the Datadog Agent's rules apply.
"""

import aggregator
from pyhost import AgentCheck

G = aggregator.GAUGE


class DirectBuiltinsCheck(AgentCheck):
    def _try(self, rules, label, *args):
        try:
            aggregator.submit_metric(*args)
        except (TypeError, ValueError) as e:
            outcome = type(e).__name__
        else:
            outcome = "none"
        self.gauge("outcome", 1, tags=[f"rules:{rules}", f"case:{label}", f"exc:{outcome}"])

    def check(self, instance):
        sdk_cases = {
            "string value": (G, "m", "abc", None, None),
            "nan": (G, "m", float("nan"), None, None),
            "int tag": (G, "m", 1.0, ["a:b", 42], None),
            "tags not a list": (G, "m", 1.0, "a:b", None),
            "name not str": (G, 123, 1.0, None, None),
            "bad type": (99, "m", 1.0, None, None),
            "hostname not str": (G, "m", 1.0, None, 5),
        }
        for label, (mtype, name, value, tags, host) in sdk_cases.items():
            self._try("sdk", label, self, self.check_id, mtype, name, value, tags, host)
        self._try("sdk", "missing args", self, self.check_id, G, "m")

        other = object()
        dd_cases = {
            "string value": (G, "dd.m", "abc", [], ""),
            "nan": (G, "dd.nan", float("nan"), [], ""),
            "int tag": (G, "dd.int_tag", 1.0, ["a:b", 42, None, b"c:d"], ""),
            "str tags": (G, "dd.str_tags", 1.0, "a:b", ""),
            "tags None": (G, "dd.m", 1.0, None, ""),
            "name not str": (G, 123, 1.0, [], ""),
            "bad type": (99, "dd.bad_type", 1.0, [], ""),
            "hostname None": (G, "dd.m", 1.0, [], None),
            "hostname not str": (G, "dd.m", 1.0, [], 5),
        }
        for label, (mtype, name, value, tags, host) in dd_cases.items():
            self._try("datadog", label, other, self.check_id, mtype, name, value, tags, host)
        self._try("datadog", "missing args", other, self.check_id, G, "dd.m")
        self._try("datadog", "unknown check id", other, "nope:0", G, "dd.m", 1.0, [], "")
        self.gauge("survivor", 1, tags=["x:y"])
