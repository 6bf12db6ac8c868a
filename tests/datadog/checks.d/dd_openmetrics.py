"""An OpenMetricsBaseCheckV2 check scraping a Prometheus server's own /metrics."""

from datadog_checks.base import OpenMetricsBaseCheckV2


class PrometheusSelfCheck(OpenMetricsBaseCheckV2):
    __NAMESPACE__ = "prom"

    def get_default_config(self):
        return {
            "metrics": [
                {"prometheus_build_info": "build_info"},
                {"prometheus_config_last_reload_successful": "config.reload_ok"},
                {"prometheus_http_requests": "http.requests"},
                {"prometheus_tsdb_head_series": "tsdb.head_series"},
            ]
        }
