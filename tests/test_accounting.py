"""What each check costs, in the built agent as its users read it: /metrics,
/status?sort=, the status page, `pyhost-agent check NAME`, and the
`accounting: false` switch."""

import json
import re

import pytest
from conftest import wait_until

LEAKING = """
    from pyhost import AgentCheck

    class Leaking(AgentCheck):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.kept = []

        def check(self, instance):
            self.kept.append(bytearray(1 << 20))  # 1 MiB more on every run
            self.gauge("leaking.kept", len(self.kept))
"""

HEALTHY = """
    from pyhost import AgentCheck

    class Healthy(AgentCheck):
        def check(self, instance):
            scratch = {str(i): i for i in range(2000)}  # allocated, then freed
            self.gauge("healthy.size", len(scratch), tags=["n:%d" % instance["n"]])
"""

BURNING = """
    import time
    from pyhost import AgentCheck

    class Burning(AgentCheck):
        def check(self, instance):
            deadline = time.monotonic() + 0.1
            while time.monotonic() < deadline:
                sum(range(1000))
"""

SLEEPING = """
    import time
    from pyhost import AgentCheck

    class Sleeping(AgentCheck):
        def check(self, instance):
            time.sleep(0.1)
"""


def samples(metrics, name):
    """{check_id: value} of one per-instance series."""
    pattern = re.compile("^" + name + r'\{check="[^"]+",check_id="([^"]+)"\} (\S+)$', re.M)
    return {cid: float(v) for cid, v in pattern.findall(metrics)}


def cost_layout(layout):
    layout.check("leaking", LEAKING)
    layout.config("leaking.yaml", "instances:\n  - min_collection_interval: 0.2\n")
    layout.check("healthy", HEALTHY)
    layout.config(
        "healthy.yaml",
        "instances:\n"
        + "".join(f"  - {{n: {i}, min_collection_interval: 0.2}}\n" for i in range(50)),
    )
    layout.check("burning", BURNING)
    layout.config("burning.yaml", "instances:\n  - min_collection_interval: 0.5\n")
    layout.check("sleeping", SLEEPING)
    layout.config("sleeping.yaml", "instances:\n  - min_collection_interval: 0.5\n")


def test_the_check_that_keeps_memory_is_named(run_agent, layout):
    cost_layout(layout)
    running = run_agent(*layout.args(), "--check-runners", "8")

    def ready():
        s = running.status()
        if not s:
            return None
        by = {c["check"]: c for c in s["checks"] if c["check"] != "healthy"}
        healthy = [c for c in s["checks"] if c["check"] == "healthy"]
        if by["leaking"]["runs"] >= 6 and all(c["runs"] >= 3 for c in healthy):
            return s
        return None

    first = wait_until("the checks to run", ready, timeout=90)
    leak_id = next(c["check_id"] for c in first["checks"] if c["check"] == "leaking")
    _, metrics = running.get("/metrics")
    retained = samples(metrics, "pyhost_check_retained_bytes")
    assert len(retained) == 53, sorted(retained)
    # Named: the most retained memory by far is the leaking check's.
    assert max(retained, key=retained.get) == leak_id
    healthy_before = {
        c["check_id"]: c["cost"]["retained_bytes"]
        for c in first["checks"]
        if c["check"] == "healthy"
    }
    leak_before = next(c for c in first["checks"] if c["check"] == "leaking")

    later = wait_until(
        "five more runs of the leaking check",
        lambda: (
            (s := running.status())
            and next(c for c in s["checks"] if c["check"] == "leaking")["runs"]
            >= leak_before["runs"] + 5
            and s
        ),
        timeout=90,
    )
    leak_after = next(c for c in later["checks"] if c["check"] == "leaking")
    # Its retained memory grows about 1 MiB per run...
    grown = leak_after["cost"]["retained_bytes"] - leak_before["cost"]["retained_bytes"]
    per_run = grown / (leak_after["runs"] - leak_before["runs"])
    assert 0.9 * (1 << 20) <= per_run <= 1.2 * (1 << 20), (per_run, leak_before, leak_after)
    # ...while the 50 healthy checks beside it stay flat.
    for c in later["checks"]:
        if c["check"] == "healthy":
            assert c["cost"]["retained_bytes"] <= healthy_before[c["check_id"]] + 64 * 1024, c
            assert c["cost"]["allocated_bytes"] > 0, c

    # The CPU of a computing check is close to its wall time; a sleeping
    # one's is almost none.
    burning = next(c for c in later["checks"] if c["check"] == "burning")["cost"]
    sleeping = next(c for c in later["checks"] if c["check"] == "sleeping")["cost"]
    assert burning["cpu_seconds"] >= burning["wall_seconds"] / 4, burning
    assert sleeping["cpu_seconds"] <= sleeping["wall_seconds"] / 10, sleeping
    assert sleeping["wall_seconds"] >= 0.1, sleeping

    _, body = running.get("/status?sort=retained")
    assert json.loads(body)["checks"][0]["check"] == "leaking"
    _, body = running.get("/status?sort=cpu")
    assert json.loads(body)["checks"][0]["check"] == "burning"
    _, page = running.get("/?sort=retained")
    view = page[page.index('id="costs"') :]
    assert view.index("<strong>leaking</strong>") < view.index("<strong>healthy</strong>")

    _, metrics = running.get("/metrics")
    for name in (
        "pyhost_check_cpu_seconds_total",
        "pyhost_check_gil_wait_seconds_total",
        "pyhost_check_queue_wait_seconds_total",
        "pyhost_check_allocated_bytes_total",
        "pyhost_check_retained_bytes",
    ):
        assert len(samples(metrics, name)) == 53, name


def test_check_prints_what_each_run_cost(agent, layout):
    layout.check("leaking", LEAKING)
    layout.config("leaking.yaml", "instances:\n  - {}\n")
    proc = agent("check", "leaking", "--times", "3", "--pause", "0s", *layout.args())
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("COST run")]
    assert len(lines) == 3, proc.stdout
    assert lines[2].endswith("3.0 MiB retained"), lines

    proc = agent("check", "leaking", "--times", "2", "--pause", "0s", "--json", *layout.args())
    assert proc.returncode == 0, proc.stderr
    costs = json.loads(proc.stdout)["run_costs"]
    assert [c["run"] for c in costs] == [1, 2]
    assert costs[1]["retained_bytes"] - costs[0]["retained_bytes"] >= 1 << 20, costs
    assert all(
        c["wall_ms"] >= c["cpu_ms"] > 0 and c["allocated_bytes"] >= 1 << 20 for c in costs
    ), costs


def test_accounting_off(run_agent, agent, layout, tmp_path):
    layout.check("leaking", LEAKING)
    layout.config("leaking.yaml", "instances:\n  - min_collection_interval: 0.2\n")
    config = tmp_path / "pyhost.yaml"
    config.write_text("accounting: false\n")
    running = run_agent(*layout.args(), "--config", str(config))
    status = wait_until(
        "two runs", lambda: (s := running.status()) and s["checks"][0]["runs"] >= 2 and s
    )
    assert status["accounting"] is False
    cost = status["checks"][0]["cost"]
    assert (
        cost["cpu_seconds"] == 0 and cost["retained_bytes"] == 0 and cost["allocated_bytes"] == 0
    ), cost
    _, metrics = running.get("/metrics")
    assert "pyhost_check_retained_bytes" not in metrics
    assert "pyhost_check_queue_wait_seconds_total" in metrics  # the scheduler's own figure

    proc = agent("check", "leaking", "--config", str(config), *layout.args())
    assert proc.returncode == 0, proc.stderr
    assert "COST" not in proc.stdout


CHURNING = """
    import random
    import threading
    from pyhost import AgentCheck

    def churn(seed, rounds):
        rnd = random.Random(seed)
        for _ in range(rounds):
            kept = []
            for _ in range(200):
                n = rnd.randrange(1, 400)
                kept.append((b"x" * n, [n] * (n % 40), {str(n): n}, bytearray(n)))
            grown = bytearray()
            for _ in range(64):  # reallocations through every size class
                grown.extend(b"y" * rnd.randrange(1, 48))
            while kept:
                kept.pop(rnd.randrange(len(kept)))

    class Churning(AgentCheck):
        def check(self, instance):
            threads = [threading.Thread(target=churn, args=(i, 20)) for i in range(4)]
            for t in threads:
                t.start()
            churn(99, 20)  # the check's own thread, switching the GIL with them
            for t in threads:
                t.join()
            self.gauge("churning.done", 1)
"""


@pytest.mark.parametrize("pythonmalloc", [None, "debug"])
def test_memory_churned_across_threads_is_all_given_back(agent, layout, pythonmalloc):
    """Blocks of every size, made and freed by five threads taking turns with
    the GIL (through the allocator's block cache): the check's run ends with
    nothing retained, run after run, and the agent survives it. Under
    PYTHONMALLOC=debug, CPython's own hooks (beneath the wrapper) also check
    that the GIL is held for every allocation and that no block overflows."""
    layout.check("churning", CHURNING)
    layout.config("churning.yaml", "instances:\n  - {}\n")
    env = {"PYTHONMALLOC": pythonmalloc} if pythonmalloc else None
    proc = agent(
        "check", "churning", "--times", "4", "--pause", "0s", "--json", *layout.args(), env=env
    )
    assert proc.returncode == 0, proc.stderr
    costs = json.loads(proc.stdout)["run_costs"]
    assert len(costs) == 4, costs
    assert all(c["allocated_bytes"] > 1 << 20 for c in costs), costs
    assert max(c["retained_bytes"] for c in costs) - costs[0]["retained_bytes"] < 256 << 10, costs
