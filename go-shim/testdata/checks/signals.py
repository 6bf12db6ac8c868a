import signal

from pyhost import AgentCheck


class SignalCheck(AgentCheck):
    def check(self, instance):
        signal.signal(signal.SIGUSR1, lambda *_: None)
