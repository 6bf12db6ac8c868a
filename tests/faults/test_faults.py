"""The fault catalogue: one agent runs a check for every way a plugin can go
wrong, beside a healthy check, and each test asserts one fault's outcome (see
docs/reliability.md, which lists them). The last tests assert that the healthy
check lost no metric while all of this went on, and that the agent stopped on
time with status 0."""

import json
import signal
import subprocess
import textwrap
import time

import pytest
from conftest import AGENT, free_port, http_get, plain_env, wait_until

# How long the agent runs before the snapshot the tests look at.
WINDOW = 12

HEADER = """
import asyncio, logging, os, signal, socket, sys, threading, time
from pyhost import AgentCheck
"""

# name -> (check body, extra instance keys)
FAULTS = {
    "exception": ("raise ValueError('the database is unreachable')", {}),
    "sys_exit": ("sys.exit(3)", {}),
    "keyboard_interrupt": ("raise KeyboardInterrupt()", {}),
    "os_exit": ("os._exit(3)", {}),
    "os_abort": ("os.abort()", {}),
    "infinite_loop": ("while True:\n    pass", {"pyhost_run_timeout": 1}),
    "sleep_past_deadline": ("time.sleep(600)", {"pyhost_run_timeout": 1}),
    "socket_read": (
        "a, b = socket.socketpair()\nself._keep = (a, b)\na.recv(1)",
        {"pyhost_run_timeout": 1},
    ),
    "deep_recursion": ("def down(n):\n    return down(n + 1)\ndown(0)", {}),
    "memory_error": ("bytearray(1 << 62)", {}),
    "allocation_1gb": (
        "block = bytearray(1 << 30)\nself.gauge('fault.allocated', len(block))\ndel block",
        {"min_collection_interval": 4},
    ),
    "threads_after_return": (
        "def later():\n"
        "    time.sleep(0.2)\n"
        "    self.gauge('fault.late_thread', 1)\n"
        "threading.Thread(target=later, daemon=True).start()\n"
        "self.gauge('fault.returned', 1)",
        {},
    ),
    "foreign_thread": (
        "t = threading.Thread(target=lambda: self.gauge('fault.from_thread', 7))\n"
        "t.start()\n"
        "t.join()",
        {},
    ),
    "wrong_types": (
        "self.gauge('fault.wrong', 'not a number')\n"
        "self.gauge(12345, 1)\n"
        "self.gauge('fault.right', 1, tags=['ok', 8080])",
        {},
    ),
    "non_utf8": ("self.gauge('fault.bytes', 1, tags=[b'k:\\xff\\xfe'])", {}),
    "nan_inf": (
        "self.gauge('fault.nan', float('nan'))\n"
        "self.gauge('fault.inf', float('inf'))\n"
        "self.gauge('fault.finite', 1)",
        {},
    ),
    "tags_100k": (
        "self.gauge('fault.many_tags', 1, tags=[f't{i}:v' for i in range(100_000)])",
        {"min_collection_interval": 4},
    ),
    "name_10mb": (
        "self.gauge('n' * (10 * 1024 * 1024), 1)\nself.gauge('fault.after_huge', 1)",
        {"min_collection_interval": 4},
    ),
    "signal_handler": (
        "try:\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "except ValueError as e:\n"
        "    self.warning('signal: %s', e)",
        {},
    ),
    "asyncio_run": (
        "async def work():\n"
        "    await asyncio.sleep(0.01)\n"
        "    return 5\n"
        "self.gauge('fault.asyncio', asyncio.run(work()))",
        {},
    ),
    "fork": (
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(7)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "self.gauge('fault.fork_child_exit', os.waitstatus_to_exitcode(status))",
        {},
    ),
    "file_deleted": ("self.gauge('fault.still_loaded', 1)", {}),
}

HEALTHY = """
from pyhost import AgentCheck

class Healthy(AgentCheck):
    runs = 0

    def check(self, instance):
        Healthy.runs += 1
        self.gauge("faults.healthy.runs", Healthy.runs)
        for i in range(20):
            self.gauge("faults.healthy.series", i, tags=[f"n:{i}"])
"""


def check_source(name, body):
    cls = "Fault" + "".join(part.title() for part in name.split("_"))
    return (
        HEADER
        + textwrap.dedent(
            f"""
        class {cls}(AgentCheck):
            def check(self, instance):
        """
        )
        + textwrap.indent(body, " " * 8)
        + "\n"
    )


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """Runs the agent with every fault for WINDOW seconds; returns what it
    showed then, and how it stopped."""
    root = tmp_path_factory.mktemp("faults")
    checks, conf = root / "checks.d", root / "conf.d"
    checks.mkdir()
    conf.mkdir()
    for name, (body, extra) in FAULTS.items():
        (checks / f"{name}.py").write_text(check_source(name, body))
        instance = {"min_collection_interval": 1, **extra}
        (conf / f"{name}.yaml").write_text(json.dumps({"instances": [instance]}))
    (checks / "healthy.py").write_text(HEALTHY)
    (conf / "healthy.yaml").write_text("instances:\n  - min_collection_interval: 1\n")
    (checks / "syntax_error.py").write_text("from pyhost import AgentCheck\nclass X(AgentCheck)\n")
    (conf / "syntax_error.yaml").write_text("instances: [{}]\n")
    (checks / "import_error.py").write_text("import no_such_module_anywhere_at_all\n")
    (conf / "import_error.yaml").write_text("instances: [{}]\n")
    (conf / "bad_yaml.yaml").write_text("instances:\n  - {a: [1}\n")
    (conf / "wrong_shape.yaml").write_text("instances:\n  a: 1\n")
    listen = f"127.0.0.1:{free_port()}"
    (root / "pyhost.yaml").write_text(
        textwrap.dedent(
            f"""\
            listen: {listen}
            checks_dir: checks.d
            conf_dir: conf.d
            run_dir: run
            check_runners: 8
            default_timeout: 5s
            cancel_grace: 5s
            shutdown_timeout: 1s
            """
        )
    )
    log_path = root / "agent.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(AGENT), "run", "--config", str(root / "pyhost.yaml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=plain_env(),
            cwd=root,
        )
    try:
        base = f"http://{listen}"
        wait_until(
            "the agent to answer",
            lambda: proc.poll() is not None or http_get(base + "/healthz")[0] == 200,
        )
        assert proc.poll() is None, log_path.read_text()
        started = time.monotonic()
        # A check file deleted while loaded.
        (checks / "file_deleted.py").unlink()
        time.sleep(max(0, WINDOW - (time.monotonic() - started)))
        # The run counts in /status are as of the request: the window the
        # tests compare them with ends when it is sent, not after /metrics.
        elapsed = time.monotonic() - started
        code, body = http_get(base + "/status")
        assert code == 200, body
        status = json.loads(body)
        _, metrics = http_get(base + "/metrics", timeout=30)
        proc.send_signal(signal.SIGTERM)
        began = time.monotonic()
        exit_code = proc.wait(timeout=60)
        stop_seconds = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {
        "status": status,
        "checks": {c["check"]: c for c in status["checks"]},
        "problems": {p["check"]: p for p in status["problems"]},
        "metrics": metrics,
        "elapsed": elapsed,
        "exit_code": exit_code,
        "stop_seconds": stop_seconds,
        "log": log_path.read_text(),
    }


def failed_with(faults, name, type_name):
    # Its runs fail (the snapshot may catch one running: "running").
    check = faults["checks"][name]
    assert check["state"] in ("error", "running"), check
    assert check["errors"] == check["runs"] >= 2, check
    assert check["last_error"]["type"] == type_name, check["last_error"]
    return check


def warned(faults, name):
    # Its runs warn and do not fail. On a busy machine one may pass its
    # deadline still waiting for the GIL the other faults hold (a 1 GiB
    # allocation, a 10 MB name): that is a timeout, not this check's failure.
    check = faults["checks"][name]
    assert check["state"] in ("warning", "running"), json.dumps(check)
    assert check["runs"] > check["timeouts"] == check["errors"], json.dumps(check)
    return " ".join(check["last_warnings"])


def assert_kept_running(check, elapsed):
    """A 1 s check ran again and again through the window, and each of its
    ticks is accounted for: it ran, or it was skipped (counted) because its
    previous run was still going. How many ticks run depends on how long
    the faults hold the GIL on a busy machine; that none is lost does not."""
    assert check["runs"] >= 3, check
    assert check["runs"] + check["skipped"] >= elapsed / 2, check


def series(faults, name):
    return [line for line in faults["metrics"].splitlines() if line.startswith(name)]


def values(faults, name):
    return [float(line.rsplit(" ", 1)[1]) for line in series(faults, name)]


def test_exception(faults):
    check = failed_with(faults, "exception", "ValueError")
    assert "the database is unreachable" in check["last_error"]["traceback"]


def test_syntax_error(faults):
    assert "SyntaxError" in faults["problems"]["syntax_error"]["message"]


def test_import_error(faults):
    assert "ModuleNotFoundError" in faults["problems"]["import_error"]["message"]


def test_sys_exit(faults):
    failed_with(faults, "sys_exit", "SystemExit")


def test_keyboard_interrupt(faults):
    failed_with(faults, "keyboard_interrupt", "KeyboardInterrupt")


@pytest.mark.parametrize("name", ["os_exit", "os_abort"])
def test_process_ending_calls_raise_in_the_check(faults, name):
    check = failed_with(faults, name, "pyhost.ProcessExitRefused")
    assert "would end the pyhost agent's process" in check["last_error"]["message"]


def test_infinite_loop_is_stopped_at_its_deadline(faults):
    check = faults["checks"]["infinite_loop"]
    assert check["state"] in ("timeout", "running"), check
    # Stopped at a line of its own, each time: never abandoned.
    assert check["timeouts"] >= 2 and check["abandoned"] == 0, check
    assert check["last_error"]["type"] == "timeout"


@pytest.mark.parametrize("name", ["sleep_past_deadline", "socket_read"])
def test_runs_blocked_in_c_are_abandoned(faults, name):
    check = faults["checks"][name]
    assert check["state"] == "stuck", check
    assert check["abandoned"] == 1, check
    # No run of it returned on its own. On a busy machine its first run may
    # pass its 1 s deadline still waiting for the GIL (the other faults hold
    # it at start): stopped before it reached Python, it counts as a run
    # that timed out, and the next one blocks in C.
    assert check["runs"] == check["timeouts"] == check["errors"] <= 1, check
    assert f'pyhost_check_stuck{{check="{name}"' in faults["metrics"]


def test_deep_recursion(faults):
    failed_with(faults, "deep_recursion", "RecursionError")


def test_memory_error(faults):
    failed_with(faults, "memory_error", "MemoryError")


def test_allocation_1gb(faults):
    check = faults["checks"]["allocation_1gb"]
    assert check["state"] in ("ok", "running") and check["errors"] == 0, check
    assert values(faults, "fault_allocated") == [1 << 30]


def test_threads_left_running_submit_into_their_own_check(faults, agent, tmp_path):
    check = faults["checks"]["threads_after_return"]
    assert check["errors"] == 0 and check["runs"] >= 2, check
    assert series(faults, "fault_late_thread")
    # Run by itself, run after run: what the thread it left running submits
    # after a run returned arrives with the check's own next run.
    (tmp_path / "checks.d").mkdir()
    (tmp_path / "conf.d").mkdir()
    body, _ = FAULTS["threads_after_return"]
    (tmp_path / "checks.d" / "late.py").write_text(check_source("late", body))
    (tmp_path / "conf.d" / "late.yaml").write_text("instances: [{}]\n")
    proc = agent(
        "check",
        "late",
        "--json",
        "--times",
        "2",
        "--pause",
        "500ms",
        "--checks-dir",
        str(tmp_path / "checks.d"),
        "--conf-dir",
        str(tmp_path / "conf.d"),
    )
    assert proc.returncode == 0, proc.stderr
    names = [m["name"] for m in json.loads(proc.stdout)["metrics"]]
    assert "fault.late_thread" in names, names


def test_submissions_from_a_thread_during_the_run(faults):
    assert values(faults, "fault_from_thread") == [7]


def test_wrong_types_are_warnings(faults):
    text = warned(faults, "wrong_types")
    assert "non-numeric value" in text and "is not a string" in text and "8080" in text
    assert series(faults, "fault_right")


def test_non_utf8_bytes_are_replaced(faults):
    lines = series(faults, "fault_bytes")
    assert lines and "\ufffd" in lines[0], lines


def test_nan_and_inf_are_dropped_with_a_warning(faults):
    assert "non-finite value nan" in warned(faults, "nan_inf")
    assert not series(faults, "fault_nan") and not series(faults, "fault_inf")
    assert series(faults, "fault_finite")


def test_100k_tags_are_kept(faults):
    check = faults["checks"]["tags_100k"]
    assert check["errors"] == 0, check
    lines = series(faults, "fault_many_tags")
    assert lines and 't99999="v"' in lines[0]


def test_a_10mb_metric_name_is_refused(faults):
    text = warned(faults, "name_10mb")
    assert "more than the 4096" in text and len(text) < 10_000, text[:300]
    assert series(faults, "fault_after_huge")


def test_bad_yaml_is_a_problem_with_its_line(faults):
    problem = faults["problems"]["bad_yaml"]
    assert problem["file"].endswith("bad_yaml.yaml") and problem["line"] >= 1


def test_a_config_of_the_wrong_shape_is_a_problem(faults):
    problem = faults["problems"]["wrong_shape"]
    assert "instances" in problem["message"], problem


def test_a_check_file_deleted_while_loaded_keeps_running(faults):
    check = faults["checks"]["file_deleted"]
    assert check["state"] in ("ok", "running") and check["errors"] == 0, check
    assert_kept_running(check, faults["elapsed"])


def test_signal_handlers_stay_the_agents(faults):
    check = faults["checks"]["signal_handler"]
    assert any("main thread" in w for w in check["last_warnings"]), check


def test_asyncio_run(faults):
    assert values(faults, "fault_asyncio") == [5]


def test_fork(faults):
    # The child ran os._exit(7): allowed outside the agent's own process.
    assert values(faults, "fault_fork_child_exit") == [7]


def test_the_healthy_check_lost_nothing(faults):
    healthy = faults["checks"]["healthy"]
    assert healthy["errors"] == 0 and healthy["state"] in ("ok", "running"), healthy
    # The faults compete for the GIL (an endless loop, a 1 GB allocation):
    # the healthy check's runs may be slow, but it keeps running...
    assert_kept_running(healthy, faults["elapsed"])
    runs = series(faults, "faults_healthy_runs")
    assert runs, faults["metrics"][:2000]
    exported = float(runs[0].rsplit(" ", 1)[1])
    # ...and every run's submissions arrived: the exported gauge is the
    # latest run's count.
    assert exported >= healthy["runs"] - 1, (exported, healthy["runs"])
    assert len(series(faults, "faults_healthy_series")) == 20


def test_the_agent_stopped_on_time_with_status_0(faults):
    assert faults["exit_code"] == 0, faults["log"][-3000:]
    # shutdown_timeout (1 s) plus one second, and room for a busy machine.
    assert faults["stop_seconds"] < 4, faults["stop_seconds"]
    assert "stopped" in faults["log"]
