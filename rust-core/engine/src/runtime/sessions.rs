//! Runtime sessions, the calls inside them, and their shutdown.
//!
//! A session is what `pyhost_runtime_start` opens over the one interpreter.
//! Sessions are never reused or freed, so a closed one stays recognisable
//! (and answers SHUTDOWN) for the life of the process; they are found by
//! index with one atomic load, no lock.
//!
//! Every call into a session is counted while it is inside, from the moment
//! it holds the GIL until it gives it back for good. The count lives under
//! the GIL ([`GilCell`]): a call only touches it while holding the GIL, so it
//! costs two plain increments, and shutdown reads it under the GIL too. A
//! call checks the closed flag under the GIL, before it looks up a handle,
//! and shutdown frees handles under the GIL once the count is zero: a call
//! racing shutdown gets SHUTDOWN, never a freed handle.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use pyhost_abi::{
    pyhost_log_callback, pyhost_metric_callback, pyhost_runtime, pyhost_status, Failure,
};
use pyo3::prelude::*;

use super::gil_cell::GilCell;
use super::handles::{self, kind_name_of, RUNTIME};
use super::interpreter::with_python;

/// A runtime session.
pub struct Session {
    pub id: u64,
    closed: AtomicBool,
    calls: GilCell<Calls>,
    pub log_callback: pyhost_log_callback,
    pub log_context: usize,
    pub metric_callback: pyhost_metric_callback,
    pub metric_context: usize,
    /// Runs report what they cost (their time, GIL wait and Python memory).
    pub accounting: bool,
}

#[derive(Default)]
struct Calls {
    /// Calls inside the session now.
    inside: usize,
    /// A shutdown gave up waiting: the last call to leave releases what the
    /// session owns.
    abandoned: bool,
    /// What the session owned has been released.
    released: bool,
}

/// Sessions, never freed. A process may start this many runtimes.
const MAX_SESSIONS: usize = 1 << 16;
static SESSIONS: OnceLock<Box<[AtomicPtr<Session>]>> = OnceLock::new();
static SESSION_COUNT: Mutex<usize> = Mutex::new(0);

fn slots() -> &'static [AtomicPtr<Session>] {
    SESSIONS.get_or_init(|| {
        (0..MAX_SESSIONS)
            .map(|_| AtomicPtr::new(std::ptr::null_mut()))
            .collect()
    })
}

/// Opens a new session.
pub fn open(
    log_callback: pyhost_log_callback,
    log_context: usize,
    metric_callback: pyhost_metric_callback,
    metric_context: usize,
    accounting: bool,
) -> Result<pyhost_runtime, Failure> {
    let mut count = SESSION_COUNT.lock().unwrap_or_else(|p| p.into_inner());
    let index = *count;
    if index >= MAX_SESSIONS {
        return Err(Failure::new(
            pyhost_status::PYHOST_STATUS_CONFLICT,
            format!("this process has started {MAX_SESSIONS} runtimes, the most it can"),
        ));
    }
    let id = (u64::from(RUNTIME.code) << 56) | (index as u64 + 1);
    let session = Box::leak(Box::new(Session {
        id,
        closed: AtomicBool::new(false),
        calls: GilCell::new(Calls::default()),
        log_callback,
        log_context,
        metric_callback,
        metric_context,
        accounting,
    }));
    slots()[index].store(session, Ordering::Release);
    *count += 1;
    Ok(pyhost_runtime { id })
}

/// The session of a runtime handle, open or closed.
#[inline]
pub fn find(rt: pyhost_runtime) -> Result<&'static Session, Failure> {
    let found = (rt.id >> 56 == u64::from(RUNTIME.code))
        .then_some((rt.id & 0xFFFF_FFFF) as usize)
        .and_then(|index| index.checked_sub(1))
        .and_then(|i| slots().get(i))
        .map(|slot| slot.load(Ordering::Acquire))
        .filter(|p| !p.is_null());
    match found {
        // SAFETY: sessions are leaked when opened and never freed.
        Some(p) if unsafe { (*p).id } == rt.id => Ok(unsafe { &*p }),
        _ => Err(not_a_runtime(rt)),
    }
}

#[cold]
#[inline(never)]
fn not_a_runtime(rt: pyhost_runtime) -> Failure {
    if rt.id >> 56 != u64::from(RUNTIME.code) {
        Failure::invalid_handle(format!(
            "{:#x} is not a runtime handle (kind: {})",
            rt.id,
            kind_name_of(rt.id)
        ))
    } else {
        Failure::invalid_handle(format!("unknown runtime handle {:#x}", rt.id))
    }
}

/// The most recently started session that has not released what it owns
/// (open, or closing with calls still inside): where log records that
/// belong to no object go.
pub fn latest_live(py: Python<'_>) -> Option<&'static Session> {
    let count = *SESSION_COUNT.lock().unwrap_or_else(|p| p.into_inner());
    slots()[..count]
        .iter()
        .rev()
        .map(|slot| slot.load(Ordering::Acquire))
        .filter(|p| !p.is_null())
        // SAFETY: sessions are leaked when opened and never freed.
        .map(|p| unsafe { &*p })
        // SAFETY: a read of a plain flag.
        .find(|s| !unsafe { s.calls.with(py, |c| c.released) })
}

#[cold]
#[inline(never)]
fn shut_down() -> Failure {
    Failure::new(
        pyhost_status::PYHOST_STATUS_SHUTDOWN,
        "the pyhost runtime is shut down",
    )
}

impl Session {
    /// Enters a call, or fails with SHUTDOWN once the session is closed.
    #[inline]
    pub fn enter<'py>(&'static self, py: Python<'py>) -> Result<Call<'py>, Failure> {
        // Read under the GIL: shutdown sets the flag before it reads the
        // count under the GIL, so a call either sees it or is counted.
        if self.closed.load(Ordering::Relaxed) {
            return Err(shut_down());
        }
        // SAFETY: an increment of a plain counter.
        unsafe { self.calls.with(py, |c| c.inside += 1) };
        Ok(Call { session: self, py })
    }

    /// Fails with SHUTDOWN once the session is closed (for work that
    /// needs no GIL, e.g. a publication).
    pub fn check_open(&self) -> Result<(), Failure> {
        if self.closed.load(Ordering::Acquire) {
            return Err(shut_down());
        }
        Ok(())
    }

    /// Calls inside the session now.
    pub fn calls_inside(&self, py: Python<'_>) -> usize {
        // SAFETY: a read of a plain counter.
        unsafe { self.calls.with(py, |c| c.inside) }
    }

    /// Releases everything the session owns, once.
    fn release(&'static self, py: Python<'_>) {
        // SAFETY: a flag flip.
        let first = unsafe {
            self.calls
                .with(py, |c| !std::mem::replace(&mut c.released, true))
        };
        if first {
            // Dropping the objects may run Python code (finalisers), with
            // pyo3 knowing the GIL is held so they are freed now.
            Python::attach(|py| handles::release_all_owned(py, self.id));
        }
    }
}

/// A call inside a session; dropped when the call gives the GIL back for
/// good. The last call to leave a session whose shutdown gave up waiting
/// releases what the session owns.
pub struct Call<'py> {
    session: &'static Session,
    py: Python<'py>,
}

thread_local! {
    /// The session whose call this thread has left to run host code (a Go
    /// function Python called); 0 for none.
    static IN_HOST_CODE: Cell<u64> = const { Cell::new(0) };
}

impl Call<'_> {
    /// Runs host code `f` with the GIL released, the thread marked as inside
    /// this call: a shutdown of the session from there, which would wait for
    /// this very call to leave, fails at once instead.
    pub fn run_host<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        struct Restore(u64);
        impl Drop for Restore {
            fn drop(&mut self) {
                IN_HOST_CODE.set(self.0);
            }
        }
        let _restore = Restore(IN_HOST_CODE.replace(self.session.id));
        self.py.detach(f)
    }
}

impl Drop for Call<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: counter bookkeeping; the GIL is held (the token).
        let last_of_abandoned = unsafe {
            self.session.calls.with(self.py, |c| {
                c.inside -= 1;
                c.inside == 0 && c.abandoned && !c.released
            })
        };
        if last_of_abandoned {
            self.session.release(self.py);
        }
    }
}

/// How often shutdown looks at the count (and nudges the calls inside).
const POLL: Duration = Duration::from_millis(5);

/// Closes `rt` to new calls, then waits up to `timeout` for the calls
/// inside to leave, calling `nudge` (under the GIL) meanwhile so the layers
/// above can stop what runs long (cancel checks). Once no call is inside,
/// releases everything the session owns. If calls are still inside at the
/// deadline, fails with TIMEOUT, and the last call to leave releases it;
/// shutting down again waits again. Shutting down a released session is OK.
pub fn shutdown(
    rt: pyhost_runtime,
    timeout: Duration,
    nudge: impl Fn(Python<'_>, &'static Session),
) -> Result<(), Failure> {
    let session = find(rt)?;
    if IN_HOST_CODE.get() == session.id {
        return Err(Failure::new(
            pyhost_status::PYHOST_STATUS_CONFLICT,
            "shutdown from inside a call of the same runtime (host code Python called) \
             would wait for that call to return; shut down from another thread",
        ));
    }
    session.closed.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + timeout;
    loop {
        let expired = Instant::now() >= deadline;
        let inside = with_python(|py| {
            if session.calls_inside(py) > 0 {
                nudge(py, session);
            }
            // Read after the nudge, which may have let go of the GIL
            // (waiting for checks' cancel()): calls may have left meanwhile.
            let inside = session.calls_inside(py);
            if inside == 0 {
                session.release(py);
                return 0;
            }
            if expired {
                // Under the GIL, like the count the last call leaves: that
                // call sees the flag, or this read saw it leave.
                // SAFETY: a flag flip.
                unsafe { session.calls.with(py, |c| c.abandoned = true) };
            }
            inside
        });
        if inside == 0 {
            return Ok(());
        }
        if expired {
            return Err(Failure::new(
                pyhost_status::PYHOST_STATUS_TIMEOUT,
                format!(
                    "shutdown timed out after {} ms with {inside} call(s) still running; \
                     what the runtime owns is freed when the last one returns",
                    timeout.as_millis()
                ),
            ));
        }
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}
