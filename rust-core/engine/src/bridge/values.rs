//! Python objects to the value encoding (`pyhost_abi::value`) and back,
//! natively: no JSON text, no intermediate copies. Nesting is limited to
//! `MAX_DEPTH`, which also stops a cyclic value.
//!
//! Decoding is on the path of every `pyhost.host.get` of a new value and of
//! every typed call, so it works on CPython's C API directly, and shares the
//! strings that repeat: a dict key, or a short string value, equal to the
//! one at the same position of the previous dict at the same depth (records
//! of one layout) reuses that object instead of making another.

use std::ffi::c_char;
use std::ptr;

use pyhost_abi::pyhost_direct_value;

use crate::runtime::convert;
use crate::runtime::gil_cell::GilCell;
use pyhost_abi::value::{self, DecodeError, Decoder, Encoder, Item, Sink, MAX_DEPTH};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};

/// Appends `obj` to `e`: None, bool, int (any size), float (finite), str,
/// bytes and bytearray, list and tuple, dict with str keys.
#[inline]
pub fn encode<B: Sink>(obj: &Bound<'_, PyAny>, e: &mut Encoder<B>) -> PyResult<()> {
    encode_at(obj, e, 0)
}

fn encode_at<B: Sink>(obj: &Bound<'_, PyAny>, e: &mut Encoder<B>, depth: usize) -> PyResult<()> {
    let p = obj.as_ptr();
    // SAFETY: type checks of a live object.
    unsafe {
        if p == ffi::Py_None() {
            e.none();
            return Ok(());
        }
        if ffi::PyLong_CheckExact(p) != 0 {
            return encode_int(obj, e);
        }
        if ffi::PyUnicode_CheckExact(p) != 0 {
            return encode_str(obj, e);
        }
        if ffi::PyFloat_CheckExact(p) != 0 {
            return encode_float(ffi::PyFloat_AS_DOUBLE(p), e);
        }
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        e.bool(b.is_true());
    } else if obj.cast::<PyInt>().is_ok() {
        encode_int(obj, e)?;
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        encode_float(f.value(), e)?;
    } else if obj.cast::<PyString>().is_ok() {
        encode_str(obj, e)?;
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        e.bytes(fits(b.as_bytes())?);
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        e.bytes(fits(&b.to_vec())?);
    } else if let Ok(list) = obj.cast::<PyList>() {
        nested(depth)?;
        let mark = e.mark();
        e.list(0);
        let mut n = 0u32;
        for item in list.iter() {
            encode_at(&item, e, depth + 1)?;
            n += 1;
        }
        e.patch_count(mark, n);
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        nested(depth)?;
        e.list(tuple.len() as u32);
        for item in tuple.iter() {
            encode_at(&item, e, depth + 1)?;
        }
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        nested(depth)?;
        let mark = e.mark();
        e.dict(0);
        let mut n = 0u32;
        convert::for_each_item(dict, |k, v| {
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "dict keys that cross to the host must be str, not {}",
                    type_name(&k)
                ))
            })?;
            e.key(fits(key.to_str()?)?);
            encode_at(&v, e, depth + 1)?;
            n += 1;
            Ok(())
        })?;
        e.patch_count(mark, n);
    } else if is_mapping_proxy(obj) {
        // A value from pyhost.host.get, passed back to the host.
        let dict = PyDict::new(obj.py());
        dict.call_method1("update", (obj,))?;
        encode_at(dict.as_any(), e, depth)?;
    } else {
        return Err(PyTypeError::new_err(format!(
            "a {} cannot cross between Python and the host (None, bool, int, float, str, bytes, list, tuple and dict do)",
            type_name(obj)
        )));
    }
    Ok(())
}

#[inline]
fn encode_int<B: Sink>(obj: &Bound<'_, PyAny>, e: &mut Encoder<B>) -> PyResult<()> {
    let mut overflow = 0;
    // SAFETY: an int object.
    let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow == 0 {
        if v == -1 {
            if let Some(err) = PyErr::take(obj.py()) {
                return Err(err);
            }
        }
        e.int(v);
    } else if let Ok(u) = obj.extract::<u64>() {
        e.uint(u);
    } else {
        e.bigint(convert::decimal(obj)?.to_str()?);
    }
    Ok(())
}

#[inline]
fn encode_float<B: Sink>(v: f64, e: &mut Encoder<B>) -> PyResult<()> {
    if e.float(v) {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "{v} cannot cross between Python and the host (only finite floats do)"
        )))
    }
}

#[inline]
fn encode_str<B: Sink>(obj: &Bound<'_, PyAny>, e: &mut Encoder<B>) -> PyResult<()> {
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: a str object; the UTF-8 view is cached in it and lives as long.
    let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut len) };
    if data.is_null() {
        return Err(PyErr::fetch(obj.py()));
    }
    // SAFETY: CPython's UTF-8 view, `len` bytes, valid UTF-8.
    let s = unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(data.cast::<u8>(), len as usize))
    };
    e.str(fits(s)?);
    Ok(())
}

fn is_mapping_proxy(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: a type comparison.
    unsafe { ffi::Py_TYPE(obj.as_ptr()) == ptr::addr_of_mut!(ffi::PyDictProxy_Type) }
}

/// Lengths and counts are 32-bit in the encoding.
fn fits<T: AsRef<[u8]> + ?Sized>(v: &T) -> PyResult<&T> {
    if v.as_ref().len() > u32::MAX as usize {
        return Err(PyValueError::new_err(
            "a str or bytes of 4 GiB or more cannot cross between Python and the host",
        ));
    }
    Ok(v)
}

fn nested(depth: usize) -> PyResult<()> {
    if depth >= MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "the value nests deeper than {MAX_DEPTH} lists and dicts (or contains itself)"
        )));
    }
    Ok(())
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// How decoded containers come out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// dict and list: the caller's own objects.
    Owned,
    /// A read-only view, safe to share between readers: dicts are
    /// `types.MappingProxyType` over a dict, lists are tuples.
    Frozen,
}

/// The Python object a buffer holds (exactly one value).
pub fn decode<'py>(py: Python<'py>, b: &[u8], shape: Shape) -> PyResult<Bound<'py, PyAny>> {
    if b == [pyhost_abi::value::PYHOST_VALUE_NONE] {
        return Ok(py.None().into_bound(py));
    }
    let mut d = Decoder::unchecked_text(b);
    let mut shared = Shared::default();
    // A decoded value holds no cycles: the collector has nothing to find
    // while it is made, and a large one would set off a collection every
    // few hundred containers. (The count it leaves starts the next
    // collection as usual.)
    let _paused = (b.len() > 4096).then(GcPause::new);
    let v = decode_at(py, &mut d, shape, &mut shared, 0)?;
    d.finish().map_err(bad)?;
    Ok(v)
}

/// Pauses automatic garbage collection until dropped (if it was on).
struct GcPause(bool);

impl GcPause {
    fn new() -> GcPause {
        // SAFETY: the GIL is held (callers hold a Python token).
        GcPause(unsafe { ffi::PyGC_Disable() } != 0)
    }
}

impl Drop for GcPause {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: as in `new`; the GIL is still held.
            unsafe { ffi::PyGC_Enable() };
        }
    }
}

/// Why [`call_with_arguments`] failed.
pub enum CallError {
    /// The encoded arguments were bad.
    Arguments(PyErr),
    /// The function raised.
    Raised(PyErr),
}

/// Arguments decoded onto the stack up to this many (more go in a tuple).
const STACK_ARGUMENTS: usize = 8;

/// Calls `function` with the positional arguments one encoded list holds
/// (an empty buffer: none), by vectorcall from the stack: no tuple.
pub fn call_with_arguments<'py>(
    py: Python<'py>,
    function: &Bound<'py, PyAny>,
    b: &[u8],
) -> Result<Bound<'py, PyAny>, CallError> {
    if b.is_empty() {
        return function.call0().map_err(CallError::Raised);
    }
    let mut d = Decoder::unchecked_text(b);
    let count = match d.item() {
        Ok(Item::List(count)) => count as usize,
        Ok(_) => {
            return Err(CallError::Arguments(PyValueError::new_err(
                "the arguments must be one encoded list",
            )))
        }
        Err(e) => return Err(CallError::Arguments(bad(e))),
    };
    if count > STACK_ARGUMENTS {
        let args = decode_arguments(py, b).map_err(CallError::Arguments)?;
        return function.call1(args).map_err(CallError::Raised);
    }
    let mut shared = Shared::default();
    let mut held = Held::<STACK_ARGUMENTS>::new();
    for _ in 0..count {
        held.push(
            decode_at(py, &mut d, Shape::Owned, &mut shared, 1).map_err(CallError::Arguments)?,
        );
    }
    d.finish().map_err(|e| CallError::Arguments(bad(e)))?;
    held.call(function)
}

/// Calls `function` with arguments passed in place (see
/// `pyhost_direct_value`), by vectorcall from the stack.
pub fn call_direct<'py>(
    py: Python<'py>,
    function: &Bound<'py, PyAny>,
    args: &[pyhost_direct_value],
) -> Result<Bound<'py, PyAny>, CallError> {
    let mut shared = Shared::default();
    let argument = |i: usize, shared: &mut Shared<'py>| {
        from_direct(py, &args[i], shared).map_err(|e| {
            CallError::Arguments(PyValueError::new_err(format!(
                "argument {}: {}",
                i + 1,
                e.value(py)
            )))
        })
    };
    if args.len() > STACK_ARGUMENTS {
        let mut items = Vec::with_capacity(args.len());
        for i in 0..args.len() {
            items.push(argument(i, &mut shared)?);
        }
        let tuple = PyTuple::new(py, items).map_err(CallError::Arguments)?;
        return function.call1(tuple).map_err(CallError::Raised);
    }
    if args.len() <= 2 {
        hold_and_call::<2>(function, args.len(), |i| argument(i, &mut shared))
    } else {
        hold_and_call::<STACK_ARGUMENTS>(function, args.len(), |i| argument(i, &mut shared))
    }
}

/// Calls `function` with `count` (at most N) arguments that `argument`
/// makes, held on the stack.
#[inline(always)]
fn hold_and_call<'py, const N: usize>(
    function: &Bound<'py, PyAny>,
    count: usize,
    mut argument: impl FnMut(usize) -> Result<Bound<'py, PyAny>, CallError>,
) -> Result<Bound<'py, PyAny>, CallError> {
    let mut held = Held::<N>::new();
    for i in 0..count {
        held.push(argument(i)?);
    }
    held.call(function)
}

/// Up to N arguments on the stack, each a reference owned until drop, for
/// a vectorcall: no tuple.
struct Held<const N: usize> {
    ptrs: [*mut ffi::PyObject; N],
    len: usize,
}

impl<const N: usize> Held<N> {
    #[inline(always)]
    fn new() -> Held<N> {
        Held {
            ptrs: [ptr::null_mut(); N],
            len: 0,
        }
    }

    /// Appends an argument (the caller makes at most N).
    #[inline(always)]
    fn push(&mut self, arg: Bound<'_, PyAny>) {
        self.ptrs[self.len] = arg.into_ptr();
        self.len += 1;
    }

    /// Calls `function` with the arguments held (they drop with `self`).
    /// By reference: moving `self` would copy the array that `push` just
    /// wrote word by word, and that 16-byte load stalls on store forwarding
    /// (measured: about 8 ns of a typed call).
    #[inline(always)]
    fn call<'py>(&self, function: &Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>, CallError> {
        // SAFETY: `len` live arguments, owned until `self` drops.
        let result = unsafe {
            ffi::PyObject_Vectorcall(
                function.as_ptr(),
                self.ptrs.as_ptr(),
                self.len,
                ptr::null_mut(),
            )
        };
        // SAFETY: a new reference, or NULL with an exception set.
        unsafe { Bound::from_owned_ptr_or_err(function.py(), result) }.map_err(CallError::Raised)
    }
}

impl<const N: usize> Drop for Held<N> {
    fn drop(&mut self) {
        for &p in &self.ptrs[..self.len] {
            // SAFETY: an owned reference; the GIL is held where Held lives.
            unsafe { ffi::Py_DECREF(p) };
        }
    }
}

/// Short ASCII strings passed in place (a hook's request key, a name: the
/// arguments that repeat on a hot path) are made once and shared, from a
/// direct-mapped table of the last str made for each slot. A str is
/// immutable, so sharing one shows only to `is`; a hit costs a hash and a
/// compare instead of an allocation, a copy and later a free, and the str
/// keeps its hash cached for the dict lookups a hook makes with it. The
/// table keeps at most `STR_SLOTS` strings of at most `SHORT` bytes alive.
const STR_SLOTS: usize = 256;

struct StrTable([*mut ffi::PyObject; STR_SLOTS]);

// SAFETY: the pointers are only touched with the GIL held (GilCell).
unsafe impl Send for StrTable {}

static STRS: GilCell<StrTable> = GilCell::new(StrTable([ptr::null_mut(); STR_SLOTS]));

fn cached_str<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    if b.len() > SHORT || !b.is_ascii() {
        return new_str(py, b);
    }
    let mut h = rustc_hash::FxHasher::default();
    std::hash::Hasher::write(&mut h, b);
    let slot = std::hash::Hasher::finish(&h) as usize % STR_SLOTS;
    // SAFETY: the closure reads the table and increments a count: no Python
    // code runs.
    let hit = unsafe {
        STRS.with(py, |t| {
            let p = t.0[slot];
            (!p.is_null() && ascii_bytes(p) == b).then(|| {
                ffi::Py_INCREF(p);
                p
            })
        })
    };
    if let Some(p) = hit {
        // SAFETY: the new reference taken above.
        return Ok(unsafe { Bound::from_owned_ptr(py, p) });
    }
    let s = new_str(py, b)?;
    let kept = s.clone().into_ptr();
    // SAFETY: a pointer swap: no Python code runs.
    let old = unsafe { STRS.with(py, |t| std::mem::replace(&mut t.0[slot], kept)) };
    if !old.is_null() {
        // SAFETY: the table's reference to the str it held; a str's
        // deallocation runs no Python code.
        unsafe { ffi::Py_DECREF(old) };
    }
    Ok(s)
}

/// The characters of a compact ASCII str (as `new_str` makes from ASCII
/// bytes), as bytes.
///
/// # Safety
/// `p` is a live compact ASCII str.
unsafe fn ascii_bytes<'a>(p: *mut ffi::PyObject) -> &'a [u8] {
    // SAFETY: as the caller promised; its data is its length in bytes.
    unsafe {
        std::slice::from_raw_parts(
            ffi::PyUnicode_DATA(p).cast::<u8>(),
            ffi::PyUnicode_GET_LENGTH(p) as usize,
        )
    }
}

/// The Python object of one value passed in place.
fn from_direct<'py>(
    py: Python<'py>,
    a: &pyhost_direct_value,
    shared: &mut Shared<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let bytes = || -> PyResult<&[u8]> {
        if a.len == 0 {
            Ok(&[])
        } else if a.ptr.is_null() {
            Err(PyValueError::new_err("NULL bytes with a non-zero length"))
        } else {
            // SAFETY: the caller lends `len` readable bytes for the call.
            Ok(unsafe { std::slice::from_raw_parts(a.ptr, a.len) })
        }
    };
    // SAFETY (each arm): constructors returning new references or NULL with
    // an exception set.
    let made = match a.tag {
        value::PYHOST_VALUE_NONE => return Ok(py.None().into_bound(py)),
        value::PYHOST_VALUE_FALSE => return Ok(PyBool::new(py, false).to_owned().into_any()),
        value::PYHOST_VALUE_TRUE => return Ok(PyBool::new(py, true).to_owned().into_any()),
        value::PYHOST_VALUE_INT => unsafe { ffi::PyLong_FromLongLong(a.bits as i64) },
        value::PYHOST_VALUE_UINT => unsafe { ffi::PyLong_FromUnsignedLongLong(a.bits) },
        value::PYHOST_VALUE_FLOAT => {
            let f = f64::from_bits(a.bits);
            if !f.is_finite() {
                return Err(bad(DecodeError::NotFinite));
            }
            unsafe { ffi::PyFloat_FromDouble(f) }
        }
        value::PYHOST_VALUE_STR => return cached_str(py, bytes()?),
        value::PYHOST_VALUE_BYTES => {
            let b = bytes()?;
            unsafe {
                ffi::PyBytes_FromStringAndSize(
                    b.as_ptr().cast::<c_char>(),
                    b.len() as ffi::Py_ssize_t,
                )
            }
        }
        value::PYHOST_VALUE_ENCODED => {
            let mut d = Decoder::unchecked_text(bytes()?);
            let v = decode_at(py, &mut d, Shape::Owned, shared, 1)?;
            d.finish().map_err(bad)?;
            return Ok(v);
        }
        tag => return Err(bad(DecodeError::UnknownTag(tag))),
    };
    // SAFETY: as above.
    unsafe { Bound::from_owned_ptr_or_err(py, made) }
}

/// `obj` as a result passed in place, when it is None, a bool, an int
/// within int64 or a finite float; None when it is to be encoded.
#[inline]
pub fn direct_result(obj: &Bound<'_, PyAny>) -> Option<pyhost_direct_value> {
    let p = obj.as_ptr();
    let scalar = |tag, bits| pyhost_direct_value {
        tag,
        bits,
        ptr: ptr::null(),
        len: 0,
    };
    // SAFETY: identity and exact type checks of a live object; reads of an
    // exact int or float.
    unsafe {
        if p == ffi::Py_None() {
            return Some(scalar(value::PYHOST_VALUE_NONE, 0));
        }
        if p == ffi::Py_True() {
            return Some(scalar(value::PYHOST_VALUE_TRUE, 0));
        }
        if p == ffi::Py_False() {
            return Some(scalar(value::PYHOST_VALUE_FALSE, 0));
        }
        if ffi::PyLong_CheckExact(p) != 0 {
            let mut overflow = 0;
            let v = ffi::PyLong_AsLongLongAndOverflow(p, &mut overflow);
            if overflow == 0 && (v != -1 || ffi::PyErr_Occurred().is_null()) {
                return Some(scalar(value::PYHOST_VALUE_INT, v as u64));
            }
            ffi::PyErr_Clear();
            return None;
        }
        if ffi::PyFloat_CheckExact(p) != 0 {
            let f = ffi::PyFloat_AS_DOUBLE(p);
            return f
                .is_finite()
                .then(|| scalar(value::PYHOST_VALUE_FLOAT, f.to_bits()));
        }
    }
    None
}

/// The positional arguments one encoded list holds, as a tuple (an empty
/// buffer: none).
pub fn decode_arguments<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
    if b.is_empty() {
        return Ok(PyTuple::empty(py));
    }
    let mut d = Decoder::unchecked_text(b);
    let Item::List(count) = d.item().map_err(bad)? else {
        return Err(PyValueError::new_err(
            "the arguments must be one encoded list",
        ));
    };
    let mut shared = Shared::default();
    // SAFETY: a new tuple, filled below before anything else sees it.
    let tuple = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(count as ffi::Py_ssize_t))?
            .cast_into_unchecked::<PyTuple>()
    };
    for i in 0..count {
        let item = decode_at(py, &mut d, Shape::Owned, &mut shared, 1)?;
        // SAFETY: slot `i` of a new tuple; the reference moves into it.
        unsafe { ffi::PyTuple_SET_ITEM(tuple.as_ptr(), i as ffi::Py_ssize_t, item.into_ptr()) };
    }
    d.finish().map_err(bad)?;
    Ok(tuple)
}

pub fn bad(e: DecodeError) -> PyErr {
    PyValueError::new_err(format!("not a pyhost value: {e}"))
}

unsafe extern "C" {
    /// A dict with room for `minused` entries (CPython's own, exported
    /// from 3.6 on and kept in 3.13 for the many extensions using it; pyo3
    /// leaves it out as private): a large dict is built without growing its
    /// table a dozen times. A small one is a plain `PyDict_New`; a large
    /// one gets the general table layout (entries keep their hashes).
    fn _PyDict_NewPresized(minused: ffi::Py_ssize_t) -> *mut ffi::PyObject;
}

/// Positions whose strings are shared: dict entries 0..WIDTH at depths
/// 0..DEPTH.
const WIDTH: usize = 16;
const DEPTH: usize = 8;
/// Only short string values are shared (the ones that repeat: states,
/// names); keys of any length are.
const SHORT: usize = 32;

/// The strings of the previous dict at each position, for the next dict to
/// reuse when its bytes are equal. Holds a reference to each. Made at the
/// first dict: a value without one (most call arguments) pays nothing.
#[derive(Default)]
struct Shared<'py>(Option<Box<Positions<'py>>>);

struct Positions<'py> {
    keys: [[Option<SharedStr<'py>>; WIDTH]; DEPTH],
    values: [[Option<SharedStr<'py>>; WIDTH]; DEPTH],
}

/// A shared str and its UTF-8 bytes, kept beside it so that comparing the
/// next string with it is a length check and a memcmp, not a call into
/// CPython for the bytes.
struct SharedStr<'py> {
    s: Bound<'py, PyString>,
    utf8: *const u8,
    len: usize,
}

impl SharedStr<'_> {
    fn bytes(&self) -> &[u8] {
        // SAFETY: the str's own UTF-8 view (compact ASCII data, or the
        // cached encoding), which lives as long as `s`, held here.
        unsafe { std::slice::from_raw_parts(self.utf8, self.len) }
    }
}

impl<'py> Shared<'py> {
    fn positions(&mut self) -> &mut Positions<'py> {
        self.0.get_or_insert_with(|| {
            Box::new(Positions {
                keys: Default::default(),
                values: Default::default(),
            })
        })
    }
}

/// A str of `b`, or the one at `slot` if it has the same bytes.
#[inline]
fn shared_str<'py>(
    py: Python<'py>,
    b: &[u8],
    slot: Option<&mut Option<SharedStr<'py>>>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(slot) = slot else {
        return new_str(py, b);
    };
    if let Some(shared) = slot {
        if shared.len == b.len() && shared.bytes() == b {
            return Ok(shared.s.clone().into_any());
        }
    }
    let s = new_str(py, b)?;
    // SAFETY: new_str made a str.
    let str = unsafe { s.clone().cast_into_unchecked::<PyString>() };
    let view = str_bytes(&str).map(|v| (v.as_ptr(), v.len()));
    *slot = view.map(|(utf8, len)| SharedStr { s: str, utf8, len });
    Ok(s)
}

/// The UTF-8 bytes of a str made by `new_str` (compact ASCII or cached).
#[inline]
fn str_bytes<'a>(s: &'a Bound<'_, PyString>) -> Option<&'a [u8]> {
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: a str; its UTF-8 view lives as long as it does.
    let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut len) };
    if data.is_null() {
        // SAFETY: clear the error a failed view set.
        unsafe { ffi::PyErr_Clear() };
        return None;
    }
    // SAFETY: `len` bytes at `data`.
    Some(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len as usize) })
}

#[inline]
fn new_str<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    // ASCII (most keys, names and paths) is copied straight into a new
    // compact str, the str CPython's UTF-8 decoder would make through
    // several more layers (measured by invoke_one_long_str_1_goroutine).
    // One character goes to the decoder, which hands out CPython's own
    // one-character strs.
    if b.len() > 1 && b.is_ascii() {
        // SAFETY: a new compact ASCII str of b.len() characters, one byte
        // each, with room for them (its NUL is already written after).
        unsafe {
            let s = ffi::PyUnicode_New(b.len() as ffi::Py_ssize_t, 127);
            if s.is_null() {
                return Err(PyErr::fetch(py));
            }
            ptr::copy_nonoverlapping(b.as_ptr(), ffi::PyUnicode_DATA(s).cast::<u8>(), b.len());
            return Ok(Bound::from_owned_ptr(py, s));
        }
    }
    // SAFETY: CPython checks the bytes are UTF-8 as it copies them.
    let s = unsafe {
        ffi::PyUnicode_FromStringAndSize(b.as_ptr().cast::<c_char>(), b.len() as ffi::Py_ssize_t)
    };
    if s.is_null() {
        // SAFETY: clear CPython's UnicodeDecodeError; ours says what it is.
        unsafe { ffi::PyErr_Clear() };
        return Err(bad(DecodeError::NotUtf8));
    }
    // SAFETY: a new reference.
    Ok(unsafe { Bound::from_owned_ptr(py, s) })
}

fn decode_at<'py>(
    py: Python<'py>,
    d: &mut Decoder<'_>,
    shape: Shape,
    shared: &mut Shared<'py>,
    depth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    decode_item(py, d, shape, shared, depth, None)
}

/// Decodes the next value; `slot` is where a short string value at this
/// position is shared.
#[inline]
fn decode_item<'py>(
    py: Python<'py>,
    d: &mut Decoder<'_>,
    shape: Shape,
    shared: &mut Shared<'py>,
    depth: usize,
    slot: Option<(usize, usize)>,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY (each arm): constructors returning new references or NULL with
    // an exception set.
    let made = match d.item().map_err(bad)? {
        Item::None => return Ok(py.None().into_bound(py)),
        Item::Bool(b) => return Ok(PyBool::new(py, b).to_owned().into_any()),
        Item::Int(i) => unsafe { ffi::PyLong_FromLongLong(i) },
        Item::Uint(u) => unsafe { ffi::PyLong_FromUnsignedLongLong(u) },
        Item::BigInt(digits) => return py.get_type::<PyInt>().call1((digits,)),
        Item::Float(f) => unsafe { ffi::PyFloat_FromDouble(f) },
        Item::Str(s) => return new_str(py, s.as_bytes()),
        Item::RawStr(b) => {
            let slot = slot
                .filter(|_| b.len() <= SHORT)
                .map(|(depth, i)| &mut shared.positions().values[depth][i]);
            return shared_str(py, b, slot);
        }
        Item::Bytes(b) => unsafe {
            ffi::PyBytes_FromStringAndSize(b.as_ptr().cast::<c_char>(), b.len() as ffi::Py_ssize_t)
        },
        Item::List(n) => {
            if depth >= MAX_DEPTH {
                return Err(bad(DecodeError::TooDeep));
            }
            let n = n as ffi::Py_ssize_t;
            // SAFETY: a new list or tuple, each slot filled below before
            // anything else sees it (a failure drops it with the filled
            // slots set and the rest NULL, which both deallocate).
            unsafe {
                let seq = match shape {
                    Shape::Owned => ffi::PyList_New(n),
                    Shape::Frozen => ffi::PyTuple_New(n),
                };
                let seq = Bound::from_owned_ptr_or_err(py, seq)?;
                for i in 0..n {
                    let item = decode_at(py, d, shape, shared, depth + 1)?.into_ptr();
                    match shape {
                        Shape::Owned => ffi::PyList_SET_ITEM(seq.as_ptr(), i, item),
                        Shape::Frozen => ffi::PyTuple_SET_ITEM(seq.as_ptr(), i, item),
                    }
                }
                return Ok(seq);
            }
        }
        Item::Dict(n) => {
            if depth >= MAX_DEPTH {
                return Err(bad(DecodeError::TooDeep));
            }
            // SAFETY: a new dict or NULL with an exception set.
            let dict = unsafe {
                Bound::from_owned_ptr_or_err(py, _PyDict_NewPresized(n as ffi::Py_ssize_t))?
            };
            for i in 0..n as usize {
                let raw = d.key_bytes().map_err(bad)?;
                let at = (depth < DEPTH && i < WIDTH).then_some((depth, i));
                let key = shared_str(py, raw, at.map(|(d, i)| &mut shared.positions().keys[d][i]))?;
                let value = decode_item(py, d, shape, shared, depth + 1, at)?;
                // SAFETY: a dict, a str key and a value, all live.
                if unsafe { ffi::PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) } != 0
                {
                    return Err(PyErr::fetch(py));
                }
            }
            return match shape {
                Shape::Owned => Ok(dict.into_any()),
                // SAFETY: a live dict; the proxy takes its own reference.
                Shape::Frozen => unsafe {
                    Bound::from_owned_ptr_or_err(py, ffi::PyDictProxy_New(dict.as_ptr()))
                },
            };
        }
    };
    // SAFETY: `made` is a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, made) }
}
