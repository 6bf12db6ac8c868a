//! Python exceptions as error values for the host: type, message and the
//! formatted traceback.

use pyhost_abi::Failure;
use pyo3::prelude::*;

use super::host;

/// A Python exception as an error value.
pub fn python_failure(py: Python<'_>, err: &PyErr) -> Failure {
    let described = host::call(py, "describe", (err.value(py),))
        .ok()
        .and_then(|t| t.extract::<(String, String, String)>().ok());
    match described {
        Some((type_name, message, traceback)) => Failure::python(type_name, message, traceback),
        None => Failure::python(
            err.get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            err.value(py).to_string(),
            String::new(),
        ),
    }
}

/// `python_failure` as a `map_err` argument.
pub fn py_fail(py: Python<'_>) -> impl Fn(PyErr) -> Failure + '_ {
    move |e| python_failure(py, &e)
}
