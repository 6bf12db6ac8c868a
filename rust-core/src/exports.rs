//! Every exported `pyhost_*` function. Each one checks its pointer arguments,
//! then forwards to the engine, all inside one panic boundary.

use pyhost_abi::{
    check_out, ffi_boundary, pyhost_buffer, pyhost_bytes, pyhost_check, pyhost_check_class,
    pyhost_check_config, pyhost_direct_value, pyhost_error, pyhost_function, pyhost_host_call,
    pyhost_meter_usage, pyhost_runtime, pyhost_runtime_options, pyhost_status, pyhost_str, Failure,
    PYHOST_ABI_VERSION,
};

use crate::loader;

/// Runs `body` inside the boundary. `body` gets the out-error to hand the
/// engine and returns the engine's status. An error the engine made is
/// copied into one of this library's own and freed by the engine, so the
/// host frees every error with this library's allocator.
///
/// # Safety
/// `out_error` must be NULL or valid for writes.
#[inline(always)]
unsafe fn forward<F>(out_error: *mut *mut pyhost_error, body: F) -> pyhost_status
where
    F: FnOnce(*mut *mut pyhost_error) -> Result<pyhost_status, Failure>,
{
    let mut forwarded = pyhost_status::PYHOST_STATUS_OK;
    let mut engine_error: *mut pyhost_error = std::ptr::null_mut();
    let engine_out = if out_error.is_null() {
        std::ptr::null_mut()
    } else {
        &mut engine_error as *mut *mut pyhost_error
    };
    // SAFETY: forwarded to the caller.
    let status = unsafe {
        ffi_boundary(out_error, || {
            forwarded = body(engine_out)?;
            Ok(())
        })
    };
    if !engine_error.is_null() {
        // SAFETY: the engine wrote an error of its own; out_error is writable.
        unsafe { adopt_engine_error(out_error, engine_error) };
    }
    if status == pyhost_status::PYHOST_STATUS_OK {
        forwarded
    } else {
        status
    }
}

/// Copies an engine error into `*out_error` and frees the original.
///
/// # Safety
/// `engine_error` came from the engine; `out_error` is writable.
#[cold]
#[inline(never)]
unsafe fn adopt_engine_error(out_error: *mut *mut pyhost_error, engine_error: *mut pyhost_error) {
    // SAFETY: a live error the engine made.
    let copy = unsafe { Failure::copy_of(engine_error) };
    // SAFETY: out_error is writable (it was not NULL, or the engine would
    // have had nowhere to write).
    unsafe { *out_error = copy.into_raw() };
    if let Ok(engine) = loader::loaded() {
        // SAFETY: freed once, by the library that made it.
        unsafe { (engine.table.error_free)(engine_error) };
    }
}

fn not_null<T>(ptr: *const T, name: &str) -> Result<(), Failure> {
    if ptr.is_null() {
        Err(Failure::invalid_argument(format!("{name} is NULL")))
    } else {
        Ok(())
    }
}

/// The ABI version this library implements. A host compares it with the
/// `PYHOST_ABI_VERSION` of the header it was compiled against.
#[no_mangle]
pub extern "C" fn pyhost_abi_version() -> u32 {
    PYHOST_ABI_VERSION
}

/// The library's version, a static string (never freed).
#[no_mangle]
pub extern "C" fn pyhost_version() -> pyhost_str {
    pyhost_str::borrow(env!("CARGO_PKG_VERSION"))
}

/// A count, kept by the engine, of function calls (`pyhost_function_call`,
/// `pyhost_function_invoke`, `pyhost_function_invoke_direct`) that found
/// the GIL held by another thread when they asked for it; NULL until a
/// runtime has started. It lives as long as the process and only moves (it
/// wraps, and two calls counting at once may count one): read it with an
/// atomic load, never write it. A host that orders its own calls (as the Go module's
/// call gate does) can watch it to do so only while calls contend. On
/// CPython 3.12 and later it moves on every such call.
#[no_mangle]
pub extern "C" fn pyhost_gil_contention() -> *const u32 {
    match loader::loaded() {
        Ok(engine) => (engine.table.gil_contention)(),
        Err(_) => std::ptr::null(),
    }
}

/// Frees an error. NULL is ignored.
///
/// # Safety
/// `error` must be NULL or an error returned by this library, freed once.
#[no_mangle]
pub unsafe extern "C" fn pyhost_error_free(error: *mut pyhost_error) {
    // SAFETY: the caller's contract; a panic cannot happen in this function's code.
    unsafe { Failure::free_raw(error) }
}

/// Frees an owned byte buffer. An empty buffer (NULL `ptr`) is ignored.
///
/// # Safety
/// `bytes` must have been returned by this library and not freed yet.
#[no_mangle]
pub unsafe extern "C" fn pyhost_bytes_free(bytes: pyhost_bytes) {
    if bytes.ptr.is_null() {
        return;
    }
    // Every owned buffer comes from the engine: it goes back to the
    // engine's allocator, not to whatever allocator the host links.
    if let Ok(engine) = loader::loaded() {
        // SAFETY: the caller's contract; freed once, by its maker.
        unsafe { (engine.table.bytes_free)(bytes) };
    }
}

/// Starts a runtime: loads the engine (first call only), initialises the
/// interpreter (first call only) and opens a session over it.
///
/// # Safety
/// `options` must point to a valid options struct whose strings are valid for
/// the call; `out_runtime` must be writable; `out_error` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_runtime_start(
    options: *const pyhost_runtime_options,
    out_runtime: *mut pyhost_runtime,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        not_null(options, "options")?;
        check_out(out_runtime, "out_runtime")?;
        // SAFETY: non-null, valid per the contract.
        let engine = loader::load(unsafe { &*options })?;
        // SAFETY: arguments checked above.
        Ok(unsafe { (engine.table.runtime_start)(options, out_runtime, engine_error) })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Shuts a runtime down: new calls fail with `PYHOST_STATUS_SHUTDOWN`, running
/// checks are cancelled, and the call waits up to `timeout_ms` for calls in
/// flight to finish (`PYHOST_STATUS_TIMEOUT` if some are still running; they
/// finish on their own). Shutting down twice is not an error.
///
/// # Safety
/// `out_error` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_runtime_shutdown(
    runtime: pyhost_runtime,
    timeout_ms: u64,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        let engine = loader::loaded()?;
        // SAFETY: plain values only.
        Ok(unsafe { (engine.table.runtime_shutdown)(runtime, timeout_ms, engine_error) })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Describes the embedded interpreter as a JSON object: `version`,
/// `version_info`, `executable`, `prefix`, `base_prefix`, `path`,
/// `libpython`, `engine`.
///
/// # Safety
/// `out_json` must be writable; `out_error` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_runtime_python_info(
    runtime: pyhost_runtime,
    out_json: *mut pyhost_bytes,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        check_out(out_json, "out_json")?;
        let engine = loader::loaded()?;
        // SAFETY: arguments checked above.
        Ok(unsafe { (engine.table.runtime_python_info)(runtime, out_json, engine_error) })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Loads a check class from `source`: a path to a `.py` file, or an importable
/// module name. `class_name` picks the class; empty means the single
/// `AgentCheck` subclass in the module that has no subclass of its own.
///
/// # Safety
/// Strings valid for the call; `out_class` writable; `out_error` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_check_class_load(
    runtime: pyhost_runtime,
    source: pyhost_str,
    class_name: pyhost_str,
    out_class: *mut pyhost_check_class,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        check_out(out_class, "out_class")?;
        let engine = loader::loaded()?;
        // SAFETY: arguments checked above.
        Ok(unsafe {
            (engine.table.check_class_load)(runtime, source, class_name, out_class, engine_error)
        })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Frees a check class handle. Checks made from it stay valid.
///
/// # Safety
/// `out_error` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_check_class_free(
    runtime: pyhost_runtime,
    class: pyhost_check_class,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        let engine = loader::loaded()?;
        // SAFETY: plain values only.
        Ok(unsafe { (engine.table.check_class_free)(runtime, class, engine_error) })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Creates a check instance: `class(name, init_config, [instance])`, the JSON
/// turned into Python objects natively, then `check_id` set on it.
///
/// # Safety
/// `config` must point to a valid config whose strings are valid for the
/// call; `out_check` writable; `out_error` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_check_new(
    runtime: pyhost_runtime,
    class: pyhost_check_class,
    config: *const pyhost_check_config,
    out_check: *mut pyhost_check,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        not_null(config, "config")?;
        check_out(out_check, "out_check")?;
        let engine = loader::loaded()?;
        // SAFETY: arguments checked above.
        Ok(unsafe { (engine.table.check_new)(runtime, class, config, out_check, engine_error) })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Runs a check once on the calling thread and returns everything it
/// submitted as one batch (see `PYHOST_BATCH_*`). A check that raised or was
/// cancelled still returns `PYHOST_STATUS_OK`: the exception, or the
/// cancellation, is a record in the batch after what was submitted before it.
///
/// `run_id` is the caller's number for this run, increasing from run to run
/// of the check (0: none). `pyhost_check_cancel` with the same number
/// cancels this run even if it is called before the run has started.
///
/// # Safety
/// `out_batch` writable (free it with `pyhost_bytes_free`); `out_error` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_check_run(
    runtime: pyhost_runtime,
    check: pyhost_check,
    run_id: u64,
    out_batch: *mut pyhost_bytes,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        check_out(out_batch, "out_batch")?;
        let engine = loader::loaded()?;
        // SAFETY: arguments checked above.
        Ok(unsafe { (engine.table.check_run)(runtime, check, run_id, out_batch, engine_error) })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Asks a check's run to stop, in steps that cannot leave shared state
/// half-changed: the check's `cancel()` is called (once per run), and if the
/// run has not returned 100 ms later, `CheckCancelled` (a `BaseException`)
/// is raised at the next line of the check's own code, never inside a
/// library it called. Calling again re-arms that (at most once a second).
/// A run blocked in C stops when control returns to its code. `run_id` names the run
/// (the number given to `pyhost_check_run`): if that run has not started
/// yet, it is cancelled as it starts; an earlier run's number does nothing.
/// 0 cancels whatever run is in progress. Does nothing when no run matches.
///
/// # Safety
/// `out_error` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_check_cancel(
    runtime: pyhost_runtime,
    check: pyhost_check,
    run_id: u64,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        let engine = loader::loaded()?;
        // SAFETY: plain values only.
        Ok(unsafe { (engine.table.check_cancel)(runtime, check, run_id, engine_error) })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Frees a check. A run in progress finishes and returns its batch.
///
/// # Safety
/// `out_error` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_check_free(
    runtime: pyhost_runtime,
    check: pyhost_check,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        let engine = loader::loaded()?;
        // SAFETY: plain values only.
        Ok(unsafe { (engine.table.check_free)(runtime, check, engine_error) })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Looks up `module.name` (importing the module) for repeated calls.
///
/// # Safety
/// Strings valid for the call; `out_function` writable; `out_error` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_function_load(
    runtime: pyhost_runtime,
    module: pyhost_str,
    name: pyhost_str,
    out_function: *mut pyhost_function,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        check_out(out_function, "out_function")?;
        let engine = loader::loaded()?;
        // SAFETY: arguments checked above.
        Ok(unsafe {
            (engine.table.function_load)(runtime, module, name, out_function, engine_error)
        })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Calls a function with positional arguments given as a JSON array (empty
/// means none) and returns its result as JSON. The result goes into
/// `scratch` when it fits (`*out_len` set, `out_result` left empty);
/// otherwise into `out_result`, owned by the caller.
///
/// # Safety
/// `args_json` valid for the call; `scratch` writable for `cap` bytes (or
/// NULL with cap 0); `out_len` and `out_result` writable; `out_error` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_function_call(
    runtime: pyhost_runtime,
    function: pyhost_function,
    args_json: pyhost_str,
    scratch: pyhost_buffer,
    out_len: *mut usize,
    out_result: *mut pyhost_bytes,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        check_out(out_len, "out_len")?;
        check_out(out_result, "out_result")?;
        if scratch.ptr.is_null() && scratch.cap != 0 {
            return Err(Failure::invalid_argument(
                "scratch is NULL with a non-zero capacity",
            ));
        }
        if overlap(args_json, scratch) {
            return Err(Failure::invalid_argument(
                "args_json and scratch overlap: the result would overwrite the arguments",
            ));
        }
        let engine = loader::loaded()?;
        // SAFETY: arguments checked above.
        Ok(unsafe {
            (engine.table.function_call)(
                runtime,
                function,
                args_json,
                scratch,
                out_len,
                out_result,
                engine_error,
            )
        })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Whether a borrowed input and a lent output share any byte.
#[inline]
fn overlap(input: pyhost_str, output: pyhost_buffer) -> bool {
    if input.len == 0 || output.cap == 0 {
        return false;
    }
    let (a, b) = (input.ptr as usize, output.ptr as usize);
    a < b.wrapping_add(output.cap) && b < a.wrapping_add(input.len)
}

/// Makes a meter: an account for a plugin that is not a check (a module, a
/// hook point), which typed calls name (`pyhost_function_invoke`'s
/// `meter`) so that their time and the Python memory they allocate are
/// counted under it. Meters are never freed; a process may make about four
/// million.
///
/// # Safety
/// `out_meter` must be valid for writes; `out_error` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn pyhost_meter_new(
    runtime: pyhost_runtime,
    out_meter: *mut u64,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        check_out(out_meter, "out_meter")?;
        let engine = loader::loaded()?;
        // SAFETY: arguments checked above.
        Ok(unsafe { (engine.table.meter_new)(runtime, out_meter, engine_error) })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Reads what the calls made under `meter` cost so far (see
/// `pyhost_meter_usage`). Meter 0 is the Python memory allocated outside
/// every check run and metered call (imports, configuration, the host's
/// own calls): its `allocated_bytes` and `retained_bytes`. Works after the
/// runtime closed, for the figures of its last calls.
///
/// # Safety
/// `out_usage` must be valid for writes; `out_error` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn pyhost_meter_read(
    runtime: pyhost_runtime,
    meter: u64,
    out_usage: *mut pyhost_meter_usage,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        check_out(out_usage, "out_usage")?;
        let engine = loader::loaded()?;
        // SAFETY: arguments checked above.
        Ok(unsafe { (engine.table.meter_read)(runtime, meter, out_usage, engine_error) })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Calls a function with typed arguments: `args` is one encoded list of the
/// positional arguments (see the `PYHOST_VALUE_*` tags; empty means none),
/// and the result comes back as one encoded value, in `scratch` when it
/// fits (`*out_len` set, `out_result` left empty), else in `out_result`,
/// owned by the caller. `token` is handed to the host functions Python
/// calls meanwhile (see `pyhost_host_call`); 0 for none of its own (they
/// get the token of the host call this one is nested in, if any). `meter` (from
/// `pyhost_meter_new`; 0 for none) is the account the call's cost goes to:
/// its time and the Python memory it allocates (see `pyhost_meter_read`).
///
/// # Safety
/// As `pyhost_function_call`.
#[no_mangle]
pub unsafe extern "C" fn pyhost_function_invoke(
    runtime: pyhost_runtime,
    function: pyhost_function,
    args: pyhost_str,
    token: u64,
    meter: u64,
    scratch: pyhost_buffer,
    out_len: *mut usize,
    out_result: *mut pyhost_bytes,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        check_out(out_len, "out_len")?;
        check_out(out_result, "out_result")?;
        if scratch.ptr.is_null() && scratch.cap != 0 {
            return Err(Failure::invalid_argument(
                "scratch is NULL with a non-zero capacity",
            ));
        }
        if overlap(args, scratch) {
            return Err(Failure::invalid_argument(
                "args and scratch overlap: the result would overwrite the arguments",
            ));
        }
        let engine = loader::loaded()?;
        // SAFETY: arguments checked above.
        Ok(unsafe {
            (engine.table.function_invoke)(
                runtime,
                function,
                args,
                token,
                meter,
                scratch,
                out_len,
                out_result,
                engine_error,
            )
        })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// `pyhost_function_invoke` with the arguments and a result of few words
/// passed in place (see `pyhost_direct_value`): scalars, strings and byte
/// strings cross without the value encoding, and any other value as one
/// encoded value (tag `PYHOST_VALUE_ENCODED`). `args` holds `count`
/// arguments (NULL when `count` is 0). A result that is None, a bool, an
/// int within int64 or a float comes back in `*out_value`; any other comes
/// back encoded, as from `pyhost_function_invoke`: `out_value->tag` is
/// `PYHOST_VALUE_ENCODED` and the value is in `scratch` (`out_value->len`
/// bytes) or, when it did not fit, in `out_result`, owned by the caller.
///
/// # Safety
/// `args` must be NULL or point to `count` values whose `ptr`/`len` spans
/// are readable for the call; `out_value` and `out_result` valid for writes;
/// `scratch` writable for `cap` bytes; `out_error` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn pyhost_function_invoke_direct(
    runtime: pyhost_runtime,
    function: pyhost_function,
    args: *const pyhost_direct_value,
    count: usize,
    token: u64,
    meter: u64,
    scratch: pyhost_buffer,
    out_value: *mut pyhost_direct_value,
    out_result: *mut pyhost_bytes,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        check_out(out_value, "out_value")?;
        check_out(out_result, "out_result")?;
        if scratch.ptr.is_null() && scratch.cap != 0 {
            return Err(Failure::invalid_argument(
                "scratch is NULL with a non-zero capacity",
            ));
        }
        if args.is_null() && count != 0 {
            return Err(Failure::invalid_argument(
                "args is NULL with a non-zero count",
            ));
        }
        let engine = loader::loaded()?;
        // SAFETY: arguments checked above; the engine checks each value.
        Ok(unsafe {
            (engine.table.function_invoke_direct)(
                runtime,
                function,
                args,
                count,
                token,
                meter,
                scratch,
                out_value,
                out_result,
                engine_error,
            )
        })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Frees a function handle.
///
/// # Safety
/// `out_error` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_function_free(
    runtime: pyhost_runtime,
    function: pyhost_function,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        let engine = loader::loaded()?;
        // SAFETY: plain values only.
        Ok(unsafe { (engine.table.function_free)(runtime, function, engine_error) })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Defines an in-memory Python module `name` whose functions are the
/// host's: `import name; name.f(...)` calls `callback(context, i, token,
/// args, result)`, where `i` is the index of `f` in `functions`, without the
/// GIL. `name` must be a Python identifier that names no importable module
/// and no module already defined (CONFLICT otherwise). The callback must
/// stay callable until the runtime is shut down; after that, calls raise
/// `RuntimeError` without reaching it, `name` is free again, and the module
/// leaves `sys.modules` with what else the runtime owns (a later import fails).
///
/// # Safety
/// Strings valid for the call (`functions` points to `count` of them);
/// `out_error` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_module_define(
    runtime: pyhost_runtime,
    name: pyhost_str,
    functions: *const pyhost_str,
    count: usize,
    callback: pyhost_host_call,
    context: usize,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = |engine_error: *mut *mut pyhost_error| {
        if functions.is_null() && count != 0 {
            return Err(Failure::invalid_argument(
                "functions is NULL with a non-zero count",
            ));
        }
        if callback.is_none() {
            return Err(Failure::invalid_argument("callback is NULL"));
        }
        let engine = loader::loaded()?;
        // SAFETY: arguments checked above.
        Ok(unsafe {
            (engine.table.module_define)(
                runtime,
                name,
                functions,
                count,
                callback,
                context,
                engine_error,
            )
        })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// Publishes host state: `value` (one encoded value) becomes what
/// `pyhost.host.get(name)` returns in Python, replacing what was published
/// under `name` before; `*out_version` (if not NULL) gets the value's
/// version, which counts the publications of `name` from 1. The value is
/// checked and copied; the call never waits for the GIL.
///
/// # Safety
/// Strings valid for the call; `out_version` NULL or writable; `out_error`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pyhost_state_publish(
    runtime: pyhost_runtime,
    name: pyhost_str,
    value: pyhost_str,
    out_version: *mut u64,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body =
        |engine_error: *mut *mut pyhost_error| {
            let engine = loader::loaded()?;
            // SAFETY: arguments forwarded as given (the engine accepts a NULL
            // out_version).
            Ok(unsafe {
                (engine.table.state_publish)(runtime, name, value, out_version, engine_error)
            })
        };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { forward(out_error, body) }
}

/// A static, human-readable name for a status (e.g. "PYHOST_STATUS_SHUTDOWN");
/// never freed.
#[no_mangle]
pub extern "C" fn pyhost_status_name(status: u32) -> pyhost_str {
    pyhost_str::borrow(pyhost_status::name_of(status))
}
