"""Functions for the lifecycle tests (go-shim/lifecycle_test.go)."""

import logging
import threading
import time


def sleep(seconds):
    """Logs that it starts, waits with the GIL released, logs that it is
    done, then returns how long it slept."""
    logging.getLogger("lifecycle").warning("sleeping %s", seconds)
    time.sleep(seconds)
    logging.getLogger("lifecycle").warning("slept %s", seconds)
    return seconds


def log_from_thread(message):
    """Logs `message` from a new Python thread, which then ends."""
    thread = threading.Thread(target=logging.getLogger("lifecycle").warning, args=(message,))
    thread.start()
    thread.join()
    return True
