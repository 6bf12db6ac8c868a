//! The SDK's pure-Python sources, embedded at build time (`build.rs`) and
//! served by an import finder (`finder.py`, module `_pyhost_sdk`).

use pyhost_abi::Failure;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::check::classes;
use crate::runtime::errors::py_fail;
use crate::runtime::host::Helper;

mod sources {
    include!(concat!(env!("OUT_DIR"), "/sdk_sources.rs"));
}

static FINDER: Helper = Helper::new(c"_pyhost_sdk", c"<pyhost sdk>", include_str!("finder.py"));

pub fn install(py: Python<'_>) -> Result<(), Failure> {
    FINDER.install(py)?;
    let modules = PyDict::new(py);
    for (name, package, source) in sources::SOURCES {
        modules
            .set_item(name, (package, source))
            .map_err(py_fail(py))?;
    }
    FINDER
        .call(py, "install", (modules,))
        .map_err(py_fail(py))?;
    // pyhost.AgentCheck is a check base class; imported when a check is
    // picked before anything imported it.
    classes::HELPERS
        .call(py, "add_base", ("pyhost", true))
        .map_err(py_fail(py))?;
    Ok(())
}
