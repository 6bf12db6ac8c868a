import threading
import time

from pyhost import AgentCheck

_never = threading.Event()


class BlockingCancelCheck(AgentCheck):
    """Loops until cancelled; its cancel() then blocks for a minute, as one
    joining a stuck thread or closing a dead connection would."""

    def check(self, instance):
        while not self.cancelled:
            time.sleep(0.01)
        self.gauge("blocking_cancel.stopped", 1)

    def cancel(self):
        super().cancel()
        _never.wait(60)
