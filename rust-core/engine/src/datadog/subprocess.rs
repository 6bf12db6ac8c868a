//! `_util`: subprocesses run for checks, as rtloader has it, with the GIL
//! released while they run.

use std::ptr;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyModule, PyTuple};

use super::cfunc::{self, as_string, method, object, parse_keywords, Ret};
use super::AGENT;

create_exception!(
    _util,
    SubprocessOutputEmptyError,
    PyException,
    "Raised by get_subprocess_output when raise_on_empty is True and the command wrote nothing to stdout."
);

#[pyo3::pymodule]
#[pyo3(name = "_util")]
pub fn util_private(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.setattr(
        "SubprocessOutputEmptyError",
        m.py().get_type::<SubprocessOutputEmptyError>(),
    )?;
    cfunc::add_functions(
        m,
        vec![
            method!(
                c"subprocess_output",
                keywords,
                subprocess_output,
                c"Exec a process and return the output."
            ),
            method!(
                c"get_subprocess_output",
                keywords,
                subprocess_output,
                c"Exec a process and return the output."
            ),
        ],
    )
}

/// get_subprocess_output(command, raise_on_empty=False, *, env=None) ->
/// (stdout, stderr, returncode). An argv list, no shell; the GIL is
/// released while the command runs; the settings' subprocess_timeout
/// (default 60 s) bounds it.
fn subprocess_output(
    py: Python<'_>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> Ret {
    let mut command: *mut ffi::PyObject = ptr::null_mut();
    let mut raise_on_empty: *mut ffi::PyObject = ptr::null_mut();
    let mut env: *mut ffi::PyObject = ptr::null_mut();
    parse_keywords!(
        args,
        kwargs,
        c"O|O$O:get_subprocess_output",
        [c"command", c"raise_on_empty", c"env"],
        &mut command as *mut *mut ffi::PyObject,
        &mut raise_on_empty as *mut *mut ffi::PyObject,
        &mut env as *mut *mut ffi::PyObject,
    )?;
    // SAFETY: an object output of a live argument.
    let command = unsafe { object(py, command) };
    let command = command
        .cast::<PyList>()
        .map_err(|_| PyTypeError::new_err("command args is not a list"))?;
    if command.is_empty() {
        return Err(PyTypeError::new_err("invalid command: empty list"));
    }
    let argv = command
        .iter()
        .map(|a| as_string(&a))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| PyTypeError::new_err("command argument must be valid strings"))?;
    // A non-empty env replaces the environment; None or {} inherits it.
    let mut environment: Option<Vec<(String, String)>> = None;
    if !env.is_null() {
        // SAFETY: an object output of a live argument.
        let env = unsafe { object(py, env) };
        if !env.is_none() {
            let env = env
                .cast::<PyDict>()
                .map_err(|_| PyTypeError::new_err("env is not a dict"))?;
            let mut pairs = Vec::with_capacity(env.len());
            for (key, value) in env.iter() {
                let key = as_string(&key)
                    .ok_or_else(|| PyTypeError::new_err("env key is not a string"))?;
                let value = as_string(&value)
                    .ok_or_else(|| PyTypeError::new_err("env value is not a string"))?;
                pairs.push((key, value));
            }
            if !pairs.is_empty() {
                environment = Some(pairs);
            }
        }
    }
    let raise = if raise_on_empty.is_null() {
        false
    } else {
        // SAFETY: an object output of a live argument.
        let flag = unsafe { object(py, raise_on_empty) };
        flag.cast::<PyBool>()
            .map_err(|_| PyTypeError::new_err("bad raise_on_empty argument: should be bool"))?
            .is_true()
    };
    let env = environment.map(|pairs| {
        let dict = PyDict::new(py);
        for (k, v) in pairs {
            let _ = dict.set_item(k, v);
        }
        dict
    });
    let result = AGENT.call(py, "run_subprocess", (argv, env))?;
    if raise {
        let stdout = result.get_item(0)?;
        if stdout
            .cast::<pyo3::types::PyString>()
            .is_ok_and(|s| s.is_empty().unwrap_or(false))
        {
            return Err(SubprocessOutputEmptyError::new_err(
                "get_subprocess_output expected output but had none.",
            ));
        }
    }
    Ok(result.unbind())
}
