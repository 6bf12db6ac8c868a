//! The pyhost SDK's side in the engine, above the check layer: the native
//! `_pyhost` module (`CheckBase`, whose submission methods write into a
//! check's sink with no Python frame, and `CheckCancelled`), and the SDK's
//! pure-Python sources, embedded and served to `import pyhost`.

pub mod check_base;
pub mod embedded;
pub mod module;

use pyhost_abi::Failure;
use pyo3::Python;

/// Registers `_pyhost` (before the interpreter starts).
pub fn register_modules() {
    module::register();
}

/// Serves the embedded SDK and makes its `AgentCheck` a check base class.
pub fn install(py: Python<'_>) -> Result<(), Failure> {
    embedded::install(py)
}
