//! `_pyhost.CheckBase`, the native base of the SDK's `AgentCheck`.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::check::sinks;
use crate::check::submit::{self, Metric, Rules, Tags};
use crate::runtime::gil_cell::GilCell;

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
        if let (Some((name, value, hostname)), Ok(prepared)) = (
            plain_metric(name, value, hostname),
            Tags::prepare(tags, Rules::Strict),
        ) {
            let metric = Metric {
                mtype,
                name,
                value,
                hostname: hostname.unwrap_or(""),
                flush_first_value,
            };
            // Batched mode writes inside the borrow (no Python code runs);
            // per-metric mode calls the host, so its route is cloned out.
            // SAFETY: write_metric and the clone run no Python code.
            let submitted = unsafe {
                slf.get().bound.with(py, |bound| match &bound.1 {
                    Some(route) if route.session.metric_callback.is_none() => Bound_::Written(
                        route
                            .sink
                            .with(py, |w| {
                                submit::write_metric(w, &metric, &prepared, Rules::Strict)
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
                    submit::put_metric(py, &route, &check_id, &metric, &prepared, Rules::Strict)
                        .is_ok()
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
                // `raw` is any object, as in datadog_checks_base: a submission
                // method never raises over its flags.
                #[pyo3(signature = (name, value, tags=None, hostname=None, device_name=None, raw=None))]
                #[allow(clippy::too_many_arguments)]
                fn $method(
                    slf: &Bound<'_, Self>,
                    name: &Bound<'_, PyAny>,
                    value: &Bound<'_, PyAny>,
                    tags: Option<&Bound<'_, PyAny>>,
                    hostname: Option<&Bound<'_, PyAny>>,
                    device_name: Option<&Bound<'_, PyAny>>,
                    raw: Option<&Bound<'_, PyAny>>,
                ) -> PyResult<()> {
                    let _ = raw;
                    native_submit(slf, $mtype, name, value, tags, hostname, device_name, false)
                }
            )*

            /// Submit a monotonic counter; the host reports the delta between samples.
            #[pyo3(signature = (name, value, tags=None, hostname=None, device_name=None, raw=None, flush_first_value=None))]
            #[allow(clippy::too_many_arguments)]
            fn monotonic_count(
                slf: &Bound<'_, Self>,
                name: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                tags: Option<&Bound<'_, PyAny>>,
                hostname: Option<&Bound<'_, PyAny>>,
                device_name: Option<&Bound<'_, PyAny>>,
                raw: Option<&Bound<'_, PyAny>>,
                flush_first_value: Option<&Bound<'_, PyAny>>,
            ) -> PyResult<()> {
                let _ = raw;
                // Its truth, as Python tests it (an object whose __bool__
                // raises counts as false).
                let flush_first_value = flush_first_value.is_some_and(|v| v.is_truthy().unwrap_or(false));
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
