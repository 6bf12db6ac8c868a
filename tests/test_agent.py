import json
import os
import signal
import subprocess
import textwrap
import time

from conftest import AGENT, EXAMPLES, ROOT


def results(stdout):
    return {line["check"]: line for line in map(json.loads, stdout.splitlines()) if line}


def metric(result, name):
    found = [m for m in result["metrics"] if m["name"] == name]
    assert found, f"{name} not in {[m['name'] for m in result['metrics']]}"
    return found


def test_example_checks_run_end_to_end(agent):
    proc = agent(
        "-once",
        "-json",
        "-checks-dir",
        str(EXAMPLES / "checks.d"),
        "-conf-dir",
        str(EXAMPLES / "conf.d"),
    )
    assert proc.returncode == 0, proc.stderr
    out = results(proc.stdout)
    assert set(out) == {"disk", "load", "memory"}

    with open("/proc/meminfo") as f:
        meminfo = {line.split(":")[0]: int(line.split()[1]) for line in f}
    total = metric(out["memory"], "system.mem.total")[0]
    assert total["type"] == "gauge"
    assert abs(total["value"] - meminfo["MemTotal"] / 1024) < 1
    swapped_in = metric(out["memory"], "system.swap.swapped_in")[0]
    assert swapped_in["type"] == "rate"

    load1 = metric(out["load"], "system.load.1")[0]
    assert "team:infra" in load1["tags"]
    with open("/proc/loadavg") as f:
        assert abs(load1["value"] - float(f.read().split()[0])) < 5

    st = os.statvfs("/")
    disk_total = [
        m for m in metric(out["disk"], "system.disk.total") if "device_path:/" in m["tags"]
    ][0]
    assert disk_total["value"] == st.f_blocks * st.f_frsize / 1024
    assert all(sc["status"] == 0 for sc in out["disk"]["service_checks"])


def test_embedded_python_is_the_venv_one(agent):
    proc = agent(
        "-once",
        "-json",
        "-checks-dir",
        str(EXAMPLES / "checks.d"),
        "-conf-dir",
        str(EXAMPLES / "conf.d"),
    )
    assert f"executable={os.environ['PYHOST_PYTHON']}" in proc.stderr
    assert f"version={os.environ['PYHOST_EXPECT_VERSION']}" in proc.stderr


def write_check(directory, name, body, conf="init_config: {}\ninstances: [{}]\n"):
    (directory / "checks.d").mkdir(exist_ok=True)
    (directory / "conf.d").mkdir(exist_ok=True)
    (directory / "checks.d" / f"{name}.py").write_text(textwrap.dedent(body))
    if conf is not None:
        (directory / "conf.d" / f"{name}.yaml").write_text(conf)


GOOD = """
    from pyhost import AgentCheck

    class GoodCheck(AgentCheck):
        def check(self, instance):
            self.gauge("good.value", instance.get("v", 1), tags=["k:v"])
"""


def test_broken_checks_are_reported_and_the_rest_keep_running(agent, tmp_path):
    write_check(tmp_path, "good", GOOD, conf="init_config:\ninstances:\n  - v: 5\n  - v: 6\n")
    write_check(
        tmp_path,
        "raises",
        """
        from pyhost import AgentCheck

        class Raises(AgentCheck):
            def check(self, instance):
                self.gauge("raises.before", 1)
                {}["missing"]
        """,
    )
    write_check(tmp_path, "broken", "def oops(:\n    pass\n")
    write_check(tmp_path, "noconf", GOOD, conf=None)
    write_check(tmp_path, "badyaml", GOOD, conf="instances: [unclosed\n")
    proc = agent(
        "-once",
        "-json",
        "-checks-dir",
        str(tmp_path / "checks.d"),
        "-conf-dir",
        str(tmp_path / "conf.d"),
    )
    assert proc.returncode == 1
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    good = [o for o in out if o["check"] == "good"]
    assert sorted(m["value"] for o in good for m in o["metrics"]) == [5, 6]
    raises = [o for o in out if o["check"] == "raises"][0]
    assert raises["error"]["type"] == "KeyError"
    assert '{}["missing"]' in raises["error"]["traceback"]
    assert [m["name"] for m in raises["metrics"]] == ["raises.before"]
    assert "SyntaxError" in proc.stderr and "broken" in proc.stderr
    assert "no configuration for noconf" in proc.stderr
    assert "badyaml" in proc.stderr


def test_missing_engine_is_a_clear_error(agent):
    proc = agent(
        "-once",
        "-checks-dir",
        str(EXAMPLES / "checks.d"),
        env={"PYHOST_ENGINE": "/nonexistent/engine.so"},
    )
    assert proc.returncode == 2
    assert "Python is unavailable" in proc.stderr or "cannot load the pyhost engine" in proc.stderr
    assert "/nonexistent/engine.so" in proc.stderr


def test_sigterm_stops_the_agent_even_after_a_check_touched_signals(tmp_path):
    write_check(
        tmp_path,
        "grabby",
        """
        import asyncio
        import signal

        from pyhost import AgentCheck

        class Grabby(AgentCheck):
            def check(self, instance):
                try:
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                except ValueError as e:
                    self.warning("signal: %s", e)
                loop = asyncio.new_event_loop()
                try:
                    loop.add_signal_handler(signal.SIGTERM, lambda: None)
                except (ValueError, RuntimeError) as e:
                    self.warning("asyncio: %s", e)
                finally:
                    loop.close()
                self.gauge("grabby.ran", 1)
        """,
    )
    proc = subprocess.Popen(
        [
            str(AGENT),
            "-json",
            "-interval",
            "200ms",
            "-checks-dir",
            str(tmp_path / "checks.d"),
            "-conf-dir",
            str(tmp_path / "conf.d"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        first = json.loads(proc.stdout.readline())
        assert [m["name"] for m in first["metrics"]] == ["grabby.ran"]
        assert any("main thread" in w for w in first["warnings"]), first["warnings"]
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "stopping" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
