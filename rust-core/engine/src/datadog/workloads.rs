//! `tagger`, `containers` and `kubeutil`: pyhost has no tag source, container
//! filter or kubelet connection, so they answer as an agent with none does,
//! after checking their arguments as rtloader does.

use std::ffi::{c_char, c_int};
use std::ptr;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyModule, PyTuple};

use super::cfunc::{self, method, parse_tuple, Ret};

pub const TAGGER_LOW: c_int = 0;
pub const TAGGER_ORCHESTRATOR: c_int = 1;
pub const TAGGER_HIGH: c_int = 2;

#[pyo3::pymodule]
pub fn tagger(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.setattr("LOW", TAGGER_LOW)?;
    m.setattr("ORCHESTRATOR", TAGGER_ORCHESTRATOR)?;
    m.setattr("HIGH", TAGGER_HIGH)?;
    cfunc::add_functions(
        m,
        vec![
            method!(c"tag", varargs, tag, c"Get tags for an entity."),
            method!(
                c"get_tags",
                varargs,
                get_tags,
                c"(Deprecated) Get tags for an entity."
            ),
        ],
    )
}

fn tagger_args(args: &Bound<'_, PyTuple>) -> PyResult<c_int> {
    let mut entity: *const c_char = ptr::null();
    let mut cardinality: c_int = 0;
    parse_tuple!(
        args,
        c"si",
        &mut entity as *mut *const c_char,
        &mut cardinality as *mut c_int,
    )?;
    Ok(cardinality)
}

/// tag(entity_id, cardinality): pyhost has no tag source yet, so every
/// entity is unknown: [].
fn tag(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let cardinality = tagger_args(args)?;
    if ![TAGGER_LOW, TAGGER_ORCHESTRATOR, TAGGER_HIGH].contains(&cardinality) {
        return Err(PyTypeError::new_err("Invalid cardinality"));
    }
    Ok(PyList::empty(py).into_any().unbind())
}

/// get_tags(entity_id, high_card): as tag(), [].
fn get_tags(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    tagger_args(args)?;
    Ok(PyList::empty(py).into_any().unbind())
}

#[pyo3::pymodule]
pub fn containers(m: &Bound<'_, PyModule>) -> PyResult<()> {
    cfunc::add_functions(
        m,
        vec![method!(
            c"is_excluded",
            varargs,
            is_excluded,
            c"Returns whether a container is excluded per name and image."
        )],
    )
}

/// is_excluded(name, image[, namespace]): pyhost has no container filter:
/// False.
fn is_excluded(py: Python<'_>, args: &Bound<'_, PyTuple>) -> Ret {
    let mut name: *const c_char = ptr::null();
    let mut image: *const c_char = ptr::null();
    let mut namespace: *const c_char = ptr::null();
    parse_tuple!(
        args,
        c"ss|s",
        &mut name as *mut *const c_char,
        &mut image as *mut *const c_char,
        &mut namespace as *mut *const c_char,
    )?;
    Ok(PyBool::new(py, false).to_owned().into_any().unbind())
}

#[pyo3::pymodule]
pub fn kubeutil(m: &Bound<'_, PyModule>) -> PyResult<()> {
    cfunc::add_functions(
        m,
        vec![method!(
            c"get_connection_info",
            noargs,
            get_connection_info,
            c"Get kubelet connection information."
        )],
    )
}

/// get_connection_info(): pyhost has no kubelet connection: {}.
fn get_connection_info(py: Python<'_>) -> Ret {
    Ok(PyDict::new(py).into_any().unbind())
}
