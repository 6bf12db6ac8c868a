"""A datadog_checks.base check that uses self.http (requests under the hood)."""

from datadog_checks.base import AgentCheck


class HttpCheck(AgentCheck):
    def check(self, instance):
        resp = self.http.get(instance["url"])
        self.gauge("dd.http.status", resp.status_code, tags=["url:" + instance["url"]])
        self.service_check("dd.http.up", AgentCheck.OK if resp.ok else AgentCheck.CRITICAL)
