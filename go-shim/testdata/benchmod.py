"""Python side of the benchmarks and function tests."""

import itertools
import logging
import threading

import _pyhost


def noop():
    pass


def hook_pass(req):
    """A dispatch hook that passes every request on."""
    return None


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


def allocate(n):
    """n allocations and frees of a 64-byte bytes object, and nothing else
    (itertools.repeat yields the same object; a range would make ints)."""
    piece = b"x"
    for _ in itertools.repeat(None, n):
        piece * 64


_released = threading.Event()


def wait_for_release(timeout):
    """Blocks (GIL released) until release() is called from another call."""
    released = _released.wait(timeout)
    _released.clear()
    return released


def release():
    _released.set()
    return True


def hold_gil_after(module, function):
    """Calls module.function(), then holds the GIL for a while without
    releasing it (one C call, no bytecode: no thread switch)."""
    import importlib

    getattr(importlib.import_module(module), function)()
    return sum(range(50_000_000))


def read_state_consistent(name):
    """Whether one get of `name` is a single publication throughout."""
    from pyhost import host

    v = host.get(name)
    gen = v["gen"]
    return all(r["gen"] == gen for r in v["records"]) and len(v["records"]) == 2000


def deep_list(depth):
    v = None
    for _ in range(depth):
        v = [v]
    return v


def loop(module, name, n):
    """Calls module.name() n times: the Python side of the call-into-Go benchmarks."""
    import importlib

    fn = getattr(importlib.import_module(module), name)
    for _ in range(n):
        fn()


_json_text = ""


def set_json(text):
    global _json_text
    _json_text = text


def measure_json_loads():
    """ns for one json.loads of the text set_json stored."""
    import json
    import time

    t0 = time.perf_counter_ns()
    json.loads(_json_text)
    return time.perf_counter_ns() - t0


def measure_get(name):
    """ns for one pyhost.host.get(name)."""
    import time

    from pyhost import host

    t0 = time.perf_counter_ns()
    host.get(name)
    return time.perf_counter_ns() - t0


def measure_get_unchanged(name, n):
    """ns per get of an unchanged value, over n gets (after a first one)."""
    import time

    from pyhost import host

    get = host.get
    get(name)
    t0 = time.perf_counter_ns()
    for _ in range(n):
        get(name)
    return (time.perf_counter_ns() - t0) / n


def measure_dict_get(n):
    """ns per dict.get of a present key, the same loop: the floor of an unchanged get."""
    import time

    d = {"pyhost.bench.state": 1}
    get = d.get
    t0 = time.perf_counter_ns()
    for _ in range(n):
        get("pyhost.bench.state")
    return (time.perf_counter_ns() - t0) / n
