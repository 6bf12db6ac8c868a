//! The `aggregator` module, with the Datadog Agent's functions, positional
//! signatures and argument errors (rtloader's `PyArg_ParseTuple` formats).
//!
//! As in the agent, an unknown check id or metric type is dropped (logged at
//! debug), not raised. Where pyhost differs: a NaN or infinite value, or a
//! service check status outside 0..3, is dropped with a warning in the
//! check's results (the batch carries finite values and known statuses
//! only). A pyhost SDK check (`_pyhost.CheckBase`) passed as `check` keeps
//! the SDK's rules instead (see [`Rules::Strict`]).

use std::ffi::{c_char, c_int};
use std::ptr;

use pyhost_abi::batch::{
    PYHOST_BATCH_EVENT, PYHOST_BATCH_HISTOGRAM_BUCKET, PYHOST_BATCH_SERVICE_CHECK,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyTuple};
use pyo3::PyTypeInfo;

use super::cfunc::{self, as_string, method, parse_tuple, Ret};
use crate::check::sinks;
use crate::check::submit::{self, Metric, Reject, Rules, Tags};
use crate::runtime::logging;
use crate::sdk::check_base::CheckBase;

pub const GAUGE: i32 = 0;
pub const RATE: i32 = 1;
pub const COUNT: i32 = 2;
pub const MONOTONIC_COUNT: i32 = 3;
pub const COUNTER: i32 = 4;
pub const HISTOGRAM: i32 = 5;
pub const HISTORATE: i32 = 6;

#[pyo3::pymodule]
pub fn aggregator(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for (name, value) in [
        ("GAUGE", GAUGE),
        ("RATE", RATE),
        ("COUNT", COUNT),
        ("MONOTONIC_COUNT", MONOTONIC_COUNT),
        ("COUNTER", COUNTER),
        ("HISTOGRAM", HISTOGRAM),
        ("HISTORATE", HISTORATE),
    ] {
        // Not `add`, which also lists the name in `__all__`: rtloader's
        // modules have no `__all__`, so `import *` takes every function.
        m.setattr(name, value)?;
    }
    cfunc::add_functions(
        m,
        vec![
            method!(
                c"submit_metric",
                fastcall,
                submit_metric,
                c"Submit metrics."
            ),
            method!(
                c"submit_service_check",
                varargs,
                submit_service_check,
                c"Submit service checks."
            ),
            method!(c"submit_event", varargs, submit_event, c"Submit events."),
            method!(
                c"submit_histogram_bucket",
                varargs,
                submit_histogram_bucket,
                c"Submit histogram bucket."
            ),
            method!(
                c"submit_event_platform_event",
                varargs,
                submit_event_platform_event,
                c"Submit event platform event."
            ),
        ],
    )
}

/// The rules for a call whose first argument is `check`.
fn rules_of(py: Python<'_>, check: Option<*mut ffi::PyObject>) -> Rules {
    match check {
        // SAFETY: a live argument; CheckBase's type object is initialised by
        // type_object_raw.
        Some(check)
            if unsafe { ffi::PyObject_TypeCheck(check, CheckBase::type_object_raw(py)) != 0 } =>
        {
            Rules::Strict
        }
        _ => Rules::Lenient,
    }
}

fn rules_of_tuple(args: &Bound<'_, PyTuple>) -> Rules {
    let first = (args.len() > 0).then(|| {
        // SAFETY: index 0 exists.
        unsafe { args.get_borrowed_item_unchecked(0).as_ptr() }
    });
    rules_of(args.py(), first)
}

/// What an unknown check id does: the agent logs and drops; the SDK raises.
fn unknown_check(py: Python<'_>, rules: Rules, function: &str, check_id: &str) -> Ret {
    match rules {
        Rules::Strict => Err(PyValueError::new_err(format!(
            "unknown check id {check_id:?}"
        ))),
        Rules::Lenient => {
            logging::debug(
                py,
                "aggregator",
                check_id,
                &format!("{function}: no check with id {check_id:?}; dropped"),
            );
            cfunc::none(py)
        }
    }
}

/// # Safety
/// `obj` is a live object.
unsafe fn borrowed<'py>(py: Python<'py>, obj: *mut ffi::PyObject) -> Bound<'py, PyAny> {
    // SAFETY: forwarded to the caller.
    unsafe { Bound::from_borrowed_ptr(py, obj) }
}

struct MetricArgs<'a> {
    check: *mut ffi::PyObject,
    check_id: &'a str,
    mtype: c_int,
    name: &'a str,
    value: f64,
    tags: *mut ffi::PyObject,
    hostname: Option<&'a str>,
    flush_first_value: bool,
}

/// An exact str without NUL as UTF-8, else None (the slow path decides).
///
/// # Safety
/// `obj` is a live object borrowed for `'a`.
unsafe fn plain_str<'a>(obj: *mut ffi::PyObject) -> Option<&'a str> {
    // SAFETY: forwarded to the caller.
    unsafe {
        if ffi::PyUnicode_CheckExact(obj) == 0 {
            return None;
        }
        let mut len: ffi::Py_ssize_t = 0;
        let data = ffi::PyUnicode_AsUTF8AndSize(obj, &mut len);
        if data.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len as usize);
        (!bytes.contains(&0)).then(|| std::str::from_utf8_unchecked(bytes))
    }
}

/// The common well-typed call, read in place: exact str, int, float, bool.
///
/// # Safety
/// `args` are live objects borrowed for `'a`.
unsafe fn fast_metric_args<'a>(
    args: &'a [*mut ffi::PyObject],
    rules: Rules,
) -> Option<MetricArgs<'a>> {
    if args.len() != 7 && args.len() != 8 {
        return None;
    }
    // SAFETY: forwarded to the caller.
    unsafe {
        let check_id = plain_str(args[1])?;
        if ffi::PyLong_CheckExact(args[2]) == 0 {
            return None;
        }
        let mtype = ffi::PyLong_AsLong(args[2]);
        if mtype == -1 && !ffi::PyErr_Occurred().is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let mtype = c_int::try_from(mtype).ok()?;
        let name = plain_str(args[3])?;
        if ffi::PyFloat_CheckExact(args[4]) == 0 {
            return None;
        }
        let value = ffi::PyFloat_AS_DOUBLE(args[4]);
        let hostname = if args[6] == ffi::Py_None() && rules == Rules::Strict {
            None
        } else {
            Some(plain_str(args[6])?)
        };
        let flush_first_value = match args.get(7) {
            None => false,
            Some(&flag) if flag == ffi::Py_True() => true,
            Some(&flag) if flag == ffi::Py_False() => false,
            Some(_) => return None,
        };
        Some(MetricArgs {
            check: args[0],
            check_id,
            mtype,
            name,
            value,
            tags: args[5],
            hostname,
            flush_first_value,
        })
    }
}

/// Anything else goes through `PyArg_ParseTuple` with rtloader's format,
/// for the agent's conversions and errors.
fn parsed_metric_args<'a>(args: &'a Bound<'_, PyTuple>, rules: Rules) -> PyResult<MetricArgs<'a>> {
    let mut check: *mut ffi::PyObject = ptr::null_mut();
    let mut check_id: *const c_char = ptr::null();
    let mut mtype: c_int = 0;
    let mut name: *const c_char = ptr::null();
    let mut value: f64 = 0.0;
    let mut tags: *mut ffi::PyObject = ptr::null_mut();
    let mut hostname: *const c_char = ptr::null();
    let mut flush: u8 = 0;
    let format = match rules {
        Rules::Lenient => c"OsisdOs|b",
        Rules::Strict => c"OsisdOz|b",
    };
    parse_tuple!(
        args,
        format,
        &mut check as *mut *mut ffi::PyObject,
        &mut check_id as *mut *const c_char,
        &mut mtype as *mut c_int,
        &mut name as *mut *const c_char,
        &mut value as *mut f64,
        &mut tags as *mut *mut ffi::PyObject,
        &mut hostname as *mut *const c_char,
        &mut flush as *mut u8,
    )?;
    // SAFETY: `s`/`z` outputs of arguments the tuple keeps alive.
    unsafe {
        Ok(MetricArgs {
            check,
            check_id: cfunc::text(check_id),
            mtype,
            name: cfunc::text(name),
            value,
            tags,
            hostname: cfunc::opt_text(hostname),
            flush_first_value: flush != 0,
        })
    }
}

/// submit_metric(check, check_id, mtype, name, value, tags, hostname[, flush_first_value])
fn submit_metric(py: Python<'_>, args: &[*mut ffi::PyObject], kwnames: *mut ffi::PyObject) -> Ret {
    // SAFETY: kwnames is NULL or a tuple of keyword names.
    if !kwnames.is_null() && unsafe { ffi::PyTuple_GET_SIZE(kwnames) } > 0 {
        return Err(PyTypeError::new_err(
            "submit_metric() takes no keyword arguments",
        ));
    }
    let rules = rules_of(py, args.first().copied());
    let slow;
    // SAFETY: METH_FASTCALL arguments live for the call.
    let a = match unsafe { fast_metric_args(args, rules) } {
        Some(a) => a,
        None => {
            // SAFETY: as above.
            let items = args.iter().map(|&p| unsafe { borrowed(py, p) });
            slow = PyTuple::new(py, items)?;
            parsed_metric_args(&slow, rules)?
        }
    };
    let _ = a.check;
    // SAFETY: the tags argument lives for the call.
    let tags_arg = unsafe { borrowed(py, a.tags) };
    let tags = Tags::prepare(&tags_arg, rules)?;
    let Some(route) = sinks::route(py, a.check_id) else {
        return unknown_check(py, rules, "submit_metric", a.check_id);
    };
    let metric = Metric {
        mtype: i64::from(a.mtype),
        name: a.name,
        value: a.value,
        hostname: a.hostname.unwrap_or(""),
        flush_first_value: a.flush_first_value,
    };
    match submit::put_metric(py, &route, a.check_id, &metric, &tags, rules) {
        Ok(()) => cfunc::none(py),
        Err(reject) if rules == Rules::Strict => Err(submit::rejection(reject, &metric, &tags)),
        Err(reject @ (Reject::NotFinite | Reject::NameTooLong)) => {
            let text = if reject == Reject::NotFinite {
                submit::non_finite_warning(&metric)
            } else {
                submit::name_too_long(&metric)
            };
            // SAFETY: writing a Rust string.
            unsafe { route.sink.with(py, |w| w.warning(&text)) };
            cfunc::none(py)
        }
        Err(_) => {
            logging::debug(
                py,
                "aggregator",
                a.check_id,
                &format!(
                    "submit_metric: unknown metric type {} for {:?}; dropped",
                    metric.mtype, metric.name
                ),
            );
            cfunc::none(py)
        }
    }
}

/// submit_service_check(check, check_id, name, status, tags, hostname, message)
fn submit_service_check(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let rules = rules_of_tuple(args);
    let mut check: *mut ffi::PyObject = ptr::null_mut();
    let mut check_id: *const c_char = ptr::null();
    let mut name: *const c_char = ptr::null();
    let mut status: c_int = 0;
    let mut tags: *mut ffi::PyObject = ptr::null_mut();
    let mut hostname: *const c_char = ptr::null();
    let mut message: *const c_char = ptr::null();
    let format = match rules {
        Rules::Lenient => c"OssiOss",
        Rules::Strict => c"OssiOzz",
    };
    parse_tuple!(
        args,
        format,
        &mut check as *mut *mut ffi::PyObject,
        &mut check_id as *mut *const c_char,
        &mut name as *mut *const c_char,
        &mut status as *mut c_int,
        &mut tags as *mut *mut ffi::PyObject,
        &mut hostname as *mut *const c_char,
        &mut message as *mut *const c_char,
    )?;
    // SAFETY: outputs of arguments the tuple keeps alive.
    let (check_id, name, hostname, message, tags_arg) = unsafe {
        (
            cfunc::text(check_id),
            cfunc::text(name),
            cfunc::opt_text(hostname).unwrap_or(""),
            cfunc::opt_text(message).unwrap_or(""),
            borrowed(py, tags),
        )
    };
    let tags = Tags::prepare(&tags_arg, rules)?;
    let Some(route) = sinks::route(py, check_id) else {
        return unknown_check(py, rules, "submit_service_check", check_id);
    };
    if !(0..=3).contains(&status) {
        let text = format!(
            "Service check {name:?} has status {status}, not one of 0 (OK), 1 (WARNING), 2 (CRITICAL), 3 (UNKNOWN); dropped"
        );
        if rules == Rules::Strict {
            return Err(PyValueError::new_err(text));
        }
        // SAFETY: writing a Rust string.
        unsafe { route.sink.with(py, |w| w.warning(&text)) };
        return cfunc::none(py);
    }
    // SAFETY: writes Rust values and reads the tag list in place.
    let written = unsafe {
        route.sink.with(py, |w| {
            let mark = w.mark();
            w.u8(PYHOST_BATCH_SERVICE_CHECK);
            w.u8(status as u8);
            w.str(name);
            w.str(hostname);
            w.str(message);
            submit::write_tags(w, &tags, rules).inspect_err(|()| w.rollback(mark))
        })
    };
    match written {
        Ok(_) => cfunc::none(py),
        Err(()) => Err(tags.rejection()),
    }
}

/// The event's JSON for the batch: the fields the agent reads, as it reads
/// them (text fields that are not str are left out; a timestamp that is
/// not an int is 0, "now").
fn event_json(event: &Bound<'_, PyDict>, rules: Rules) -> PyResult<String> {
    let get = |key: &str| event.get_item(key).ok().flatten();
    let mut out = serde_json::Map::new();
    for key in [
        "msg_title",
        "msg_text",
        "priority",
        "host",
        "alert_type",
        "aggregation_key",
        "source_type_name",
        "event_type",
    ] {
        if let Some(text) = get(key).as_ref().and_then(as_string) {
            out.insert(key.to_owned(), serde_json::Value::String(text));
        }
    }
    if let Some(ts) = get("timestamp") {
        // SAFETY: a live object; an error is cleared, as the agent does.
        let ts = unsafe {
            let v = ffi::PyLong_AsLong(ts.as_ptr());
            if v == -1 {
                ffi::PyErr_Clear();
                0
            } else {
                v
            }
        };
        if ts != 0 {
            out.insert("timestamp".into(), ts.into());
        }
    }
    if let Some(tags) = get("tags") {
        let tags = Tags::prepare(&tags, rules)?;
        let mut list = Vec::new();
        tags.for_each(rules, |t| {
            list.push(serde_json::Value::String(t.to_owned()))
        })
        .map_err(|()| tags.rejection())?;
        out.insert("tags".into(), serde_json::Value::Array(list));
    }
    Ok(serde_json::Value::Object(out).to_string())
}

/// submit_event(check, check_id, event)
fn submit_event(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let rules = rules_of_tuple(args);
    let mut check: *mut ffi::PyObject = ptr::null_mut();
    let mut check_id: *const c_char = ptr::null();
    let mut event: *mut ffi::PyObject = ptr::null_mut();
    parse_tuple!(
        args,
        c"OsO",
        &mut check as *mut *mut ffi::PyObject,
        &mut check_id as *mut *const c_char,
        &mut event as *mut *mut ffi::PyObject,
    )?;
    // SAFETY: outputs of arguments the tuple keeps alive.
    let (check_id, event) = unsafe { (cfunc::text(check_id), borrowed(py, event)) };
    let event = event
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("event must be a dict"))?;
    let json = event_json(event, rules)?;
    let Some(route) = sinks::route(py, check_id) else {
        return unknown_check(py, rules, "submit_event", check_id);
    };
    // SAFETY: writing Rust values.
    unsafe {
        route.sink.with(py, |w| {
            w.u8(PYHOST_BATCH_EVENT);
            w.str(&json);
        })
    };
    cfunc::none(py)
}

/// submit_histogram_bucket(check, check_id, name, value, lower_bound,
/// upper_bound, monotonic, hostname, tags[, flush_first_value])
fn submit_histogram_bucket(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let rules = rules_of_tuple(args);
    let mut check: *mut ffi::PyObject = ptr::null_mut();
    let mut check_id: *const c_char = ptr::null();
    let mut name: *const c_char = ptr::null();
    let mut value: i64 = 0;
    let mut lower: f32 = 0.0;
    let mut upper: f32 = 0.0;
    let mut monotonic: c_int = 0;
    let mut hostname: *const c_char = ptr::null();
    let mut tags: *mut ffi::PyObject = ptr::null_mut();
    let mut flush: u8 = 0;
    parse_tuple!(
        args,
        c"OssLffisO|b",
        &mut check as *mut *mut ffi::PyObject,
        &mut check_id as *mut *const c_char,
        &mut name as *mut *const c_char,
        &mut value as *mut i64,
        &mut lower as *mut f32,
        &mut upper as *mut f32,
        &mut monotonic as *mut c_int,
        &mut hostname as *mut *const c_char,
        &mut tags as *mut *mut ffi::PyObject,
        &mut flush as *mut u8,
    )?;
    // SAFETY: outputs of arguments the tuple keeps alive.
    let (check_id, name, hostname, tags_arg) = unsafe {
        (
            cfunc::text(check_id),
            cfunc::text(name),
            cfunc::text(hostname),
            borrowed(py, tags),
        )
    };
    let tags = Tags::prepare(&tags_arg, rules)?;
    let Some(route) = sinks::route(py, check_id) else {
        return unknown_check(py, rules, "submit_histogram_bucket", check_id);
    };
    // SAFETY: writes Rust values and reads the tag list in place.
    let written = unsafe {
        route.sink.with(py, |w| {
            let mark = w.mark();
            w.u8(PYHOST_BATCH_HISTOGRAM_BUCKET);
            w.str(name);
            w.f64(value as f64);
            w.f64(f64::from(lower));
            w.f64(f64::from(upper));
            w.u8(u8::from(monotonic != 0));
            w.str(hostname);
            let tags = submit::write_tags(w, &tags, rules).inspect_err(|()| w.rollback(mark));
            if tags.is_ok() {
                w.u8(u8::from(flush != 0));
            }
            tags
        })
    };
    match written {
        Ok(_) => cfunc::none(py),
        Err(()) => Err(tags.rejection()),
    }
}

/// submit_event_platform_event(check, check_id, raw_event, event_type)
fn submit_event_platform_event(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let rules = rules_of_tuple(args);
    let mut check: *mut ffi::PyObject = ptr::null_mut();
    let mut check_id: *const c_char = ptr::null();
    let mut raw: *mut ffi::PyObject = ptr::null_mut();
    let mut event_type: *mut ffi::PyObject = ptr::null_mut();
    // rtloader's format is "Oss#s"; `s#` and the `s` after it are converted
    // here, in the same order and with the same errors.
    parse_tuple!(
        args,
        c"OsOO",
        &mut check as *mut *mut ffi::PyObject,
        &mut check_id as *mut *const c_char,
        &mut raw as *mut *mut ffi::PyObject,
        &mut event_type as *mut *mut ffi::PyObject,
    )?;
    // SAFETY: outputs of arguments the tuple keeps alive.
    let (check_id, raw, event_type) = unsafe {
        (
            cfunc::text(check_id),
            borrowed(py, raw),
            borrowed(py, event_type),
        )
    };
    let raw = cfunc::arg_bytes(&raw, 3)?;
    let event_type = cfunc::arg_str(&event_type, 4)?;
    if raw.len() > i32::MAX as usize {
        return Err(PyValueError::new_err("event is too large"));
    }
    let Some(route) = sinks::route(py, check_id) else {
        return unknown_check(py, rules, "submit_event_platform_event", check_id);
    };
    // SAFETY: writing Rust values.
    unsafe { route.sink.with(py, |w| w.platform_event(event_type, &raw)) };
    cfunc::none(py)
}
