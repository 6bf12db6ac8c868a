"""`pyhost-agent run`: scheduling, /status, the status page, /healthz,
`pyhost-agent status`, and graceful shutdown on SIGINT/SIGTERM."""

import json
import signal
import time

from conftest import wait_until

GRABBY = """
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
"""

FAILING = """
    from pyhost import AgentCheck

    class Failing(AgentCheck):
        def check(self, instance):
            raise ValueError("no route to the database")
"""


def by_check(status):
    return {c["check"]: c for c in status["checks"]}


def test_run_serves_status_and_survives_broken_checks(run_agent, agent, layout):
    layout.check("grabby", GRABBY)
    layout.config("grabby.yaml", "instances:\n  - min_collection_interval: 0.2\n")
    layout.check("failing", FAILING)
    layout.config("failing.d/conf.yaml", "instances:\n  - min_collection_interval: 0.2\n")
    layout.config("broken.yaml", "instances:\n  - {a: [1}\n")
    layout.config("ghost.yaml", "instances: [{}]\n")
    running = run_agent(*layout.args())

    status = wait_until(
        "both checks to run twice",
        lambda: (
            (s := running.status())
            and len(s["checks"]) == 2
            and all(c["runs"] >= 2 for c in s["checks"])
            and s
        ),
    )
    checks = by_check(status)
    grabby, failing = checks["grabby"], checks["failing"]
    # A check cannot take SIGTERM from the agent: it is not on the main thread.
    assert any("main thread" in w for w in grabby["last_warnings"]), grabby
    assert grabby["state"] == "warning" and grabby["errors"] == 0
    assert failing["state"] == "error" and failing["errors"] >= 2
    assert failing["last_error"]["type"] == "ValueError"
    assert "no route to the database" in failing["last_error"]["traceback"]
    problems = {p["check"]: p for p in status["problems"]}
    assert problems["broken"]["file"].endswith("broken.yaml") and problems["broken"]["line"] >= 1
    assert "unknown check" in problems["ghost"]["message"]

    code, page = running.get("/")
    assert code == 200 and "<html" in page
    assert "no route to the database" in page and "broken.yaml" in page
    assert status["python"]["version"].split()[0] in page

    assert running.get("/healthz") == (200, "ok\n")

    proc = agent("status", "--listen", running.listen)
    assert proc.returncode == 0, proc.stderr
    assert "grabby" in proc.stdout and "ValueError" in proc.stdout
    proc = agent("status", "--json", "--listen", running.listen)
    assert json.loads(proc.stdout)["listen"] == running.listen

    assert running.stop(signal.SIGTERM) == 0
    log = running.log()
    assert "shutting down" in log and "stopped" in log


def test_sigint_with_a_run_in_flight_stops_within_the_deadline(run_agent, layout):
    layout.check(
        "slow",
        """
        import time
        from pyhost import AgentCheck

        class Slow(AgentCheck):
            def check(self, instance):
                while True:
                    time.sleep(0.01)
        """,
    )
    layout.config(
        "slow.yaml", "instances:\n  - min_collection_interval: 0.1\n    pyhost_run_timeout: 600\n"
    )
    running = run_agent(*layout.args(), "--shutdown-timeout", "500ms")
    wait_until("the run to start", lambda: by_check(running.status())["slow"]["state"] == "running")
    assert running.stop(signal.SIGINT, timeout=10) == 0
    assert "shutting down" in running.log()


def test_status_without_an_agent_exits_1(agent):
    proc = agent("status", "--listen", "127.0.0.1:1")
    assert proc.returncode == 1
    assert "no agent answering" in proc.stderr


def test_shutdown_timeout_zero_stops_within_a_second_even_with_a_stuck_run(run_agent, layout):
    # A run stuck in C (a long sleep) cannot be cancelled: the agent waits
    # shutdown_timeout (0), gives cancelled runs and the runtime one second
    # in all, and exits; it used to wait 10 s more in the runtime's Close.
    layout.check(
        "stuck",
        """
        import time
        from pyhost import AgentCheck

        class Stuck(AgentCheck):
            def check(self, instance):
                time.sleep(60)
        """,
    )
    layout.config(
        "stuck.yaml", "instances:\n  - min_collection_interval: 0.1\n    pyhost_run_timeout: 600\n"
    )
    running = run_agent(*layout.args(), "--shutdown-timeout", "0s")
    wait_until(
        "the run to start", lambda: by_check(running.status())["stuck"]["state"] == "running"
    )
    began = time.monotonic()
    running.stop(signal.SIGTERM, timeout=30)
    took = time.monotonic() - began
    # One second of grace, and room for a busy machine to start and end a
    # process; not the 10 s of a second wait.
    assert took < 4, f"stopping took {took:.1f} s"
    assert "shutting down" in running.log()
