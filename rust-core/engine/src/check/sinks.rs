//! Where submissions go. Each live check has a sink, found by its check id
//! (the `aggregator` functions receive the id, as in the Datadog Agent) or
//! bound to the check object itself (`_pyhost.CheckBase`). A sink buffers
//! the run's records; the run hands them to the host in one batch, so a
//! metric never costs a call into the host.

use std::cell::RefCell;
use std::sync::Arc;

use pyhost_abi::batch::Writer;
use pyhost_abi::{pyhost_status, Failure};
use pyo3::Python;
use rustc_hash::FxHashMap;

use crate::runtime::gil_cell::GilCell;
use crate::runtime::sessions::Session;

/// A check's buffered submissions.
#[derive(Default)]
pub struct Sink {
    writer: GilCell<Writer>,
}

impl Sink {
    /// Runs `f` on the batch.
    ///
    /// # Safety
    /// As [`GilCell::with`]: `f` must not run Python code.
    pub unsafe fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut Writer) -> R) -> R {
        // SAFETY: forwarded to the caller.
        unsafe { self.writer.with(py, f) }
    }
}

impl Default for GilCell<Writer> {
    fn default() -> Self {
        GilCell::new(Writer::new())
    }
}

/// A check id's destination.
#[derive(Clone)]
pub struct Route {
    pub sink: Arc<Sink>,
    pub session: &'static Session,
}

static ROUTES: GilCell<Option<FxHashMap<String, Route>>> = GilCell::new(None);

/// Registers a new check id; ids are unique among live checks.
pub fn open(
    py: Python<'_>,
    check_id: &str,
    session: &'static Session,
) -> Result<Arc<Sink>, Failure> {
    // SAFETY: map operations on Rust values only.
    unsafe {
        ROUTES.with(py, |routes| {
            let routes = routes.get_or_insert_with(FxHashMap::default);
            if routes.contains_key(check_id) {
                return Err(Failure::new(
                    pyhost_status::PYHOST_STATUS_CONFLICT,
                    format!("a check with id {check_id:?} already exists"),
                ));
            }
            let sink = Arc::new(Sink::default());
            routes.insert(
                check_id.to_owned(),
                Route {
                    sink: Arc::clone(&sink),
                    session,
                },
            );
            Ok(sink)
        })
    }
}

/// Closes `check_id`'s route if it still leads to `sink` (the id may have
/// been reused by a newer check meanwhile).
pub fn close_if(py: Python<'_>, check_id: &str, sink: &Arc<Sink>) {
    let mine = route(py, check_id).is_some_and(|r| Arc::ptr_eq(&r.sink, sink));
    if mine {
        close(py, check_id);
    }
}

pub fn close(py: Python<'_>, check_id: &str) {
    // The removed route is dropped after the borrow ends (it holds no Python objects).
    // SAFETY: map operations on Rust values; removed routes drop after the borrow.
    let removed = unsafe {
        ROUTES.with(py, |routes| {
            routes.as_mut().and_then(|r| r.remove(check_id))
        })
    };
    drop(removed);
}

pub fn route(py: Python<'_>, check_id: &str) -> Option<Route> {
    // SAFETY: map operations on Rust values; removed routes drop after the borrow.
    unsafe {
        ROUTES.with(py, |routes| {
            routes.as_ref().and_then(|r| r.get(check_id).cloned())
        })
    }
}

/// The session a check id belongs to: where its log records go.
pub fn session_of(py: Python<'_>, check_id: &str) -> Option<&'static Session> {
    if check_id.is_empty() {
        return None;
    }
    route(py, check_id).map(|r| r.session)
}

/// The check running on a thread: where `datadog_agent` functions that name
/// no check (`set_external_tags`, `log`) send what they receive.
#[derive(Clone)]
pub struct Current {
    pub check_id: String,
    pub sink: Arc<Sink>,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Marks `current` as running on this thread until the guard drops.
pub fn enter_run(current: Current) -> RunGuard {
    let previous = CURRENT.with(|c| c.replace(Some(current)));
    RunGuard(previous)
}

pub struct RunGuard(Option<Current>);

impl Drop for RunGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        // The thread-local may already be gone while the thread exits.
        let _ = CURRENT.try_with(|c| c.replace(previous));
    }
}

/// The check running on this thread, if any.
pub fn current(_py: Python<'_>) -> Option<Current> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}
