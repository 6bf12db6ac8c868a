//! Check classes: loading one from a `.py` file or a module, and freeing it.

use pyhost_abi::Failure;
use pyo3::prelude::*;

use crate::runtime::errors::py_fail;
use crate::runtime::handles::{Handles, Kind};
use crate::runtime::host::Helper;
use crate::runtime::sessions::Session;

/// `_pyhost_checks`: picking a module's check class.
pub static HELPERS: Helper = Helper::new(
    c"_pyhost_checks",
    c"<pyhost checks>",
    include_str!("classes.py"),
);

pub const CHECK_CLASS: Kind = Kind {
    code: 2,
    name: "check class",
};

pub static CLASSES: Handles<Py<PyAny>> = Handles::new(CHECK_CLASS);

/// Loads `source` (a `.py` path or a module name) and picks its check class:
/// `class_name`, or the module's one `AgentCheck` subclass.
pub fn load(
    py: Python<'_>,
    session: &Session,
    source: &str,
    class_name: &str,
) -> Result<u64, Failure> {
    if source.is_empty() {
        return Err(Failure::invalid_argument("the check source is empty"));
    }
    let class = HELPERS
        .call(py, "load_check_class", (source, class_name))
        .map_err(py_fail(py))?;
    CLASSES.insert(py, session.id, class.unbind())
}

pub fn free(py: Python<'_>, session: &Session, class: u64) -> Result<(), Failure> {
    CLASSES.free(py, session.id, class)
}
