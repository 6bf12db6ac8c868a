//! The pyhost engine: the shared object linked to libpython, loaded at run
//! time by pyhost-core. Its one export, `pyhost_engine_entry`, hands over the
//! function table; the entries are in [`entries`].
//!
//! Layers, each using only those below it:
//!
//! | module | job |
//! | --- | --- |
//! | [`entries`] | the table's entries: decode arguments, call one layer, write outputs |
//! | [`datadog`] | the Datadog Agent's in-memory modules |
//! | [`sdk`] | `_pyhost` and the embedded SDK |
//! | [`check`] | check classes, instances, runs, cancellation, sinks |
//! | [`bridge`] | host functions for Python, host state, typed calls, the value encoding in Python |
//! | [`runtime`] | the interpreter, threads, sessions, handles, errors, logs, functions |

mod bridge;
mod check;
mod datadog;
mod entries;
mod runtime;
mod sdk;

use pyhost_abi::{pyhost_engine_table, PYHOST_ABI_VERSION};

static TABLE: pyhost_engine_table = pyhost_engine_table {
    abi_version: PYHOST_ABI_VERSION,
    runtime_start: entries::runtime_start,
    runtime_shutdown: entries::runtime_shutdown,
    runtime_python_info: entries::runtime_python_info,
    check_class_load: entries::check_class_load,
    check_class_free: entries::check_class_free,
    check_new: entries::check_new,
    check_run: entries::check_run,
    check_cancel: entries::check_cancel,
    check_free: entries::check_free,
    function_load: entries::function_load,
    function_call: entries::function_call,
    function_free: entries::function_free,
    module_define: entries::module_define,
    meter_new: entries::meter_new,
    meter_read: entries::meter_read,
    state_publish: entries::state_publish,
    function_invoke: entries::function_invoke,
    function_invoke_direct: entries::function_invoke_direct,
    gil_contention: entries::gil_contention,
    bytes_free: entries::bytes_free,
    error_free: entries::error_free,
};

/// Returns the function table if the caller speaks this ABI version, else NULL.
#[no_mangle]
pub extern "C" fn pyhost_engine_entry(abi_version: u32) -> *const pyhost_engine_table {
    if abi_version == PYHOST_ABI_VERSION {
        &TABLE
    } else {
        std::ptr::null()
    }
}
