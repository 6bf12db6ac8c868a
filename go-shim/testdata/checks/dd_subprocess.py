"""A datadog_checks_base check running a command (go-shim/datadog_test.go)."""

from datadog_checks.base import AgentCheck
from datadog_checks.base.utils.subprocess_output import get_subprocess_output


class SubprocessCheck(AgentCheck):
    def check(self, instance):
        out, err, code = get_subprocess_output(instance["command"], self.log)
        self.gauge("subprocess.returncode", code, tags=[f"out:{out.strip()}", f"err:{err.strip()}"])
