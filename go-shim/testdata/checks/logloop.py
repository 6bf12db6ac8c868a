import logging

from pyhost import AgentCheck


class _Quiet(logging.Handler):
    """Takes its lock for every record, like every logging.Handler."""

    def emit(self, record):
        pass


shared = logging.getLogger("pyhost.test.shared")
shared.propagate = False
shared.setLevel(logging.INFO)
if not shared.handlers:
    shared.addHandler(_Quiet())


class LogLoop(AgentCheck):
    """Logs through a shared handler until cancelled (instance `loop`), or
    once; swallows ordinary exceptions like careless checks do."""

    def check(self, instance):
        while True:
            shared.info("looping")
            try:
                sum(range(100))
            except Exception:
                pass
            if not instance.get("loop"):
                break
        self.gauge("logloop.done", 1)
