//! Typed calls of Python functions from the host: arguments and result in
//! the value encoding, decoded straight into Python objects and encoded
//! straight from them.

use pyhost_abi::value::{Encoder, Sink};
use pyhost_abi::{pyhost_direct_value, Failure};
use pyo3::prelude::*;

use super::values;
use crate::runtime::errors::py_fail;
use crate::runtime::functions;
use crate::runtime::sessions::Session;

/// Calls `function` with `args` (one encoded list, or empty for none) and
/// appends its encoded result to `out`.
#[inline]
pub fn invoke<B: Sink>(
    py: Python<'_>,
    session: &Session,
    function: u64,
    args: &[u8],
    out: &mut Encoder<B>,
) -> Result<(), Failure> {
    let function = functions::get(py, session, function)?;
    let result = values::call_with_arguments(py, &function, args).map_err(|e| match e {
        values::CallError::Arguments(e) => {
            Failure::invalid_argument(format!("the arguments: {}", e.value(py)))
        }
        values::CallError::Raised(e) => py_fail(py)(e),
    })?;
    values::encode(&result, out).map_err(py_fail(py))
}

/// Calls `function` with arguments passed in place: its result in place
/// when it is a scalar (see `values::direct_result`), else None with the
/// result appended, encoded, to `out`.
#[inline]
pub fn invoke_direct<B: Sink>(
    py: Python<'_>,
    session: &Session,
    function: u64,
    args: &[pyhost_direct_value],
    out: &mut Encoder<B>,
) -> Result<Option<pyhost_direct_value>, Failure> {
    let function = functions::get(py, session, function)?;
    let result = values::call_direct(py, &function, args).map_err(|e| match e {
        values::CallError::Arguments(e) => Failure::invalid_argument(e.value(py).to_string()),
        values::CallError::Raised(e) => py_fail(py)(e),
    })?;
    if let Some(v) = values::direct_result(&result) {
        return Ok(Some(v));
    }
    values::encode(&result, out).map_err(py_fail(py))?;
    Ok(None)
}
