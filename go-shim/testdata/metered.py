"""Functions whose cost a meter should see."""

import time

kept = []


def keep(n):
    """Keeps n more bytes for good; returns how many blocks are kept."""
    kept.append(bytearray(n))
    return len(kept)


def burn(seconds):
    """Computes for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sum(range(1000))


def remember(req):
    """A dispatch hook that keeps every request (a leak) and passes."""
    kept.append(req * 1000)
    return None
