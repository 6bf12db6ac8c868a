//! `_pyhost`, the in-memory module that is the SDK's link to the host.

use pyo3::pymodule;

#[pymodule]
pub mod _pyhost {
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyTuple};

    #[pymodule_export]
    use crate::check::cancel::CheckCancelled;

    #[pymodule_export]
    use crate::sdk::check_base::CheckBase;

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

/// Registers `_pyhost` (before the interpreter starts).
pub fn register() {
    pyo3::append_to_inittab!(_pyhost);
}
