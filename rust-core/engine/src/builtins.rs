//! The in-memory modules plugins import: `aggregator` and `datadog_agent`
//! with the Datadog Agent's names and positional signatures, and `_pyhost`
//! (the SDK's link to the host). Registered before the interpreter starts.
//!
//! Arguments are read as borrowed Python objects (a copy per argument costs
//! 4–5× the call); a wrong type raises TypeError or ValueError, and a record
//! that fails half-way is rolled back, so the batch is never corrupted.

use pyhost_abi::batch::{
    Repeatable, Writer, PYHOST_BATCH_EVENT, PYHOST_BATCH_METRIC, PYHOST_BATCH_SAME,
    PYHOST_BATCH_SERVICE_CHECK,
};
use pyhost_abi::pyhost_str;
use pyo3::create_exception;
use pyo3::exceptions::{PyBaseException, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::gil_cell::GilCell;
use crate::{convert, host, sinks};

create_exception!(
    _pyhost,
    CheckCancelled,
    PyBaseException,
    "Raised inside a running check when the host cancels it (a timeout, a shutdown). \
     It derives from BaseException so that `except Exception` in a check does not swallow it."
);

pub fn register_before_start() {
    pyo3::append_to_inittab!(aggregator);
    pyo3::append_to_inittab!(datadog_agent);
    pyo3::append_to_inittab!(_pyhost);
}

fn route(py: Python<'_>, check_id: &str) -> PyResult<sinks::Route> {
    sinks::route(py, check_id)
        .ok_or_else(|| PyValueError::new_err(format!("unknown check id {check_id:?}")))
}

/// Writes `tags` (None, or a list/tuple of str) as a counted list; returns
/// the count.
fn write_tags(w: &mut Writer, tags: &Bound<'_, PyAny>) -> PyResult<u32> {
    let at = w.mark();
    w.u32(0);
    if tags.is_none() {
        return Ok(0);
    }
    let mut count = 0u32;
    let mut push = |item: Bound<'_, PyAny>| -> PyResult<()> {
        let tag = item.cast::<PyString>().map_err(|_| not_str_tag(&item))?;
        w.str(tag.to_str()?);
        count += 1;
        Ok(())
    };
    if let Ok(list) = tags.cast::<PyList>() {
        for item in list.iter() {
            push(item)?;
        }
    } else if let Ok(tuple) = tags.cast::<PyTuple>() {
        for item in tuple.iter() {
            push(item)?;
        }
    } else {
        return Err(PyTypeError::new_err(format!(
            "tags must be a list or tuple of str, not {}",
            type_name(tags)
        )));
    }
    w.patch_u32(at, count);
    Ok(count)
}

/// Writes one metric record, or nothing if an argument is invalid.
#[allow(clippy::too_many_arguments)]
fn write_metric(
    w: &mut Writer,
    mtype: i64,
    name: &str,
    value: f64,
    tags: &Bound<'_, PyAny>,
    hostname: Option<&str>,
    flush_first_value: bool,
) -> PyResult<()> {
    if !(0..=6).contains(&mtype) {
        return Err(PyValueError::new_err(format!(
            "unknown metric type {mtype} (expected 0..6)"
        )));
    }
    if !value.is_finite() {
        return Err(PyValueError::new_err(format!(
            "metric {name:?} value {value} is not finite"
        )));
    }
    let mark = w.mark();
    w.u8(PYHOST_BATCH_METRIC);
    w.u8(mtype as u8);
    w.u8(u8::from(flush_first_value));
    w.f64(value);
    w.metric_str(Repeatable::Name, name);
    w.metric_str(Repeatable::Hostname, hostname.unwrap_or(""));
    match write_metric_tags(w, tags) {
        Ok(stored) => {
            w.count_metric(stored);
            Ok(())
        }
        Err(e) => {
            w.rollback(mark);
            Err(e)
        }
    }
}

/// Writes a metric's tags, or SAME when they equal the previous metric's
/// (compared before encoding: the usual case costs no writes). Returns how
/// many tags were stored.
fn write_metric_tags(w: &mut Writer, tags: &Bound<'_, PyAny>) -> PyResult<u32> {
    if let Some(prev) = w.prev_tags() {
        if same_tags(prev, tags) {
            w.u32(PYHOST_BATCH_SAME);
            return Ok(0);
        }
    }
    let start = w.mark();
    let count = write_tags(w, tags)?;
    w.remember_tags(start);
    Ok(count)
}

/// Whether `tags` (None, list or tuple of str) encode to `prev`. Anything
/// unusual answers false and is handled, or rejected, by `write_tags`.
fn same_tags(prev: &[u8], tags: &Bound<'_, PyAny>) -> bool {
    let read_u32 = |at: usize| {
        prev.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let Some(count) = read_u32(0) else {
        return false;
    };
    if tags.is_none() {
        return count == 0;
    }
    let mut at = 4;
    let mut matches = |item: Bound<'_, PyAny>| -> bool {
        let Ok(tag) = item.cast::<PyString>() else {
            return false;
        };
        let Ok(tag) = tag.to_str() else { return false };
        let Some(len) = read_u32(at) else {
            return false;
        };
        let end = at + 4 + len as usize;
        let same = len as usize == tag.len() && prev.get(at + 4..end) == Some(tag.as_bytes());
        at = end;
        same
    };
    if let Ok(list) = tags.cast::<PyList>() {
        list.len() == count as usize && list.iter().all(&mut matches)
    } else if let Ok(tuple) = tags.cast::<PyTuple>() {
        tuple.len() == count as usize && tuple.iter().all(&mut matches)
    } else {
        false
    }
}

fn not_str_tag(item: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "tags must be str, not {}: {}",
        type_name(item),
        repr(item)
    ))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn repr(obj: &Bound<'_, PyAny>) -> String {
    obj.repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Runs `write` on the sink's batch; a failure rolls the record back.
/// `write` must not run Python code.
fn append(
    py: Python<'_>,
    check_id: &str,
    write: impl FnOnce(&mut Writer) -> PyResult<()>,
) -> PyResult<()> {
    let route = route(py, check_id)?;
    // SAFETY: `write` runs no Python code (this function's contract).
    unsafe {
        route.sink.with(py, |w| {
            let mark = w.mark();
            write(w).inspect_err(|_| w.rollback(mark))
        })
    }
}

#[pymodule]
pub mod aggregator {
    use super::*;

    #[pymodule_export]
    pub const GAUGE: i32 = 0;
    #[pymodule_export]
    pub const RATE: i32 = 1;
    #[pymodule_export]
    pub const COUNT: i32 = 2;
    #[pymodule_export]
    pub const MONOTONIC_COUNT: i32 = 3;
    #[pymodule_export]
    pub const COUNTER: i32 = 4;
    #[pymodule_export]
    pub const HISTOGRAM: i32 = 5;
    #[pymodule_export]
    pub const HISTORATE: i32 = 6;

    /// submit_metric(check, check_id, mtype, name, value, tags, hostname, flush_first_value=False)
    #[pyfunction]
    #[pyo3(signature = (check, check_id, mtype, name, value, tags, hostname, flush_first_value=false))]
    #[allow(clippy::too_many_arguments)]
    fn submit_metric(
        check: &Bound<'_, PyAny>,
        check_id: &str,
        mtype: i64,
        name: &str,
        value: f64,
        tags: &Bound<'_, PyAny>,
        hostname: Option<&str>,
        flush_first_value: bool,
    ) -> PyResult<()> {
        let _ = check;
        let route = route(check.py(), check_id)?;
        submit_to(
            &route,
            check_id,
            mtype,
            name,
            value,
            tags,
            hostname,
            flush_first_value,
        )
    }

    /// submit_service_check(check, check_id, name, status, tags, hostname, message)
    #[pyfunction]
    #[pyo3(signature = (check, check_id, name, status, tags, hostname, message=None))]
    #[allow(clippy::too_many_arguments)]
    fn submit_service_check(
        check: &Bound<'_, PyAny>,
        check_id: &str,
        name: &str,
        status: i64,
        tags: &Bound<'_, PyAny>,
        hostname: Option<&str>,
        message: Option<&str>,
    ) -> PyResult<()> {
        let _ = check;
        if !(0..=3).contains(&status) {
            return Err(PyValueError::new_err(format!(
                "service check {name:?} status {status} is not one of 0 (OK), 1 (WARNING), 2 (CRITICAL), 3 (UNKNOWN)"
            )));
        }
        append(check.py(), check_id, |w| {
            w.u8(PYHOST_BATCH_SERVICE_CHECK);
            w.u8(status as u8);
            w.str(name);
            w.str(hostname.unwrap_or(""));
            w.str(message.unwrap_or(""));
            write_tags(w, tags).map(drop)
        })
    }

    /// submit_event(check, check_id, event)
    #[pyfunction]
    fn submit_event(
        check: &Bound<'_, PyAny>,
        check_id: &str,
        event: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let _ = check;
        let event = event.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!("event must be a dict, not {}", type_name(event)))
        })?;
        let mut json = Vec::with_capacity(128);
        convert::py_to_json(event.as_any(), &mut json)?;
        let json = String::from_utf8(json).map_err(|e| PyValueError::new_err(e.to_string()))?;
        append(check.py(), check_id, |w| {
            w.u8(PYHOST_BATCH_EVENT);
            w.str(&json);
            Ok(())
        })
    }
}

/// Delivers a metric to its check's batch, or per metric to the host when
/// the runtime asked for that (comparison benchmarks only).
#[allow(clippy::too_many_arguments)]
fn submit_to(
    route: &sinks::Route,
    check_id: &str,
    mtype: i64,
    name: &str,
    value: f64,
    tags: &Bound<'_, PyAny>,
    hostname: Option<&str>,
    flush_first_value: bool,
) -> PyResult<()> {
    if let Some(callback) = route.runtime.metric_callback {
        if !(0..=6).contains(&mtype) {
            return Err(PyValueError::new_err(format!(
                "unknown metric type {mtype} (expected 0..6)"
            )));
        }
        if !value.is_finite() {
            return Err(PyValueError::new_err(format!(
                "metric {name:?} value {value} is not finite"
            )));
        }
        return deliver_one(
            callback,
            route.runtime.metric_context,
            check_id,
            mtype,
            name,
            value,
            tags,
            hostname,
        );
    }
    // SAFETY: write_metric reads strings and lists in place and runs no Python code.
    unsafe {
        route.sink.with(tags.py(), |w| {
            write_metric(w, mtype, name, value, tags, hostname, flush_first_value)
        })
    }
}

/// The native base of the SDK's `AgentCheck`: the submission methods run
/// here, with no Python frame, and write straight into the check's own sink
/// (bound when the host sets `check_id`). Anything unusual — a wrong type, a
/// NaN, a `device_name` — goes to the SDK's `_resubmit_metric`, which turns
/// bad data into a warning.
#[pyclass(subclass, frozen, module = "_pyhost", name = "CheckBase")]
pub struct CheckBase {
    bound: GilCell<(String, Option<sinks::Route>)>,
}

impl CheckBase {
    fn check_id(&self, py: Python<'_>) -> String {
        // SAFETY: cloning a String runs no Python code.
        unsafe { self.bound.with(py, |bound| bound.0.clone()) }
    }
}

/// Extracts the common case of a submission, or None for the SDK to handle.
fn plain_metric<'a>(
    name: &'a Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    hostname: &'a Bound<'_, PyAny>,
) -> Option<(&'a str, f64, Option<&'a str>)> {
    let name = name.cast::<PyString>().ok()?.to_str().ok()?;
    let value = value.extract::<f64>().ok().filter(|v| v.is_finite())?;
    let hostname = if hostname.is_none() {
        None
    } else {
        Some(hostname.cast::<PyString>().ok()?.to_str().ok()?)
    };
    Some((name, value, hostname))
}

#[allow(clippy::too_many_arguments)]
fn native_submit(
    slf: &Bound<'_, CheckBase>,
    mtype: i64,
    name: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    tags: Option<&Bound<'_, PyAny>>,
    hostname: Option<&Bound<'_, PyAny>>,
    device_name: Option<&Bound<'_, PyAny>>,
    flush_first_value: bool,
) -> PyResult<()> {
    let py = slf.py();
    let none = py.None().into_bound(py);
    let (tags, hostname) = (tags.unwrap_or(&none), hostname.unwrap_or(&none));
    let device_name = device_name.unwrap_or(&none);
    if device_name.is_none() {
        if let Some((n, v, h)) = plain_metric(name, value, hostname) {
            // Batched mode writes inside the borrow (no Python code runs);
            // per-metric mode calls the host, so its route is cloned out.
            // SAFETY: write_metric and the clone run no Python code.
            let submitted = unsafe {
                slf.get().bound.with(py, |bound| match &bound.1 {
                    Some(route) if route.runtime.metric_callback.is_none() => Bound_::Written(
                        route
                            .sink
                            .with(py, |w| {
                                write_metric(w, mtype, n, v, tags, h, flush_first_value)
                            })
                            .is_ok(),
                    ),
                    Some(route) => Bound_::PerMetric(route.clone(), bound.0.clone()),
                    None => Bound_::Written(false),
                })
            };
            let ok = match submitted {
                Bound_::Written(ok) => ok,
                Bound_::PerMetric(route, check_id) => {
                    submit_to(&route, &check_id, mtype, n, v, tags, h, flush_first_value).is_ok()
                }
            };
            if ok {
                return Ok(());
            }
        }
    }
    slf.call_method1(
        intern!(py, "_resubmit_metric"),
        (
            mtype,
            name,
            value,
            tags,
            hostname,
            flush_first_value,
            device_name,
        ),
    )
    .map(drop)
}

/// What a native submission did with the check's bound route.
enum Bound_ {
    Written(bool),
    PerMetric(sinks::Route, String),
}

/// The `#[pymethods]` block of `CheckBase`, with one method per metric type
/// that has the plain `(name, value, tags, hostname, device_name, raw)` shape.
macro_rules! check_base_methods {
    ($(($method:ident, $mtype:expr, $doc:literal)),* $(,)?) => {
        #[pymethods]
        impl CheckBase {
            #[new]
            #[pyo3(signature = (*args, **kwargs))]
            fn new(args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> Self {
                let _ = (args, kwargs);
                CheckBase { bound: GilCell::new((String::new(), None)) }
            }

            /// The id the host gave this check ("" until then).
            #[getter]
            fn get_check_id(&self, py: Python<'_>) -> String {
                self.check_id(py)
            }

            #[setter]
            fn set_check_id(&self, py: Python<'_>, check_id: &str) {
                let route = sinks::route(py, check_id);
                // SAFETY: replacing the pair runs no Python code; the old one drops after.
                let old = unsafe { self.bound.with(py, |bound| std::mem::replace(bound, (check_id.to_owned(), route))) };
                drop(old);
            }

            $(
                #[doc = $doc]
                #[pyo3(signature = (name, value, tags=None, hostname=None, device_name=None, raw=false))]
                #[allow(clippy::too_many_arguments)]
                fn $method(
                    slf: &Bound<'_, Self>,
                    name: &Bound<'_, PyAny>,
                    value: &Bound<'_, PyAny>,
                    tags: Option<&Bound<'_, PyAny>>,
                    hostname: Option<&Bound<'_, PyAny>>,
                    device_name: Option<&Bound<'_, PyAny>>,
                    raw: bool,
                ) -> PyResult<()> {
                    let _ = raw;
                    native_submit(slf, $mtype, name, value, tags, hostname, device_name, false)
                }
            )*

            /// Submit a monotonic counter; the host reports the delta between samples.
            #[pyo3(signature = (name, value, tags=None, hostname=None, device_name=None, raw=false, flush_first_value=false))]
            #[allow(clippy::too_many_arguments)]
            fn monotonic_count(
                slf: &Bound<'_, Self>,
                name: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                tags: Option<&Bound<'_, PyAny>>,
                hostname: Option<&Bound<'_, PyAny>>,
                device_name: Option<&Bound<'_, PyAny>>,
                raw: bool,
                flush_first_value: bool,
            ) -> PyResult<()> {
                let _ = raw;
                native_submit(slf, 3, name, value, tags, hostname, device_name, flush_first_value)
            }
        }
    };
}

check_base_methods!(
    (gauge, 0, "Submit a gauge: the last value in a flush wins."),
    (
        rate,
        1,
        "Submit a rate: the per-second change between samples."
    ),
    (count, 2, "Submit a count: summed over a flush."),
    (histogram, 5, "Submit a histogram sample."),
    (historate, 6, "Submit a historate sample."),
);

/// The Datadog Agent's way, kept for comparison benchmarks: one call into
/// the host per metric, with every tag copied into a new array.
#[allow(clippy::too_many_arguments)]
fn deliver_one(
    callback: unsafe extern "C" fn(
        usize,
        pyhost_str,
        i32,
        pyhost_str,
        f64,
        *const pyhost_str,
        usize,
        pyhost_str,
    ),
    context: usize,
    check_id: &str,
    mtype: i64,
    name: &str,
    value: f64,
    tags: &Bound<'_, PyAny>,
    hostname: Option<&str>,
) -> PyResult<()> {
    let mut owned: Vec<String> = Vec::new();
    let items: Vec<Bound<'_, PyAny>> = if tags.is_none() {
        Vec::new()
    } else if let Ok(list) = tags.cast::<PyList>() {
        list.iter().collect()
    } else if let Ok(tuple) = tags.cast::<PyTuple>() {
        tuple.iter().collect()
    } else {
        return Err(PyTypeError::new_err(format!(
            "tags must be a list or tuple of str, not {}",
            type_name(tags)
        )));
    };
    for item in items {
        let tag = item.cast::<PyString>().map_err(|_| not_str_tag(&item))?;
        owned.push(tag.to_str()?.to_owned());
    }
    let views: Vec<pyhost_str> = owned.iter().map(|t| pyhost_str::borrow(t)).collect();
    // SAFETY: the host registered this callback for these arguments; every
    // view outlives the call.
    unsafe {
        callback(
            context,
            pyhost_str::borrow(check_id),
            mtype as i32,
            pyhost_str::borrow(name),
            value,
            views.as_ptr(),
            views.len(),
            pyhost_str::borrow(hostname.unwrap_or("")),
        )
    };
    Ok(())
}

#[pymodule]
pub mod datadog_agent {
    use super::*;

    /// The host's version.
    #[pyfunction]
    fn get_version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// This host's name.
    #[pyfunction]
    fn get_hostname() -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    }

    /// An agent configuration value; pyhost has no agent-wide settings for
    /// checks yet, so every key is unset (None).
    #[pyfunction]
    fn get_config(key: &str) -> Option<String> {
        let _ = key;
        None
    }

    /// log(message, level): a log record for the host's logger.
    #[pyfunction]
    fn log(py: Python<'_>, message: &str, level: i32) {
        host::emit_log(py, level, "datadog_agent", "", message);
    }
}

#[pymodule]
pub mod _pyhost {
    use super::*;

    #[pymodule_export]
    use super::CheckCancelled;

    #[pymodule_export]
    use super::CheckBase;

    /// log(level, logger, check_id, message): forwards a record to the host.
    #[pyfunction]
    fn log(py: Python<'_>, level: i32, logger: &str, check_id: &str, message: &str) {
        host::emit_log(py, level, logger, check_id, message);
    }

    /// Does nothing: the floor that benchmarks measure a builtin call against.
    #[pyfunction]
    #[pyo3(signature = (*args, **kwargs))]
    fn noop(args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) {
        let _ = (args, kwargs);
    }

    /// The host's version.
    #[pyfunction]
    fn version() -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
}
