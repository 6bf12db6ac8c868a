"""A real Prometheus server scrapes the agent; its query API must return
the checks' series with the right labels and values."""

import os

from conftest import EXAMPLES, wait_until

KNOWN = """
    from pyhost import AgentCheck

    class Known(AgentCheck):
        def check(self, instance):
            self.gauge("e2e.temperature", 21.5, tags=["room:lab", "env:test"])
            self.count("e2e.requests", 3, tags=["env:test"])
            for v in (1, 2, 3, 4, 100):
                self.histogram("e2e.latency", v, tags=["env:test"])
            self.service_check("e2e.reachable", AgentCheck.CRITICAL, tags=["env:test"])
"""


def one(query, expr):
    result = wait_until(f"Prometheus to have {expr}", lambda: query(expr), timeout=60)
    assert len(result) == 1, result
    return result[0]["metric"], float(result[0]["value"][1])


def test_prometheus_scrapes_the_agent(run_agent, prometheus, layout):
    layout.check("known", KNOWN)
    layout.config("known.yaml", "instances:\n  - min_collection_interval: 1\n")
    for name in ("load", "memory", "disk"):
        layout.check(name, (EXAMPLES / "checks.d" / f"{name}.py").read_text())
    layout.config("load.yaml", "instances: [{min_collection_interval: 1, tags: [team:infra]}]\n")
    layout.config("memory.yaml", "instances:\n  - min_collection_interval: 1\n")
    layout.config("disk.yaml", "instances:\n  - min_collection_interval: 1\n    paths: [/]\n")
    running = run_agent(*layout.args())
    query = prometheus(running.listen)

    up, value = one(query, 'up{job="pyhost"} == 1')
    assert up["instance"] == running.listen

    labels, value = one(query, "e2e_temperature")
    assert value == 21.5
    assert labels["room"] == "lab" and labels["env"] == "test" and labels["job"] == "pyhost"

    # A count is a Prometheus counter: it keeps growing by 3 per run.
    _, first = one(query, "e2e_requests")
    assert first >= 3 and first % 3 == 0
    wait_until("the counter to grow", lambda: one(query, "e2e_requests")[1] > first, timeout=30)
    _, rate = one(query, "rate(e2e_requests[10s])")
    assert 0 < rate < 10

    assert one(query, "e2e_latency_max")[1] == 100
    assert one(query, "e2e_latency_median")[1] == 3
    assert one(query, "e2e_latency_avg")[1] == 22

    labels, value = one(query, 'pyhost_service_check_status{service_check="e2e.reachable"}')
    assert value == 2 and labels["env"] == "test"

    with open("/proc/meminfo") as f:
        meminfo = {line.split(":")[0]: int(line.split()[1]) for line in f}
    _, total = one(query, "system_mem_total")
    assert abs(total - meminfo["MemTotal"] / 1024) < 1

    labels, _ = one(query, "system_load_1")
    assert labels["team"] == "infra"

    st = os.statvfs("/")
    _, disk = one(query, 'system_disk_total{device_path="/"}')
    assert disk == st.f_blocks * st.f_frsize / 1024

    # The agent's own telemetry is scraped too.
    labels, runs = one(query, 'pyhost_check_runs_total{check="known"}')
    assert runs >= 1 and labels["check_id"].startswith("known:")
    assert one(query, "pyhost_up")[1] == 1
