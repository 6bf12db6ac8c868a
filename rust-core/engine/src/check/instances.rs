//! Check instances: a class called with its name and configuration, bound
//! to a check id and a sink; freeing one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use pyhost_abi::Failure;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use super::classes::{CLASSES, HELPERS};
use super::sinks::{self, Sink};
use crate::runtime::accounting::{self, Attributing, ClockState, Owner};
use crate::runtime::convert;
use crate::runtime::errors::{py_fail, python_failure};
use crate::runtime::gil_cell::GilCell;
use crate::runtime::handles::{Handles, Kind, Release};
use crate::runtime::sessions::Session;

pub const CHECK: Kind = Kind {
    code: 3,
    name: "check",
};

pub static CHECKS: Handles<Arc<CheckEntry>> = Handles::new(CHECK);

/// A live check instance.
pub struct CheckEntry {
    pub object: Py<PyAny>,
    pub check_id: String,
    pub sink: Arc<Sink>,
    /// Where the check's own code lives: file-name prefixes, the only
    /// places a cancellation raises (see `cancel`).
    pub own_code: Py<PyTuple>,
    run: GilCell<RunState>,
    /// A run is in progress, from the start of `run()` until its batch is
    /// taken: a second run is refused meanwhile.
    pub busy: AtomicBool,
    pub freed: AtomicBool,
    /// Whose Python memory the instance's construction and runs allocate.
    pub owner: Owner,
    /// What the run clock decides by (the previous run's length).
    pub clock: ClockState,
}

/// The run in progress, as cancellation needs it. Read and written only
/// under the GIL.
pub struct RunState {
    /// The thread state of the thread inside `run()`, NULL otherwise.
    pub tstate: *mut ffi::PyThreadState,
    /// The id of the run in progress (0: none, or a run without an id).
    pub run_id: u64,
    /// The highest run id a cancellation named: that run, and any earlier
    /// one, is cancelled as soon as it starts.
    pub cancelled_up_to: u64,
    /// The check's `cancel()` was called for this run.
    pub cancel_called: bool,
    /// When the safe-point raise may fire (`cancel::now_ns` time).
    pub raise_after_ns: u64,
    /// A cancellation installed the safe-point tracer on the run's thread.
    pub armed: bool,
    pub armed_at: Option<Instant>,
}

// SAFETY: the thread-state pointer is only used under the GIL, while the
// run it belongs to is in progress.
unsafe impl Send for RunState {}

impl CheckEntry {
    /// Runs `f` on the run state; `f` must not run Python code.
    pub fn with_run<R>(&self, py: Python<'_>, f: impl FnOnce(&mut RunState) -> R) -> R {
        // SAFETY: callers pass closures over plain fields only.
        unsafe { self.run.with(py, f) }
    }
}

/// What `pyhost_check_new` passes.
pub struct NewCheck<'a> {
    pub name: &'a str,
    pub check_id: &'a str,
    pub init_config_json: &'a str,
    pub instance_json: &'a str,
}

fn parse_json(text: &str, what: &str) -> Result<serde_json::Value, Failure> {
    if text.is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_str(text)
        .map_err(|e| Failure::invalid_argument(format!("{what} is not valid JSON: {e}")))
}

/// `class(name, init_config, [instance])`, then `check_id` set on it.
pub fn new(
    py: Python<'_>,
    session: &'static Session,
    class: u64,
    config: NewCheck<'_>,
) -> Result<u64, Failure> {
    let class = CLASSES.get_bound(py, session.id, class)?;
    if config.name.is_empty() || config.check_id.is_empty() {
        return Err(Failure::invalid_argument(
            "a check needs a name and a check id",
        ));
    }
    let init_config = parse_json(config.init_config_json, "init_config")?;
    let instance = parse_json(config.instance_json, "the instance")?;
    if !init_config.is_object() {
        return Err(Failure::invalid_argument(
            "init_config must be a JSON object",
        ));
    }
    if !instance.is_object() {
        return Err(Failure::invalid_argument(
            "the instance must be a JSON object",
        ));
    }
    let init_config = convert::config_to_py(py, &init_config).map_err(py_fail(py))?;
    let instance = convert::config_to_py(py, &instance).map_err(py_fail(py))?;
    let instances = PyList::new(py, [instance]).map_err(py_fail(py))?;
    // The id is routable from here on; the SDK's AgentCheck learns it only
    // when check_id is set below, so its __init__ cannot submit yet.
    let sink = sinks::open(py, config.check_id, session)?;
    let owner = accounting::new_owner();
    let attributing = Attributing::enter(owner);
    // Interned: the instances of a check share one name string.
    let name = PyString::intern(py, config.name);
    let made = class
        .call1((name, init_config, instances))
        .and_then(|object| {
            object
                .setattr(intern!(py, "check_id"), config.check_id)
                .map(|()| object)
        });
    let made = made.and_then(|object| {
        let own_code = HELPERS.call(py, "own_code", (&object,))?;
        Ok((object, own_code.cast_into::<PyTuple>()?))
    });
    drop(attributing);
    let (object, own_code) = match made {
        Ok(made) => made,
        Err(e) => {
            sinks::close(py, config.check_id);
            return Err(python_failure(py, &e));
        }
    };
    let entry = Arc::new(CheckEntry {
        object: object.unbind(),
        check_id: config.check_id.to_owned(),
        sink: Arc::clone(&sink),
        own_code: own_code.unbind(),
        run: GilCell::new(RunState {
            tstate: std::ptr::null_mut(),
            run_id: 0,
            cancelled_up_to: 0,
            cancel_called: false,
            raise_after_ns: 0,
            armed: false,
            armed_at: None,
        }),
        busy: AtomicBool::new(false),
        freed: AtomicBool::new(false),
        owner,
        clock: ClockState::default(),
    });
    CHECKS.insert(py, session.id, entry).inspect_err(|_| {
        sinks::close_if(py, config.check_id, &sink);
    })
}

pub fn free(py: Python<'_>, session: &Session, check: u64) -> Result<(), Failure> {
    CHECKS.free(py, session.id, check)
}

/// A freed check drops its route (its id can be used again); a run in
/// progress keeps its sink and closes the route when it ends.
impl Release for Arc<CheckEntry> {
    fn release(self, py: Python<'_>) {
        self.freed.store(true, Ordering::SeqCst);
        if !self.busy.load(Ordering::SeqCst) {
            sinks::close_if(py, &self.check_id, &self.sink);
        }
    }
}
