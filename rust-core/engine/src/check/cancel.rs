//! Cancelling a check's run, in steps that cannot leave shared state
//! half-changed.
//!
//! 1. **Cooperative.** The check's `cancel()` is called (once per run), on
//!    a thread of its own, waited for up to [`CANCEL_HOOK_WAIT`] (a
//!    `cancel()` that blocks holds up no one longer): datadog_checks_base's
//!    `AgentCheck.cancel()` is what the Datadog Agent calls when it
//!    unschedules a check, and the SDK's sets the flag
//!    `AgentCheck.cancelled`. The run has
//!    [`COOPERATIVE_GRACE`] to return by itself.
//! 2. **At a safe point.** A trace function is installed on the thread that
//!    runs the check; once the grace has passed, it raises `CheckCancelled`
//!    at the first line event in the check's own code (the files its class
//!    hierarchy comes from, not the pyhost SDK's or datadog_checks_base's),
//!    then removes itself. An
//!    exception raised anywhere else — inside `logging` between a lock's
//!    acquire and its `try:`, inside `subprocess.Popen` after the fork —
//!    could leave a lock held or a child orphaned for good; the check's own
//!    lines are where its author expects exceptions. Raising once lets the
//!    check's `finally:` blocks run; a later cancellation arms it again.
//! 3. A run that still has not returned is the host's to abandon (the agent
//!    releases its runner); the engine keeps it until Python returns.
//!
//! A run may carry an id the host picks, increasing per check. A
//! cancellation naming a run id also cancels that run if it has not started
//! yet: the host's cancel may arrive while its run is still on its way in
//! (waiting for the GIL), and would otherwise be lost.

use std::cell::RefCell;
use std::ffi::c_int;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use pyhost_abi::Failure;
use pyo3::create_exception;
use pyo3::exceptions::PyBaseException;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyModule, PyString, PyTuple};

use super::instances::{CheckEntry, CHECKS};
use crate::runtime::logging;
use crate::runtime::sessions::Session;

create_exception!(
    _pyhost,
    CheckCancelled,
    PyBaseException,
    "Raised inside a running check when the host cancels it (a timeout, a shutdown), at a line \
     of the check's own code. It derives from BaseException so that `except Exception` in a \
     check does not swallow it."
);

extern "C" {
    /// CPython's per-thread-state form of `PyEval_SetTrace` (what 3.12's
    /// `PyEval_SetTraceAllThreads` is built on): sets the trace function of
    /// `tstate`, which need not be the calling thread's. The GIL must be held.
    fn _PyEval_SetTrace(
        tstate: *mut ffi::PyThreadState,
        func: Option<ffi::Py_tracefunc>,
        obj: *mut ffi::PyObject,
    ) -> c_int;
}

/// How often one run's safe-point raise may be armed again: a check that
/// swallows `CheckCancelled` is asked again, but not so often that its
/// cleanup (`finally:` blocks) is interrupted too.
const REARM_AFTER: Duration = Duration::from_secs(1);

/// How long after its `cancel()` a run may return by itself before
/// `CheckCancelled` is raised in it.
pub const COOPERATIVE_GRACE: Duration = Duration::from_millis(100);

/// How long a cancellation waits for the checks' `cancel()` to return.
const CANCEL_HOOK_WAIT: Duration = COOPERATIVE_GRACE;

/// The clock the tracer compares with (nanoseconds since the first use).
fn now_ns() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Cancels run `run_id` of a check (0: whatever run is in progress).
pub fn cancel(py: Python<'_>, session: &Session, check: u64, run_id: u64) -> Result<(), Failure> {
    let entry = CHECKS.get(py, session.id, check)?;
    cancel_entry(py, &entry, run_id);
    Ok(())
}

pub fn cancel_entry(py: Python<'_>, entry: &CheckEntry, run_id: u64) {
    let hook = begin(py, entry, run_id);
    wait_for_hooks(py, hook.into_iter().collect());
    arm(py, entry, run_id);
}

/// Step 1 for one check: marks its run cancelled and, the first time,
/// starts its `cancel()`.
fn begin(py: Python<'_>, entry: &CheckEntry, run_id: u64) -> Option<HookRun> {
    // Read under the GIL: a run sets and clears its state under the GIL too.
    let first = entry.with_run(py, |r| {
        if run_id != 0 {
            r.cancelled_up_to = r.cancelled_up_to.max(run_id);
        }
        let targeted = !r.tstate.is_null() && (run_id == 0 || run_id == r.run_id);
        targeted.then(|| {
            let first = !std::mem::replace(&mut r.cancel_called, true);
            if first {
                r.raise_after_ns = now_ns() + COOPERATIVE_GRACE.as_nanos() as u64;
            }
            first
        })
    });
    first?.then(|| start_cancel_hook(py, entry)).flatten()
}

/// Step 2 for one check: arms the safe-point raise in its run.
fn arm(py: Python<'_>, entry: &CheckEntry, run_id: u64) {
    // Waiting for cancel() let go of the GIL: the run may have ended meanwhile.
    let rearm = entry.with_run(py, |r| {
        let due = r.armed_at.map_or(true, |t| t.elapsed() >= REARM_AFTER);
        (!r.tstate.is_null() && (run_id == 0 || run_id == r.run_id) && due).then(|| {
            r.armed_at = Some(Instant::now());
            r.armed = true;
            (r.tstate, r.raise_after_ns)
        })
    });
    let Some((tstate, raise_after_ns)) = rearm else {
        return;
    };
    // What the tracer reads: where the check's code is, and from when to raise.
    let Ok(target) = (entry.own_code.clone_ref(py), raise_after_ns).into_pyobject(py) else {
        return;
    };
    // SAFETY: GIL held; `tstate` is the state of the thread inside this run
    // (cleared under the GIL when the run ends); the tracer keeps `target`.
    unsafe { _PyEval_SetTrace(tstate, Some(safe_point), target.as_ptr()) };
}

/// A check's `cancel()` running on a thread of its own: a message arrives
/// when it has returned.
struct HookRun(mpsc::Receiver<()>);

/// Step 1: the check's `cancel()`, if it has one, on a thread of its own
/// (a Rust thread: no Python-level `threading`, which a check may have
/// replaced, e.g. with gevent's), so that one that blocks (joins a thread,
/// closes a slow connection) holds up neither the host's cancel nor a
/// shutdown: they wait for it up to [`CANCEL_HOOK_WAIT`]. Whatever it
/// raises is logged, not propagated: the cancellation goes on.
fn start_cancel_hook(py: Python<'_>, entry: &CheckEntry) -> Option<HookRun> {
    let hook = entry
        .object
        .bind(py)
        .getattr(intern!(py, "cancel"))
        .ok()?
        .unbind();
    let (done, returned) = mpsc::sync_channel(1);
    let (on_thread, check_id) = (hook.clone_ref(py), entry.check_id.clone());
    let spawned = std::thread::Builder::new()
        .name(format!("pyhost-cancel {}", entry.check_id))
        .spawn(move || {
            Python::attach(|py| call_cancel_hook(py, &on_thread, &check_id));
            let _ = done.send(()); // the waiter may have stopped waiting
        });
    if let Err(e) = spawned {
        logging::emit(
            py,
            30,
            "pyhost.cancel",
            &entry.check_id,
            &format!(
                "the check's cancel() runs on the cancelling thread: no thread of its own ({e})"
            ),
        );
        call_cancel_hook(py, &hook, &entry.check_id);
        return None;
    }
    Some(HookRun(returned))
}

/// Calls a check's `cancel()`, logging what it raises.
fn call_cancel_hook(py: Python<'_>, hook: &Py<PyAny>, check_id: &str) {
    if let Err(e) = hook.call0(py) {
        logging::emit(
            py,
            30,
            "pyhost.cancel",
            check_id,
            &format!("the check's cancel() raised {}", e.value(py)),
        );
    }
}

/// Waits, with the GIL released, until every `cancel()` started has
/// returned or [`CANCEL_HOOK_WAIT`] has passed.
fn wait_for_hooks(py: Python<'_>, runs: Vec<HookRun>) {
    if runs.is_empty() {
        return;
    }
    let deadline = Instant::now() + CANCEL_HOOK_WAIT;
    py.detach(move || {
        for run in runs {
            let _ = run
                .0
                .recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
    });
}

/// Removes the safe-point tracer from the calling thread if a cancellation
/// installed it (a run's end).
pub fn disarm_here(_py: Python<'_>) {
    // SAFETY: GIL held; clears this thread's trace function.
    unsafe { ffi::PyEval_SetTrace(None, std::ptr::null_mut()) };
}

/// The trace function: at a line event in the check's own code, once the
/// cooperative grace has passed, raise `CheckCancelled` and remove itself.
/// `target` is `(file-name prefixes, raise-after in now_ns() time)`.
unsafe extern "C" fn safe_point(
    target: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    _arg: *mut ffi::PyObject,
) -> c_int {
    if what != ffi::PyTrace_LINE {
        return 0;
    }
    // SAFETY: CPython calls trace functions with the GIL held, `frame` live
    // and `target` the object given to _PyEval_SetTrace, which it keeps.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: as above.
    let target = unsafe { Bound::from_borrowed_ptr(py, target) };
    let Ok((prefixes, raise_after_ns)) = target.extract::<(Bound<'_, PyTuple>, u64)>() else {
        return 0;
    };
    if now_ns() < raise_after_ns {
        return 0;
    }
    // SAFETY: as above.
    let code = unsafe { Bound::from_owned_ptr(py, ffi::PyFrame_GetCode(frame).cast()) };
    let Ok(filename) = code.getattr(intern!(py, "co_filename")) else {
        return 0;
    };
    let Ok(filename) = filename.cast::<PyString>().map(|f| f.to_string_lossy()) else {
        return 0;
    };
    let own = prefixes.iter().any(|p| {
        p.cast::<PyString>()
            .is_ok_and(|p| filename.starts_with(&*p.to_string_lossy()))
    });
    if !own {
        return 0;
    }
    // SAFETY: GIL held; removing this thread's tracer from inside it is how
    // sys.settrace(None) works too.
    unsafe { ffi::PyEval_SetTrace(None, std::ptr::null_mut()) };
    PyErr::new::<CheckCancelled, _>(()).restore(py);
    -1
}

thread_local! {
    /// The check whose run is in progress on this thread, for helpers that
    /// wait in slices and can stop at a safe point of their own.
    static RUNNING: RefCell<Option<Arc<CheckEntry>>> = const { RefCell::new(None) };
}

/// Marks `entry` as running on this thread until the guard drops.
pub fn running_here(entry: &Arc<CheckEntry>) -> RunningHere {
    RunningHere(RUNNING.with(|r| r.replace(Some(Arc::clone(entry)))))
}

pub struct RunningHere(Option<Arc<CheckEntry>>);

impl Drop for RunningHere {
    fn drop(&mut self) {
        let previous = self.0.take();
        // The thread-local may already be gone while the thread exits.
        let _ = RUNNING.try_with(|r| r.replace(previous));
    }
}

/// `_pyhost_checks.cancel_requested()`: whether the run on this thread was
/// asked to stop. Engine helpers that wait in slices (subprocesses) check it
/// and raise `CheckCancelled` themselves, where they can clean up first.
#[pyfunction]
fn cancel_requested(py: Python<'_>) -> bool {
    RUNNING
        .try_with(|r| r.borrow().clone())
        .ok()
        .flatten()
        .is_some_and(|entry| entry.with_run(py, |r| r.cancel_called))
}

/// Adds the native functions of `_pyhost_checks`.
pub fn add_functions(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(cancel_requested, module)?)
}

/// Cancels every running check of a session (its shutdown).
pub fn cancel_all(py: Python<'_>, session: &'static Session) {
    let entries = CHECKS.owned_by(py, session.id);
    let hooks = entries.iter().filter_map(|e| begin(py, e, 0)).collect();
    wait_for_hooks(py, hooks);
    for entry in &entries {
        arm(py, entry, 0);
    }
}
