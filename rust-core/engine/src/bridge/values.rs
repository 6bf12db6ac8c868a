//! Python objects to the value encoding (`pyhost_abi::value`) and back,
//! natively: no JSON text, no intermediate copies. Nesting is limited to
//! `MAX_DEPTH`, which also stops a cyclic value.

use pyhost_abi::value::{DecodeError, Decoder, Encoder, Item, MAX_DEPTH};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use rustc_hash::FxHashMap;

/// Appends `obj` to `e`: None, bool, int (any size), float (finite), str,
/// bytes and bytearray, list and tuple, dict with str keys.
pub fn encode(obj: &Bound<'_, PyAny>, e: &mut Encoder) -> PyResult<()> {
    encode_at(obj, e, 0)
}

fn encode_at(obj: &Bound<'_, PyAny>, e: &mut Encoder, depth: usize) -> PyResult<()> {
    if obj.is_none() {
        e.none();
    } else if let Ok(b) = obj.cast::<PyBool>() {
        e.bool(b.is_true());
    } else if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            e.int(v);
        } else if let Ok(v) = i.extract::<u64>() {
            e.uint(v);
        } else {
            e.bigint(i.str()?.to_str()?);
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        if !e.float(f.value()) {
            return Err(PyValueError::new_err(format!(
                "{} cannot cross between Python and the host (only finite floats do)",
                f.value()
            )));
        }
    } else if let Ok(s) = obj.cast::<PyString>() {
        e.str(fits(s.to_str()?)?);
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
        for (k, v) in dict.iter() {
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "dict keys that cross to the host must be str, not {}",
                    type_name(&k)
                ))
            })?;
            e.key(fits(key.to_str()?)?);
            encode_at(&v, e, depth + 1)?;
            n += 1;
        }
        e.patch_count(mark, n);
    } else {
        return Err(PyTypeError::new_err(format!(
            "a {} cannot cross between Python and the host (None, bool, int, float, str, bytes, list, tuple and dict do)",
            type_name(obj)
        )));
    }
    Ok(())
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
    let mut d = Decoder::new(b);
    let mut keys = FxHashMap::default();
    let v = decode_at(py, &mut d, shape, &mut keys, 0)?;
    d.finish().map_err(bad)?;
    Ok(v)
}

/// The positional arguments one encoded list holds, as a tuple (an empty
/// buffer: none).
pub fn decode_arguments<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
    if b.is_empty() {
        return Ok(PyTuple::empty(py));
    }
    let mut d = Decoder::new(b);
    let Item::List(count) = d.item().map_err(bad)? else {
        return Err(PyValueError::new_err(
            "the arguments must be one encoded list",
        ));
    };
    let mut keys = FxHashMap::default();
    let mut items = Vec::with_capacity(count as usize);
    for _ in 0..count {
        items.push(decode_at(py, &mut d, Shape::Owned, &mut keys, 1)?);
    }
    d.finish().map_err(bad)?;
    PyTuple::new(py, items)
}

pub fn bad(e: DecodeError) -> PyErr {
    PyValueError::new_err(format!("not a pyhost value: {e}"))
}

fn decode_at<'py, 'b>(
    py: Python<'py>,
    d: &mut Decoder<'b>,
    shape: Shape,
    keys: &mut FxHashMap<&'b [u8], Bound<'py, PyString>>,
    depth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match d.item().map_err(bad)? {
        Item::None => py.None().into_bound(py),
        Item::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Item::Int(i) => i.into_pyobject(py)?.into_any(),
        Item::Uint(u) => u.into_pyobject(py)?.into_any(),
        Item::BigInt(digits) => py.get_type::<PyInt>().call1((digits,))?,
        Item::Float(f) => PyFloat::new(py, f).into_any(),
        Item::Str(s) => PyString::new(py, s).into_any(),
        Item::Bytes(b) => PyBytes::new(py, b).into_any(),
        Item::List(n) => {
            if depth >= MAX_DEPTH {
                return Err(bad(DecodeError::TooDeep));
            }
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                items.push(decode_at(py, d, shape, keys, depth + 1)?);
            }
            match shape {
                Shape::Owned => PyList::new(py, items)?.into_any(),
                Shape::Frozen => PyTuple::new(py, items)?.into_any(),
            }
        }
        Item::Dict(n) => {
            if depth >= MAX_DEPTH {
                return Err(bad(DecodeError::TooDeep));
            }
            let dict = PyDict::new(py);
            for _ in 0..n {
                let raw = d.key().map_err(bad)?;
                // Records repeat their keys: one str object per distinct key.
                let key = match keys.get(raw.as_bytes()) {
                    Some(k) => k.clone(),
                    None => {
                        let k = PyString::intern(py, raw);
                        keys.insert(raw.as_bytes(), k.clone());
                        k
                    }
                };
                let value = decode_at(py, d, shape, keys, depth + 1)?;
                dict.set_item(key, value)?;
            }
            match shape {
                Shape::Owned => dict.into_any(),
                // SAFETY: a live dict; the proxy takes its own reference.
                Shape::Frozen => unsafe {
                    Bound::from_owned_ptr_or_err(py, ffi::PyDictProxy_New(dict.as_ptr()))?
                },
            }
        }
    })
}
