"""A Go program in its own module, outside this repository, built the way a
user builds one (a `replace` of pyhost.dev/pyhost to go-shim) and run from
a plain environment: the library's lifecycle as Go users meet it."""

import hashlib
import json
import os
import shutil
import subprocess

from conftest import ROOT, plain_env

SOURCE = ROOT / "tests" / "outside" / "main.go"
CORE = ROOT / "target" / "release" / "libpyhost_core.a"


def go_build(module_dir):
    go = shutil.which("go") or "/usr/local/go/bin/go"
    (module_dir / "go.mod").write_text(
        "module example.com/outside\n\ngo 1.26\n\n"
        "require pyhost.dev/pyhost v0.0.0\n\n"
        f"replace pyhost.dev/pyhost => {ROOT / 'go-shim'}\n"
    )
    shutil.copy(SOURCE, module_dir / "main.go")
    env = dict(os.environ, GOFLAGS="-mod=mod")
    tidy = subprocess.run(
        [go, "mod", "tidy"], cwd=module_dir, env=env, capture_output=True, text=True
    )
    assert tidy.returncode == 0, tidy.stderr
    # Go's build cache does not see a rebuilt static library: stamp its hash
    # into the link, as the Makefile does.
    stamp = hashlib.sha256(CORE.read_bytes()).hexdigest()[:16]
    ldflags = f"-ldflags=-X=pyhost.dev/pyhost/internal/capi.coreLibraryID={stamp}"
    build = subprocess.run(
        [go, "build", ldflags, "-o", "outside", "."],
        cwd=module_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    return module_dir / "outside"


def test_an_outside_go_program_sees_the_lifecycle_promises(tmp_path):
    binary = go_build(tmp_path)
    proc = subprocess.run(
        [str(binary)], capture_output=True, text=True, timeout=120, env=plain_env(), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    # A panicking log handler: recovered, and the check keeps running.
    assert rep["runs"] == ["ok", "ok", "ok"], rep
    assert "log handler panicked" in proc.stderr
    # Close waited for the call in flight, which completed.
    assert rep["close_error"] == "" and rep["call_error"] == "", rep
    assert rep["close_waited"], rep
    # Zero options, no environment: the venv recorded at build time.
    assert rep["python"] == os.environ["PYHOST_EXPECT_EXECUTABLE"]
