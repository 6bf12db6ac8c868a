//! `datadog_agent` (and `util`, which only has its `headers`), with
//! rtloader's names, calling conventions and argument errors. The work behind the settings and the persistent cache is Python
//! (`agent.py`); argument checking is here, so the errors are the agent's.

use std::ffi::{c_char, c_int};
use std::ptr;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyModule, PyTuple};

use super::cfunc::{self, as_string, method, object, parse_keywords, parse_tuple, Ret};
use super::AGENT;
use crate::check::sinks;
use crate::runtime::logging;

fn call_agent<'py>(py: Python<'py>, name: &str, args: impl pyo3::call::PyCallArgs<'py>) -> Ret {
    AGENT.call(py, name, args).map(Bound::unbind)
}

#[pyo3::pymodule]
pub fn datadog_agent(m: &Bound<'_, PyModule>) -> PyResult<()> {
    cfunc::add_functions(
        m,
        vec![
            method!(
                c"get_clustername",
                noargs,
                get_clustername,
                c"Get the cluster name."
            ),
            method!(
                c"get_config",
                varargs,
                get_config,
                c"Get an Agent config item."
            ),
            method!(c"get_hostname", noargs, get_hostname, c"Get the hostname."),
            method!(
                c"get_host_tags",
                noargs,
                get_host_tags,
                c"Get the host tags."
            ),
            method!(
                c"tracemalloc_enabled",
                varargs,
                tracemalloc_enabled,
                c"Gets if tracemalloc is enabled."
            ),
            method!(c"get_version", noargs, get_version, c"Get Agent version."),
            method!(
                c"headers",
                keywords,
                headers,
                c"Get standard set of HTTP headers."
            ),
            method!(
                c"log",
                varargs,
                log,
                c"Log a message through the agent logger."
            ),
            method!(c"send_log", varargs, send_log, c"Submit a log for Checks."),
            method!(
                c"set_check_metadata",
                varargs,
                set_check_metadata,
                c"Send metadata for Checks."
            ),
            method!(
                c"set_external_tags",
                varargs,
                set_external_tags,
                c"Send external host tags."
            ),
            method!(
                c"write_persistent_cache",
                varargs,
                write_persistent_cache,
                c"Store a value for a given key."
            ),
            method!(
                c"read_persistent_cache",
                varargs,
                read_persistent_cache,
                c"Retrieve the value associated with a key."
            ),
            method!(
                c"obfuscate_sql",
                keywords,
                obfuscate_sql,
                c"Obfuscate & normalize a SQL string (not available in pyhost yet)."
            ),
            method!(
                c"obfuscate_sql_exec_plan",
                keywords,
                obfuscate_sql_exec_plan,
                c"Obfuscate & normalize a SQL Execution Plan (not available in pyhost yet)."
            ),
            method!(
                c"get_process_start_time",
                noargs,
                get_process_start_time,
                c"Get agent process startup time, in seconds since the epoch."
            ),
            method!(
                c"obfuscate_mongodb_string",
                keywords,
                obfuscate_mongodb_string,
                c"Obfuscate & normalize a MongoDB command string (not available in pyhost yet)."
            ),
            method!(
                c"emit_agent_telemetry",
                keywords,
                emit_agent_telemetry,
                c"Emit agent telemetry (accepted and dropped by pyhost)."
            ),
            method!(
                c"report_issue",
                varargs,
                report_issue,
                c"Report an issue for a check (accepted and dropped by pyhost)."
            ),
            method!(
                c"resolve_issue",
                varargs,
                resolve_issue,
                c"Resolve a reported issue (accepted and dropped by pyhost)."
            ),
        ],
    )
}

fn get_clustername(py: Python<'_>) -> Ret {
    call_agent(py, "agent_cluster_name", ())
}

fn get_hostname(py: Python<'_>) -> Ret {
    call_agent(py, "agent_hostname", ())
}

fn get_host_tags(py: Python<'_>) -> Ret {
    call_agent(py, "agent_host_tags", ())
}

fn get_version(py: Python<'_>) -> Ret {
    call_agent(py, "agent_version", ())
}

fn get_process_start_time(py: Python<'_>) -> Ret {
    call_agent(py, "agent_process_start_time", ())
}

/// get_config(key): the agent setting, None when unset.
fn get_config(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut key: *const c_char = ptr::null();
    parse_tuple!(args, c"s", &mut key as *mut *const c_char)?;
    // SAFETY: an `s` output of a live argument.
    let key = unsafe { cfunc::text(key) };
    call_agent(py, "agent_config", (key,))
}

/// tracemalloc_enabled(*args): arguments are ignored, as in the agent.
fn tracemalloc_enabled(py: Python<'_>, _args: &Bound<'_, PyTuple>) -> Ret {
    call_agent(py, "agent_tracemalloc_enabled", ())
}

/// headers(*args, **kwargs): the agent's HTTP headers; `http_host=` adds Host.
pub fn headers(
    py: Python<'_>,
    _args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> Ret {
    let headers = AGENT.call(py, "agent_headers", ())?;
    if let Some(host) = kwargs.and_then(|k| k.get_item("http_host").ok().flatten()) {
        headers.set_item("Host", host)?;
    }
    Ok(headers.unbind())
}

/// log(message, level): a record for the host's log, with the id of the
/// check running on this thread.
fn log(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut message: *const c_char = ptr::null();
    let mut level: c_int = 0;
    parse_tuple!(
        args,
        c"si",
        &mut message as *mut *const c_char,
        &mut level as *mut c_int,
    )?;
    // SAFETY: an `s` output of a live argument.
    let message = unsafe { cfunc::text(message) };
    let check_id = sinks::current(py).map(|c| c.check_id).unwrap_or_default();
    logging::emit(py, level, "datadog_agent", &check_id, message);
    cfunc::none(py)
}

/// send_log(log_line, check_id): pyhost has no log intake; dropped.
fn send_log(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut line: *const c_char = ptr::null();
    let mut check_id: *const c_char = ptr::null();
    parse_tuple!(
        args,
        c"ss",
        &mut line as *mut *const c_char,
        &mut check_id as *mut *const c_char,
    )?;
    // SAFETY: an `s` output of a live argument.
    let check_id = unsafe { cfunc::text(check_id) };
    logging::debug(
        py,
        "datadog_agent",
        check_id,
        "send_log: pyhost has no log intake; the log line was dropped",
    );
    cfunc::none(py)
}

/// set_check_metadata(check_id, name, value): a METADATA record in that
/// check's results.
fn set_check_metadata(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut check_id: *const c_char = ptr::null();
    let mut name: *const c_char = ptr::null();
    let mut value: *const c_char = ptr::null();
    parse_tuple!(
        args,
        c"sss",
        &mut check_id as *mut *const c_char,
        &mut name as *mut *const c_char,
        &mut value as *mut *const c_char,
    )?;
    // SAFETY: `s` outputs of live arguments.
    let (check_id, name, value) =
        unsafe { (cfunc::text(check_id), cfunc::text(name), cfunc::text(value)) };
    match sinks::route(py, check_id) {
        // SAFETY: writing Rust values.
        Some(route) => unsafe { route.sink.with(py, |w| w.metadata(name, value)) },
        None => logging::debug(
            py,
            "datadog_agent",
            check_id,
            &format!("set_check_metadata: no check with id {check_id:?}; {name:?} dropped"),
        ),
    }
    cfunc::none(py)
}

/// set_external_tags([(hostname, {source_type: [tags]}), ...]): an
/// EXTERNAL_TAGS record in the results of the check running on this thread.
/// As in the agent, entries before a malformed one still count, only the
/// first source type of each dict is read, and tags that are not str are
/// dropped.
fn set_external_tags(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut input: *mut ffi::PyObject = ptr::null_mut();
    parse_tuple!(args, c"O", &mut input as *mut *mut ffi::PyObject)?;
    // SAFETY: an object output of a live argument.
    let input = unsafe { object(py, input) };
    let list = input
        .cast::<PyList>()
        .map_err(|_| PyTypeError::new_err("tags must be a list"))?;
    let mut entries = Vec::new();
    let mut failure = None;
    for item in list.iter() {
        match external_entry(&item) {
            Ok(Some(entry)) => entries.push(entry),
            Ok(None) => {}
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if !entries.is_empty() {
        let json = serde_json::Value::Array(entries).to_string();
        match sinks::current(py) {
            // SAFETY: writing Rust values.
            Some(current) => unsafe { current.sink.with(py, |w| w.external_tags(&json)) },
            None => logging::debug(
                py,
                "datadog_agent",
                "",
                "set_external_tags: no check is running on this thread; the tags were dropped",
            ),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => cfunc::none(py),
    }
}

/// One `(hostname, {source_type: [tags]})` entry as `[hostname, {source_type:
/// [tags]}]`, None for an empty dict.
fn external_entry(item: &Bound<'_, PyAny>) -> PyResult<Option<serde_json::Value>> {
    let tuple = item
        .cast::<PyTuple>()
        .map_err(|_| PyTypeError::new_err("external host tags list must contain only tuples"))?;
    let hostname = tuple
        .get_item(0)
        .ok()
        .as_ref()
        .and_then(as_string)
        .ok_or_else(|| PyTypeError::new_err("hostname is not a valid string"))?;
    let dict = tuple.get_item(1).ok();
    let dict = dict
        .as_ref()
        .and_then(|d| d.cast::<PyDict>().ok())
        .ok_or_else(|| PyTypeError::new_err("second elem of the host tags tuple must be a dict"))?;
    let Some((source_type, tags)) = dict.iter().next() else {
        return Ok(None);
    };
    let source_type = as_string(&source_type)
        .ok_or_else(|| PyTypeError::new_err("source_type is not a valid string"))?;
    let tags = tags
        .cast::<PyList>()
        .map_err(|_| PyTypeError::new_err("dict value must be a list of tags"))?;
    let tags: Vec<serde_json::Value> = tags
        .iter()
        .filter_map(|t| as_string(&t))
        .map(serde_json::Value::String)
        .collect();
    let mut by_source = serde_json::Map::new();
    by_source.insert(source_type, serde_json::Value::Array(tags));
    Ok(Some(serde_json::json!([hostname, by_source])))
}

/// write_persistent_cache(key, value)
fn write_persistent_cache(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut key: *const c_char = ptr::null();
    let mut value: *const c_char = ptr::null();
    parse_tuple!(
        args,
        c"ss",
        &mut key as *mut *const c_char,
        &mut value as *mut *const c_char,
    )?;
    // SAFETY: `s` outputs of live arguments.
    let (key, value) = unsafe { (cfunc::text(key), cfunc::text(value)) };
    call_agent(py, "cache_write", (key, value))
}

/// read_persistent_cache(key): the value, "" when there is none.
fn read_persistent_cache(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut key: *const c_char = ptr::null();
    parse_tuple!(args, c"s", &mut key as *mut *const c_char)?;
    // SAFETY: an `s` output of a live argument.
    let key = unsafe { cfunc::text(key) };
    call_agent(py, "cache_read", (key,))
}

/// obfuscate_sql(query, options=None): the query obfuscated by the host's
/// obfuscator (`options` is a JSON object string), or RuntimeError.
fn obfuscate_sql(
    py: Python<'_>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> Ret {
    let mut query: *const c_char = ptr::null();
    let mut options: *const c_char = ptr::null();
    parse_keywords!(
        args,
        kwargs,
        c"s|s",
        [c"query", c"options"],
        &mut query as *mut *const c_char,
        &mut options as *mut *const c_char,
    )?;
    // SAFETY: `s` outputs of live arguments (options may be NULL).
    let (query, options) = unsafe {
        (
            cfunc::text(query),
            if options.is_null() {
                ""
            } else {
                cfunc::text(options)
            },
        )
    };
    call_agent(py, "obfuscate_sql", (query, options))
}

/// obfuscate_sql_exec_plan(plan, normalize=False)
fn obfuscate_sql_exec_plan(
    py: Python<'_>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> Ret {
    let mut plan: *const c_char = ptr::null();
    let mut normalize: *mut ffi::PyObject = ptr::null_mut();
    parse_keywords!(
        args,
        kwargs,
        c"s|O",
        [c"", c"normalize"],
        &mut plan as *mut *const c_char,
        &mut normalize as *mut *mut ffi::PyObject,
    )?;
    // SAFETY: an `s` output of a live argument; `normalize` is NULL or a
    // borrowed object (truth tested as the agent does).
    let (plan, normalize) = unsafe {
        let truth = if normalize.is_null() {
            0
        } else {
            ffi::PyObject_IsTrue(normalize)
        };
        if truth < 0 {
            return Err(PyErr::fetch(py));
        }
        (cfunc::text(plan), truth == 1)
    };
    call_agent(py, "obfuscate_sql_exec_plan", (plan, normalize))
}

/// obfuscate_mongodb_string(command): keywords are ignored, as in the agent.
fn obfuscate_mongodb_string(
    py: Python<'_>,
    args: &Bound<'_, PyTuple>,
    _kwargs: Option<&Bound<'_, PyDict>>,
) -> Ret {
    let mut command: *const c_char = ptr::null();
    parse_tuple!(args, c"s", &mut command as *mut *const c_char)?;
    // SAFETY: an `s` output of a live argument.
    let command = unsafe { cfunc::text(command) };
    call_agent(py, "obfuscate_mongodb_string", (command,))
}

/// emit_agent_telemetry(check_name, metric_name, value, metric_type):
/// checked, then dropped (pyhost has no agent telemetry for checks).
fn emit_agent_telemetry(
    py: Python<'_>,
    args: &Bound<'_, PyTuple>,
    _kwargs: Option<&Bound<'_, PyDict>>,
) -> Ret {
    let mut check: *const c_char = ptr::null();
    let mut metric: *const c_char = ptr::null();
    let mut value: f64 = 0.0;
    let mut metric_type: *const c_char = ptr::null();
    parse_tuple!(
        args,
        c"ssds",
        &mut check as *mut *const c_char,
        &mut metric as *mut *const c_char,
        &mut value as *mut f64,
        &mut metric_type as *mut *const c_char,
    )?;
    // SAFETY: `s` outputs of live arguments.
    let metric = unsafe { cfunc::text(metric) };
    logging::debug(
        py,
        "datadog_agent",
        "",
        &format!("emit_agent_telemetry: {metric} = {value} dropped (no agent telemetry in pyhost)"),
    );
    cfunc::none(py)
}

/// report_issue(check_name, issue_json): what datadog_checks_base's
/// `AgentCheck.report_issue` calls; dropped.
fn report_issue(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut check: *const c_char = ptr::null();
    let mut issue: *const c_char = ptr::null();
    parse_tuple!(
        args,
        c"ss",
        &mut check as *mut *const c_char,
        &mut issue as *mut *const c_char,
    )?;
    logging::debug(
        py,
        "datadog_agent",
        "",
        "report_issue: pyhost has no issue reporting; dropped",
    );
    cfunc::none(py)
}

/// resolve_issue(issue_id); dropped.
fn resolve_issue(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut issue: *const c_char = ptr::null();
    parse_tuple!(args, c"s", &mut issue as *mut *const c_char)?;
    cfunc::none(py)
}

#[pyo3::pymodule]
pub fn util(m: &Bound<'_, PyModule>) -> PyResult<()> {
    cfunc::add_functions(
        m,
        vec![method!(
            c"headers",
            keywords,
            headers,
            c"Get standard set of HTTP headers."
        )],
    )
}
