"""Runs mypy's stubtest inside the engine, where the native modules live."""

import contextlib
import io


def run(modules, config_file=None):
    """stubtest of `modules` against the stubs mypy finds: [exit code, output]."""
    from mypy import stubtest

    args = list(modules)
    if config_file:
        args += ["--mypy-config-file", config_file]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = stubtest.test_stubs(stubtest.parse_options(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return [code, out.getvalue()]
