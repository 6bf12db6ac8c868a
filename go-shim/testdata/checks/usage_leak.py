from pyhost import AgentCheck


class LeakCheck(AgentCheck):
    """Keeps `keep_bytes` (default 1 MiB) more on every run, and churns as
    much again that it frees before returning."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kept = []

    def check(self, instance):
        size = instance.get("keep_bytes", 1 << 20)
        if size:
            self.kept.append(bytearray(size))
        scratch = [str(i) for i in range(instance.get("churn", 10_000))]
        self.gauge("leak.kept", len(self.kept), tags=[f"n:{len(scratch)}"])
