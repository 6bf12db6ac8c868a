//! Plain Python functions the host looks up once and calls many times,
//! with JSON arguments and result (typed calls are the bridge's).

use pyhost_abi::Failure;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::convert::{self, JsonOut};
use super::errors::py_fail;
use super::handles::{Handles, FUNCTION};
use super::host;
use super::sessions::Session;

static FUNCTIONS: Handles<Py<PyAny>> = Handles::new(FUNCTION);

/// Imports `module` (a name, or a `.py` path) and looks up `name`.
pub fn load(py: Python<'_>, session: &Session, module: &str, name: &str) -> Result<u64, Failure> {
    if module.is_empty() || name.is_empty() {
        return Err(Failure::invalid_argument(
            "a function needs a module and a name",
        ));
    }
    let function = host::call(py, "load_function", (module, name)).map_err(py_fail(py))?;
    FUNCTIONS.insert(py, session.id, function.unbind())
}

/// The function `function` names.
#[inline]
pub fn get<'py>(
    py: Python<'py>,
    session: &Session,
    function: u64,
) -> Result<Bound<'py, PyAny>, Failure> {
    FUNCTIONS.get_bound(py, session.id, function)
}

/// Calls a function with a JSON array of positional arguments; appends the
/// JSON result to `out`.
#[inline]
pub fn call(
    py: Python<'_>,
    session: &Session,
    function: u64,
    args_json: &[u8],
    out: &mut impl JsonOut,
) -> Result<(), Failure> {
    let function = FUNCTIONS.get_bound(py, session.id, function)?;
    let result = if args_json.is_empty() || args_json == b"[]" {
        function.call0()
    } else {
        let args: serde_json::Value = serde_json::from_slice(args_json).map_err(|e| {
            Failure::invalid_argument(format!("the arguments are not valid JSON: {e}"))
        })?;
        let serde_json::Value::Array(items) = args else {
            return Err(Failure::invalid_argument(
                "the arguments must be a JSON array",
            ));
        };
        let items = items
            .iter()
            .map(|v| convert::json_to_py(py, v))
            .collect::<PyResult<Vec<_>>>()
            .map_err(py_fail(py))?;
        let args = PyTuple::new(py, items).map_err(py_fail(py))?;
        function.call1(args)
    }
    .map_err(py_fail(py))?;
    convert::py_to_json(&result, out).map_err(py_fail(py))
}

pub fn free(py: Python<'_>, session: &Session, function: u64) -> Result<(), Failure> {
    FUNCTIONS.free(py, session.id, function)
}
