//! Both ways across the bridge, above the runtime: modules whose functions
//! are the host's (Python calling Go), host state the host publishes and
//! Python reads as native objects, and typed calls of Python functions —
//! all in one binary value encoding (`pyhost_abi::value`), never JSON.

pub mod invoke;
pub mod module;
pub mod modules;
pub mod state;
pub mod values;

use pyhost_abi::Failure;
use pyo3::Python;

/// Registers `_pyhost_bridge` (before the interpreter starts).
pub fn register_modules() {
    module::register();
}

/// Nothing to install after start: the bridge's state is created on use.
pub fn install(_py: Python<'_>) -> Result<(), Failure> {
    state::track();
    Ok(())
}
