//! The Datadog Agent's other in-memory modules: `datadog_agent`, `_util`,
//! `util`, `tagger`, `containers` and `kubeutil`, with rtloader's names,
//! calling conventions and argument errors. The work behind the settings,
//! the persistent cache and subprocesses is Python (`host.py`); argument
//! checking is here, so the errors are the agent's.

use std::ffi::{c_char, c_int};
use std::ptr;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyModule, PyTuple};

use crate::aggregator::as_string;
use crate::cfunc::{self, method, parse_tuple, Ret};
use crate::{host, sinks};

create_exception!(
    _util,
    SubprocessOutputEmptyError,
    PyException,
    "Raised by get_subprocess_output when raise_on_empty is True and the command wrote nothing to stdout."
);

/// Borrows an object output of `PyArg_ParseTuple`.
///
/// # Safety
/// `obj` is a live object the argument tuple keeps alive.
unsafe fn object<'py>(py: Python<'py>, obj: *mut ffi::PyObject) -> Bound<'py, PyAny> {
    // SAFETY: forwarded to the caller.
    unsafe { Bound::from_borrowed_ptr(py, obj) }
}

/// `PyArg_ParseTupleAndKeywords` with a keyword list.
macro_rules! parse_keywords {
    ($args:expr, $kwargs:expr, $format:expr, $kwlist:expr $(, $out:expr)* $(,)?) => {{
        let args: &Bound<'_, PyTuple> = $args;
        let kwargs: Option<&Bound<'_, PyDict>> = $kwargs;
        let mut kwlist: Vec<*mut c_char> = $kwlist
            .iter()
            .map(|k: &&std::ffi::CStr| k.as_ptr() as *mut c_char)
            .chain(std::iter::once(ptr::null_mut()))
            .collect();
        let kwargs = kwargs.map_or(ptr::null_mut(), |k| k.as_ptr());
        // SAFETY: the outputs match the format letters; the keyword list is
        // NULL-terminated and outlives the call.
        let ok = unsafe {
            ffi::PyArg_ParseTupleAndKeywords(
                args.as_ptr(),
                kwargs,
                $format.as_ptr(),
                kwlist.as_mut_ptr() as _
                $(, $out)*
            )
        };
        if ok == 0 {
            Err(PyErr::fetch(args.py()))
        } else {
            Ok(())
        }
    }};
}

fn call_host<'py>(py: Python<'py>, name: &str, args: impl pyo3::call::PyCallArgs<'py>) -> Ret {
    host::call(py, name, args).map(Bound::unbind)
}

// ---------------------------------------------------------------------------
// datadog_agent
// ---------------------------------------------------------------------------

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
    call_host(py, "agent_cluster_name", ())
}

fn get_hostname(py: Python<'_>) -> Ret {
    call_host(py, "agent_hostname", ())
}

fn get_host_tags(py: Python<'_>) -> Ret {
    call_host(py, "agent_host_tags", ())
}

fn get_version(py: Python<'_>) -> Ret {
    call_host(py, "agent_version", ())
}

fn get_process_start_time(py: Python<'_>) -> Ret {
    call_host(py, "agent_process_start_time", ())
}

/// get_config(key): the agent setting, None when unset.
fn get_config(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut key: *const c_char = ptr::null();
    parse_tuple!(args, c"s", &mut key as *mut *const c_char)?;
    // SAFETY: an `s` output of a live argument.
    let key = unsafe { cfunc::text(key) };
    call_host(py, "agent_config", (key,))
}

/// tracemalloc_enabled(*args): arguments are ignored, as in the agent.
fn tracemalloc_enabled(py: Python<'_>, _args: &Bound<'_, PyTuple>) -> Ret {
    call_host(py, "agent_tracemalloc_enabled", ())
}

/// headers(*args, **kwargs): the agent's HTTP headers; `http_host=` adds Host.
fn headers(py: Python<'_>, _args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> Ret {
    let headers = host::call(py, "agent_headers", ())?;
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
    host::emit_log(py, level, "datadog_agent", &check_id, message);
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
    host::debug(
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
        None => host::debug(
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
            None => host::debug(
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
    call_host(py, "cache_write", (key, value))
}

/// read_persistent_cache(key): the value, "" when there is none.
fn read_persistent_cache(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut key: *const c_char = ptr::null();
    parse_tuple!(args, c"s", &mut key as *mut *const c_char)?;
    // SAFETY: an `s` output of a live argument.
    let key = unsafe { cfunc::text(key) };
    call_host(py, "cache_read", (key,))
}

fn not_available(function: &str, what: &str) -> PyErr {
    PyRuntimeError::new_err(format!(
        "{function} is not available in pyhost yet: pyhost does not include the Datadog Agent's {what} obfuscator (see docs/datadog-compat.md)"
    ))
}

/// obfuscate_sql(query, options=None): arguments are checked as in the
/// agent, then RuntimeError.
fn obfuscate_sql(
    _py: Python<'_>,
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
    Err(not_available("obfuscate_sql", "SQL"))
}

/// obfuscate_sql_exec_plan(plan, normalize=False)
fn obfuscate_sql_exec_plan(
    _py: Python<'_>,
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
    Err(not_available(
        "obfuscate_sql_exec_plan",
        "SQL execution plan",
    ))
}

/// obfuscate_mongodb_string(command): keywords are ignored, as in the agent.
fn obfuscate_mongodb_string(
    _py: Python<'_>,
    args: &Bound<'_, PyTuple>,
    _kwargs: Option<&Bound<'_, PyDict>>,
) -> Ret {
    let mut command: *const c_char = ptr::null();
    parse_tuple!(args, c"s", &mut command as *mut *const c_char)?;
    Err(not_available("obfuscate_mongodb_string", "MongoDB"))
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
    host::debug(
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
    host::debug(
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

// ---------------------------------------------------------------------------
// _util, util
// ---------------------------------------------------------------------------

#[pyo3::pymodule]
#[pyo3(name = "_util")]
pub fn util_private(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "SubprocessOutputEmptyError",
        m.py().get_type::<SubprocessOutputEmptyError>(),
    )?;
    cfunc::add_functions(
        m,
        vec![
            method!(
                c"subprocess_output",
                keywords,
                subprocess_output,
                c"Exec a process and return the output."
            ),
            method!(
                c"get_subprocess_output",
                keywords,
                subprocess_output,
                c"Exec a process and return the output."
            ),
        ],
    )
}

/// get_subprocess_output(command, raise_on_empty=False, *, env=None) ->
/// (stdout, stderr, returncode). An argv list, no shell; the GIL is
/// released while the command runs; the settings' subprocess_timeout
/// (default 60 s) bounds it.
fn subprocess_output(
    py: Python<'_>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> Ret {
    let mut command: *mut ffi::PyObject = ptr::null_mut();
    let mut raise_on_empty: *mut ffi::PyObject = ptr::null_mut();
    let mut env: *mut ffi::PyObject = ptr::null_mut();
    parse_keywords!(
        args,
        kwargs,
        c"O|O$O:get_subprocess_output",
        [c"command", c"raise_on_empty", c"env"],
        &mut command as *mut *mut ffi::PyObject,
        &mut raise_on_empty as *mut *mut ffi::PyObject,
        &mut env as *mut *mut ffi::PyObject,
    )?;
    // SAFETY: an object output of a live argument.
    let command = unsafe { object(py, command) };
    let command = command
        .cast::<PyList>()
        .map_err(|_| PyTypeError::new_err("command args is not a list"))?;
    if command.is_empty() {
        return Err(PyTypeError::new_err("invalid command: empty list"));
    }
    let argv = command
        .iter()
        .map(|a| as_string(&a))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| PyTypeError::new_err("command argument must be valid strings"))?;
    // A non-empty env replaces the environment; None or {} inherits it.
    let mut environment: Option<Vec<(String, String)>> = None;
    if !env.is_null() {
        // SAFETY: an object output of a live argument.
        let env = unsafe { object(py, env) };
        if !env.is_none() {
            let env = env
                .cast::<PyDict>()
                .map_err(|_| PyTypeError::new_err("env is not a dict"))?;
            let mut pairs = Vec::with_capacity(env.len());
            for (key, value) in env.iter() {
                let key = as_string(&key)
                    .ok_or_else(|| PyTypeError::new_err("env key is not a string"))?;
                let value = as_string(&value)
                    .ok_or_else(|| PyTypeError::new_err("env value is not a string"))?;
                pairs.push((key, value));
            }
            if !pairs.is_empty() {
                environment = Some(pairs);
            }
        }
    }
    let raise = if raise_on_empty.is_null() {
        false
    } else {
        // SAFETY: an object output of a live argument.
        let flag = unsafe { object(py, raise_on_empty) };
        flag.cast::<PyBool>()
            .map_err(|_| PyTypeError::new_err("bad raise_on_empty argument: should be bool"))?
            .is_true()
    };
    let env = environment.map(|pairs| {
        let dict = PyDict::new(py);
        for (k, v) in pairs {
            let _ = dict.set_item(k, v);
        }
        dict
    });
    let result = host::call(py, "run_subprocess", (argv, env))?;
    if raise {
        let stdout = result.get_item(0)?;
        if stdout
            .cast::<pyo3::types::PyString>()
            .is_ok_and(|s| s.is_empty().unwrap_or(false))
        {
            return Err(SubprocessOutputEmptyError::new_err(
                "get_subprocess_output expected output but had none.",
            ));
        }
    }
    Ok(result.unbind())
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

// ---------------------------------------------------------------------------
// tagger, containers, kubeutil
// ---------------------------------------------------------------------------

pub const TAGGER_LOW: c_int = 0;
pub const TAGGER_ORCHESTRATOR: c_int = 1;
pub const TAGGER_HIGH: c_int = 2;

#[pyo3::pymodule]
pub fn tagger(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("LOW", TAGGER_LOW)?;
    m.add("ORCHESTRATOR", TAGGER_ORCHESTRATOR)?;
    m.add("HIGH", TAGGER_HIGH)?;
    cfunc::add_functions(
        m,
        vec![
            method!(c"tag", varargs, tag, c"Get tags for an entity."),
            method!(
                c"get_tags",
                varargs,
                get_tags,
                c"(Deprecated) Get tags for an entity."
            ),
        ],
    )
}

fn tagger_args(args: &Bound<'_, PyTuple>) -> PyResult<c_int> {
    let mut entity: *const c_char = ptr::null();
    let mut cardinality: c_int = 0;
    parse_tuple!(
        args,
        c"si",
        &mut entity as *mut *const c_char,
        &mut cardinality as *mut c_int,
    )?;
    Ok(cardinality)
}

/// tag(entity_id, cardinality): pyhost has no tag source yet, so every
/// entity is unknown: [].
fn tag(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let cardinality = tagger_args(args)?;
    if ![TAGGER_LOW, TAGGER_ORCHESTRATOR, TAGGER_HIGH].contains(&cardinality) {
        return Err(PyTypeError::new_err("Invalid cardinality"));
    }
    Ok(PyList::empty(py).into_any().unbind())
}

/// get_tags(entity_id, high_card): as tag(), [].
fn get_tags(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    tagger_args(args)?;
    Ok(PyList::empty(py).into_any().unbind())
}

#[pyo3::pymodule]
pub fn containers(m: &Bound<'_, PyModule>) -> PyResult<()> {
    cfunc::add_functions(
        m,
        vec![method!(
            c"is_excluded",
            varargs,
            is_excluded,
            c"Returns whether a container is excluded per name and image."
        )],
    )
}

/// is_excluded(name, image[, namespace]): pyhost has no container filter:
/// False.
fn is_excluded(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut name: *const c_char = ptr::null();
    let mut image: *const c_char = ptr::null();
    let mut namespace: *const c_char = ptr::null();
    parse_tuple!(
        args,
        c"ss|s",
        &mut name as *mut *const c_char,
        &mut image as *mut *const c_char,
        &mut namespace as *mut *const c_char,
    )?;
    Ok(PyBool::new(py, false).to_owned().into_any().unbind())
}

#[pyo3::pymodule]
pub fn kubeutil(m: &Bound<'_, PyModule>) -> PyResult<()> {
    cfunc::add_functions(
        m,
        vec![method!(
            c"get_connection_info",
            noargs,
            get_connection_info,
            c"Get kubelet connection information."
        )],
    )
}

/// get_connection_info(): pyhost has no kubelet connection: {}.
fn get_connection_info(py: Python<'_>) -> Ret {
    Ok(PyDict::new(py).into_any().unbind())
}
