//! JSON to Python objects and back, natively: no `json` module, no text
//! round trip through Python.

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

/// Nesting deeper than this is refused instead of overflowing the stack.
const MAX_DEPTH: usize = 128;

/// A JSON value as Python objects.
pub fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, value, false)
}

/// A configuration (init_config, an instance) as Python objects, object
/// keys interned: the configurations of many instances share their key
/// strings. Not for call arguments: their keys are whatever the caller
/// sends, and interning them would keep them alive (CPython 3.12 before
/// 3.12.5 made interned strings immortal).
pub fn config_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, value, true)
}

fn to_py<'py>(py: Python<'py>, value: &Value, intern: bool) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else if is_integer(n.as_str()) {
                // Beyond 64 bits: Python's int takes the digits exactly.
                py.get_type::<PyInt>().call1((n.as_str(),))?
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item, intern)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                let v = to_py(py, v, intern)?;
                if intern {
                    dict.set_item(PyString::intern(py, k), v)?;
                } else {
                    dict.set_item(k, v)?;
                }
            }
            dict.into_any()
        }
    })
}

/// Whether a JSON number's text is an integer (no fraction, no exponent).
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Where JSON goes: a `Vec`, or a caller's buffer that spills into one.
pub trait JsonOut {
    fn put(&mut self, bytes: &[u8]);
}

impl JsonOut for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Writes into a caller-provided buffer while the output fits, then moves
/// everything into an owned `Vec`.
pub struct ScratchOut<'a> {
    scratch: &'a mut [u8],
    len: usize,
    spill: Option<Vec<u8>>,
}

impl<'a> ScratchOut<'a> {
    pub fn new(scratch: &'a mut [u8]) -> ScratchOut<'a> {
        ScratchOut {
            scratch,
            len: 0,
            spill: None,
        }
    }

    /// The length written into the scratch buffer, or the spilled output.
    pub fn finish(self) -> Result<usize, Vec<u8>> {
        match self.spill {
            None => Ok(self.len),
            Some(v) => Err(v),
        }
    }

    /// `put` once the output no longer fits in the scratch buffer.
    #[inline(never)]
    fn put_spilled(&mut self, bytes: &[u8]) {
        match &mut self.spill {
            Some(spill) => spill.extend_from_slice(bytes),
            None => {
                let mut spill = Vec::with_capacity((self.len + bytes.len()) * 2);
                spill.extend_from_slice(&self.scratch[..self.len]);
                spill.extend_from_slice(bytes);
                self.spill = Some(spill);
            }
        }
    }
}

impl JsonOut for ScratchOut<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if self.spill.is_none() && end <= self.scratch.len() {
            self.scratch[self.len..end].copy_from_slice(bytes);
            self.len = end;
        } else {
            self.put_spilled(bytes);
        }
    }
}

/// Writes `obj` as JSON to `out`: None, bool, int, float (finite), str,
/// list, tuple and dict with str keys.
#[inline]
pub fn py_to_json(obj: &Bound<'_, PyAny>, out: &mut impl JsonOut) -> PyResult<()> {
    // None, what most calls return, without the type dispatch.
    if obj.is_none() {
        out.put(b"null");
        return Ok(());
    }
    write_value(obj, out, 0)
}

fn write_value(obj: &Bound<'_, PyAny>, out: &mut impl JsonOut, depth: usize) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err("value nested too deeply for JSON"));
    }
    if obj.is_none() {
        out.put(b"null");
    } else if let Ok(b) = obj.cast::<PyBool>() {
        out.put(if b.is_true() { b"true" } else { b"false" });
    } else if let Ok(i) = obj.cast::<PyInt>() {
        match i.extract::<i64>() {
            Ok(v) => out.put(v.to_string().as_bytes()),
            Err(_) => out.put(decimal(i.as_any())?.to_str()?.as_bytes()),
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        if !v.is_finite() {
            return Err(PyValueError::new_err(format!(
                "{v} cannot be represented in JSON"
            )));
        }
        let text = serde_json::to_string(&v).map_err(|e| PyValueError::new_err(e.to_string()))?;
        out.put(text.as_bytes());
    } else if let Ok(s) = obj.cast::<PyString>() {
        write_str(s.to_str()?, out);
    } else if let Ok(list) = obj.cast::<PyList>() {
        out.put(b"[");
        for (n, item) in list.iter().enumerate() {
            if n > 0 {
                out.put(b",");
            }
            write_value(&item, out, depth + 1)?;
        }
        out.put(b"]");
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        out.put(b"[");
        for (n, item) in tuple.iter().enumerate() {
            if n > 0 {
                out.put(b",");
            }
            write_value(&item, out, depth + 1)?;
        }
        out.put(b"]");
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        out.put(b"{");
        let mut n = 0;
        for_each_item(dict, |k, v| {
            if n > 0 {
                out.put(b",");
            }
            n += 1;
            let key = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("JSON object keys must be str"))?;
            write_str(key.to_str()?, out);
            out.put(b":");
            write_value(&v, out, depth + 1)
        })?;
        out.put(b"}");
    } else {
        let type_name = obj.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "a {type_name} cannot be represented in JSON"
        )));
    }
    Ok(())
}

fn write_str(s: &str, out: &mut impl JsonOut) {
    // Plain text needs no escaping; anything else goes through serde_json.
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.put(b"\"");
        out.put(s.as_bytes());
        out.put(b"\"");
    } else {
        let quoted = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
        out.put(quoted.as_bytes());
    }
}

/// An int's decimal digits, without calling a subclass's `__str__` (which
/// could run any code, mid-conversion).
pub fn decimal<'py>(int: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: GIL held; PyNumber_ToBase formats the exact int value of an
    // int (subclass), returning a new reference or NULL with an exception.
    unsafe {
        Bound::from_owned_ptr_or_err(int.py(), ffi::PyNumber_ToBase(int.as_ptr(), 10))
            .map(|s| s.cast_into_unchecked())
    }
}

/// Calls `f` on each item of `dict`, failing with RuntimeError (where
/// pyo3's iterator panics) if Python code run meanwhile (a finalizer the
/// garbage collector ran) changed the dict's size.
pub fn for_each_item<'py>(
    dict: &Bound<'py, PyDict>,
    mut f: impl FnMut(Bound<'py, PyAny>, Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    let py = dict.py();
    let len = dict.len();
    let mut pos: ffi::Py_ssize_t = 0;
    let mut key = std::ptr::null_mut();
    let mut value = std::ptr::null_mut();
    // SAFETY: GIL held; PyDict_Next bounds-checks `pos` against the dict's
    // entries as they are now, and both references are made owned before
    // `f` can run Python code.
    while unsafe { ffi::PyDict_Next(dict.as_ptr(), &mut pos, &mut key, &mut value) } != 0 {
        let (k, v) = unsafe {
            (
                Bound::from_borrowed_ptr(py, key),
                Bound::from_borrowed_ptr(py, value),
            )
        };
        f(k, v)?;
        if dict.len() != len {
            return Err(PyRuntimeError::new_err(
                "a dict changed size while it was crossing to the host",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::interpreter::{ensure_started, with_python};

    fn roundtrip(text: &str) -> String {
        ensure_started("", true, &Default::default()).expect("python starts");
        with_python(|py| {
            let value: Value = serde_json::from_str(text).unwrap();
            let obj = json_to_py(py, &value).unwrap();
            let mut out = Vec::new();
            py_to_json(&obj, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        })
    }

    #[test]
    fn json_survives_a_trip_through_python() {
        let text = r#"{"a":[1,-2,3.5,true,false,null],"b":{"c":"d\"e\u00e9"},"big":18446744073709551615,"huge":-22222222222222222222221}"#;
        let back: Value = serde_json::from_str(&roundtrip(text)).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn a_dict_changing_size_while_it_crosses_is_an_error() {
        ensure_started("", true, &Default::default()).expect("python starts");
        with_python(|py| {
            let dict = py.eval(c"{'a': 1, 'b': 2, 'c': 3}", None, None).unwrap();
            let dict = dict.cast::<PyDict>().unwrap();
            let mut seen = 0;
            let err = for_each_item(dict, |k, _| {
                seen += 1;
                dict.del_item(k)
            })
            .unwrap_err();
            assert!(err.to_string().contains("changed size"), "{err}");
            assert_eq!(seen, 1);
            let mut keys = Vec::new();
            for_each_item(dict, |k, _| {
                keys.push(k.extract::<String>()?);
                Ok(())
            })
            .unwrap();
            assert_eq!(keys, ["b", "c"]);
        })
    }

    #[test]
    fn a_big_int_subclass_is_written_without_its_str() {
        ensure_started("", true, &Default::default()).expect("python starts");
        with_python(|py| {
            let obj = py
                .eval(
                    c"type('Loud', (int,), {'__str__': lambda self: 1 / 0})(-2**80)",
                    None,
                    None,
                )
                .unwrap();
            assert_eq!(
                decimal(&obj).unwrap().to_str().unwrap(),
                "-1208925819614629174706176"
            );
            let mut out = Vec::new();
            py_to_json(&obj, &mut out).unwrap();
            assert_eq!(out, b"-1208925819614629174706176");
        })
    }

    #[test]
    fn unrepresentable_values_raise() {
        ensure_started("", true, &Default::default()).expect("python starts");
        with_python(|py| {
            for (code, want) in [
                (c"float('nan')", "cannot be represented"),
                (c"{1: 2}", "keys must be str"),
                (c"object()", "cannot be represented"),
            ] {
                let obj = py.eval(code, None, None).unwrap();
                let err = py_to_json(&obj, &mut Vec::new()).unwrap_err();
                assert!(err.to_string().contains(want), "{err}");
            }
            let deep = py
                .eval(
                    c"__import__('functools').reduce(lambda a, _: [a], range(500), [])",
                    None,
                    None,
                )
                .unwrap();
            assert!(py_to_json(&deep, &mut Vec::new()).is_err());
            let huge = py.eval(c"10 ** 30", None, None).unwrap();
            let mut out = Vec::new();
            py_to_json(&huge, &mut out).unwrap();
            assert_eq!(out, b"1000000000000000000000000000000");
        });
    }

    #[test]
    fn a_thread_keeps_its_python_thread_state() {
        ensure_started("", true, &Default::default()).expect("python starts");
        let states: Vec<(usize, usize)> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    // SAFETY: reading the current thread state while attached.
                    let first = with_python(|_| unsafe { pyo3::ffi::PyThreadState_Get() } as usize);
                    // SAFETY: as above.
                    let second =
                        with_python(|_| unsafe { pyo3::ffi::PyThreadState_Get() } as usize);
                    (first, second)
                })
                .join()
                .unwrap()
            })
            .collect();
        for (first, second) in &states {
            assert_eq!(first, second, "a thread state was created per call");
        }
    }
}
