//! Handle tables: the numbers the C API hands out for what a runtime loads.
//!
//! ```text
//!  63      56 55          32 31                 0
//!  ┌─────────┬──────────────┬────────────────────┐
//!  │ kind 8  │ slot index 24│ version 32         │
//!  └─────────┴──────────────┴────────────────────┘
//! ```
//!
//! Each kind of object has a table of its own (a `slotmap`), so a handle
//! can only ever reach an object of its own kind, whatever its bits say.
//! A lookup checks the kind bits, the slot's version (a freed slot's version
//! moves on, so its handle goes stale) and the session that owns the slot.
//! Tables are touched only with the GIL held ([`GilCell`]); values are
//! cloned or moved out, never dropped or called, inside the table.

use std::sync::{Mutex, Once};

use pyhost_abi::{pyhost_status, Failure};
use pyo3::prelude::*;
use slotmap::{DefaultKey, Key, KeyData, SlotMap};

use super::gil_cell::GilCell;

/// What kind of object a handle names: its code in the handle's top byte
/// and a name for messages. Each layer declares the kinds it hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    pub code: u8,
    pub name: &'static str,
}

/// The kind of runtime handles (see `sessions`).
pub const RUNTIME: Kind = Kind {
    code: 1,
    name: "runtime",
};
/// The kind of function handles (see `functions`).
pub const FUNCTION: Kind = Kind {
    code: 4,
    name: "function",
};

/// Kinds seen so far, for naming the kind of a handle passed where another
/// was expected.
static KINDS: Mutex<Vec<Kind>> = Mutex::new(Vec::new());

/// The name of the kind whose code is in `handle`'s top byte.
pub fn kind_name_of(handle: u64) -> &'static str {
    let code = (handle >> 56) as u8;
    if code == RUNTIME.code {
        return RUNTIME.name;
    }
    KINDS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|k| k.code == code)
        .map_or("unknown", |k| k.name)
}

/// What a table's values do when their handle is freed, one by one or all
/// of a session's at its shutdown. Runs holding the GIL, outside the table.
pub trait Release: Send + 'static {
    fn release(self, py: Python<'_>);
}

impl Release for Py<PyAny> {
    fn release(self, _py: Python<'_>) {}
}

/// What a session owns, as its shutdown sees it: the handle tables, and
/// any other store of per-session values that registers with [`track`].
pub trait OwnedTable: Sync {
    fn release_owned(&self, py: Python<'_>, owner: u64);
}

/// Registers a store whose values a session's shutdown must release (the
/// handle tables register themselves on first use).
pub fn track(table: &'static dyn OwnedTable) {
    TABLES.lock().unwrap_or_else(|p| p.into_inner()).push(table);
}

/// Every table that has held a value, so a session's shutdown can release
/// everything the session owns without knowing what kinds exist.
static TABLES: Mutex<Vec<&'static dyn OwnedTable>> = Mutex::new(Vec::new());

/// Releases every value `owner` holds, in every table.
pub fn release_all_owned(py: Python<'_>, owner: u64) {
    let tables = TABLES.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for table in tables {
        table.release_owned(py, owner);
    }
}

struct Slot<T> {
    owner: u64,
    value: T,
}

/// Slot indexes fit in 24 bits of a handle.
const MAX_INDEX: u32 = (1 << 24) - 1;

/// The live objects of one kind.
pub struct Handles<T> {
    kind: Kind,
    slots: GilCell<Option<SlotMap<DefaultKey, Slot<T>>>>,
    registered: Once,
}

impl<T: Release> Handles<T> {
    pub const fn new(kind: Kind) -> Handles<T> {
        Handles {
            kind,
            slots: GilCell::new(None),
            registered: Once::new(),
        }
    }

    fn register(&'static self) {
        self.registered.call_once(|| {
            TABLES.lock().unwrap_or_else(|p| p.into_inner()).push(self);
            let mut kinds = KINDS.lock().unwrap_or_else(|p| p.into_inner());
            if !kinds.contains(&self.kind) {
                kinds.push(self.kind);
            }
        });
    }

    /// Stores `value` for `owner` and returns its handle.
    pub fn insert(&'static self, py: Python<'_>, owner: u64, value: T) -> Result<u64, Failure> {
        self.register();
        // SAFETY: map bookkeeping only; the value is moved in, or moved out
        // and returned to be dropped after the borrow.
        let inserted = unsafe {
            self.slots.with(py, |slots| {
                let slots = slots.get_or_insert_with(SlotMap::new);
                let key = slots.insert(Slot { owner, value });
                let data = key.data().as_ffi();
                if (data & 0xFFFF_FFFF) as u32 > MAX_INDEX {
                    return Err(slots.remove(key).map(|s| s.value));
                }
                Ok(self.encode(data))
            })
        };
        inserted.map_err(|refused| {
            drop(refused);
            Failure::new(
                pyhost_status::PYHOST_STATUS_CONFLICT,
                format!(
                    "too many live {} handles (at most {MAX_INDEX})",
                    self.kind.name
                ),
            )
        })
    }

    fn encode(&self, ffi: u64) -> u64 {
        let (index, version) = (ffi & 0xFFFF_FFFF, ffi >> 32);
        (u64::from(self.kind.code) << 56) | (index << 32) | version
    }

    /// The slot key of a handle of this table's kind, or None. Versions of
    /// occupied slots are odd; an even one was never handed out.
    #[inline]
    fn decode(&self, handle: u64) -> Option<DefaultKey> {
        let version = handle & 0xFFFF_FFFF;
        let index = (handle >> 32) & u64::from(MAX_INDEX);
        ((handle >> 56) as u8 == self.kind.code && version & 1 == 1)
            .then(|| KeyData::from_ffi((version << 32) | index).into())
    }

    /// Runs `f` on the live value `handle` names for `owner`.
    ///
    /// # Safety
    /// As [`GilCell::with`]: `f` must not run Python code.
    #[inline]
    unsafe fn with<R>(
        &'static self,
        py: Python<'_>,
        owner: u64,
        handle: u64,
        f: impl FnOnce(&T) -> R,
    ) -> Result<R, Failure> {
        // SAFETY: forwarded to the caller.
        let found = unsafe {
            self.slots.with(py, |slots| {
                let slot = self
                    .decode(handle)
                    .and_then(|key| slots.as_ref()?.get(key))
                    .filter(|slot| slot.owner == owner)?;
                Some(f(&slot.value))
            })
        };
        match found {
            Some(r) => Ok(r),
            None => Err(self.rejected(py, owner, handle)),
        }
    }

    /// Why a handle was refused.
    #[cold]
    #[inline(never)]
    fn rejected(&'static self, py: Python<'_>, owner: u64, handle: u64) -> Failure {
        self.register();
        let what = self.kind.name;
        if handle == 0 {
            return Failure::invalid_handle(format!("the {what} handle is zero"));
        }
        if (handle >> 56) as u8 != self.kind.code {
            return Failure::invalid_handle(format!(
                "{handle:#x} is not a {what} handle (kind: {})",
                kind_name_of(handle)
            ));
        }
        // SAFETY: a read of the owner field.
        let foreign = unsafe {
            self.slots.with(py, |slots| {
                self.decode(handle)
                    .and_then(|key| slots.as_ref()?.get(key))
                    .is_some_and(|slot| slot.owner != owner)
            })
        };
        if foreign {
            Failure::invalid_handle(format!(
                "{what} handle {handle:#x} belongs to another runtime"
            ))
        } else {
            Failure::invalid_handle(format!(
                "stale or unknown {what} handle {handle:#x} (freed?)"
            ))
        }
    }

    /// Frees a handle and returns its value (released by the caller).
    pub fn remove(&'static self, py: Python<'_>, owner: u64, handle: u64) -> Result<T, Failure> {
        // SAFETY: the value is moved out, dropped by the caller after the borrow.
        let removed = unsafe {
            self.slots.with(py, |slots| {
                let slots = slots.as_mut()?;
                let key = self.decode(handle)?;
                (slots.get(key)?.owner == owner).then(|| slots.remove(key))?
            })
        };
        match removed {
            Some(slot) => Ok(slot.value),
            None => Err(self.rejected(py, owner, handle)),
        }
    }

    /// Frees a handle and releases its value.
    pub fn free(&'static self, py: Python<'_>, owner: u64, handle: u64) -> Result<(), Failure> {
        self.remove(py, owner, handle).map(|v| v.release(py))
    }
}

impl<T: Release + Clone> Handles<T> {
    /// A clone of the value `handle` names (cheap: an `Arc`).
    #[inline]
    pub fn get(&'static self, py: Python<'_>, owner: u64, handle: u64) -> Result<T, Failure> {
        // SAFETY: cloning an Arc runs no Python code.
        unsafe { self.with(py, owner, handle, T::clone) }
    }

    /// Clones of every value `owner` holds.
    pub fn owned_by(&'static self, py: Python<'_>, owner: u64) -> Vec<T> {
        // SAFETY: cloning an Arc runs no Python code.
        unsafe {
            self.slots.with(py, |slots| {
                slots.as_ref().map_or_else(Vec::new, |slots| {
                    slots
                        .values()
                        .filter(|s| s.owner == owner)
                        .map(|s| s.value.clone())
                        .collect()
                })
            })
        }
    }
}

impl Handles<Py<PyAny>> {
    /// The object `handle` names, as a `Bound` (released at once when
    /// dropped, as the call path needs).
    #[inline]
    pub fn get_bound<'py>(
        &'static self,
        py: Python<'py>,
        owner: u64,
        handle: u64,
    ) -> Result<Bound<'py, PyAny>, Failure> {
        // SAFETY: binding and cloning increments a reference count; no Python code runs.
        unsafe { self.with(py, owner, handle, |o| o.bind(py).clone()) }
    }
}

impl<T: Release> OwnedTable for Handles<T> {
    fn release_owned(&self, py: Python<'_>, owner: u64) {
        // SAFETY: values are moved out and released after the borrow.
        let owned: Vec<T> = unsafe {
            self.slots.with(py, |slots| {
                let Some(slots) = slots.as_mut() else {
                    return Vec::new();
                };
                let keys: Vec<DefaultKey> = slots
                    .iter()
                    .filter(|(_, s)| s.owner == owner)
                    .map(|(k, _)| k)
                    .collect();
                keys.into_iter()
                    .filter_map(|k| slots.remove(k))
                    .map(|s| s.value)
                    .collect()
            })
        };
        for value in owned {
            value.release(py);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::interpreter::{ensure_started, with_python};
    use std::sync::Arc;

    #[derive(Clone)]
    struct Thing(Arc<u32>);
    impl Release for Thing {
        fn release(self, _py: Python<'_>) {}
    }

    const THING: Kind = Kind {
        code: 0x7e,
        name: "thing",
    };
    const OTHER: Kind = Kind {
        code: 0x7f,
        name: "other thing",
    };
    static THINGS: Handles<Thing> = Handles::new(THING);
    static OTHERS: Handles<Thing> = Handles::new(OTHER);

    fn message(f: Failure) -> String {
        assert_eq!(f.status, pyhost_status::PYHOST_STATUS_INVALID_HANDLE);
        f.message.clone()
    }

    #[test]
    fn handles_name_one_live_object_of_their_kind_and_owner() {
        ensure_started("", true, &Default::default()).expect("python starts");
        with_python(|py| {
            let a = THINGS.insert(py, 1, Thing(Arc::new(7))).unwrap();
            let b = OTHERS.insert(py, 1, Thing(Arc::new(8))).unwrap();
            assert_eq!(a >> 56, 0x7e);
            assert_eq!(*THINGS.get(py, 1, a).unwrap().0, 7);
            // The same slot bits under another kind reach the other table only.
            let forged = (a & !(0xFF << 56)) | (0x7f << 56);
            match OTHERS.get(py, 1, forged) {
                Ok(t) => assert_eq!(*t.0, 8, "only the other table's own object"),
                Err(f) => assert!(message(f).contains("stale or unknown")),
            }
            assert!(message(THINGS.get(py, 1, b).err().unwrap()).contains("kind: other thing"));
            assert!(message(THINGS.get(py, 2, a).err().unwrap()).contains("another runtime"));
            assert!(message(THINGS.get(py, 1, 0).err().unwrap()).contains("is zero"));
            // An even version was never handed out.
            assert!(message(THINGS.get(py, 1, a + 1).err().unwrap()).contains("stale"));
            // Freed: stale, and the slot's reuse gets a new handle.
            THINGS.free(py, 1, a).unwrap();
            assert!(message(THINGS.get(py, 1, a).err().unwrap()).contains("stale"));
            assert!(THINGS.free(py, 1, a).is_err(), "a double free is refused");
            let c = THINGS.insert(py, 1, Thing(Arc::new(9))).unwrap();
            assert_ne!(a, c);
            assert!(THINGS.get(py, 1, a).is_err());
            // A session's shutdown releases what it owns, in every table.
            release_all_owned(py, 1);
            assert!(THINGS.get(py, 1, c).is_err());
            assert!(OTHERS.get(py, 1, b).is_err());
        });
    }
}
