//! Module functions as plain CPython C functions, defined the way the Datadog
//! Agent's rtloader defines its builtins (`METH_VARARGS`, `METH_NOARGS`, …)
//! and parsing their arguments with `PyArg_ParseTuple` and the same format
//! strings. Arity, keyword and type errors are therefore CPython's own, word
//! for word. `aggregator.submit_metric` (the hot path) is `METH_FASTCALL` and
//! parses by hand, falling back to `PyArg_ParseTuple` for anything unusual.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::PyModule;

/// What a module function returns to CPython.
pub type Ret = PyResult<Py<PyAny>>;

/// Runs a function body for CPython: an error is raised, a panic becomes
/// `PanicException`, and neither crosses the C boundary.
pub fn trampoline(body: impl FnOnce(Python<'_>) -> Ret) -> *mut ffi::PyObject {
    // SAFETY: CPython calls module functions with the GIL held.
    let py = unsafe { Python::assume_attached() };
    let err = match catch_unwind(AssertUnwindSafe(|| body(py))) {
        Ok(Ok(value)) => return value.into_ptr(),
        Ok(Err(err)) => err,
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic in a pyhost builtin".into());
            PanicException::new_err(text)
        }
    };
    err.restore(py);
    std::ptr::null_mut()
}

/// A `PyMethodDef` for a module function; `body` gets the arguments in the
/// shape the flags give them.
///
/// - `noargs`: `fn(Python) -> Ret` (`METH_NOARGS`)
/// - `varargs`: `fn(Python, &Bound<PyTuple>) -> Ret` (`METH_VARARGS`)
/// - `keywords`: `fn(Python, &Bound<PyTuple>, Option<&Bound<PyDict>>) -> Ret`
///   (`METH_VARARGS | METH_KEYWORDS`)
/// - `fastcall`: `fn(Python, &[*mut PyObject], kwnames) -> Ret`
///   (`METH_FASTCALL | METH_KEYWORDS`)
macro_rules! method {
    ($name:literal, noargs, $body:path, $doc:literal) => {{
        unsafe extern "C" fn entry(
            _module: *mut pyo3::ffi::PyObject,
            _unused: *mut pyo3::ffi::PyObject,
        ) -> *mut pyo3::ffi::PyObject {
            $crate::datadog::cfunc::trampoline(|py| $body(py))
        }
        $crate::datadog::cfunc::def(
            $name,
            pyo3::ffi::PyMethodDefPointer { PyCFunction: entry },
            pyo3::ffi::METH_NOARGS,
            $doc,
        )
    }};
    ($name:literal, varargs, $body:path, $doc:literal) => {{
        unsafe extern "C" fn entry(
            _module: *mut pyo3::ffi::PyObject,
            args: *mut pyo3::ffi::PyObject,
        ) -> *mut pyo3::ffi::PyObject {
            $crate::datadog::cfunc::trampoline(|py| {
                // SAFETY: METH_VARARGS passes a borrowed tuple.
                let args = unsafe { $crate::datadog::cfunc::tuple(py, args) };
                $body(py, &args)
            })
        }
        $crate::datadog::cfunc::def(
            $name,
            pyo3::ffi::PyMethodDefPointer { PyCFunction: entry },
            pyo3::ffi::METH_VARARGS,
            $doc,
        )
    }};
    ($name:literal, keywords, $body:path, $doc:literal) => {{
        unsafe extern "C" fn entry(
            _module: *mut pyo3::ffi::PyObject,
            args: *mut pyo3::ffi::PyObject,
            kwargs: *mut pyo3::ffi::PyObject,
        ) -> *mut pyo3::ffi::PyObject {
            $crate::datadog::cfunc::trampoline(|py| {
                // SAFETY: METH_VARARGS | METH_KEYWORDS passes a borrowed
                // tuple and a borrowed dict or NULL.
                let (args, kwargs) = unsafe {
                    (
                        $crate::datadog::cfunc::tuple(py, args),
                        $crate::datadog::cfunc::dict(py, kwargs),
                    )
                };
                $body(py, &args, kwargs.as_ref())
            })
        }
        $crate::datadog::cfunc::def(
            $name,
            pyo3::ffi::PyMethodDefPointer {
                PyCFunctionWithKeywords: entry,
            },
            pyo3::ffi::METH_VARARGS | pyo3::ffi::METH_KEYWORDS,
            $doc,
        )
    }};
    ($name:literal, fastcall, $body:path, $doc:literal) => {{
        unsafe extern "C" fn entry(
            _module: *mut pyo3::ffi::PyObject,
            args: *const *mut pyo3::ffi::PyObject,
            nargs: pyo3::ffi::Py_ssize_t,
            kwnames: *mut pyo3::ffi::PyObject,
        ) -> *mut pyo3::ffi::PyObject {
            $crate::datadog::cfunc::trampoline(|py| {
                // SAFETY: METH_FASTCALL passes `nargs` borrowed arguments.
                let args = unsafe { $crate::datadog::cfunc::slice(args, nargs) };
                $body(py, args, kwnames)
            })
        }
        $crate::datadog::cfunc::def(
            $name,
            pyo3::ffi::PyMethodDefPointer {
                PyCFunctionFastWithKeywords: entry,
            },
            pyo3::ffi::METH_FASTCALL | pyo3::ffi::METH_KEYWORDS,
            $doc,
        )
    }};
}
pub(crate) use method;

pub const fn def(
    name: &'static CStr,
    meth: ffi::PyMethodDefPointer,
    flags: std::ffi::c_int,
    doc: &'static CStr,
) -> ffi::PyMethodDef {
    ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: meth,
        ml_flags: flags,
        ml_doc: doc.as_ptr(),
    }
}

/// Adds the functions to a module (`PyModule_AddFunctions`). The table is
/// leaked: CPython keeps pointers into it for the life of the process, and
/// builtin modules are initialised once.
pub fn add_functions(module: &Bound<'_, PyModule>, defs: Vec<ffi::PyMethodDef>) -> PyResult<()> {
    let mut defs = defs;
    defs.push(ffi::PyMethodDef::zeroed());
    let table: &'static mut [ffi::PyMethodDef] = Box::leak(defs.into_boxed_slice());
    // SAFETY: a NULL-terminated table that lives for good.
    if unsafe { ffi::PyModule_AddFunctions(module.as_ptr(), table.as_mut_ptr()) } != 0 {
        return Err(PyErr::fetch(module.py()));
    }
    Ok(())
}

/// # Safety
/// `args` is a live tuple borrowed for the call.
pub unsafe fn tuple<'py>(
    py: Python<'py>,
    args: *mut ffi::PyObject,
) -> Bound<'py, pyo3::types::PyTuple> {
    // SAFETY: forwarded to the caller.
    unsafe { Bound::from_borrowed_ptr(py, args).cast_into_unchecked() }
}

/// # Safety
/// `kwargs` is NULL or a live dict borrowed for the call.
pub unsafe fn dict<'py>(
    py: Python<'py>,
    kwargs: *mut ffi::PyObject,
) -> Option<Bound<'py, pyo3::types::PyDict>> {
    // SAFETY: forwarded to the caller.
    unsafe { Bound::from_borrowed_ptr_or_opt(py, kwargs).map(|d| d.cast_into_unchecked()) }
}

/// # Safety
/// `args` points to `nargs` live objects, borrowed for the call.
pub unsafe fn slice<'a>(
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> &'a [*mut ffi::PyObject] {
    if nargs <= 0 || args.is_null() {
        return &[];
    }
    // SAFETY: forwarded to the caller.
    unsafe { std::slice::from_raw_parts(args, nargs as usize) }
}

/// `PyArg_ParseTuple(args, format, outputs...)`, with the error it raises.
/// Each output must be a pointer of the C type the format letter writes.
macro_rules! parse_tuple {
    ($args:expr, $format:expr $(, $out:expr)* $(,)?) => {{
        let args: &pyo3::Bound<'_, pyo3::types::PyTuple> = $args;
        // SAFETY: the outputs match the format letters (the caller's duty).
        let ok = unsafe { pyo3::ffi::PyArg_ParseTuple(args.as_ptr(), $format.as_ptr() $(, $out)*) };
        if ok == 0 {
            Err(pyo3::PyErr::fetch(args.py()))
        } else {
            Ok(())
        }
    }};
}
pub(crate) use parse_tuple;

/// The text behind an `s` output of `PyArg_ParseTuple` (UTF-8, valid while
/// the argument tuple lives).
///
/// # Safety
/// `ptr` came from an `s` conversion of an argument still alive.
pub unsafe fn text<'a>(ptr: *const c_char) -> &'a str {
    if ptr.is_null() {
        return "";
    }
    // SAFETY: forwarded to the caller; `s` yields NUL-terminated UTF-8.
    unsafe { std::str::from_utf8_unchecked(CStr::from_ptr(ptr).to_bytes()) }
}

/// As [`text`] for a `z` output: None stays None.
///
/// # Safety
/// As [`text`].
pub unsafe fn opt_text<'a>(ptr: *const c_char) -> Option<&'a str> {
    // SAFETY: forwarded to the caller.
    (!ptr.is_null()).then(|| unsafe { text(ptr) })
}

/// The type name CPython's argument errors show: `None` for None, else the
/// type's `tp_name`.
pub fn arg_type_name(obj: &Bound<'_, PyAny>) -> String {
    if obj.is_none() {
        return "None".into();
    }
    // SAFETY: a live object's type has a NUL-terminated tp_name.
    unsafe {
        let ty = ffi::Py_TYPE(obj.as_ptr());
        CStr::from_ptr((*ty).tp_name).to_string_lossy().into_owned()
    }
}

/// The `s` conversion of one argument, as `PyArg_ParseTuple` does it
/// (`argument N` counts from 1).
pub fn arg_str<'a>(obj: &'a Bound<'_, PyAny>, position: usize) -> PyResult<&'a str> {
    let Ok(s) = obj.cast::<pyo3::types::PyString>() else {
        return Err(PyTypeError::new_err(format!(
            "argument {position} must be str, not {}",
            arg_type_name(obj)
        )));
    };
    let text = s.to_str()?;
    if text.as_bytes().contains(&0) {
        return Err(PyValueError::new_err("embedded null character"));
    }
    Ok(text)
}

/// The `s#` conversion of one argument: str (as UTF-8) or a read-only
/// bytes-like object, as `PyArg_ParseTuple` does it.
pub fn arg_bytes(obj: &Bound<'_, PyAny>, position: usize) -> PyResult<Vec<u8>> {
    if let Ok(s) = obj.cast::<pyo3::types::PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    // SAFETY: reading the type's buffer slots; a buffer taken is released.
    unsafe {
        let ty = ffi::Py_TYPE(obj.as_ptr());
        let procs = (*ty).tp_as_buffer;
        if !procs.is_null() && (*procs).bf_releasebuffer.is_some() {
            return Err(PyTypeError::new_err(format!(
                "argument {position} must be read-only bytes-like object, not {}",
                arg_type_name(obj)
            )));
        }
        let mut view = std::mem::MaybeUninit::<ffi::Py_buffer>::uninit();
        if ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_SIMPLE) != 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        let mut view = view.assume_init();
        let bytes = if view.buf.is_null() || view.len <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(view.buf as *const u8, view.len as usize).to_vec()
        };
        ffi::PyBuffer_Release(&mut view);
        Ok(bytes)
    }
}

pub fn none(py: Python<'_>) -> Ret {
    Ok(py.None())
}

/// Borrows an object output of `PyArg_ParseTuple`.
///
/// # Safety
/// `obj` is a live object the argument tuple keeps alive.
pub unsafe fn object<'py>(py: Python<'py>, obj: *mut ffi::PyObject) -> Bound<'py, PyAny> {
    // SAFETY: forwarded to the caller.
    unsafe { Bound::from_borrowed_ptr(py, obj) }
}

/// A text field as the agent reads it (`as_string`): a str that encodes as
/// UTF-8, up to an embedded NUL; anything else is absent.
pub fn as_string(obj: &Bound<'_, PyAny>) -> Option<String> {
    let s = obj.cast::<pyo3::types::PyString>().ok()?.to_str().ok()?;
    Some(s.split('\0').next().unwrap_or("").to_owned())
}

/// `PyArg_ParseTupleAndKeywords(args, kwargs, format, kwlist, outputs...)`,
/// with the error it raises. Each output must be a pointer of the C type
/// the format letter writes.
macro_rules! parse_keywords {
    ($args:expr, $kwargs:expr, $format:expr, $kwlist:expr $(, $out:expr)* $(,)?) => {{
        let args: &pyo3::Bound<'_, pyo3::types::PyTuple> = $args;
        let kwargs: Option<&pyo3::Bound<'_, pyo3::types::PyDict>> = $kwargs;
        let mut kwlist: Vec<*mut std::ffi::c_char> = $kwlist
            .iter()
            .map(|k: &&std::ffi::CStr| k.as_ptr() as *mut std::ffi::c_char)
            .chain(std::iter::once(std::ptr::null_mut()))
            .collect();
        let kwargs = kwargs.map_or(std::ptr::null_mut(), |k| k.as_ptr());
        // SAFETY: the outputs match the format letters; the keyword list is
        // NULL-terminated and outlives the call.
        let ok = unsafe {
            pyo3::ffi::PyArg_ParseTupleAndKeywords(
                args.as_ptr(),
                kwargs,
                $format.as_ptr(),
                kwlist.as_mut_ptr() as _
                $(, $out)*
            )
        };
        if ok == 0 {
            Err(pyo3::PyErr::fetch(args.py()))
        } else {
            Ok(())
        }
    }};
}
pub(crate) use parse_keywords;
