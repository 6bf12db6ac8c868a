//! Modules of host functions: `import name; name.f(...)` in Python runs a
//! function of the host's.
//!
//! Each function is a builtin (`METH_FASTCALL`, so a call builds no
//! argument tuple) whose `self` is a capsule naming the host callback. A
//! call encodes its arguments, enters the session (shutdown waits for it),
//! releases the GIL, calls the host with the token of the host call the
//! thread is in, takes the GIL back and decodes the result, or raises what
//! the host reported. The host may call into Python again meanwhile, from
//! this thread or any other.

use std::cell::Cell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Once;

use pyhost_abi::value::Encoder;
use pyhost_abi::{pyhost_host_call, pyhost_host_result, pyhost_host_status, pyhost_str, Failure};
use pyo3::exceptions::{PyOverflowError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyModule, PyString};
use rustc_hash::FxHashMap;

use super::module::{GoError, GoPanic};
use super::values::{self, Shape};
use crate::runtime::calls;
use crate::runtime::errors::py_fail;
use crate::runtime::gil_cell::GilCell;
use crate::runtime::handles::{self, OwnedTable};
use crate::runtime::sessions::{self, Session};

type Callback = unsafe extern "C" fn(usize, u32, u64, pyhost_str, *mut pyhost_host_result) -> u32;

/// One host function. Leaked: a defined module lives as long as the process.
struct HostFunction {
    session: &'static Session,
    callback: Callback,
    context: usize,
    index: u32,
    /// "module.function", for messages.
    qualname: String,
}

/// The modules defined so far, by name, with the session that defined each:
/// a name is free again once its session has shut down.
static DEFINED: GilCell<Option<FxHashMap<String, u64>>> = GilCell::new(None);

/// Defines module `name` with `functions`, each calling `callback`.
pub fn define(
    py: Python<'_>,
    session: &'static Session,
    name: &str,
    functions: &[&str],
    callback: pyhost_host_call,
    context: usize,
) -> Result<(), Failure> {
    let callback = callback.ok_or_else(|| Failure::invalid_argument("callback is NULL"))?;
    let identifier = |s: &str| -> Result<bool, Failure> {
        PyString::new(py, s)
            .call_method0("isidentifier")
            .and_then(|r| r.extract::<bool>())
            .map_err(py_fail(py))
    };
    if !identifier(name)? {
        return Err(Failure::invalid_argument(format!(
            "{name:?} is not a module name (a Python identifier, no dots)"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for f in functions {
        if !identifier(f)? || f.starts_with("__") {
            return Err(Failure::invalid_argument(format!(
                "{name}.{f}: {f:?} is not a function name (a Python identifier, not __dunder__)"
            )));
        }
        if !seen.insert(*f) {
            return Err(Failure::invalid_argument(format!(
                "{name}.{f} is named twice"
            )));
        }
    }
    refuse_taken(py, name)?;
    TRACKED.call_once(|| handles::track(&Defined));

    let module = PyModule::new(py, name).map_err(py_fail(py))?;
    module
        .setattr(
            "__doc__",
            format!("Functions of the host program, defined with pyhost ({name})."),
        )
        .map_err(py_fail(py))?;
    for (index, f) in functions.iter().enumerate() {
        let host = Box::leak(Box::new(HostFunction {
            session,
            callback,
            context,
            index: index as u32,
            qualname: format!("{name}.{f}"),
        }));
        let function = builtin(py, host, f, name).map_err(py_fail(py))?;
        module.setattr(*f, function).map_err(py_fail(py))?;
    }
    let sys_modules = sys_modules(py).map_err(py_fail(py))?;
    sys_modules.set_item(name, &module).map_err(py_fail(py))?;
    // SAFETY: an insert of plain values.
    unsafe {
        DEFINED.with(py, |d| {
            d.get_or_insert_with(Default::default)
                .insert(name.to_owned(), session.id)
        })
    };
    Ok(())
}

/// Takes the modules a session defined out of `sys.modules` when it shuts
/// down (with what else it owns): a later import finds none, so a runtime
/// started after it sees only the modules it defines itself, and the names
/// are free again. Python code that kept such a module, or one of its
/// functions, gets a RuntimeError from a call.
struct Defined;

impl OwnedTable for Defined {
    fn release_owned(&self, py: Python<'_>, owner: u64) {
        let mut gone = Vec::new();
        // SAFETY: map operations on plain values.
        unsafe {
            DEFINED.with(py, |d| {
                if let Some(d) = d.as_mut() {
                    d.retain(|name, by| {
                        let keep = *by != owner;
                        if !keep {
                            gone.push(name.clone());
                        }
                        keep
                    });
                }
            })
        };
        if gone.is_empty() {
            return;
        }
        // Dropping a module may run Python code: outside the map's borrow.
        let Ok(sys_modules) = sys_modules(py) else {
            return;
        };
        for name in gone {
            // A KeyError if Python code removed it already: nothing to do.
            let _ = sys_modules.del_item(name);
        }
    }
}

static TRACKED: Once = Once::new();

fn sys_modules(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    py.import("sys").and_then(|sys| sys.getattr("modules"))
}

/// Fails with CONFLICT if `name` is taken: a module defined by a session
/// still open, one already imported, or one an import would find.
fn refuse_taken(py: Python<'_>, name: &str) -> Result<(), Failure> {
    let conflict = |m: String| Failure::new(pyhost_abi::pyhost_status::PYHOST_STATUS_CONFLICT, m);
    // SAFETY: a lookup of plain values.
    let owner = unsafe { DEFINED.with(py, |d| d.as_ref().and_then(|d| d.get(name).copied())) };
    let ours_and_closed = match owner {
        Some(session) => {
            let open = sessions::find(pyhost_abi::pyhost_runtime { id: session })
                .is_ok_and(|s| s.check_open().is_ok());
            if open {
                return Err(conflict(format!(
                    "a module named {name} is already defined"
                )));
            }
            true
        }
        None => false,
    };
    if ours_and_closed {
        return Ok(());
    }
    let sys_modules = sys_modules(py).map_err(py_fail(py))?;
    if sys_modules.contains(name).map_err(py_fail(py))? {
        return Err(conflict(format!(
            "{name} would shadow the module of that name already imported"
        )));
    }
    let spec = py
        .import("importlib.util")
        .and_then(|u| u.call_method1("find_spec", (name,)))
        .map_err(py_fail(py))?;
    if !spec.is_none() {
        let origin = spec
            .getattr("origin")
            .ok()
            .filter(|o| !o.is_none())
            .map_or_else(|| "an importable module".to_owned(), |o| o.to_string());
        return Err(conflict(format!(
            "{name} would shadow the importable module {name} ({origin})"
        )));
    }
    Ok(())
}

/// A builtin function whose `self` is a capsule holding `host`.
fn builtin<'py>(
    py: Python<'py>,
    host: &'static HostFunction,
    name: &str,
    module: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let name = CString::new(name).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let doc = CString::new(format!(
        "{}.{}(...): a function of the host program.",
        module,
        name.to_string_lossy()
    ))
    .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.into_raw() as *const c_char,
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFast: call_host,
        },
        ml_flags: ffi::METH_FASTCALL,
        ml_doc: doc.into_raw() as *const c_char,
    }));
    let module = PyString::new(py, module);
    // SAFETY: a capsule over a leaked, immutable value, with no destructor.
    unsafe {
        let capsule = Bound::from_owned_ptr_or_err(
            py,
            ffi::PyCapsule_New(host as *const HostFunction as *mut _, ptr::null(), None),
        )?;
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyCFunction_NewEx(def, capsule.as_ptr(), module.as_ptr()),
        )
    }
}

/// The builtin's C function: the panic boundary between Python and the
/// bridge.
unsafe extern "C" fn call_host(
    slf: *mut ffi::PyObject,
    args: *mut *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this holding the GIL.
    let py = unsafe { Python::assume_attached() };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `slf` is the capsule `builtin` made over a leaked HostFunction.
        let host =
            unsafe { &*(ffi::PyCapsule_GetPointer(slf, ptr::null()) as *const HostFunction) };
        let args: &[*mut ffi::PyObject] = if nargs <= 0 {
            &[]
        } else {
            // SAFETY: CPython passes `nargs` borrowed arguments.
            unsafe { std::slice::from_raw_parts(args, nargs as usize) }
        };
        host.call(py, args)
    }));
    let err = match outcome {
        Ok(Ok(result)) => return result.into_ptr(),
        Ok(Err(err)) => err,
        Err(_) => PyRuntimeError::new_err("internal error in pyhost (a panic, caught)"),
    };
    err.restore(py);
    ptr::null_mut()
}

/// The result buffer lent to the host, on the stack: most results fit, and
/// a bigger one comes back in malloc'd memory.
const SCRATCH: usize = 1024;

/// The encoding of no arguments.
const NO_ARGUMENTS: [u8; 5] = [pyhost_abi::value::PYHOST_VALUE_LIST, 0, 0, 0, 0];

thread_local! {
    /// The argument buffer, reused by the calls on this thread (taken while
    /// in use, so a nested call makes its own).
    static ARGUMENTS: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The pointers the host call needs, carried across `detach`.
struct HostCall {
    callback: Callback,
    context: usize,
    index: u32,
    token: u64,
    args: pyhost_str,
    result: *mut pyhost_host_result,
}

// SAFETY: the pointers are used only on this thread, inside `detach`,
// while the buffers they point into are alive.
unsafe impl Send for HostCall {}

impl HostCall {
    fn run(self) -> u32 {
        // SAFETY: the callback's contract (pyhost_host_call).
        unsafe { (self.callback)(self.context, self.index, self.token, self.args, self.result) }
    }
}

/// A result the host allocated with malloc, freed when dropped.
struct Malloced(*mut u8);

impl Drop for Malloced {
    fn drop(&mut self) {
        // SAFETY: the host allocated it with malloc and passed it on.
        unsafe { libc::free(self.0.cast()) }
    }
}

impl HostFunction {
    fn call<'py>(
        &self,
        py: Python<'py>,
        args: &[*mut ffi::PyObject],
    ) -> PyResult<Bound<'py, PyAny>> {
        if args.is_empty() {
            return self.call_encoded(py, &NO_ARGUMENTS);
        }
        let mut e = Encoder {
            buf: ARGUMENTS.try_with(Cell::take).unwrap_or_default(),
        };
        e.buf.clear();
        e.list(args.len() as u32);
        let mut encoded = Ok(());
        for (i, &arg) in args.iter().enumerate() {
            // SAFETY: a borrowed argument, alive for the call.
            let arg = unsafe { Bound::from_borrowed_ptr(py, arg) };
            if let Err(err) = values::encode(&arg, &mut e) {
                encoded = Err(self.argument_error(py, i + 1, err));
                break;
            }
        }
        let outcome = encoded.and_then(|()| self.call_encoded(py, &e.buf));
        if e.buf.capacity() <= 1 << 20 {
            let _ = ARGUMENTS.try_with(|b| b.set(e.buf));
        }
        outcome
    }

    fn call_encoded<'py>(&self, py: Python<'py>, args: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let inside = self.session.enter(py).map_err(|_| {
            PyRuntimeError::new_err(format!(
                "{}: the host's pyhost runtime is shut down",
                self.qualname
            ))
        })?;
        // Not zeroed: the host writes before the engine reads, and only the
        // `len` bytes it reports written are read.
        let mut scratch = std::mem::MaybeUninit::<[u8; SCRATCH]>::uninit();
        let mut result = pyhost_host_result {
            ptr: scratch.as_mut_ptr().cast::<u8>(),
            cap: SCRATCH,
            len: 0,
            malloced: 0,
        };
        let call = HostCall {
            callback: self.callback,
            context: self.context,
            index: self.index,
            token: calls::current(),
            args: pyhost_str {
                ptr: args.as_ptr(),
                len: args.len(),
            },
            result: &mut result,
        };
        let status = inside.run_host(move || call.run());
        let (bytes, _owned): (&[u8], Option<Malloced>) = if result.malloced != 0 {
            if result.ptr.is_null() {
                (&[], None)
            } else {
                // SAFETY: the host's malloc'd result of `len` bytes.
                (
                    unsafe { std::slice::from_raw_parts(result.ptr, result.len) },
                    Some(Malloced(result.ptr)),
                )
            }
        } else if result.len <= SCRATCH {
            // SAFETY: the host wrote the first `len` bytes of the scratch.
            (
                unsafe { std::slice::from_raw_parts(scratch.as_ptr().cast::<u8>(), result.len) },
                None,
            )
        } else {
            return Err(PyRuntimeError::new_err(format!(
                "{}: the host wrote {} bytes into a {SCRATCH}-byte buffer",
                self.qualname, result.len
            )));
        };
        if status == pyhost_host_status::PYHOST_HOST_OK as u32 {
            return values::decode(py, bytes, Shape::Owned).map_err(|e| {
                PyValueError::new_err(format!("{}: the host's result: {e}", self.qualname))
            });
        }
        Err(self.host_error(status, bytes))
    }

    /// The exception for a host function's failure `status`.
    #[cold]
    fn host_error(&self, status: u32, text: &[u8]) -> PyErr {
        let text = String::from_utf8_lossy(text).into_owned();
        match status {
            s if s == pyhost_host_status::PYHOST_HOST_ERROR as u32 => GoError::new_err(text),
            s if s == pyhost_host_status::PYHOST_HOST_PANIC as u32 => GoPanic::new_err(text),
            s if s == pyhost_host_status::PYHOST_HOST_TYPE_ERROR as u32 => {
                PyTypeError::new_err(text)
            }
            s if s == pyhost_host_status::PYHOST_HOST_OVERFLOW_ERROR as u32 => {
                PyOverflowError::new_err(text)
            }
            s if s == pyhost_host_status::PYHOST_HOST_VALUE_ERROR as u32 => {
                PyValueError::new_err(text)
            }
            s if s == pyhost_host_status::PYHOST_HOST_SHUT_DOWN as u32 => {
                PyRuntimeError::new_err(text)
            }
            other => PyRuntimeError::new_err(format!(
                "{}: the host answered with unknown status {other}",
                self.qualname
            )),
        }
    }

    /// `err` (from encoding argument `position`) with the function named.
    #[cold]
    fn argument_error(&self, py: Python<'_>, position: usize, err: PyErr) -> PyErr {
        let message = format!("{}() argument {position}: {}", self.qualname, err.value(py));
        if err.is_instance_of::<PyTypeError>(py) {
            PyTypeError::new_err(message)
        } else if err.is_instance_of::<PyOverflowError>(py) {
            PyOverflowError::new_err(message)
        } else {
            PyValueError::new_err(message)
        }
    }
}
