//! Host state: values the host publishes by name, read from Python with
//! `pyhost.host.get(name)`.
//!
//! A publication is checked and copied into the store under a plain mutex,
//! never the GIL, so a host thread publishing never waits for Python. A
//! `get` turns the encoded value into Python objects once per version and
//! hands every reader the same read-only object until the next
//! publication: dicts are `types.MappingProxyType`, lists are tuples, so no
//! reader can change what another sees. A `get` of an unchanged value is an
//! atomic load and a hash lookup.
//!
//! Names are process-wide, like module names; a value belongs to the
//! session that published it and goes when that session shuts down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Once};

use pyhost_abi::value;
use pyhost_abi::Failure;
use pyo3::prelude::*;
use rustc_hash::FxHashMap;

use super::values::{self, Shape};
use crate::runtime::gil_cell::GilCell;
use crate::runtime::handles::{self, OwnedTable};
use crate::runtime::sessions::Session;

struct Published {
    session: u64,
    version: u64,
    value: Arc<[u8]>,
}

/// What the host has published, by name.
static STORE: LazyLock<Mutex<FxHashMap<String, Published>>> = LazyLock::new(Default::default);

/// Counts publications, so a reader knows whether anything changed since
/// it last looked without taking the store's lock.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// What readers were last handed, per name.
struct Decoded {
    /// The `GENERATION` at which this entry was last known current.
    generation: u64,
    /// The version of the name's value (never 0: names with nothing
    /// published have no entry).
    version: u64,
    value: Py<PyAny>,
}

static DECODED: GilCell<Option<FxHashMap<Box<str>, Decoded>>> = GilCell::new(None);

fn store() -> MutexGuard<'static, FxHashMap<String, Published>> {
    STORE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Stores `encoded` under `name` for `session`; returns its version.
pub fn publish(session: &Session, name: &str, encoded: &[u8]) -> Result<u64, Failure> {
    if name.is_empty() {
        return Err(Failure::invalid_argument("a published value needs a name"));
    }
    session.check_open()?;
    value::validate(encoded)
        .map_err(|e| Failure::invalid_argument(format!("{name}: not a pyhost value: {e}")))?;
    let value: Arc<[u8]> = Arc::from(encoded);
    let (version, replaced) = {
        let mut store = store();
        // Again under the lock: a session that shut down since the first
        // check has released (or is about to release, behind this lock)
        // what it published; a value stored now would outlive it.
        session.check_open()?;
        let version = store.get(name).map_or(0, |p| p.version) + 1;
        let replaced = store.insert(
            name.to_owned(),
            Published {
                session: session.id,
                version,
                value,
            },
        );
        GENERATION.fetch_add(1, Ordering::Release);
        (version, replaced)
    };
    // The old bytes are freed outside the lock.
    drop(replaced);
    Ok(version)
}

/// The version and bytes published under `name`, if any.
fn lookup(name: &str) -> Option<(u64, Arc<[u8]>)> {
    store().get(name).map(|p| (p.version, p.value.clone()))
}

/// The value published under `name` (see the module comment), or `default`.
pub fn get<'py>(
    py: Python<'py>,
    name: &str,
    default: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let generation = GENERATION.load(Ordering::Acquire);
    // SAFETY: a lookup and a reference-count increment; no Python code runs.
    let hit = unsafe {
        DECODED.with(py, |d| {
            d.get_or_insert_with(Default::default)
                .get(name)
                .filter(|d| d.generation == generation)
                .map(|d| d.value.clone_ref(py))
        })
    };
    let value = match hit {
        Some(value) => Some(value),
        None => refresh(py, name, generation)?,
    };
    Ok(match value {
        Some(v) => v.into_bound(py),
        None => default.unwrap_or_else(|| py.None().into_bound(py)),
    })
}

/// Brings the decoded entry for `name` up to date with the store.
#[cold]
fn refresh(py: Python<'_>, name: &str, generation: u64) -> PyResult<Option<Py<PyAny>>> {
    let Some((version, bytes)) = lookup(name) else {
        // Nothing published: no entry is kept, so names looked up and never
        // published (a key per request, say) cost no memory.
        // SAFETY: a removal; the entry is dropped after the borrow.
        let gone = unsafe { DECODED.with(py, |d| d.as_mut().and_then(|d| d.remove(name))) };
        drop(gone);
        return Ok(None);
    };
    // SAFETY: a lookup and a reference-count increment; no Python code runs.
    let unchanged = unsafe {
        DECODED.with(py, |d| {
            let d = d.get_or_insert_with(Default::default).get_mut(name)?;
            (d.version == version).then(|| {
                d.generation = generation;
                d.value.clone_ref(py)
            })
        })
    };
    if let Some(value) = unchanged {
        return Ok(Some(value));
    }
    let value = values::decode(py, &bytes, Shape::Frozen)?.unbind();
    let entry = Decoded {
        generation,
        version,
        value: value.clone_ref(py),
    };
    // SAFETY: an insert; the value it replaces is dropped after the borrow.
    let replaced = unsafe {
        DECODED.with(py, |d| {
            d.get_or_insert_with(Default::default)
                .insert(name.into(), entry)
        })
    };
    drop(replaced);
    Ok(Some(value))
}

/// How many times `name` has been published (0: never, or its session has
/// shut down).
pub fn version(_py: Python<'_>, name: &str) -> u64 {
    lookup(name).map_or(0, |(v, _)| v)
}

/// The published names, sorted.
pub fn names(_py: Python<'_>) -> Vec<String> {
    let mut names: Vec<String> = store().keys().cloned().collect();
    names.sort();
    names
}

/// Drops what a session published when it shuts down.
struct Store;

impl OwnedTable for Store {
    fn release_owned(&self, py: Python<'_>, owner: u64) {
        let gone: Vec<Published> = {
            let mut store = store();
            let names: Vec<String> = store
                .iter()
                .filter(|(_, p)| p.session == owner)
                .map(|(n, _)| n.clone())
                .collect();
            let gone = names.iter().filter_map(|n| store.remove(n)).collect();
            GENERATION.fetch_add(1, Ordering::Release);
            gone
        };
        drop(gone);
        // Readers' decoded copies of those values go at their next get;
        // drop them now so their memory does not outlive the session.
        // SAFETY: entries are moved out and dropped after the borrow.
        let stale: Vec<Decoded> = unsafe {
            DECODED.with(py, |d| {
                let Some(d) = d.as_mut() else {
                    return Vec::new();
                };
                let names: Vec<Box<str>> = d
                    .iter()
                    .filter(|(n, e)| version(py, n) != e.version)
                    .map(|(n, _)| n.clone())
                    .collect();
                names.iter().filter_map(|n| d.remove(n)).collect()
            })
        };
        drop(stale);
    }
}

static TRACKED: Once = Once::new();

/// Makes sessions' shutdown release what they published.
pub fn track() {
    TRACKED.call_once(|| handles::track(&Store));
}
