"""End-to-end tests: the built bin/pyhost-agent (Go + Rust + embedded Python)
running real checks. `make test-e2e` builds everything first."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
AGENT = ROOT / "bin" / "pyhost-agent"
EXAMPLES = ROOT / "python-sdk" / "examples"


@pytest.fixture(scope="session")
def agent():
    if not AGENT.exists():
        pytest.fail(f"{AGENT} is missing: run `make build` (or `make test-e2e`)")
    if not os.environ.get("PYHOST_PYTHON"):
        pytest.fail("PYHOST_PYTHON is not set: run through `make test-e2e`")

    def run(*args, env=None, timeout=60):
        full_env = dict(os.environ, **(env or {}))
        return subprocess.run(
            [str(AGENT), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=ROOT,
        )

    return run
