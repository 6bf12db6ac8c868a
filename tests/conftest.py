"""End-to-end tests: the built bin/pyhost-agent (Go + Rust + embedded Python)
running real checks. `make test-e2e` builds everything first."""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
AGENT = ROOT / "bin" / "pyhost-agent"
# The agent runs as from a plain shell: no PYHOST_* (or any other) variable
# from make, and not from the checkout (see plain_env).
PLAIN_ENV = {"PATH": "/usr/bin:/bin"}
EXAMPLES = ROOT / "python-sdk" / "examples"
BUNDLED_CONFIG = ROOT / "config" / "pyhost.yaml"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    """(status, body) of a GET; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def wait_until(what, fn, timeout=30, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class Layout:
    """A checks.d / conf.d pair in a temporary directory."""

    def __init__(self, root):
        self.root = root
        self.checks = root / "checks.d"
        self.conf = root / "conf.d"
        self.checks.mkdir()
        self.conf.mkdir()

    def check(self, name, body):
        (self.checks / f"{name}.py").write_text(textwrap.dedent(body))

    def config(self, relpath, text):
        path = self.conf / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def args(self):
        return ["--checks-dir", str(self.checks), "--conf-dir", str(self.conf)]


@pytest.fixture
def layout(tmp_path):
    return Layout(tmp_path)


def plain_env(extra=None):
    """The environment of `env -i PATH=/usr/bin:/bin`, plus `extra`."""
    return dict(PLAIN_ENV, **(extra or {}))


@pytest.fixture(scope="session")
def outside(tmp_path_factory):
    """A directory outside the checkout, where the agent is started."""
    return tmp_path_factory.mktemp("cwd")


@pytest.fixture(scope="session")
def agent(outside):
    """Runs `pyhost-agent ARGS…` to completion, from a plain environment in a
    directory outside the checkout."""
    if not AGENT.exists():
        pytest.fail(f"{AGENT} is missing: run `make build` (or `make test-e2e`)")
    if not os.environ.get("PYHOST_EXPECT_EXECUTABLE"):
        pytest.fail("PYHOST_EXPECT_EXECUTABLE is not set: run through `make test-e2e`")

    def run(*args, env=None, timeout=120):
        return subprocess.run(
            [str(AGENT), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=plain_env(env),
            cwd=outside,
        )

    return run


class RunningAgent:
    def __init__(self, proc, listen, log_path):
        self.proc = proc
        self.listen = listen
        self.log_path = log_path

    def url(self, path):
        return f"http://{self.listen}{path}"

    def get(self, path):
        return http_get(self.url(path))

    def status(self):
        code, body = self.get("/status")
        return json.loads(body) if code == 200 else None

    def log(self):
        return self.log_path.read_text()

    def stop(self, sig=15, timeout=30):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def run_agent(tmp_path):
    """Starts `pyhost-agent run ARGS…` on a free port; stops it after the test."""
    started = []

    def start(*args):
        listen = f"127.0.0.1:{free_port()}"
        log_path = tmp_path / f"agent-{len(started)}.log"
        log = open(log_path, "w")
        proc = subprocess.Popen(
            [str(AGENT), "run", "--listen", listen, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=plain_env(),
            cwd=tmp_path,
        )
        agent = RunningAgent(proc, listen, log_path)
        started.append(agent)
        wait_until(
            "the agent to answer /healthz",
            lambda: proc.poll() is not None or agent.get("/healthz")[0] == 200,
        )
        assert proc.poll() is None, agent.log()
        return agent

    yield start
    for agent in started:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()


@pytest.fixture
def prometheus(tmp_path):
    """Starts a real Prometheus server (Debian package) scraping the given
    targets (default: itself) every second; returns a query function whose
    `base` is the server's URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: run through `make test-e2e`")
    procs = []

    def start(*targets):
        port = free_port()
        targets = targets or (f"127.0.0.1:{port}",)  # by default, itself
        config = tmp_path / "prometheus.yml"
        config.write_text(
            textwrap.dedent(
                f"""\
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                scrape_configs:
                  - job_name: pyhost
                    static_configs:
                      - targets: {json.dumps(list(targets))}
                """
            )
        )
        log = open(tmp_path / "prometheus.log", "w")
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_until("Prometheus to be ready", lambda: http_get(base + "/-/ready")[0] == 200)

        def query(expr):
            url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            code, body = http_get(url)
            assert code == 200, body
            return json.loads(body)["data"]["result"]

        query.base = base
        return query

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
