"""A check that calls a Go function the host defined (instance: module, function)."""

import importlib

from pyhost import AgentCheck


class GoCallsCheck(AgentCheck):
    def check(self, instance):
        fn = getattr(importlib.import_module(instance["module"]), instance["function"])
        result = fn(*instance.get("args", []))
        self.gauge("gocalls.result", float(result) if isinstance(result, (int, float)) else 1.0)
