"""The datadog_agent module's answers and the persistent cache, for go-shim/datadog_test.go."""

import importlib.util

import containers
import datadog_agent
import kubeutil
import tagger
import util


def has_datadog_base():
    return importlib.util.find_spec("datadog_checks.base") is not None


def agent_info():
    return {
        "hostname": datadog_agent.get_hostname(),
        "version": datadog_agent.get_version(),
        "host_tags": datadog_agent.get_host_tags(),
        "cluster_name": datadog_agent.get_clustername(),
        "metadata": datadog_agent.get_config("enable_metadata_collection"),
        "log_level": datadog_agent.get_config("log_level"),
        "run_path": datadog_agent.get_config("run_path"),
        "custom": datadog_agent.get_config("custom_key"),
        "missing": datadog_agent.get_config("no_such_key"),
        "tracemalloc": datadog_agent.tracemalloc_enabled(),
        "start_time": datadog_agent.get_process_start_time(),
        "headers": datadog_agent.headers({}, http_host="example.com"),
        "util_headers": util.headers(),
        "tags": tagger.tag("container_id://abc", tagger.HIGH),
        "get_tags": tagger.get_tags("container_id://abc", True),
        "constants": [tagger.LOW, tagger.ORCHESTRATOR, tagger.HIGH],
        "excluded": containers.is_excluded("name", "image", "ns"),
        "kubelet": kubeutil.get_connection_info(),
        "cache_missing": datadog_agent.read_persistent_cache("no:such_key"),
    }


def cache_write(key, value):
    datadog_agent.write_persistent_cache(key, value)


def cache_read(key):
    return datadog_agent.read_persistent_cache(key)


def cache_write_many(prefix, n):
    for i in range(n):
        datadog_agent.write_persistent_cache(f"{prefix}{i}", str(i))
        datadog_agent.write_persistent_cache("shared", prefix)


def cache_count(prefix, n):
    return sum(datadog_agent.read_persistent_cache(f"{prefix}{i}") == str(i) for i in range(n))


def cache_write_fails():
    try:
        datadog_agent.write_persistent_cache("k", "v")
    except RuntimeError as e:
        return str(e)
    return ""
