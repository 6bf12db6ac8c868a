"""Datadog compatibility, differentially: each check in tests/datadog runs
(a) in plain Python against datadog_checks_base's own stub modules and
(b) in `pyhost-agent check NAME --json --raw`; the submissions must match."""

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest
from conftest import ROOT, http_get, plain_env

DATADOG = ROOT / "tests" / "datadog"
HOSTNAME = "pyhost-e2e-host"


@pytest.fixture
def dd_layout(tmp_path):
    """A copy of tests/datadog/{checks.d,conf.d} the test may add configs to."""
    for d in ("checks.d", "conf.d"):
        shutil.copytree(DATADOG / d, tmp_path / d)
    return tmp_path


def stub_run(layout, name):
    proc = subprocess.run(
        [
            sys.executable,
            str(DATADOG / "stub_runner.py"),
            str(layout / "checks.d"),
            str(layout / "conf.d"),
            name,
            HOSTNAME,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, DDEV_SKIP_GENERIC_TAGS_CHECK="true"),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def agent_run(agent, layout, name, *extra, expect=0):
    proc = agent(
        "check",
        name,
        "--json",
        "--raw",
        "--hostname",
        HOSTNAME,
        "--checks-dir",
        str(layout / "checks.d"),
        "--conf-dir",
        str(layout / "conf.d"),
        "--run-dir",
        str(layout / "run"),
        *extra,
    )
    assert proc.returncode == expect, proc.stderr
    return json.loads(proc.stdout)


def metric_key(m):
    return (m["name"], m["type"], float(m["value"]), tuple(sorted(m["tags"])), m["hostname"])


def service_check_key(sc):
    return (sc["name"], sc["status"], tuple(sorted(sc["tags"])), sc["hostname"], sc["message"])


EVENT_FIELDS = ("timestamp", "event_type", "msg_title", "msg_text", "alert_type", "tags")


def event_key(ev):
    return tuple(json.dumps(ev.get(f), sort_keys=True) for f in EVENT_FIELDS)


def assert_same_submissions(stub, pyhost, *, values=True):
    key = metric_key if values else (lambda m: (m["name"], m["type"], tuple(sorted(m["tags"]))))
    assert sorted(map(key, pyhost["metrics"])) == sorted(map(key, stub["metrics"]))
    assert sorted(map(service_check_key, pyhost["service_checks"])) == sorted(
        map(service_check_key, stub["service_checks"])
    )
    assert sorted(map(event_key, pyhost["events"])) == sorted(map(event_key, stub["events"]))
    assert sorted(pyhost["warnings"]) == sorted(stub["warnings"])


def test_every_submission_method(agent, dd_layout):
    stub = stub_run(dd_layout, "dd_submissions")
    pyhost = agent_run(agent, dd_layout, "dd_submissions")
    assert len(stub["metrics"]) == 2 * 11  # two instances, every method
    assert_same_submissions(stub, pyhost)
    assert pyhost["errors"] == stub["errors"] == []
    # set_metadata reached the agent (metadata collection is on, as in Datadog).
    assert {"name": "version.raw", "value": "1.2.3"} in pyhost["metadata"]
    assert sorted(m["name"] for m in pyhost["metadata"]) == sorted(
        m["name"] for m in stub["metadata"]
    )


def test_a_check_that_raises(agent, dd_layout):
    stub = stub_run(dd_layout, "dd_raises")
    pyhost = agent_run(agent, dd_layout, "dd_raises", expect=1)
    assert_same_submissions(stub, pyhost)
    [err] = pyhost["errors"]
    assert err["type"] == stub["errors"][0]["type"] == "ConnectionError"
    assert "cannot reach the database at db.example:5432" in err["message"]
    assert 'raise ConnectionError("cannot reach the database at "' in err["traceback"]


def test_subprocess_output(agent, dd_layout):
    stub = stub_run(dd_layout, "dd_subprocess")
    pyhost = agent_run(agent, dd_layout, "dd_subprocess")
    assert_same_submissions(stub, pyhost)
    assert [m["value"] for m in pyhost["metrics"] if m["name"] == "dd.subprocess.lines"] == [3]


def test_persistent_cache_survives_restarts_and_concurrent_writers(agent, dd_layout):
    # Two agent processes, one after the other: the second sees the first's value.
    first = agent_run(agent, dd_layout, "dd_cache")
    second = agent_run(agent, dd_layout, "dd_cache")
    runs = [m["value"] for rep in (first, second) for m in rep["metrics"]]
    assert runs == [1, 2]
    assert (dd_layout / "run" / "persistent_cache.db").exists()

    # Two processes writing at once lose nothing.
    (dd_layout / "conf.d" / "dd_cache.yaml").unlink()
    writers = []
    for w in ("a", "b"):
        (dd_layout / "conf.d" / f"dd_cache_{w}.yaml").write_text(
            f"instances:\n  - writer: {w}\n    writes: 200\n"
        )
        shutil.copy(
            dd_layout / "checks.d" / "dd_cache.py", dd_layout / "checks.d" / f"dd_cache_{w}.py"
        )
        writers.append(
            subprocess.Popen(
                [str(ROOT / "bin" / "pyhost-agent"), "check", f"dd_cache_{w}", "--json"]
                + [
                    "--checks-dir",
                    str(dd_layout / "checks.d"),
                    "--conf-dir",
                    str(dd_layout / "conf.d"),
                ]
                + ["--run-dir", str(dd_layout / "run")],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=plain_env(),
                cwd=dd_layout,
            )
        )
    for proc in writers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    db = sqlite3.connect(dd_layout / "run" / "persistent_cache.db")
    keys = {row[0] for row in db.execute("SELECT key FROM persistent_cache")}
    for w in ("a", "b"):
        assert sum(1 for k in keys if k.endswith(tuple(f"_{w}.{i}" for i in range(200)))) == 200


@pytest.fixture
def prometheus_target(prometheus):
    """The URL of a real Prometheus server (scraping itself)."""
    return prometheus().base


def test_self_http(agent, dd_layout, prometheus_target):
    url = prometheus_target + "/-/healthy"
    (dd_layout / "conf.d" / "dd_http.yaml").write_text(f"instances:\n  - url: {url}\n")
    stub = stub_run(dd_layout, "dd_http")
    pyhost = agent_run(agent, dd_layout, "dd_http")
    assert_same_submissions(stub, pyhost)
    assert [m["value"] for m in pyhost["metrics"]] == [200]


def test_openmetrics_v2_against_a_real_prometheus(agent, dd_layout, prometheus_target):
    (dd_layout / "conf.d" / "dd_openmetrics.yaml").write_text(
        textwrap.dedent(
            f"""\
            instances:
              - openmetrics_endpoint: {prometheus_target}/metrics
                tags: [team:obs]
            """
        )
    )
    # Serve /metrics once first, so both runs see the same set of series
    # (the server counts requests per handler).
    assert http_get(prometheus_target + "/metrics")[0] == 200
    stub = stub_run(dd_layout, "dd_openmetrics")
    pyhost = agent_run(agent, dd_layout, "dd_openmetrics")
    # The server's counters move between the two scrapes: compare names,
    # types and tags; values only for series that cannot change.
    assert_same_submissions(stub, pyhost, values=False)
    names = {m["name"] for m in pyhost["metrics"]}
    assert {"prom.build_info", "prom.tsdb.head_series", "prom.http.requests.count"} <= names
    [build] = [m for m in pyhost["metrics"] if m["name"] == "prom.build_info"]
    assert build["value"] == 1 and "team:obs" in build["tags"]
    assert any(t.startswith("version:") for t in build["tags"])
    ok = [sc for sc in pyhost["service_checks"] if sc["name"] == "prom.openmetrics.health"]
    assert ok and ok[0]["status"] == 0


@pytest.fixture
def hanging_server():
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def serve():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_an_instance_timeout_is_the_integrations_own(agent, dd_layout, hanging_server):
    # `timeout: 2` is the request's timeout, not the run's deadline: the
    # request times out, and the check reports it as HTTP integrations do,
    # exactly as under datadog_checks_base's stubs (pyhost used to cancel
    # the run at that moment, and record nothing).
    (dd_layout / "conf.d" / "dd_http_timeout.yaml").write_text(
        f"instances:\n  - url: {hanging_server}\n    timeout: 2\n"
    )
    stub = stub_run(dd_layout, "dd_http_timeout")
    pyhost = agent_run(agent, dd_layout, "dd_http_timeout")
    assert_same_submissions(stub, pyhost)
    [sc] = pyhost["service_checks"]
    assert sc["status"] == 2 and "Read timed out" in sc["message"], sc
    assert pyhost["errors"] == []


def test_obfuscation_is_the_datadog_agents_own(agent, dd_layout):
    # The check calls datadog_agent.obfuscate_* as database integrations do;
    # the agent answers with the Datadog Agent's Go obfuscator
    # (github.com/DataDog/datadog-agent/pkg/obfuscate).
    out = agent_run(agent, dd_layout, "dd_obfuscate")
    assert out["errors"] == []
    tags = {m["name"]: [] for m in out["metrics"]}
    for m in out["metrics"]:
        tags[m["name"]].append(sorted(m["tags"]))
    assert sorted(tags["dd.obfuscate.query"]) == sorted(
        [
            [
                "commands:SELECT",
                "query:SELECT name, email FROM users WHERE id = ? AND token = ?",
                "tables:users",
            ],
            [
                "commands:UPDATE",
                "query:UPDATE accounts SET balance = ? WHERE owner = ?",
                "tables:accounts",
            ],
        ]
    )
    [[plan]] = tags["dd.obfuscate.plan"]
    assert json.loads(plan.removeprefix("plan:")) == {
        "Plan": {
            "Node Type": "Index Scan",
            "Relation Name": "users",
            "Index Cond": "( id = ? )",
            "Total Cost": "?",
            "Plan Rows": "?",
        }
    }
    [[command]] = tags["dd.obfuscate.mongodb"]
    assert json.loads(command.removeprefix("command:")) == {
        "find": "?",
        "filter": {"name": "?", "age": {"$gt": "?"}},
    }
