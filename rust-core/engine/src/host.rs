//! The engine's Python-side helpers (`host.py`, loaded as `_pyhost_host`),
//! Python exceptions as `Failure`s, and log records on their way to the host.

use std::ffi::CString;
use std::sync::atomic::{AtomicI32, Ordering};

use pyhost_abi::{pyhost_str, Failure};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

use crate::{registry, sinks};

static HOST_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Runs once, on CPython's main thread, right after initialisation.
pub fn bootstrap(py: Python<'_>) -> Result<(), Failure> {
    let source = CString::new(include_str!("host.py")).expect("no NUL in embedded source");
    let module = PyModule::from_code(py, &source, c"<pyhost host>", c"_pyhost_host")
        .map_err(|e| python_failure(py, &e))?;
    py.import("sys")
        .and_then(|sys| sys.getattr("modules")?.set_item("_pyhost_host", &module))
        .map_err(|e| python_failure(py, &e))?;
    let _ = HOST_MODULE.set(py, module.unbind());
    Ok(())
}

/// Calls a helper of `_pyhost_host`.
pub fn call<'py>(
    py: Python<'py>,
    name: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let module = HOST_MODULE
        .get(py)
        .expect("bootstrap ran at start")
        .bind(py);
    module.getattr(name)?.call1(args)
}

/// A Python exception as an error value: type, message and traceback.
pub fn python_failure(py: Python<'_>, err: &PyErr) -> Failure {
    let described = HOST_MODULE
        .get(py)
        .ok_or(())
        .and_then(|m| m.bind(py).getattr("describe").map_err(|_| ()))
        .and_then(|describe| describe.call1((err.value(py),)).map_err(|_| ()))
        .and_then(|t| t.extract::<(String, String, String)>().map_err(|_| ()));
    match described {
        Ok((type_name, message, traceback)) => Failure::python(type_name, message, traceback),
        Err(()) => Failure::python(
            err.get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            err.value(py).to_string(),
            String::new(),
        ),
    }
}

/// The lowest level the host logs (the last runtime's `log_level`).
static LOG_LEVEL: AtomicI32 = AtomicI32::new(20);

pub fn set_log_level(level: i32) {
    LOG_LEVEL.store(level, Ordering::Relaxed);
}

/// A debug record from the engine itself (a dropped submission), sent only
/// when the host logs at debug.
pub fn debug(py: Python<'_>, logger: &str, check_id: &str, message: &str) {
    if LOG_LEVEL.load(Ordering::Relaxed) <= 10 {
        emit_log(py, 10, logger, check_id, message);
    }
}

/// Sends a log record to the host of the check it names, else to the most
/// recently started runtime. The GIL is released while the host handles it.
pub fn emit_log(py: Python<'_>, level: i32, logger: &str, check_id: &str, message: &str) {
    let runtime = sinks::runtime_of(py, check_id).or_else(registry::latest_open_runtime);
    let Some(runtime) = runtime else { return };
    let Some(callback) = runtime.log_callback else {
        return;
    };
    let context = runtime.log_context;
    py.detach(|| {
        // SAFETY: the host registered this callback for exactly these arguments;
        // the strings outlive the call.
        unsafe {
            callback(
                context,
                level,
                pyhost_str::borrow(logger),
                pyhost_str::borrow(check_id),
                pyhost_str::borrow(message),
            )
        }
    });
}
