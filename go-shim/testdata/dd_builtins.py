"""Wrong calls into the Datadog Agent's builtin modules (go-shim/datadog_test.go).

``wrong_calls()`` makes each call and reports what it raised. ``differential()``
compares every call whose arguments the agent parses with ``PyArg_ParseTuple``
against CPython's own ``PyArg_ParseTuple`` with rtloader's format string, called
through ctypes in this interpreter: the errors must be the same, word for word.
"""

import ctypes

import _util
import aggregator
import containers
import datadog_agent
import kubeutil
import tagger
import util

CHECK = object()  # not a pyhost SDK check: the agent's rules apply
ID = "no-such-check:0"
S = "\udcff"  # a lone surrogate: not encodable as UTF-8

METRIC = aggregator.submit_metric
SERVICE = aggregator.submit_service_check
PLATFORM = aggregator.submit_event_platform_event
BUCKET = aggregator.submit_histogram_bucket
EVENT = aggregator.submit_event
EXTERNAL = datadog_agent.set_external_tags
SUBPROCESS = _util.subprocess_output
F_METRIC = "OsisdOs|b"
F_SUBPROCESS = "O|O$O:get_subprocess_output"
KW_SUBPROCESS = ["command", "raise_on_empty", "env"]
KW_SQL = ["query", "options"]

# label -> (function, args, kwargs, rtloader format or None, keyword list or None)
CASES = {
    # aggregator.submit_metric "OsisdOs|b"
    "metric keyword": (METRIC, (CHECK, ID, 0, "m", 1.0, [], "h"), {"x": 1}, None, None),
    "metric too few": (METRIC, (CHECK, ID, 0, "m", 1.0, []), None, F_METRIC, None),
    "metric too many": (METRIC, (CHECK, ID, 0, "m", 1.0, [], "h", True, 9), None, F_METRIC, None),
    "metric id bytes": (METRIC, (CHECK, b"id", 0, "m", 1.0, [], "h"), None, F_METRIC, None),
    "metric type float": (METRIC, (CHECK, ID, 0.0, "m", 1.0, [], "h"), None, F_METRIC, None),
    "metric type str": (METRIC, (CHECK, ID, "0", "m", 1.0, [], "h"), None, F_METRIC, None),
    "metric type huge": (METRIC, (CHECK, ID, 2**40, "m", 1.0, [], "h"), None, F_METRIC, None),
    "metric name None": (METRIC, (CHECK, ID, 0, None, 1.0, [], "h"), None, F_METRIC, None),
    "metric name NUL": (METRIC, (CHECK, ID, 0, "m\x00x", 1.0, [], "h"), None, F_METRIC, None),
    "metric name surrogate": (METRIC, (CHECK, ID, 0, S, 1.0, [], "h"), None, F_METRIC, None),
    "metric value str": (METRIC, (CHECK, ID, 0, "m", "1", [], "h"), None, F_METRIC, None),
    "metric value None": (METRIC, (CHECK, ID, 0, "m", None, [], "h"), None, F_METRIC, None),
    "metric value huge": (METRIC, (CHECK, ID, 0, "m", 10**400, [], "h"), None, F_METRIC, None),
    "metric hostname None": (METRIC, (CHECK, ID, 0, "m", 1.0, [], None), None, F_METRIC, None),
    "metric hostname bytes": (METRIC, (CHECK, ID, 0, "m", 1.0, [], b"h"), None, F_METRIC, None),
    "metric flush -1": (METRIC, (CHECK, ID, 0, "m", 1.0, [], "h", -1), None, F_METRIC, None),
    "metric flush 256": (METRIC, (CHECK, ID, 0, "m", 1.0, [], "h", 256), None, F_METRIC, None),
    "metric flush None": (METRIC, (CHECK, ID, 0, "m", 1.0, [], "h", None), None, F_METRIC, None),
    "metric tags None": (METRIC, (CHECK, ID, 0, "m", 1.0, None, "h"), None, None, None),
    "metric tags dict": (METRIC, (CHECK, ID, 0, "m", 1.0, {"a": "b"}, "h"), None, None, None),
    "metric tags set": (METRIC, (CHECK, ID, 0, "m", 1.0, {"a"}, "h"), None, None, None),
    "metric tags generator": (
        METRIC,
        (CHECK, ID, 0, "m", 1.0, (t for t in "a"), "h"),
        None,
        None,
        None,
    ),
    "metric unknown id": (
        METRIC,
        (CHECK, ID, 0, "m", 1.0, ["a", 1, None, b"b"], "h"),
        None,
        None,
        None,
    ),
    "metric unknown type": (METRIC, (CHECK, ID, 99, "m", 1.0, [], "h"), None, None, None),
    # aggregator.submit_service_check "OssiOss"
    "service keyword": (SERVICE, (CHECK, ID, "n", 0, [], "h", ""), {"x": 1}, None, None),
    "service six args": (SERVICE, (CHECK, ID, "n", 0, [], "h"), None, "OssiOss", None),
    "service status str": (SERVICE, (CHECK, ID, "n", "0", [], "h", ""), None, "OssiOss", None),
    "service hostname None": (SERVICE, (CHECK, ID, "n", 0, [], None, ""), None, "OssiOss", None),
    "service message None": (SERVICE, (CHECK, ID, "n", 0, [], "h", None), None, "OssiOss", None),
    "service tags None": (SERVICE, (CHECK, ID, "n", 0, None, "h", ""), None, None, None),
    # aggregator.submit_event "OsO"
    "event not dict": (EVENT, (CHECK, ID, ["msg_title", "t"]), None, None, None),
    "event tags None": (EVENT, (CHECK, ID, {"msg_title": "t", "tags": None}), None, None, None),
    "event two args": (EVENT, (CHECK, ID), None, "OsO", None),
    "event id None": (EVENT, (CHECK, None, {}), None, "OsO", None),
    # aggregator.submit_histogram_bucket "OssLffisO|b"
    "bucket value float": (
        BUCKET,
        (CHECK, ID, "n", 1.5, 0.0, 1.0, True, "h", []),
        None,
        "OssLffisO|b",
        None,
    ),
    "bucket bound str": (
        BUCKET,
        (CHECK, ID, "n", 1, "0", 1.0, 1, "h", []),
        None,
        "OssLffisO|b",
        None,
    ),
    "bucket hostname None": (
        BUCKET,
        (CHECK, ID, "n", 1, 0.0, 1.0, 1, None, []),
        None,
        "OssLffisO|b",
        None,
    ),
    "bucket tags None": (BUCKET, (CHECK, ID, "n", 1, 0.0, 1.0, 1, "h", None), None, None, None),
    # aggregator.submit_event_platform_event "Oss#s"
    "platform bytearray": (PLATFORM, (CHECK, ID, bytearray(b"{}"), "t"), None, "Oss#s", None),
    "platform memoryview": (PLATFORM, (CHECK, ID, memoryview(b"{}"), "t"), None, "Oss#s", None),
    "platform None": (PLATFORM, (CHECK, ID, None, "t"), None, "Oss#s", None),
    "platform int": (PLATFORM, (CHECK, ID, 5, "t"), None, "Oss#s", None),
    "platform type None": (PLATFORM, (CHECK, ID, "{}", None), None, "Oss#s", None),
    "platform both None": (PLATFORM, (CHECK, ID, None, None), None, "Oss#s", None),
    "platform three args": (PLATFORM, (CHECK, ID, "{}"), None, "Oss#s", None),
    # datadog_agent
    "get_version arg": (datadog_agent.get_version, (1,), None, None, None),
    "get_hostname keyword": (datadog_agent.get_hostname, (), {"x": 1}, None, None),
    "get_host_tags arg": (datadog_agent.get_host_tags, (1,), None, None, None),
    "get_clustername arg": (datadog_agent.get_clustername, (1,), None, None, None),
    "get_process_start_time arg": (datadog_agent.get_process_start_time, (1,), None, None, None),
    "get_config bytes": (datadog_agent.get_config, (b"k",), None, "s", None),
    "get_config none": (datadog_agent.get_config, (), None, "s", None),
    "get_config keyword": (datadog_agent.get_config, ("k",), {"default": 1}, None, None),
    "log level str": (datadog_agent.log, ("m", "20"), None, "si", None),
    "log one arg": (datadog_agent.log, ("m",), None, "si", None),
    "send_log id None": (datadog_agent.send_log, ("{}", None), None, "ss", None),
    "set_check_metadata int": (datadog_agent.set_check_metadata, ("id", "n", 1), None, "sss", None),
    "set_check_metadata None": (
        datadog_agent.set_check_metadata,
        ("id", "n", None),
        None,
        "sss",
        None,
    ),
    "write_persistent_cache bytes": (
        datadog_agent.write_persistent_cache,
        ("k", b"v"),
        None,
        "ss",
        None,
    ),
    "write_persistent_cache one": (datadog_agent.write_persistent_cache, ("k",), None, "ss", None),
    "read_persistent_cache None": (datadog_agent.read_persistent_cache, (None,), None, "s", None),
    "read_persistent_cache keyword": (
        datadog_agent.read_persistent_cache,
        (),
        {"key": "k"},
        None,
        None,
    ),
    "set_external_tags none": (EXTERNAL, (), None, "O", None),
    "set_external_tags tuple": (EXTERNAL, (("h", {"s": []}),), None, None, None),
    "external not tuple": (EXTERNAL, ([["h", {"s": []}]],), None, None, None),
    "external hostname int": (EXTERNAL, ([(1, {"s": []})],), None, None, None),
    "external one-tuple": (EXTERNAL, ([("h",)],), None, None, None),
    "external not dict": (EXTERNAL, ([("h", ["s"])],), None, None, None),
    "external source int": (EXTERNAL, ([("h", {1: []})],), None, None, None),
    "external tags tuple": (EXTERNAL, ([("h", {"s": ("a",)})],), None, None, None),
    "tracemalloc keyword": (datadog_agent.tracemalloc_enabled, (), {"x": 1}, None, None),
    "telemetry value str": (
        datadog_agent.emit_agent_telemetry,
        ("c", "m", "1", "gauge"),
        None,
        "ssds",
        None,
    ),
    "telemetry three": (datadog_agent.emit_agent_telemetry, ("c", "m", 1), None, "ssds", None),
    "obfuscate_sql": (datadog_agent.obfuscate_sql, ("SELECT 1",), None, None, None),
    "obfuscate_sql options None": (datadog_agent.obfuscate_sql, ("q", None), None, "s|s", KW_SQL),
    "obfuscate_sql bad keyword": (datadog_agent.obfuscate_sql, ("q",), {"bad": 1}, "s|s", KW_SQL),
    "obfuscate_sql no args": (datadog_agent.obfuscate_sql, (), None, "s|s", KW_SQL),
    "obfuscate_sql_exec_plan": (
        datadog_agent.obfuscate_sql_exec_plan,
        ("{}",),
        {"normalize": True},
        None,
        None,
    ),
    "exec_plan None": (
        datadog_agent.obfuscate_sql_exec_plan,
        (None,),
        None,
        "s|O",
        ["", "normalize"],
    ),
    "obfuscate_mongodb_string": (datadog_agent.obfuscate_mongodb_string, ("{}",), None, None, None),
    "mongodb None": (datadog_agent.obfuscate_mongodb_string, (None,), None, "s", None),
    # _util
    "subprocess no args": (SUBPROCESS, (), None, F_SUBPROCESS, KW_SUBPROCESS),
    "subprocess env positional": (
        _util.get_subprocess_output,
        (["true"], False, {}),
        None,
        F_SUBPROCESS,
        KW_SUBPROCESS,
    ),
    "subprocess bad keyword": (SUBPROCESS, (["true"],), {"foo": 1}, F_SUBPROCESS, KW_SUBPROCESS),
    "subprocess str command": (SUBPROCESS, ("true",), None, None, None),
    "subprocess tuple command": (SUBPROCESS, (("true",),), None, None, None),
    "subprocess empty": (SUBPROCESS, ([],), None, None, None),
    "subprocess int arg": (SUBPROCESS, (["echo", 1],), None, None, None),
    "subprocess env list": (SUBPROCESS, (["true"],), {"env": [("A", "B")]}, None, None),
    "subprocess env key": (SUBPROCESS, (["true"],), {"env": {1: "B"}}, None, None),
    "subprocess env value": (SUBPROCESS, (["true"],), {"env": {"A": 1}}, None, None),
    "subprocess raise None": (SUBPROCESS, (["true"], None), None, None, None),
    "subprocess raise int": (SUBPROCESS, (["true"], 1), None, None, None),
    "subprocess empty output": (SUBPROCESS, (["true"], True), None, None, None),
    "subprocess missing": (SUBPROCESS, (["/nonexistent/pyhost-test"],), None, None, None),
    # util, tagger, containers, kubeutil
    "tag cardinality": (tagger.tag, ("e", 7), None, None, None),
    "tag entity None": (tagger.tag, (None, tagger.LOW), None, "si", None),
    "get_tags one arg": (tagger.get_tags, ("e",), None, "si", None),
    "is_excluded namespace None": (containers.is_excluded, ("n", "i", None), None, "ss|s", None),
    "is_excluded one arg": (containers.is_excluded, ("n",), None, "ss|s", None),
    "get_connection_info arg": (kubeutil.get_connection_info, (1,), None, None, None),
    "util.headers": (util.headers, (1, 2), {"x": 1}, None, None),
}


def _call(function, args, kwargs):
    try:
        function(*args, **(kwargs or {}))
    except BaseException as e:  # noqa: BLE001 - reported to the test
        return [type(e).__name__, str(e)]
    return ["", ""]


def wrong_calls():
    """{label: [exception type name, message]}; ["", ""] when nothing was raised."""
    return {label: _call(f, a, k) for label, (f, a, k, _, _) in CASES.items()}


def _reference(fmt, args, kwargs, kwlist):
    """What CPython's own PyArg_ParseTuple(AndKeywords) raises for these arguments."""
    api = ctypes.pythonapi
    slots = [ctypes.create_string_buffer(16) for _ in range(12)]
    outs = [ctypes.cast(b, ctypes.c_void_p) for b in slots]
    try:
        if kwlist is None:
            parse = api._PyArg_ParseTuple_SizeT
            parse.restype = ctypes.c_int
            parse(ctypes.py_object(tuple(args)), fmt.encode(), *outs)
        else:
            parse = api._PyArg_ParseTupleAndKeywords_SizeT
            parse.restype = ctypes.c_int
            names = (ctypes.c_char_p * (len(kwlist) + 1))(*[k.encode() for k in kwlist], None)
            kw = ctypes.py_object(kwargs) if kwargs else None
            parse(ctypes.py_object(tuple(args)), kw, fmt.encode(), names, *outs)
    except BaseException as e:  # noqa: BLE001 - reported to the test
        return [type(e).__name__, str(e)]
    return ["", ""]


def differential():
    """Cases whose error differs from CPython's PyArg_ParseTuple with the agent's
    format: {label: [pyhost, reference]}; empty when all agree."""
    got = wrong_calls()
    diffs = {}
    for label, (_, args, kwargs, fmt, kwlist) in CASES.items():
        if fmt is None:
            continue
        want = _reference(fmt, args, kwargs, kwlist)
        if got[label] != want:
            diffs[label] = [got[label], want]
    return diffs
