"""Long-running modules in the built agent: lifecycle, health from the checks'
status, the HTTP API with its token, the CLI, and the store across a restart."""

import json
import os
import re
import shutil
import stat
import textwrap
import time
import urllib.error
import urllib.request

from conftest import EXAMPLES, wait_until

MODULES = {
    "crashing": """
        import pyhost

        class Module(pyhost.Module):
            def serve(self):
                raise ConnectionError("the upstream went away")
    """,
    "needs_lib": """
        import pyhost

        class Module(pyhost.Module):
            @staticmethod
            def can_run():
                return False, "the foo library is not installed"
    """,
    "strict": """
        import pyhost

        class Module(pyhost.Module):
            MODULE_OPTIONS = [pyhost.Option("port", type="int", min=1, max=65535, default=80)]
    """,
    "loud": """
        import enum

        import pyhost

        class Level(enum.IntEnum):
            LOW = 1
            HIGH = 2

        class Module(pyhost.Module):
            def serve(self):
                self.log.info("loud serving")
                self.wait_for_shutdown()

            def shutdown(self):
                self.log.info("loud stopping")
                super().shutdown()

            @pyhost.command
            def explode(self, how: str = "runtime") -> None:
                if how == "value":
                    raise ValueError("how must be something else")
                raise RuntimeError("it blew up")

            @pyhost.command
            def volume(self, level: Level) -> str:
                return level.name
    """,
}

FAILING_CHECK = """
    from pyhost import AgentCheck

    class Failing(AgentCheck):
        def check(self, instance):
            raise RuntimeError("disk on fire")
"""


def write_config(tmp_path, run_dir):
    modules_d = tmp_path / "modules.d"
    modules_d.mkdir(exist_ok=True)
    for name in ("check_health", "notes"):
        shutil.copy(EXAMPLES / "modules.d" / f"{name}.py", modules_d / f"{name}.py")
    for name, body in MODULES.items():
        (modules_d / f"{name}.py").write_text(textwrap.dedent(body))
    checks_d = tmp_path / "checks.d"
    conf_d = tmp_path / "conf.d"
    for d in (checks_d, conf_d):
        d.mkdir(exist_ok=True)
    (checks_d / "failing.py").write_text(textwrap.dedent(FAILING_CHECK))
    (conf_d / "failing.yaml").write_text(
        "init_config:\ninstances:\n  - min_collection_interval: 1\n"
    )
    config = tmp_path / "pyhost.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            checks_dir: {checks_d}
            conf_dir: {conf_d}
            run_dir: {run_dir}
            modules_dir: {modules_d}
            module_backoff: 20ms
            shutdown_timeout: 5s
            modules:
              - name: check_health
                options: {{error_after: 1}}
              - notes
              - crashing
              - needs_lib
              - name: strict
                options: {{port: 70000}}
              - loud
            """
        )
    )
    return config


def post(agent, path, body=None, token=None):
    req = urllib.request.Request(
        agent.url(path), data=json.dumps(body or {}).encode(), method="POST"
    )
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode()


def modules_by_name(agent):
    code, body = agent.get("/api/modules")
    assert code == 200, body
    return {m["name"]: m for m in json.loads(body)["modules"]}


def test_modules_in_the_agent(run_agent, agent, tmp_path):
    run_dir = tmp_path / "run"
    config = write_config(tmp_path, run_dir)
    a = run_agent("--config", str(config))

    # Modules load in the background, in order, once the agent answers.
    mods = wait_until(
        "every module loaded and the crashing one failed",
        lambda: (
            (m := modules_by_name(a)).get("crashing", {}).get("state") == "failed"
            and all(x["state"] != "loading" for x in m.values())
            and m
        ),
    )
    assert mods["check_health"]["state"] == "running"
    assert mods["notes"]["state"] == "running"
    assert mods["loud"]["state"] == "running"
    assert mods["needs_lib"]["state"] == "disabled: the foo library is not installed"
    assert mods["strict"]["state"] == "failed"
    assert "option port" in mods["strict"]["reason"] and "maximum" in mods["strict"]["reason"]
    crashing = mods["crashing"]
    assert crashing["restarts"] == 4
    assert "ConnectionError: the upstream went away" in crashing["reason"]
    assert 'raise ConnectionError("the upstream went away")' in crashing["traceback"]
    notes = mods["notes"]
    assert {o["name"]: o["value"] for o in notes["options"]} == {
        "sweep_interval": 60,
        "max_notes": 100,
    }
    add = next(c for c in notes["commands"] if c["name"] == "add")
    assert add["arguments"][2] == {
        "name": "ttl",
        "type": "int",
        "required": False,
        "nullable": True,
    }
    assert add["help"].startswith("Adds (or replaces)")

    # The failing check's status reaches check_health as published state.
    def failing_health():
        code, body = a.get("/api/health")
        checks = json.loads(body)["checks"]
        return [c for c in checks if c["code"] == "CHECKS_FAILING"]

    (health,) = wait_until("CHECKS_FAILING", failing_health)
    assert health["module"] == "check_health" and health["severity"] == "error"
    assert "disk on fire" in health["detail"][0]
    _, metrics = a.get("/metrics")
    assert (
        'pyhost_health_check{code="CHECKS_FAILING",module="check_health",severity="error"} 1'
        in metrics
    )
    assert 'pyhost_module_state{module="crashing",state="failed"} 1' in metrics
    assert 'pyhost_module_state{module="needs_lib",state="disabled"} 1' in metrics
    # What each module costs: the notes module's construction kept memory.
    retained = re.search(r'^pyhost_module_retained_bytes\{module="notes"\} (\S+)$', metrics, re.M)
    assert retained and float(retained.group(1)) > 0, metrics[-3000:]
    assert re.search(r'^pyhost_module_cpu_seconds_total\{module="notes"\} ', metrics, re.M)
    assert notes["cost"]["calls"] >= 1 and notes["cost"]["in_flight"] >= 1, notes["cost"]
    _, page = a.get("/")
    assert "CHECKS_FAILING" in page and "disabled: the foo library is not installed" in page
    status = a.status()
    assert {m["name"] for m in status["modules"]} == set(mods)
    assert any(h["code"] == "CHECKS_FAILING" for h in status["health"])

    # The HTTP API: a token for every POST, typed arguments, classified failures.
    token_file = run_dir / "api_token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    path = "/api/modules/notes/commands/add"
    assert post(a, path, {"key": "k", "text": "t"})[0] == 401
    assert post(a, path, {"key": "k", "text": "t"}, token="wrong")[0] == 401
    code, body = post(a, path, {"key": "disk", "text": "replace sdb", "ttl": 3600}, token)
    assert code == 200 and body["result"]["text"] == "replace sdb"
    code, body = post(a, path, {"key": "disk"}, token)
    assert code == 400 and "missing argument 'text'" in body["error"]
    code, body = post(a, path, {"key": "disk", "text": "x", "ttl": "soon"}, token)
    assert code == 400 and "expected int, found str" in body["error"]
    code, body = post(a, path, {"key": "a/b", "text": "x"}, token)
    assert code == 400 and "without '/'" in body["error"]
    code, body = post(a, "/api/modules/loud/commands/explode", {}, token)
    assert code == 500 and body["type"] == "RuntimeError" and body["error"] == "it blew up"
    code, body = post(a, "/api/modules/loud/commands/explode", {"how": "value"}, token)
    assert code == 400 and body["type"] == "ValueError"
    assert post(a, "/api/modules/nope/commands/x", {}, token)[0] == 404
    assert post(a, "/api/modules/notes/commands/nope", {}, token)[0] == 400
    assert post(a, "/api/modules/crashing/commands/x", {}, token)[0] == 409

    # The CLI, from a plain shell outside the checkout.
    listen = ["--config", str(config), "--listen", a.listen]
    out = agent("module", "list", *listen)
    assert out.returncode == 0, out.stderr
    assert "check_health" in out.stdout and "disabled: the foo library" in out.stdout
    assert "notes add --key str --text str [--ttl int]" in out.stdout
    out = agent(
        "module",
        "command",
        "notes",
        "add",
        "--key",
        "net",
        "--text",
        "flaky",
        "--ttl",
        "60",
        *listen,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["key"] == "net"
    out = agent("module", "command", "notes", "list", "--order", "newest", "--limit", "1", *listen)
    assert out.returncode == 0, out.stderr
    assert [n["key"] for n in json.loads(out.stdout)] == ["net"]
    out = agent("module", "command", "notes", "add", "--key", "x", *listen)
    assert out.returncode == 2 and "missing --text" in out.stderr
    out = agent(
        "module", "command", "notes", "add", "--key", "x", "--text", "y", "--ttl", "-5", *listen
    )
    assert out.returncode == 1 and "400" in out.stderr and "ttl must be more than 0" in out.stderr

    # An IntEnum argument from the command line: "2" is the choice 2.
    out = agent("module", "command", "loud", "volume", "--level", "2", *listen)
    assert out.returncode == 0 and json.loads(out.stdout) == "HIGH", out.stderr
    out = agent("module", "command", "loud", "volume", "--level", "3", *listen)
    assert out.returncode == 1 and "400" in out.stderr, out.stderr

    out = agent("module", "command", "notes", "add", "--arg", "key=tmp", "--arg", "text=t", *listen)
    assert out.returncode == 0, out.stderr
    out = agent("module", "command", "notes", "remove", "--arg", "key=tmp", *listen)
    assert out.returncode == 0 and json.loads(out.stdout) is True, out.stderr

    out = agent("status", *listen)
    assert out.returncode == 0, out.stderr
    assert "MODULE" in out.stdout and "HEALTH ERROR CHECKS_FAILING (check_health)" in out.stdout

    # Shutdown: modules stop in reverse start order, the agent exits 0.
    assert a.stop() == 0
    log = a.log()
    assert "loud serving" in log and "loud stopping" in log

    # The store survives the restart.
    b = run_agent("--config", str(config))
    wait_until(
        "notes running again",
        lambda: modules_by_name(b).get("notes", {}).get("state") == "running",
    )
    out = agent("module", "command", "notes", "list", "--config", str(config), "--listen", b.listen)
    assert out.returncode == 0, out.stderr
    assert sorted(n["key"] for n in json.loads(out.stdout)) == ["disk", "net"]
    assert b.stop() == 0


def test_a_module_that_loads_forever_holds_up_nothing_else(run_agent, tmp_path):
    # A module whose import never returns: nothing can interrupt it, but the
    # checks run, the HTTP API answers, the module after it starts once
    # module_load_timeout passed, and SIGTERM still ends the agent on time.
    modules_d = tmp_path / "modules.d"
    modules_d.mkdir()
    (modules_d / "sleeper.py").write_text("import time\n\ntime.sleep(1000)\n")
    (modules_d / "after.py").write_text(
        "import pyhost\n\n\nclass Module(pyhost.Module):\n    pass\n"
    )
    checks_d, conf_d = tmp_path / "checks.d", tmp_path / "conf.d"
    checks_d.mkdir()
    conf_d.mkdir()
    (checks_d / "failing.py").write_text(textwrap.dedent(FAILING_CHECK))
    (conf_d / "failing.yaml").write_text(
        "init_config:\ninstances:\n  - min_collection_interval: 1\n"
    )
    config = tmp_path / "pyhost.yaml"
    config.write_text(
        f"checks_dir: {checks_d}\nconf_dir: {conf_d}\nmodules_dir: {modules_d}\n"
        f"run_dir: {tmp_path / 'run'}\nmodules: [sleeper, after]\n"
        "module_load_timeout: 1s\nshutdown_timeout: 1s\n"
    )
    a = run_agent("--config", str(config))
    wait_until(
        "the sleeper registered, loading",
        lambda: modules_by_name(a).get("sleeper", {}).get("state") == "loading",
    )
    wait_until(
        "the failing check to run",
        lambda: any(c["runs"] > 0 for c in a.status()["checks"]),
    )
    mods = wait_until(
        "the module after it to run",
        lambda: (m := modules_by_name(a)).get("after", {}).get("state") == "running" and m,
    )
    assert mods["sleeper"]["state"] == "loading"
    token = (tmp_path / "run" / "api_token").read_text().strip()
    code, body = post(a, "/api/modules/sleeper/commands/x", {}, token)
    assert code == 409 and "loading" in body["error"], body
    _, metrics = a.get("/metrics")
    assert 'pyhost_module_state{module="sleeper",state="loading"} 1' in metrics
    started = time.monotonic()
    assert a.stop() == 0
    assert time.monotonic() - started < 20
    log = a.log()
    assert "module still loading after module_load_timeout" in log, log
    assert "sleeper is still loading" in log, log
