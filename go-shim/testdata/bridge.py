"""Python side of the bridge tests: calls into Go modules, reads host state."""

import importlib
import sys
import threading

import pyhost
from pyhost import host


def call(module, function, *args):
    """module.function(*args), or the exception it raised as [type, message]."""
    fn = getattr(importlib.import_module(module), function)
    try:
        return ["ok", fn(*args)]
    except Exception as e:  # noqa: BLE001 - the test inspects it
        return [type(e).__module__ + "." + type(e).__qualname__, str(e)]


_kept = {}


def keep(module, function):
    """Keeps module.function, as code that imported it once does."""
    _kept[module, function] = getattr(importlib.import_module(module), function)


def call_kept(module, function, *args):
    """The function keep() kept, called: as call() reports it."""
    try:
        return ["ok", _kept[module, function](*args)]
    except Exception as e:  # noqa: BLE001 - the test inspects it
        return [type(e).__module__ + "." + type(e).__qualname__, str(e)]


def call_kw(module, function):
    fn = getattr(importlib.import_module(module), function)
    try:
        fn(x=1)
    except TypeError as e:
        return str(e)
    return "no error"


def is_exception_subclasses():
    return [
        issubclass(pyhost.GoError, Exception),
        issubclass(pyhost.GoPanic, Exception),
        pyhost.GoError.__module__ + "." + pyhost.GoError.__qualname__,
    ]


def echo(value):
    return value


def add(a, b):
    return a + b


def str_facts(s):
    """What a str the host made must share with the same str made by
    CPython's own decoder: length, kind and size, equality and hash (a dict
    lookup), and its UTF-8 bytes. A list holds the str: one decoded
    from the value encoding rather than passed in place."""
    if isinstance(s, list):
        s = s[0]
    made = s.encode().decode()
    return [
        len(s),
        s.isascii(),
        sys.getsizeof(s) == sys.getsizeof(made),
        {made: True}.get(s, False),
        s.encode(),
    ]


def noop():
    return None


def loop_noop(module, function, n):
    fn = getattr(importlib.import_module(module), function)
    for _ in range(n):
        fn()


def from_threads(module, function, threads, calls):
    """Calls module.function(i) from `threads` Python threads; returns the results."""
    fn = getattr(importlib.import_module(module), function)
    results = []
    lock = threading.Lock()

    def work(t):
        for i in range(calls):
            r = fn(t * 1000 + i)
            with lock:
                results.append(r)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sorted(results)


def reenter(module, function, depth):
    """Calls Go, which calls back into this function, `depth` levels deep."""
    if depth == 0:
        return 0
    fn = getattr(importlib.import_module(module), function)
    return 1 + fn(depth - 1)


def cyclic():
    a = []
    a.append(a)
    return a


class _MutatingInt(int):
    """An int whose __str__ empties the dict it is in."""

    home: dict = {}

    def __str__(self):
        self.home.clear()
        return "mutated"


def dict_with_a_mutating_big_int():
    """A dict holding a big int whose __str__ would change the dict mid-crossing."""
    d = {"big": _MutatingInt(2**80), "small": 1}
    _MutatingInt.home = d
    return d


def returns_nan():
    return float("nan")


def returns_set():
    return {1, 2}


def get(name, default=None):
    return host.get(name, default)


def get_thawed(name):
    return host.thaw(host.get(name))


def version(name):
    return host.version(name)


def names():
    return host.names()


def rss_growth_of_misses(prefix, n):
    """How much the resident set grows (bytes) over n gets of names never
    published, after as many to warm up."""
    import os

    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    for i in range(n):
        host.get(f"{prefix}.warm.{i}")
    before = rss()
    for i in range(n):
        host.get(f"{prefix}.{i}")
    return rss() - before


def mutate(name):
    """Tries to change a published value; returns what each attempt raised."""
    v = host.get(name)
    out = []
    try:
        v["new"] = 1
    except TypeError as e:
        out.append("dict:" + type(e).__name__)
    try:
        v["items"].append(1)
    except AttributeError as e:
        out.append("list:" + type(e).__name__)
    out.append(host.get(name) is v)
    out.append(type(v).__name__)
    return out


def import_name(name):
    try:
        importlib.import_module(name)
    except ImportError as e:
        return "ImportError: " + str(e)
    return "imported " + repr(sys.modules[name])


def call_with_set(module, function):
    fn = getattr(importlib.import_module(module), function)
    try:
        fn({1, 2})
    except Exception as e:  # noqa: BLE001 - the test inspects it
        return type(e).__name__ + ": " + str(e)
    return "no error"


def call_with_cyclic(module, function):
    fn = getattr(importlib.import_module(module), function)
    a = []
    a.append(a)
    try:
        fn(a)
    except Exception as e:  # noqa: BLE001 - the test inspects it
        return type(e).__name__ + ": " + str(e)
    return "no error"


def key_order(d):
    """The keys of a dict and of the dicts in it, in the order Python sees them."""
    from collections.abc import Mapping

    return [[k, key_order(d[k])] if isinstance(d[k], Mapping) else k for k in d]


def key_order_of_published(name):
    from pyhost import host

    return key_order(host.get(name))
