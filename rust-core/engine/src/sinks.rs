//! Where submissions go. Each live check has a sink, found by its check id
//! (the `aggregator` functions receive the id, as in the Datadog Agent). A
//! sink buffers the run's records; the run hands them to the host in one
//! batch, so a metric never costs a call into the host.

use std::sync::{Arc, Mutex, MutexGuard};

use pyhost_abi::batch::Writer;
use pyhost_abi::{pyhost_status, Failure};
use rustc_hash::FxHashMap;

use crate::registry::RuntimeState;

/// A check's buffered submissions.
#[derive(Default)]
pub struct Sink {
    writer: Mutex<Writer>,
}

impl Sink {
    pub fn lock(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A check id's destination.
#[derive(Clone)]
pub struct Route {
    pub sink: Arc<Sink>,
    pub runtime: &'static RuntimeState,
}

static ROUTES: Mutex<Option<FxHashMap<String, Route>>> = Mutex::new(None);

fn routes() -> MutexGuard<'static, Option<FxHashMap<String, Route>>> {
    ROUTES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers a new check id; ids are unique among live checks.
pub fn open(check_id: &str, runtime: &'static RuntimeState) -> Result<Arc<Sink>, Failure> {
    let mut routes = routes();
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
            runtime,
        },
    );
    Ok(sink)
}

pub fn close(check_id: &str) {
    if let Some(routes) = routes().as_mut() {
        routes.remove(check_id);
    }
}

pub fn route(check_id: &str) -> Option<Route> {
    routes().as_ref().and_then(|r| r.get(check_id).cloned())
}

pub fn runtime_of(check_id: &str) -> Option<&'static RuntimeState> {
    if check_id.is_empty() {
        return None;
    }
    route(check_id).map(|r| r.runtime)
}
