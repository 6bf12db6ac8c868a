"""The comparison's workloads in Python.

pyhost runs these in-process; the RPC worker (worker.py) imports this same
module and runs the very same functions in a process of its own, so the
two Python sides do identical work and differ only in how they are reached.
"""

import time

from pyhost import AgentCheck

TAGS_MOD = 16


def noop() -> None:
    return None


def add(a: int, b: int) -> int:
    return a + b


def cpu_work(n: int) -> int:
    """Pure computation: n steps of integer arithmetic in the interpreter."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def io_wait(seconds: float) -> None:
    """Waiting, as a check waits on a socket: the GIL is released meanwhile."""
    time.sleep(seconds)


def metric_tags(i: int) -> list[str]:
    return [f"shard:{i % TAGS_MOD}", "env:compare"]


def metrics(n: int) -> list[tuple[str, float, list[str]]]:
    """The metric-heavy check's submissions as data (what the RPC worker sends)."""
    return [("compare.metric", float(i), metric_tags(i)) for i in range(n)]


def call_go_loop(n: int) -> int:
    """Python calling Go n times: `comparego.noop` is a Go function pyhost defines."""
    import comparego  # type: ignore[import-not-found]

    f = comparego.noop
    for _ in range(n):
        f()
    return n


class MetricsCheck(AgentCheck):
    """Submits `count` gauges, each with two tags."""

    def check(self, instance):
        gauge = self.gauge
        for i in range(instance["count"]):
            gauge("compare.metric", float(i), metric_tags(i))


class CpuCheck(AgentCheck):
    """Computes, then submits the result (so that Go can check it)."""

    def check(self, instance):
        self.gauge("compare.cpu", float(cpu_work(instance["n"])))


class IoCheck(AgentCheck):
    def check(self, instance):
        io_wait(instance["seconds"])
