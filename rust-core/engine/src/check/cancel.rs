//! Cancelling a check's run: `CheckCancelled` raised inside the thread that
//! runs it, at its next Python instruction.
//!
//! A run may carry an id the host picks, increasing per check. A
//! cancellation naming a run id also cancels that run if it has not started
//! yet: the host's cancel may arrive while its run is still on its way in
//! (waiting for the GIL), and would otherwise be lost.

use std::os::raw::c_long;
use std::sync::atomic::Ordering;

use pyhost_abi::Failure;
use pyo3::create_exception;
use pyo3::exceptions::PyBaseException;
use pyo3::ffi;
use pyo3::prelude::*;

use super::instances::{CheckEntry, CHECKS};
use crate::runtime::sessions::Session;

create_exception!(
    _pyhost,
    CheckCancelled,
    PyBaseException,
    "Raised inside a running check when the host cancels it (a timeout, a shutdown). \
     It derives from BaseException so that `except Exception` in a check does not swallow it."
);

/// Cancels run `run_id` of a check (0: whatever run is in progress).
pub fn cancel(py: Python<'_>, session: &Session, check: u64, run_id: u64) -> Result<(), Failure> {
    let entry = CHECKS.get(py, session.id, check)?;
    cancel_entry(py, &entry, run_id);
    Ok(())
}

pub fn cancel_entry(py: Python<'_>, entry: &CheckEntry, run_id: u64) {
    if run_id != 0 {
        entry.cancelled_up_to.fetch_max(run_id, Ordering::SeqCst);
    }
    // Read under the GIL: a run sets and clears these under the GIL too, so
    // the thread found here is still inside this check's run.
    let thread = entry.running_on.load(Ordering::SeqCst);
    let current = entry.run_id.load(Ordering::SeqCst);
    if thread != 0 && (run_id == 0 || run_id == current) {
        raise_in(py, thread);
    }
}

/// Raises `CheckCancelled` in the thread with Python id `thread`.
fn raise_in(py: Python<'_>, thread: u64) {
    let exc = py.get_type::<CheckCancelled>();
    // SAFETY: GIL held; exc is a live exception type.
    unsafe { ffi::PyThreadState_SetAsyncExc(thread as c_long, exc.as_ptr()) };
}

/// Clears a cancellation that reached `thread` too late to be raised, so it
/// cannot hit what the thread runs next.
pub fn clear_pending(_py: Python<'_>, thread: u64) {
    // SAFETY: GIL held; a NULL exception clears the thread's pending one.
    unsafe { ffi::PyThreadState_SetAsyncExc(thread as c_long, std::ptr::null_mut()) };
}

/// Cancels every running check of a session (its shutdown).
pub fn cancel_all(py: Python<'_>, session: &'static Session) {
    for entry in CHECKS.owned_by(py, session.id) {
        cancel_entry(py, &entry, 0);
    }
}
