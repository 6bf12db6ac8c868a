//! The pyhost engine: the shared object linked to libpython, loaded at run
//! time by pyhost-core. Its one export, `pyhost_engine_entry`, hands over the
//! function table; every entry runs inside the panic boundary, enters the
//! runtime (shutdown-aware), and touches Python only through
//! [`interpreter::with_python`], which returns with the GIL released.

mod agent;
mod aggregator;
mod builtins;
mod cfunc;
mod checks;
mod convert;
mod gil_cell;
mod host;
mod interpreter;
mod registry;
mod sinks;
mod submit;

use std::time::{Duration, Instant};

use pyhost_abi::{
    ffi_boundary, pyhost_buffer, pyhost_bytes, pyhost_check, pyhost_check_class,
    pyhost_check_config, pyhost_engine_table, pyhost_error, pyhost_function, pyhost_runtime,
    pyhost_runtime_options, pyhost_status, pyhost_str, Failure, PYHOST_ABI_VERSION,
};

use interpreter::with_python;
use pyo3::Python;

static TABLE: pyhost_engine_table = pyhost_engine_table {
    abi_version: PYHOST_ABI_VERSION,
    runtime_start,
    runtime_shutdown,
    runtime_python_info,
    check_class_load,
    check_class_free,
    check_new,
    check_run,
    check_cancel,
    check_free,
    function_load,
    function_call,
    function_free,
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

/// The shape of most entries: enter the runtime (counted in flight, so
/// shutdown waits for the call), then run `f` attached to Python.
fn attached<T>(
    runtime: pyhost_runtime,
    f: impl for<'py> FnOnce(Python<'py>, &'static registry::RuntimeState) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let guard = registry::enter(runtime)?;
    with_python(|py| f(py, guard.runtime()))
}

/// # Safety
/// `s` must be valid for the call (C API contract).
unsafe fn text<'a>(s: pyhost_str, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded to the caller.
    unsafe { s.to_str(what) }
}

unsafe extern "C" fn runtime_start(
    options: *const pyhost_runtime_options,
    out_runtime: *mut pyhost_runtime,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        // SAFETY: the core checked `options` for NULL.
        let options = unsafe { &*options };
        // SAFETY: strings valid for the call.
        let executable = unsafe { text(options.python_executable, "python_executable") }?;
        let mut paths = Vec::new();
        if options.python_path_len > 0 {
            if options.python_path.is_null() {
                return Err(Failure::invalid_argument(
                    "python_path is NULL with a non-zero length",
                ));
            }
            // SAFETY: the caller passes `python_path_len` valid strings.
            let entries =
                unsafe { std::slice::from_raw_parts(options.python_path, options.python_path_len) };
            for entry in entries {
                // SAFETY: as above.
                paths.push(unsafe { text(*entry, "a python_path entry") }?.to_owned());
            }
        }
        let level = if options.log_level == 0 {
            20
        } else {
            options.log_level
        };
        interpreter::ensure_started(executable)?;
        host::set_log_level(level);
        with_python(|py| {
            host::call(py, "extend_path", (paths,))?;
            host::call(py, "install_logging", (level,)).map(drop)
        })
        .map_err(|e| with_python(|py| host::python_failure(py, &e)))?;
        let runtime = registry::register_runtime(
            options.log_callback,
            options.log_context,
            options.metric_callback,
            options.metric_context,
        )?;
        // SAFETY: the core checked `out_runtime` for NULL.
        unsafe { out_runtime.write(runtime) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

unsafe extern "C" fn runtime_shutdown(
    runtime: pyhost_runtime,
    timeout_ms: u64,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        // Refuse new calls first, then stop the runs in flight; re-send the
        // cancellation while waiting, for a run that was entering just as
        // the runtime closed.
        let state = registry::close(runtime)?;
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        let mut drained = false;
        while Instant::now() < deadline {
            if registry::in_flight(runtime) == 0 {
                drained = true;
                break;
            }
            with_python(|py| checks::cancel_all(py, state));
            std::thread::sleep(Duration::from_millis(5));
        }
        drained = drained || registry::in_flight(runtime) == 0;
        if !drained {
            return Err(Failure::new(
                pyhost_status::PYHOST_STATUS_TIMEOUT,
                format!(
                    "shutdown timed out after {timeout_ms} ms with {} calls still running; they will finish on their own",
                    registry::in_flight(runtime)
                ),
            ));
        }
        with_python(|py| checks::free_all(py, state));
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

unsafe extern "C" fn runtime_python_info(
    runtime: pyhost_runtime,
    out_json: *mut pyhost_bytes,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        let json = attached(runtime, |py, _| {
            let info =
                host::call(py, "python_info", ()).map_err(|e| host::python_failure(py, &e))?;
            let mut out = Vec::new();
            convert::py_to_json(&info, &mut out).map_err(|e| host::python_failure(py, &e))?;
            Ok(out)
        })?;
        // SAFETY: the core checked `out_json` for NULL.
        unsafe { out_json.write(pyhost_bytes::from_vec(json)) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

unsafe extern "C" fn check_class_load(
    runtime: pyhost_runtime,
    source: pyhost_str,
    class_name: pyhost_str,
    out_class: *mut pyhost_check_class,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        // SAFETY: strings valid for the call.
        let (source, class_name) =
            unsafe { (text(source, "source")?, text(class_name, "class_name")?) };
        let id = attached(runtime, |py, rt| {
            checks::load_class(py, rt, source, class_name)
        })?;
        // SAFETY: the core checked `out_class` for NULL.
        unsafe { out_class.write(pyhost_check_class { id }) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

unsafe extern "C" fn check_class_free(
    runtime: pyhost_runtime,
    class: pyhost_check_class,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || attached(runtime, |py, rt| checks::free_class(py, rt, class.id));
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

unsafe extern "C" fn check_new(
    runtime: pyhost_runtime,
    class: pyhost_check_class,
    config: *const pyhost_check_config,
    out_check: *mut pyhost_check,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        // SAFETY: the core checked `config` for NULL; strings valid for the call.
        let config = unsafe { &*config };
        // SAFETY: as above.
        let new = unsafe {
            checks::NewCheck {
                name: text(config.name, "name")?,
                check_id: text(config.check_id, "check_id")?,
                init_config_json: text(config.init_config_json, "init_config")?,
                instance_json: text(config.instance_json, "instance")?,
            }
        };
        let id = attached(runtime, |py, rt| checks::new_check(py, rt, class.id, new))?;
        // SAFETY: the core checked `out_check` for NULL.
        unsafe { out_check.write(pyhost_check { id }) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

unsafe extern "C" fn check_run(
    runtime: pyhost_runtime,
    check: pyhost_check,
    out_batch: *mut pyhost_bytes,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        let batch = attached(runtime, |py, rt| checks::run(py, rt, check.id))?;
        // SAFETY: the core checked `out_batch` for NULL.
        unsafe { out_batch.write(pyhost_bytes::from_vec(batch)) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

unsafe extern "C" fn check_cancel(
    runtime: pyhost_runtime,
    check: pyhost_check,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || attached(runtime, |py, rt| checks::cancel(py, rt, check.id));
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

unsafe extern "C" fn check_free(
    runtime: pyhost_runtime,
    check: pyhost_check,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || attached(runtime, |py, rt| checks::free_check(py, rt, check.id));
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

unsafe extern "C" fn function_load(
    runtime: pyhost_runtime,
    module: pyhost_str,
    name: pyhost_str,
    out_function: *mut pyhost_function,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        // SAFETY: strings valid for the call.
        let (module, name) = unsafe { (text(module, "module")?, text(name, "name")?) };
        let id = attached(runtime, |py, rt| {
            checks::load_function(py, rt, module, name)
        })?;
        // SAFETY: the core checked `out_function` for NULL.
        unsafe { out_function.write(pyhost_function { id }) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

unsafe extern "C" fn function_call(
    runtime: pyhost_runtime,
    function: pyhost_function,
    args_json: pyhost_str,
    scratch: pyhost_buffer,
    out_len: *mut usize,
    out_result: *mut pyhost_bytes,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        // Not counted in flight: the call holds its own reference to the
        // function, so shutdown can free the handle under it safely.
        let state = registry::open_runtime(runtime)?;
        // SAFETY: valid for the call.
        let args = unsafe { args_json.as_bytes() }?;
        let scratch_bytes: &mut [u8] = if scratch.cap == 0 {
            &mut []
        } else {
            // SAFETY: the caller lends `cap` writable bytes for this call (the
            // core checked the pointer is not NULL when cap > 0).
            unsafe { std::slice::from_raw_parts_mut(scratch.ptr, scratch.cap) }
        };
        let mut out = convert::ScratchOut::new(scratch_bytes);
        let called = interpreter::with_python_direct(|py| {
            checks::call_function(py, state, function.id, args, &mut out)
        });
        if called.is_err() {
            // An error may have left Python objects for pyo3 to release at
            // its next attach; attach now so they do not pile up.
            with_python(|_| ());
        }
        called?;
        let (len, owned) = match out.finish() {
            Ok(len) => (len, pyhost_bytes::EMPTY),
            Err(spilled) => (spilled.len(), pyhost_bytes::from_vec(spilled)),
        };
        // SAFETY: the core checked out_len and out_result for NULL.
        unsafe {
            out_len.write(len);
            out_result.write(owned);
        }
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

unsafe extern "C" fn function_free(
    runtime: pyhost_runtime,
    function: pyhost_function,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || attached(runtime, |py, rt| checks::free_function(py, rt, function.id));
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}
