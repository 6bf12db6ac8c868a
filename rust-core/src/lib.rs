//! The pyhost C API. A host program links this static library only; the part
//! linked to libpython (the engine) is loaded at run time, so the host starts
//! where Python is missing and gets `PYHOST_STATUS_PYTHON_UNAVAILABLE` instead.
//!
//! Conventions (see docs/c-api.md): every symbol starts with `pyhost_`; every
//! call returns a `pyhost_status`, writes outputs only on success and, on
//! failure, an owned `pyhost_error` through its last argument; handles are
//! numbers validated on every call; no panic crosses the boundary.

mod constants;
mod exports;
mod loader;

pub use constants::*;
pub use exports::*;
