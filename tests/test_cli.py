"""`pyhost-agent check`, `version` and the exit statuses, on the example
checks and on broken ones."""

import json
import os
import subprocess
import sys

from conftest import BUNDLED_CONFIG, EXAMPLES

BUNDLED = ("--config", str(BUNDLED_CONFIG))


def report(proc):
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def series(rep, name):
    found = [m for m in rep["metrics"] if m["name"] == name]
    assert found, f"{name} not in {sorted({m['name'] for m in rep['metrics']})}"
    return found


def test_check_json_on_the_example_checks(agent):
    proc = agent("check", "memory", "--json", "--config", str(BUNDLED_CONFIG))
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert set(rep) >= {"check", "metrics", "service_checks", "events", "warnings", "errors"}
    assert rep["check"] == "memory" and rep["errors"] == [] and rep["runs"] == 1
    with open("/proc/meminfo") as f:
        meminfo = {line.split(":")[0]: int(line.split()[1]) for line in f}
    total = series(rep, "system.mem.total")[0]
    assert set(total) == {"name", "type", "value", "tags", "hostname"}
    assert total["type"] == "gauge"
    assert abs(total["value"] - meminfo["MemTotal"] / 1024) < 1
    # A rate needs two samples: one run shows none.
    assert not [m for m in rep["metrics"] if m["name"] == "system.swap.swapped_in"]

    proc = agent("check", "load", "--json", "--config", str(BUNDLED_CONFIG))
    assert proc.returncode == 0, proc.stderr
    assert "team:infra" in series(report(proc), "system.load.1")[0]["tags"]

    proc = agent("check", "disk", "--json", "--config", str(BUNDLED_CONFIG))
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    st = os.statvfs("/")
    root = [m for m in series(rep, "system.disk.total") if "device_path:/" in m["tags"]][0]
    assert root["value"] == st.f_blocks * st.f_frsize / 1024
    assert rep["service_checks"] and all(sc["status"] == 0 for sc in rep["service_checks"])


def test_check_times_two_makes_rates_appear(agent):
    proc = agent("check", "memory", "--json", "--times", "2", "--pause", "200ms", *BUNDLED)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["runs"] == 2
    swapped_in = series(rep, "system.swap.swapped_in")[0]
    assert swapped_in["type"] == "gauge"  # a rate is flushed as a per-second gauge
    assert swapped_in["value"] >= 0


def test_check_raw_lists_submissions_with_their_types(agent):
    proc = agent("check", "memory", "--json", "--raw", "--config", str(BUNDLED_CONFIG))
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert series(rep, "system.swap.swapped_in")[0]["type"] == "rate"


def test_check_table_output(agent):
    proc = agent("check", "load", "--config", str(BUNDLED_CONFIG))
    assert proc.returncode == 0, proc.stderr
    assert "=== load: 1 instance(s), 1 run(s) ===" in proc.stdout
    assert "system.load.1" in proc.stdout and "team:infra" in proc.stdout


GOOD = """
    from pyhost import AgentCheck

    class Good(AgentCheck):
        def check(self, instance):
            self.gauge("good.value", instance["v"], tags=["k:v"])
"""


def test_check_that_raises_exits_1_with_the_traceback(agent, layout):
    layout.check(
        "raises",
        """
        from pyhost import AgentCheck

        class Raises(AgentCheck):
            def check(self, instance):
                self.gauge("raises.before", 1)
                {}["missing"]
        """,
    )
    layout.config("raises.yaml", "instances: [{}]\n")
    proc = agent("check", "raises", "--json", *layout.args())
    assert proc.returncode == 1, proc.stderr
    rep = report(proc)
    [err] = rep["errors"]
    assert err["type"] == "KeyError"
    assert '{}["missing"]' in err["traceback"]
    assert [m["name"] for m in rep["metrics"]] == ["raises.before"]


def test_check_with_a_syntax_error_exits_1(agent, layout):
    layout.check("broken", "def oops(:\n    pass\n")
    layout.config("broken.d/conf.yaml", "instances: [{}]\n")
    proc = agent("check", "broken", "--json", *layout.args())
    assert proc.returncode == 1
    assert report(proc)["errors"][0]["type"] == "SyntaxError"


def test_configuration_errors_exit_2_with_file_and_line(agent, layout):
    layout.check("good", GOOD)
    conf = layout.config("good.yaml", "init_config:\ninstances:\n  - v: 1\n  - [not, a, mapping]\n")
    proc = agent("check", "good", "--json", *layout.args())
    assert proc.returncode == 2
    rep = report(proc)
    assert [m["value"] for m in rep["metrics"]] == [1]  # the valid instance still ran
    assert f"{conf}:4:" in proc.stderr

    conf = layout.config("good.yaml", "init_config:\ninstances:\n  - v: [1\n")
    proc = agent("check", "good", "--json", *layout.args())
    assert proc.returncode == 2
    assert f"{conf}:" in proc.stderr

    layout.config("good.yaml", "instances:\n  - v: 1\n    min_collection_interval: -5\n")
    proc = agent("check", "good", *layout.args())
    assert proc.returncode == 2
    assert "min_collection_interval" in proc.stderr

    proc = agent("check", "nosuch", "--json", *layout.args())
    assert proc.returncode == 2
    assert "nosuch" in proc.stderr


def test_usage_errors_exit_2(agent):
    assert agent().returncode == 2
    assert agent("frobnicate").returncode == 2
    assert agent("check").returncode == 2
    assert agent("check", "load", "--times", "0").returncode == 2
    proc = agent("run", "--config", "/nonexistent/pyhost.yaml")
    assert proc.returncode == 2 and "/nonexistent/pyhost.yaml" in proc.stderr


def test_version_names_the_embedded_python(agent):
    proc = agent("version", "--json")
    assert proc.returncode == 0, proc.stderr
    v = json.loads(proc.stdout)
    # No Python named anywhere: the venv make recorded at build time.
    assert v["python"]["executable"] == os.environ["PYHOST_EXPECT_EXECUTABLE"]
    assert v["python"]["version"] == os.environ["PYHOST_EXPECT_VERSION"]
    assert v["pyhost"] and v["go"].startswith("go")
    text = agent("version").stdout
    assert os.environ["PYHOST_EXPECT_VERSION"] in text and "pyhost" in text


def test_missing_engine_is_a_clear_error(agent):
    proc = agent("check", "load", *BUNDLED, env={"PYHOST_ENGINE": "/nonexistent/engine.so"})
    assert proc.returncode == 2
    assert "cannot load the pyhost engine" in proc.stderr
    assert "/nonexistent/engine.so" in proc.stderr


def test_a_python_that_does_not_exist_is_a_clear_error(agent):
    # CPython would start as it, with no prefix of its own: no venv, no
    # datadog_checks. The agent refuses it instead.
    # (version reports what it could find and exits 1; check exits 2.)
    for command, status in ((("version",), 1), (("check", "memory", *BUNDLED), 2)):
        proc = agent(*command, "--python", "/nonexistent/bin/python3")
        assert proc.returncode == status, (command, proc.stdout, proc.stderr)
        assert "/nonexistent/bin/python3, does not exist" in proc.stderr, proc.stderr


def test_example_configs_are_the_bundled_ones():
    # make run's configuration points at the example checks.
    text = BUNDLED_CONFIG.read_text()
    assert "python-sdk/examples/checks.d" in text and "python-sdk/examples/conf.d" in text
    assert (EXAMPLES / "checks.d" / "load.py").exists()


def test_the_sdk_travels_with_the_engine(agent):
    # A Python with no pyhost SDK installed: the checks still import it,
    # from the engine.
    base = getattr(sys, "_base_executable", None) or sys.executable
    has_sdk = subprocess.run([base, "-c", "import pyhost"], capture_output=True)
    assert has_sdk.returncode != 0, f"{base} has the SDK installed; the test needs one without"
    proc = agent("check", "memory", "--json", *BUNDLED, "--python", base)
    assert proc.returncode == 0, proc.stderr
    assert series(report(proc), "system.mem.total")
    info = json.loads(agent("version", "--json", "--python", base).stdout)
    assert info["python"]["executable"] == base


def test_check_json_and_its_log_mask_secrets(agent, layout):
    layout.check(
        "leaky",
        """
        from pyhost import AgentCheck

        class Leaky(AgentCheck):
            def check(self, instance):
                self.log.warning("token is %s", instance["api_key"])
                self.warning("retrying with %s", instance["api_key"])
                raise ConnectionError("refused key " + instance["api_key"])
        """,
    )
    layout.config("leaky.yaml", "instances:\n  - api_key: 0123456789abcdef\n")
    proc = agent("check", "leaky", "--json", *layout.args())
    assert proc.returncode == 1, proc.stderr
    assert "0123456789abcdef" not in proc.stdout + proc.stderr
    rep = report(proc)
    assert rep["errors"][0]["message"] == "refused key ********"
    assert rep["warnings"] == ["retrying with ********"]
    assert "token is ********" in proc.stderr


def test_a_remote_listen_address_needs_a_flag(agent):
    proc = agent("run", "--listen", "0.0.0.0:0")
    assert proc.returncode == 2 and "http_remote" in proc.stderr, proc.stderr


def test_an_insecure_config_file_is_refused(agent, layout):
    layout.check(
        "ok", "from pyhost import AgentCheck\nclass Ok(AgentCheck):\n    def check(self, i): pass\n"
    )
    path = layout.config("ok.yaml", "instances: [{}]\n")
    path.chmod(0o666)
    proc = agent("check", "ok", "--json", *layout.args())
    assert proc.returncode == 2 and "writable by" in proc.stdout + proc.stderr
    proc = agent("check", "ok", "--json", "--allow-insecure-files", *layout.args())
    assert proc.returncode == 0, proc.stderr
