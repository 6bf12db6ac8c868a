"""A negative-lookup cache on a lookup service's request path, as glupy's was.

The service probes include directories for a file, one round trip each; most
names are absent from most directories. The dispatch hook answers "absent"
for a (directory, name) it has seen missing, so that probe costs no round
trip; the completion hook learns every miss; a create's completion forgets
the path, so a file created after a cached miss is found.
"""

import pyhost

MAX_ENTRIES = 1_000_000  # forget everything past this: a bound, not an LRU

_absent: set[str] = set()


@pyhost.dispatch("lookup")
def known_absent(path):
    """False (absent) if the path was seen missing; None: probe it."""
    if path in _absent:
        return False
    return None


@pyhost.completion("lookup")
def learn(path, exists):
    if exists is False:
        if len(_absent) >= MAX_ENTRIES:
            _absent.clear()
        _absent.add(path)


@pyhost.completion("create")
def invalidate(path, created):
    _absent.discard(path)


def reset():
    """Empties the cache (between benchmark rounds)."""
    _absent.clear()


def size():
    return len(_absent)
