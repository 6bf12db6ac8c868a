"""Python side of the benchmarks and function tests."""

import logging
import threading

import _pyhost


def noop():
    pass


def echo(*args):
    return list(args)


def add(a, b):
    return a + b


def log_and_add(a, b):
    """Logs a record, which the host receives during the call, and adds."""
    logging.getLogger("benchmod").warning("adding %s and %s", a, b)
    return a + b


def fail(message):
    raise RuntimeError(message)


def unserialisable():
    return object()


def big(n):
    return "x" * n


def submit_floor(n):
    """The floor of the metric benchmark: the same calls to a no-op builtin."""
    noop_builtin = _pyhost.noop
    tags = ["shard:1", "env:bench"]
    for i in range(n):
        noop_builtin("bench.metric", float(i), tags)


_released = threading.Event()


def wait_for_release(timeout):
    """Blocks (GIL released) until release() is called from another call."""
    released = _released.wait(timeout)
    _released.clear()
    return released


def release():
    _released.set()
    return True
