//! Checks, the layer above the runtime: check classes, check instances and
//! their runs, cancelling a run, the per-check sinks submissions go into,
//! and the rules for writing a submission into a run's batch.

pub mod cancel;
pub mod classes;
pub mod instances;
pub mod run;
pub mod sinks;
pub mod submit;

use pyhost_abi::Failure;
use pyo3::Python;

use crate::runtime::errors::py_fail;
use crate::runtime::logging;

/// Installs this layer's Python helpers and routes log records by check id.
pub fn install(py: Python<'_>) -> Result<(), Failure> {
    classes::HELPERS.install(py)?;
    if let Some(module) = classes::HELPERS.module(py) {
        cancel::add_functions(module).map_err(py_fail(py))?;
    }
    logging::set_router(sinks::session_of);
    Ok(())
}
