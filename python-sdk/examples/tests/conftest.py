from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

CHECKS_D = Path(__file__).resolve().parent.parent / "checks.d"


def _load_check_module(stem):
    if stem in sys.modules:
        return sys.modules[stem]
    spec = importlib.util.spec_from_file_location(stem, CHECKS_D / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[stem] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def load_example():
    """Return a function importing ``checks.d/<name>.py`` as module ``<name>``."""
    return _load_check_module


@pytest.fixture
def load_module():
    return _load_check_module("load")


@pytest.fixture
def memory_module():
    return _load_check_module("memory")


@pytest.fixture
def disk_module():
    return _load_check_module("disk")


@pytest.fixture
def procfs(tmp_path):
    """Return a function writing fixture files into a fake procfs directory."""

    def write(**files):
        for name, content in files.items():
            (tmp_path / name).write_text(content)
        return str(tmp_path)

    return write
