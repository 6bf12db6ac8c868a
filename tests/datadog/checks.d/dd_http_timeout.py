"""A datadog_checks.base check that reports a failed request the way HTTP
integrations do: self.http honours the instance's `timeout` (the request's
own timeout, datadog_checks_base's reading of it), and a timed-out request is
a CRITICAL service check with the error as its message."""

from datadog_checks.base import AgentCheck


class HttpTimeoutCheck(AgentCheck):
    def check(self, instance):
        tags = ["url:" + instance["url"]]
        try:
            self.http.get(instance["url"])
        except Exception as e:
            self.service_check("dd.http.can_connect", self.CRITICAL, tags=tags, message=str(e))
            return
        self.service_check("dd.http.can_connect", self.OK, tags=tags)
