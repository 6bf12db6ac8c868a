//! Log records on their way to the host. Python's `logging` (through
//! `_pyhost_host.HostLogHandler`) and the engine's own debug records go to
//! the log callback of the runtime they belong to, with the GIL released
//! while the host handles them.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

use pyhost_abi::pyhost_str;
use pyo3::prelude::*;

use super::host;
use super::sessions::{self, Session};

/// The lowest level the host logs (the last runtime's `log_level`).
static LOG_LEVEL: AtomicI32 = AtomicI32::new(20);

pub fn set_level(level: i32) {
    LOG_LEVEL.store(level, Ordering::Relaxed);
}

/// Finds the session a record's id belongs to. The layer that hands out
/// those ids (checks) installs it; records it cannot place, and records with
/// no id, go to the most recently started runtime that still has callers
/// (open, or closing with calls inside).
pub type Router = for<'py> fn(Python<'py>, &str) -> Option<&'static Session>;

static ROUTER: OnceLock<Router> = OnceLock::new();

pub fn set_router(router: Router) {
    let _ = ROUTER.set(router);
}

/// Sends a record to the host; `id` names what it came from ("" for none).
pub fn emit(py: Python<'_>, level: i32, logger: &str, id: &str, message: &str) {
    let routed = match ROUTER.get() {
        Some(route) if !id.is_empty() => route(py, id),
        _ => None,
    };
    let Some(session) = routed.or_else(|| sessions::latest_live(py)) else {
        return;
    };
    let Some(callback) = session.log_callback else {
        return;
    };
    let context = session.log_context;
    py.detach(|| {
        // SAFETY: the host registered this callback for exactly these
        // arguments; the strings outlive the call.
        unsafe {
            callback(
                context,
                level,
                pyhost_str::borrow(logger),
                pyhost_str::borrow(id),
                pyhost_str::borrow(message),
            )
        }
    });
}

/// A debug record from the engine itself (a dropped submission), sent only
/// when the host logs at debug.
pub fn debug(py: Python<'_>, logger: &str, id: &str, message: &str) {
    if LOG_LEVEL.load(Ordering::Relaxed) <= 10 {
        emit(py, 10, logger, id, message);
    }
}

/// What `HostLogHandler` calls for each record.
#[pyfunction]
fn forward(py: Python<'_>, level: i32, logger: &str, id: &str, message: &str) {
    emit(py, level, logger, id, message);
}

/// Routes Python's root logger to the host at `level` (idempotent).
pub fn install(py: Python<'_>, level: i32) -> PyResult<()> {
    set_level(level);
    let forward = wrap_pyfunction!(forward, py)?;
    host::call(py, "install_logging", (level, forward)).map(drop)
}
