"""A datadog_checks.base check using get_subprocess_output (the _util builtin)."""

from datadog_checks.base import AgentCheck
from datadog_checks.base.utils.subprocess_output import get_subprocess_output


class SubprocessCheck(AgentCheck):
    def check(self, instance):
        out, err, code = get_subprocess_output(["printf", "a\nbb\nccc\n"], self.log)
        self.gauge("dd.subprocess.lines", len(out.splitlines()), tags=[f"code:{code}"])
        self.gauge("dd.subprocess.stderr_bytes", len(err))
