"""Calls datadog_agent's obfuscation functions as integrations do."""

import datadog_agent


def sql(query, options=None):
    try:
        if options is None:
            return ["ok", datadog_agent.obfuscate_sql(query)]
        return ["ok", datadog_agent.obfuscate_sql(query, options)]
    except RuntimeError as e:
        return ["RuntimeError", str(e)]


def plan(text, normalize):
    try:
        return ["ok", datadog_agent.obfuscate_sql_exec_plan(text, normalize=normalize)]
    except RuntimeError as e:
        return ["RuntimeError", str(e)]


def mongodb(command):
    try:
        return ["ok", datadog_agent.obfuscate_mongodb_string(command)]
    except RuntimeError as e:
        return ["RuntimeError", str(e)]
