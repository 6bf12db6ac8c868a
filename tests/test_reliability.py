"""The reliability scenarios, from a plain shell: checks that hang cannot take
the runners, stopping checks that log cannot wedge logging, and the agent
stops on time with status 0 even with runs stuck in C."""

import signal
import subprocess
import time

from conftest import AGENT, free_port, plain_env, wait_until

SLEEPER = """
    import time
    from pyhost import AgentCheck

    class Sleeper(AgentCheck):
        def check(self, instance):
            time.sleep(30)
"""

HEALTHY = """
    import logging
    from pyhost import AgentCheck

    class Healthy(AgentCheck):
        def check(self, instance):
            logging.getLogger("shared").info("healthy run")
            self.gauge("reliability.healthy", 1)
"""

LOGGER = """
    import logging
    from pyhost import AgentCheck

    class Logger(AgentCheck):
        def check(self, instance):
            log = logging.getLogger("shared")
            while True:
                log.info("looping")
                try:
                    sum(range(100))
                except Exception:
                    pass
"""


def by_check(status):
    out = {}
    for c in status["checks"]:
        out.setdefault(c["check"], []).append(c)
    return out


def test_stuck_checks_cannot_take_the_runners(run_agent, layout):
    layout.check("sleeper", SLEEPER)
    sleepers = "".join(
        f"  - pyhost_run_timeout: 1\n    min_collection_interval: 1\n    n: {i}\n" for i in range(6)
    )
    layout.config("sleeper.yaml", "instances:\n" + sleepers)
    layout.check("healthy", HEALTHY)
    layout.config("healthy.yaml", "instances:\n  - min_collection_interval: 1\n")
    # The default 4 runners; runs stuck past their deadline for 2 s are abandoned.
    running = run_agent(*layout.args(), "--shutdown-timeout", "2s")
    begin = time.monotonic()
    status = wait_until(
        "every sleeper stuck and 8 healthy runs",
        lambda: (
            (s := running.status())
            and all(c["state"] == "stuck" for c in by_check(s).get("sleeper", []))
            and by_check(s)["healthy"][0]["runs"] >= 8
            and s
        ),
        timeout=60,
    )
    elapsed = time.monotonic() - begin
    healthy = by_check(status)["healthy"][0]
    # Every tick, but perhaps the first while all four runners slept.
    assert healthy["skipped"] <= 1 and healthy["errors"] == 0, healthy
    assert healthy["runs"] >= elapsed - 3, (healthy, elapsed)
    assert status["stuck_runs"] == 6
    assert all(c["abandoned"] == 1 for c in by_check(status)["sleeper"])
    code, page = running.get("/")
    assert code == 200 and "stuck" in page
    _, metrics = running.get("/metrics")
    assert "pyhost_stuck_runs 6" in metrics
    # SIGTERM: shutdown_timeout (2 s) plus one second, status 0.
    began = time.monotonic()
    assert running.stop(signal.SIGTERM) == 0, running.log()
    took = time.monotonic() - began
    assert took < 5, f"stopping took {took:.1f} s"
    assert "abandoned" in running.log()


def test_stopping_checks_that_log_leaves_logging_working(run_agent, layout):
    layout.check("logger", LOGGER)
    layout.config(
        "logger.yaml",
        "instances:\n"
        "  - pyhost_run_timeout: 1\n    min_collection_interval: 1\n    n: 1\n"
        "  - pyhost_run_timeout: 1\n    min_collection_interval: 1\n    n: 2\n",
    )
    layout.check("healthy", HEALTHY)
    layout.config("healthy.yaml", "instances:\n  - min_collection_interval: 1\n")
    running = run_agent(*layout.args())
    status = wait_until(
        "the loggers stopped again and again, the healthy check still running",
        lambda: (
            (s := running.status()) and all(c["timeouts"] >= 5 for c in by_check(s)["logger"]) and s
        ),
        timeout=60,
    )
    healthy = by_check(status)["healthy"][0]
    loggers = by_check(status)["logger"]
    assert healthy["errors"] == 0 and healthy["runs"] >= 5, healthy
    # Every stop landed at a line of the check's own: none was abandoned.
    assert all(c["abandoned"] == 0 for c in loggers), loggers
    # Logging still works for everyone: the healthy check's next runs log.
    runs = healthy["runs"]
    wait_until(
        "two more healthy runs",
        lambda: by_check(running.status())["healthy"][0]["runs"] >= runs + 2,
    )
    assert running.stop(signal.SIGTERM) == 0


def test_a_signal_while_a_check_loads_forever_stops_the_agent(layout, tmp_path):
    # A check whose import never returns holds up the start (checks load
    # before the agent runs); nothing can interrupt it, but SIGTERM still
    # ends the agent after shutdown_timeout, and says why.
    layout.check("stuck_import", "import time\n\ntime.sleep(1000)\n")
    layout.config("stuck_import.yaml", "instances:\n  - {}\n")
    config = tmp_path / "pyhost.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\nshutdown_timeout: 1s\n")
    proc = subprocess.Popen(
        [str(AGENT), "run", "--config", str(config), *layout.args()]
        + ["--listen", f"127.0.0.1:{free_port()}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=plain_env(),
        cwd=tmp_path,
    )
    try:
        time.sleep(2)  # well into the check's import (or not yet: the signal ends it either way)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, out
    assert "stopped while starting: a check being loaded" in out, out
