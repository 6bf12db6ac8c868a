//! `_pyhost_bridge`, the in-memory module behind `pyhost.host` and the
//! exceptions host functions raise.

use pyo3::pymodule;

pyo3::create_exception!(
    pyhost,
    GoError,
    pyo3::exceptions::PyException,
    "A host (Go) function returned an error; the message is the error's text."
);
pyo3::create_exception!(
    pyhost,
    GoPanic,
    pyo3::exceptions::PyException,
    "A host (Go) function panicked; the message is the panic value. The host carries on."
);

#[pymodule]
pub mod _pyhost_bridge {
    use pyo3::prelude::*;
    use pyo3::types::PyString;

    #[pymodule_export]
    use super::GoError;

    #[pymodule_export]
    use super::GoPanic;

    /// The value the host published under `name`, as a shared read-only
    /// object (dicts are `types.MappingProxyType`, lists are tuples), or
    /// `default` if nothing is published under it.
    #[pyfunction]
    #[pyo3(signature = (name, default = None))]
    fn get<'py>(
        py: Python<'py>,
        name: &Bound<'py, PyString>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::bridge::state::get(py, name.to_str()?, default)
    }

    /// How many times the host has published `name` (0: never): a value
    /// changed when its version did.
    #[pyfunction]
    fn version(py: Python<'_>, name: &Bound<'_, PyString>) -> PyResult<u64> {
        Ok(crate::bridge::state::version(py, name.to_str()?))
    }

    /// The names the host has published, sorted.
    #[pyfunction]
    fn names(py: Python<'_>) -> Vec<String> {
        crate::bridge::state::names(py)
    }
}

/// Registers `_pyhost_bridge` (before the interpreter starts).
pub fn register() {
    pyo3::append_to_inittab!(_pyhost_bridge);
}
