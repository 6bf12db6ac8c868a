//! Runtimes and handles. A handle is a number: kind (8 bits), generation
//! (24 bits) and slot index + 1 (32 bits). Zero, a freed handle (its slot's
//! generation moved on), a handle of another kind and a handle of another
//! runtime are all rejected.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use pyhost_abi::{
    pyhost_log_callback, pyhost_metric_callback, pyhost_runtime, pyhost_status, Failure,
};
use pyo3::prelude::*;

use crate::checks::CheckEntry;
use crate::gil_cell::GilCell;

/// A runtime session. Sessions are never reused, so a closed one stays
/// recognisable (and reports SHUTDOWN) for the life of the process.
pub struct RuntimeState {
    pub id: u64,
    closed: AtomicBool,
    in_flight: InFlight,
    pub log_callback: pyhost_log_callback,
    pub log_context: usize,
    pub metric_callback: pyhost_metric_callback,
    pub metric_context: usize,
}

/// Calls in flight on a runtime, counted in per-thread shards: one shared
/// counter bounced between cores on every call and halved throughput with 8
/// callers. Shutdown sums the shards.
struct InFlight([PaddedCounter; SHARDS]);

#[repr(align(128))]
struct PaddedCounter(AtomicUsize);

const SHARDS: usize = 16;

impl InFlight {
    fn new() -> InFlight {
        InFlight(std::array::from_fn(|_| PaddedCounter(AtomicUsize::new(0))))
    }

    fn shard(&self) -> &AtomicUsize {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
        }
        let index = SHARD.try_with(|s| *s).unwrap_or(0);
        &self.0[index].0
    }

    fn total(&self) -> usize {
        self.0.iter().map(|c| c.0.load(Ordering::SeqCst)).sum()
    }
}

const KIND_RUNTIME: u64 = 1;
pub const KIND_CLASS: u64 = 2;
pub const KIND_CHECK: u64 = 3;
pub const KIND_FUNCTION: u64 = 4;

fn kind_name(kind: u64) -> &'static str {
    match kind {
        KIND_RUNTIME => "runtime",
        KIND_CLASS => "check class",
        KIND_CHECK => "check",
        KIND_FUNCTION => "function",
        _ => "unknown",
    }
}

/// Runtime sessions, never freed, found by index with one atomic load (the
/// hot path takes no lock). A process may start this many runtimes.
const MAX_RUNTIMES: usize = 1 << 16;
static RUNTIMES: OnceLock<Box<[AtomicPtr<RuntimeState>]>> = OnceLock::new();
static RUNTIME_COUNT: Mutex<usize> = Mutex::new(0);

fn runtime_slots() -> &'static [AtomicPtr<RuntimeState>] {
    RUNTIMES.get_or_init(|| {
        (0..MAX_RUNTIMES)
            .map(|_| AtomicPtr::new(std::ptr::null_mut()))
            .collect()
    })
}

pub fn register_runtime(
    log_callback: pyhost_log_callback,
    log_context: usize,
    metric_callback: pyhost_metric_callback,
    metric_context: usize,
) -> Result<pyhost_runtime, Failure> {
    let mut count = RUNTIME_COUNT.lock().unwrap_or_else(|p| p.into_inner());
    let index = *count;
    if index >= MAX_RUNTIMES {
        return Err(Failure::new(
            pyhost_status::PYHOST_STATUS_CONFLICT,
            format!("this process has started {MAX_RUNTIMES} runtimes, the most it can"),
        ));
    }
    let id = (KIND_RUNTIME << 56) | (index as u64 + 1);
    let state = Box::leak(Box::new(RuntimeState {
        id,
        closed: AtomicBool::new(false),
        in_flight: InFlight::new(),
        log_callback,
        log_context,
        metric_callback,
        metric_context,
    }));
    runtime_slots()[index].store(state, Ordering::Release);
    *count += 1;
    Ok(pyhost_runtime { id })
}

#[inline]
fn runtime_state(rt: pyhost_runtime) -> Result<&'static RuntimeState, Failure> {
    let state = (rt.id >> 56 == KIND_RUNTIME)
        .then_some((rt.id & 0xFFFF_FFFF) as usize)
        .and_then(|index| index.checked_sub(1))
        .and_then(|i| runtime_slots().get(i))
        .map(|slot| slot.load(Ordering::Acquire))
        .filter(|p| !p.is_null());
    match state {
        // SAFETY: states are leaked on registration and never freed.
        Some(p) if unsafe { (*p).id } == rt.id => Ok(unsafe { &*p }),
        _ => Err(not_a_runtime(rt)),
    }
}

#[cold]
#[inline(never)]
fn not_a_runtime(rt: pyhost_runtime) -> Failure {
    if rt.id >> 56 != KIND_RUNTIME {
        Failure::invalid_handle(format!(
            "{:#x} is not a runtime handle (kind: {})",
            rt.id,
            kind_name(rt.id >> 56)
        ))
    } else {
        Failure::invalid_handle(format!("unknown runtime handle {:#x}", rt.id))
    }
}

/// The most recently started runtime that is still open: the destination of
/// log records that belong to no check.
pub fn latest_open_runtime() -> Option<&'static RuntimeState> {
    let count = *RUNTIME_COUNT.lock().unwrap_or_else(|p| p.into_inner());
    runtime_slots()[..count]
        .iter()
        .rev()
        .map(|slot| slot.load(Ordering::Acquire))
        .filter(|p| !p.is_null())
        // SAFETY: states are leaked on registration and never freed.
        .map(|p| unsafe { &*p })
        .find(|s| !s.closed.load(Ordering::SeqCst))
}

/// Proof that a call is in flight on an open runtime; shutdown waits for
/// every guard to drop. It keeps the shard it counted in, so the count
/// balances even if the call were to end on another thread.
pub struct CallGuard(&'static RuntimeState, &'static AtomicUsize);

impl CallGuard {
    pub fn runtime(&self) -> &'static RuntimeState {
        self.0
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.1.fetch_sub(1, Ordering::SeqCst);
    }
}

fn shut_down() -> Failure {
    Failure::new(
        pyhost_status::PYHOST_STATUS_SHUTDOWN,
        "the pyhost runtime is shut down",
    )
}

/// Enters a call on `rt`, or fails if it is unknown or shut down.
pub fn enter(rt: pyhost_runtime) -> Result<CallGuard, Failure> {
    let state = runtime_state(rt)?;
    // Count first, then check: shutdown sets `closed` first, then waits for
    // the count, so no call slips past it.
    let shard = state.in_flight.shard();
    shard.fetch_add(1, Ordering::SeqCst);
    let guard = CallGuard(state, shard);
    if state.closed.load(Ordering::SeqCst) {
        return Err(shut_down());
    }
    Ok(guard)
}

/// The runtime of a short call that shutdown need not wait for (a function
/// call holds its own reference to what it calls), or SHUTDOWN.
#[inline]
pub fn open_runtime(rt: pyhost_runtime) -> Result<&'static RuntimeState, Failure> {
    let state = runtime_state(rt)?;
    if state.closed.load(Ordering::Acquire) {
        return Err(shut_down());
    }
    Ok(state)
}

/// Closes `rt` to new calls (idempotent); calls in flight go on.
pub fn close(rt: pyhost_runtime) -> Result<&'static RuntimeState, Failure> {
    let state = runtime_state(rt)?;
    state.closed.store(true, Ordering::SeqCst);
    Ok(state)
}

pub fn in_flight(rt: pyhost_runtime) -> usize {
    runtime_state(rt).map(|s| s.in_flight.total()).unwrap_or(0)
}

/// What a handle refers to.
pub enum Object {
    Class(Py<PyAny>),
    Check(Arc<CheckEntry>),
    Function(Py<PyAny>),
}

impl Object {
    fn kind(&self) -> u64 {
        match self {
            Object::Class(_) => KIND_CLASS,
            Object::Check(_) => KIND_CHECK,
            Object::Function(_) => KIND_FUNCTION,
        }
    }
}

struct Slot {
    generation: u32,
    entry: Option<(u64, Object)>,
}

/// Every live object handle. Touched only with the GIL held; Python objects
/// are cloned or moved out, never dropped or called, inside a borrow.
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

static TABLE: GilCell<Table> = GilCell::new(Table {
    slots: Vec::new(),
    free: Vec::new(),
});

const GENERATION_MASK: u32 = 0xFF_FFFF;

pub fn insert(py: Python<'_>, runtime: &RuntimeState, object: Object) -> u64 {
    let kind = object.kind();
    // SAFETY: table bookkeeping only; objects are cloned (incref) or moved out, never dropped or called inside.
    unsafe {
        TABLE.with(py, |table| {
            let index = match table.free.pop() {
                Some(i) => i,
                None => {
                    table.slots.push(Slot {
                        generation: 1,
                        entry: None,
                    });
                    (table.slots.len() - 1) as u32
                }
            };
            let slot = &mut table.slots[index as usize];
            slot.entry = Some((runtime.id, object));
            (kind << 56) | (u64::from(slot.generation) << 32) | (u64::from(index) + 1)
        })
    }
}

/// A handle's slot index and generation.
#[inline]
fn slot_of(handle: u64) -> (usize, u32) {
    (
        ((handle & 0xFFFF_FFFF) as usize).wrapping_sub(1),
        ((handle >> 32) as u32) & GENERATION_MASK,
    )
}

/// The slot of a live handle of `kind` owned by `runtime`.
#[inline]
fn locate(table: &Table, runtime: &RuntimeState, handle: u64, kind: u64) -> Result<usize, Failure> {
    let (index, generation) = slot_of(handle);
    match table.slots.get(index) {
        Some(Slot {
            generation: g,
            entry: Some((owner, _)),
        }) if handle >> 56 == kind && *g == generation && *owner == runtime.id => Ok(index),
        _ => Err(not_located(table, handle, kind)),
    }
}

/// Why `locate` rejected a handle.
#[cold]
#[inline(never)]
fn not_located(table: &Table, handle: u64, kind: u64) -> Failure {
    let what = kind_name(kind);
    if handle == 0 {
        return Failure::invalid_handle(format!("the {what} handle is zero"));
    }
    if handle >> 56 != kind {
        return Failure::invalid_handle(format!(
            "{handle:#x} is not a {what} handle (kind: {})",
            kind_name(handle >> 56)
        ));
    }
    let (index, generation) = slot_of(handle);
    match table.slots.get(index) {
        Some(Slot {
            generation: g,
            entry: Some(_),
        }) if *g == generation => Failure::invalid_handle(format!(
            "{what} handle {handle:#x} belongs to another runtime"
        )),
        _ => Failure::invalid_handle(format!(
            "stale or unknown {what} handle {handle:#x} (freed?)"
        )),
    }
}

/// Looks a handle up and clones what it refers to.
pub fn get(
    py: Python<'_>,
    runtime: &RuntimeState,
    handle: u64,
    kind: u64,
) -> Result<Object, Failure> {
    // SAFETY: table bookkeeping only; objects are cloned (incref) or moved out, never dropped or called inside.
    unsafe {
        TABLE.with(py, |table| {
            let index = locate(table, runtime, handle, kind)?;
            Ok(match &table.slots[index].entry {
                Some((_, Object::Class(o))) => Object::Class(o.clone_ref(py)),
                Some((_, Object::Check(c))) => Object::Check(Arc::clone(c)),
                Some((_, Object::Function(o))) => Object::Function(o.clone_ref(py)),
                None => unreachable!("located slots are occupied"),
            })
        })
    }
}

/// Looks up a function handle as a `Bound` (released at once when dropped,
/// as the call path needs).
#[inline]
pub fn get_function<'py>(
    py: Python<'py>,
    runtime: &RuntimeState,
    handle: u64,
) -> Result<Bound<'py, PyAny>, Failure> {
    // SAFETY: table bookkeeping only; objects are cloned (incref) or moved out, never dropped or called inside.
    unsafe {
        TABLE.with(py, |table| {
            let index = locate(table, runtime, handle, KIND_FUNCTION)?;
            match &table.slots[index].entry {
                Some((_, Object::Function(o))) => Ok(o.bind(py).clone()),
                _ => unreachable!("kind checked by locate"),
            }
        })
    }
}

fn vacate(table: &mut Table, index: usize) -> Object {
    let slot = &mut table.slots[index];
    let (_, object) = slot.entry.take().expect("located slots are occupied");
    slot.generation = ((slot.generation + 1) & GENERATION_MASK).max(1);
    table.free.push(index as u32);
    object
}

/// Frees a handle, returning its object so the caller drops it after the
/// borrow (dropping may run Python code).
pub fn remove(
    py: Python<'_>,
    runtime: &RuntimeState,
    handle: u64,
    kind: u64,
) -> Result<Object, Failure> {
    // SAFETY: table bookkeeping only; objects are cloned (incref) or moved out, never dropped or called inside.
    unsafe {
        TABLE.with(py, |table| {
            let index = locate(table, runtime, handle, kind)?;
            Ok(vacate(table, index))
        })
    }
}

/// Frees every handle of a runtime, returning the objects.
pub fn remove_all(py: Python<'_>, runtime: &RuntimeState) -> Vec<Object> {
    // SAFETY: table bookkeeping only; objects are cloned (incref) or moved out, never dropped or called inside.
    unsafe {
        TABLE.with(py, |table| {
            let owned: Vec<usize> = (0..table.slots.len())
                .filter(
                    |&i| matches!(&table.slots[i].entry, Some((owner, _)) if *owner == runtime.id),
                )
                .collect();
            owned.into_iter().map(|i| vacate(table, i)).collect()
        })
    }
}

/// The checks of a runtime (for cancelling them at shutdown).
pub fn checks_of(py: Python<'_>, runtime: &RuntimeState) -> Vec<Arc<CheckEntry>> {
    // SAFETY: table bookkeeping only; objects are cloned (incref) or moved out, never dropped or called inside.
    unsafe {
        TABLE.with(py, |table| {
            table
                .slots
                .iter()
                .filter_map(|slot| match &slot.entry {
                    Some((owner, Object::Check(c))) if *owner == runtime.id => Some(Arc::clone(c)),
                    _ => None,
                })
                .collect()
        })
    }
}
