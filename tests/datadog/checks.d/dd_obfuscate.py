"""A datadog_checks.base check obfuscating as the database integrations do:
query samples through obfuscate_sql_with_metadata, an execution plan, and a
MongoDB command. It tags one metric per result with what came back."""

import json

from datadog_checks.base import AgentCheck
from datadog_checks.base.utils.db.utils import obfuscate_sql_with_metadata

try:
    import datadog_agent
except ImportError:
    from datadog_checks.base.stubs import datadog_agent


class ObfuscateCheck(AgentCheck):
    def check(self, instance):
        options = json.dumps(
            {
                "dbms": "postgresql",
                "table_names": True,
                "collect_commands": True,
                "return_json_metadata": True,
            }
        )
        for query in instance["queries"]:
            result = obfuscate_sql_with_metadata(query, options)
            self.gauge(
                "dd.obfuscate.query",
                1,
                tags=[
                    "query:" + result["query"],
                    "tables:" + ",".join(result["metadata"].get("tables") or []),
                    "commands:" + ",".join(result["metadata"].get("commands") or []),
                ],
            )
        plan = json.loads(datadog_agent.obfuscate_sql_exec_plan(instance["plan"], normalize=True))
        self.gauge("dd.obfuscate.plan", 1, tags=["plan:" + json.dumps(plan, sort_keys=True)])
        mongo = json.loads(datadog_agent.obfuscate_mongodb_string(instance["mongodb"]))
        self.gauge(
            "dd.obfuscate.mongodb",
            1,
            tags=["command:" + json.dumps(mongo, sort_keys=True)],
        )
