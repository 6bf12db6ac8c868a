"""A Go program in its own module, outside this repository, built the way a
user builds one (a `replace` of pyhost.dev/pyhost to go-shim, the library
found through pkg-config) and run from a plain environment: the library's
lifecycle as Go users meet it, against this checkout's build and against
`make install PREFIX=DIR`."""

import json
import os
import shutil
import subprocess

from conftest import ROOT, plain_env

SOURCE = ROOT / "tests" / "outside" / "main.go"


def go_build(module_dir, pkg_config_path=None):
    """Builds tests/outside as a module of its own. PKG_CONFIG_PATH is the
    checkout's (the Makefile exports it) unless an install's is given."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    (module_dir / "go.mod").write_text(
        "module example.com/outside\n\ngo 1.26\n\n"
        "require pyhost.dev/pyhost v0.0.0\n\n"
        f"replace pyhost.dev/pyhost => {ROOT / 'go-shim'}\n"
    )
    shutil.copy(SOURCE, module_dir / "main.go")
    env = dict(os.environ, GOFLAGS="-mod=mod")
    if pkg_config_path is not None:
        # As on a user's machine: only PKG_CONFIG_PATH, and a build cache
        # that never saw this checkout's library (Go's cache does not key
        # cgo packages on pkg-config's answer).
        env["PKG_CONFIG_PATH"] = str(pkg_config_path)
        env.pop("CGO_CFLAGS", None)
        env["GOCACHE"] = str(module_dir / "gocache")
    tidy = subprocess.run(
        [go, "mod", "tidy"], cwd=module_dir, env=env, capture_output=True, text=True
    )
    assert tidy.returncode == 0, tidy.stderr
    build = subprocess.run(
        [go, "build", "-o", "outside", "."],
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
    # Python called Go and read host state; the typed result came back.
    assert rep["bridge"] == {"sum": 5, "state": 7}, rep


def test_an_outside_go_program_builds_against_an_install(tmp_path):
    # `make install PREFIX=DIR`, then the README's commands: PKG_CONFIG_PATH
    # and a replace; no relink stamp, nothing from this checkout's target/.
    prefix = tmp_path / "prefix"
    make = subprocess.run(
        ["make", "--no-print-directory", "install", f"PREFIX={prefix}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert make.returncode == 0, make.stdout + make.stderr
    for installed in (
        "include/pyhost.h",
        "lib/libpyhost_core.a",
        "lib/libpyhost_engine.so",
        "lib/pkgconfig/pyhost.pc",
        "share/pyhost/python-sdk/pyproject.toml",
        "share/pyhost/python-sdk/src/pyhost/host.py",
    ):
        assert (prefix / installed).is_file(), installed
    pc = (prefix / "lib/pkgconfig/pyhost.pc").read_text()
    assert f"prefix={prefix}" in pc and str(ROOT / "target") not in pc
    module = tmp_path / "module"
    module.mkdir()
    binary = go_build(module, pkg_config_path=prefix / "lib" / "pkgconfig")
    proc = subprocess.run(
        [str(binary)], capture_output=True, text=True, timeout=120, env=plain_env(), cwd=module
    )
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["runs"] == ["ok", "ok", "ok"], rep
    assert rep["bridge"] == {"sum": 5, "state": 7}, rep
    # The installed library loads the installed engine.
    assert rep["engine"] == str(prefix / "lib" / "libpyhost_engine.so"), rep
