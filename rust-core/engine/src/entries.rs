//! The engine's side of the C API, one function per table entry. Each runs
//! inside the panic boundary, decodes its arguments, and makes one call into
//! the layer that does the work, attached to Python on the calling thread;
//! every entry returns with the GIL released.

use std::time::Duration;

use pyhost_abi::value::{Encoder, Sink, PYHOST_VALUE_ENCODED};
use pyhost_abi::{
    ffi_boundary, pyhost_buffer, pyhost_bytes, pyhost_check, pyhost_check_class,
    pyhost_check_config, pyhost_direct_value, pyhost_error, pyhost_function, pyhost_host_call,
    pyhost_meter_usage, pyhost_runtime, pyhost_runtime_options, pyhost_status, pyhost_str, Failure,
};
use pyo3::Python;

use crate::bridge::{self, invoke, modules, state};
use crate::check::{self, cancel, classes, instances, run};
use crate::runtime::convert::{self, ScratchOut};
use crate::runtime::errors::py_fail;
use crate::runtime::interpreter::{self, with_python, with_python_direct, StartHooks};
use crate::runtime::sessions::{self, Session};
use crate::runtime::{accounting, calls, functions, host, logging};
use crate::{datadog, sdk};

/// What the layers above the runtime add to the interpreter's start.
static START_HOOKS: StartHooks = StartHooks {
    register_modules: &[
        bridge::register_modules,
        sdk::register_modules,
        datadog::register_modules,
    ],
    install: &[
        bridge::install,
        check::install,
        sdk::install,
        datadog::install,
    ],
};

/// The shape of most entries: find the session, then run `f` attached to
/// Python as a call inside it (shutdown waits for it; a closed session
/// answers SHUTDOWN before any handle is looked up).
fn attached<T>(
    runtime: pyhost_runtime,
    f: impl for<'py> FnOnce(Python<'py>, &'static Session) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let session = sessions::find(runtime)?;
    with_python(|py| {
        let _call = session.enter(py)?;
        f(py, session)
    })
}

/// # Safety
/// `s` must be valid for the call (C API contract).
unsafe fn text<'a>(s: pyhost_str, what: &str) -> Result<&'a str, Failure> {
    // SAFETY: forwarded to the caller.
    unsafe { s.to_str(what) }
}

pub unsafe extern "C" fn runtime_start(
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
        let accounting = options.disable_accounting == 0;
        interpreter::ensure_started(executable, accounting, &START_HOOKS)?;
        if accounting {
            accounting::start_clock();
        }
        with_python(|py| {
            host::call(py, "extend_path", (paths,)).map_err(py_fail(py))?;
            logging::install(py, level).map_err(py_fail(py))
        })?;
        let runtime = sessions::open(
            options.log_callback,
            options.log_context,
            options.metric_callback,
            options.metric_context,
            accounting,
        )?;
        // SAFETY: the core checked `out_runtime` for NULL.
        unsafe { out_runtime.write(runtime) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub unsafe extern "C" fn runtime_shutdown(
    runtime: pyhost_runtime,
    timeout_ms: u64,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    // Running checks are cancelled while shutdown waits, again and again,
    // for a run that was entering just as the runtime closed.
    let body = || {
        sessions::shutdown(
            runtime,
            Duration::from_millis(timeout_ms),
            cancel::cancel_all,
        )
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub unsafe extern "C" fn runtime_python_info(
    runtime: pyhost_runtime,
    out_json: *mut pyhost_bytes,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        let json = attached(runtime, |py, _| {
            let info = host::call(py, "python_info", ()).map_err(py_fail(py))?;
            let mut out = Vec::new();
            convert::py_to_json(&info, &mut out).map_err(py_fail(py))?;
            Ok(out)
        })?;
        // SAFETY: the core checked `out_json` for NULL.
        unsafe { out_json.write(pyhost_bytes::from_vec(json)) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub unsafe extern "C" fn check_class_load(
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
        let id = attached(runtime, |py, session| {
            classes::load(py, session, source, class_name)
        })?;
        // SAFETY: the core checked `out_class` for NULL.
        unsafe { out_class.write(pyhost_check_class { id }) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub unsafe extern "C" fn check_class_free(
    runtime: pyhost_runtime,
    class: pyhost_check_class,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || attached(runtime, |py, session| classes::free(py, session, class.id));
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub unsafe extern "C" fn check_new(
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
            instances::NewCheck {
                name: text(config.name, "name")?,
                check_id: text(config.check_id, "check_id")?,
                init_config_json: text(config.init_config_json, "init_config")?,
                instance_json: text(config.instance_json, "instance")?,
            }
        };
        let id = attached(runtime, |py, session| {
            instances::new(py, session, class.id, new)
        })?;
        // SAFETY: the core checked `out_check` for NULL.
        unsafe { out_check.write(pyhost_check { id }) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub unsafe extern "C" fn check_run(
    runtime: pyhost_runtime,
    check: pyhost_check,
    run_id: u64,
    out_batch: *mut pyhost_bytes,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        let session = sessions::find(runtime)?;
        // When the run asked for the GIL: its wait is timed from here.
        let asked = session
            .accounting
            .then(|| (accounting::ticks(), accounting::gil_may_be_held()));
        let batch = with_python(|py| {
            let _call = session.enter(py)?;
            run::run(py, session, check.id, run_id, asked)
        })?;
        // SAFETY: the core checked `out_batch` for NULL.
        unsafe { out_batch.write(pyhost_bytes::from_vec(batch)) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub unsafe extern "C" fn check_cancel(
    runtime: pyhost_runtime,
    check: pyhost_check,
    run_id: u64,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        attached(runtime, |py, session| {
            cancel::cancel(py, session, check.id, run_id)
        })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub unsafe extern "C" fn check_free(
    runtime: pyhost_runtime,
    check: pyhost_check,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        attached(runtime, |py, session| {
            instances::free(py, session, check.id)
        })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub unsafe extern "C" fn function_load(
    runtime: pyhost_runtime,
    module: pyhost_str,
    name: pyhost_str,
    out_function: *mut pyhost_function,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        // SAFETY: strings valid for the call.
        let (module, name) = unsafe { (text(module, "module")?, text(name, "name")?) };
        let id = attached(runtime, |py, session| {
            functions::load(py, session, module, name)
        })?;
        // SAFETY: the core checked `out_function` for NULL.
        unsafe { out_function.write(pyhost_function { id }) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

/// The hot path: no pyo3 attach bookkeeping (see `with_python_direct`).
pub unsafe extern "C" fn function_call(
    runtime: pyhost_runtime,
    function: pyhost_function,
    args_json: pyhost_str,
    scratch: pyhost_buffer,
    out_len: *mut usize,
    out_result: *mut pyhost_bytes,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        let session = sessions::find(runtime)?;
        // SAFETY: valid for the call; the core checked that it does not
        // overlap `scratch`.
        let args = unsafe { args_json.as_bytes() }?;
        let scratch_bytes: &mut [u8] = if scratch.cap == 0 {
            &mut []
        } else {
            // SAFETY: the caller lends `cap` writable bytes for this call (the
            // core checked the pointer is not NULL when cap > 0).
            unsafe { std::slice::from_raw_parts_mut(scratch.ptr, scratch.cap) }
        };
        let mut out = ScratchOut::new(scratch_bytes);
        let called = with_python_direct(|py| {
            let _call = session.enter(py)?;
            functions::call(py, session, function.id, args, &mut out)
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

pub unsafe extern "C" fn function_free(
    runtime: pyhost_runtime,
    function: pyhost_function,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        attached(runtime, |py, session| {
            functions::free(py, session, function.id)
        })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

/// Where a typed call's result goes: the caller's scratch buffer while it
/// fits, then a buffer of the engine's (what was written so far moved over).
struct ScratchSink<'a> {
    scratch: &'a mut [u8],
    len: usize,
    spilled: Option<Vec<u8>>,
}

impl ScratchSink<'_> {
    /// A sink writing into the caller's lent `scratch` first.
    ///
    /// # Safety
    /// `scratch` is writable for `cap` bytes for the call (NULL only with
    /// `cap` 0).
    unsafe fn lent<'a>(scratch: pyhost_buffer) -> ScratchSink<'a> {
        let scratch: &mut [u8] = if scratch.cap == 0 {
            &mut []
        } else {
            // SAFETY: as the caller promised.
            unsafe { std::slice::from_raw_parts_mut(scratch.ptr, scratch.cap) }
        };
        ScratchSink {
            scratch,
            len: 0,
            spilled: None,
        }
    }

    /// The length written, and what spilled beyond the scratch (empty when
    /// all of it fit).
    fn finish(self) -> (usize, pyhost_bytes) {
        match self.spilled {
            None => (self.len, pyhost_bytes::EMPTY),
            Some(v) => (v.len(), pyhost_bytes::from_vec(v)),
        }
    }
}

impl Sink for ScratchSink<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if let Some(v) = &mut self.spilled {
            v.extend_from_slice(bytes);
            return;
        }
        let end = self.len + bytes.len();
        if end <= self.scratch.len() {
            self.scratch[self.len..end].copy_from_slice(bytes);
            self.len = end;
        } else {
            let mut v = Vec::with_capacity((end * 2).max(256));
            v.extend_from_slice(&self.scratch[..self.len]);
            v.extend_from_slice(bytes);
            self.spilled = Some(v);
        }
    }
    fn written(&self) -> usize {
        self.spilled.as_ref().map_or(self.len, Vec::len)
    }
    fn truncate_to(&mut self, len: usize) {
        match &mut self.spilled {
            Some(v) => v.truncate(len),
            None => self.len = self.len.min(len),
        }
    }
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        match &mut self.spilled {
            Some(v) => v[at..at + bytes.len()].copy_from_slice(bytes),
            None => self.scratch[at..at + bytes.len()].copy_from_slice(bytes),
        }
    }
}

/// The hot path of typed calls, like `function_call`.
pub unsafe extern "C" fn meter_new(
    runtime: pyhost_runtime,
    out_meter: *mut u64,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        sessions::find(runtime)?.check_open()?;
        let owner = accounting::new_owner();
        if owner == accounting::OUTSIDE {
            return Err(Failure::new(
                pyhost_status::PYHOST_STATUS_CONFLICT,
                "this process has made all the meters it can",
            ));
        }
        // SAFETY: the core checked `out_meter` for NULL.
        unsafe { out_meter.write(u64::from(owner)) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub unsafe extern "C" fn meter_read(
    runtime: pyhost_runtime,
    meter: u64,
    out_usage: *mut pyhost_meter_usage,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        sessions::find(runtime)?;
        // Meter 0 reads the account of everything outside runs and meters.
        if meter != 0 && !accounting::is_owner(meter) {
            return Err(Failure::new(
                pyhost_status::PYHOST_STATUS_INVALID_HANDLE,
                format!("no meter {meter}"),
            ));
        }
        let u = accounting::meter_usage(meter as u32);
        let usage = pyhost_meter_usage {
            calls: u.calls,
            in_flight: u.in_flight,
            wall_ns: u.wall_ns,
            gil_wait_ns: u.gil_wait_ns,
            cpu_ns: u.cpu_ns,
            allocated_bytes: u.memory.allocated,
            retained_bytes: u.memory.retained,
            memory: u8::from(accounting::counting_memory()),
        };
        // SAFETY: the core checked `out_usage` for NULL.
        unsafe { out_usage.write(usage) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub unsafe extern "C" fn function_invoke(
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
    let body = || {
        let session = sessions::find(runtime)?;
        // SAFETY: valid for the call; the core checked that it does not
        // overlap `scratch`.
        let args = unsafe { args.as_bytes() }?;
        // SAFETY: the core checked `scratch` (C API contract).
        let mut out = Encoder {
            buf: unsafe { ScratchSink::lent(scratch) },
        };
        typed_call(session, token, meter, |py| {
            invoke::invoke(py, session, function.id, args, &mut out)
        })?;
        let (len, owned) = out.buf.finish();
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

pub unsafe extern "C" fn function_invoke_direct(
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
    let body = || {
        let session = sessions::find(runtime)?;
        let args: &[pyhost_direct_value] = if count == 0 {
            &[]
        } else {
            // SAFETY: the core checked `args` for NULL; `count` values.
            unsafe { std::slice::from_raw_parts(args, count) }
        };
        // SAFETY: the core checked `scratch` (C API contract).
        let mut out = Encoder {
            buf: unsafe { ScratchSink::lent(scratch) },
        };
        let direct = typed_call(session, token, meter, |py| {
            invoke::invoke_direct(py, session, function.id, args, &mut out)
        })?;
        let value = match direct {
            Some(v) => v,
            None => {
                let (len, owned) = out.buf.finish();
                // SAFETY: the core checked out_result for NULL.
                unsafe { out_result.write(owned) };
                pyhost_direct_value {
                    tag: PYHOST_VALUE_ENCODED,
                    bits: 0,
                    ptr: std::ptr::null(),
                    len,
                }
            }
        };
        // SAFETY: the core checked out_value for NULL.
        unsafe { out_value.write(value) };
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

/// Runs `call` holding the GIL as a typed call: `token` is the host call
/// token Go functions called meanwhile receive, and `meter` (0: none) the
/// account its time and Python memory go to.
#[inline(always)]
fn typed_call<R>(
    session: &'static Session,
    token: u64,
    meter: u64,
    call: impl for<'py> FnOnce(Python<'py>) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let metered = meter != 0 && session.accounting;
    if meter != 0 && !accounting::is_owner(meter) {
        return Err(Failure::new(
            pyhost_status::PYHOST_STATUS_INVALID_HANDLE,
            format!("no meter {meter}"),
        ));
    }
    // When the call asked for the GIL: its wait is timed from here.
    let asked = metered.then(|| (accounting::ticks(), accounting::gil_may_be_held()));
    let called = with_python_direct(|py| {
        let _call = session.enter(py)?;
        let _within = calls::enter(token);
        let _metered = asked
            .map(|(asked, waited)| accounting::MeteredCall::start(meter as u32, asked, waited));
        call(py)
    });
    if called.is_err() {
        // An error may have left Python objects for pyo3 to release at
        // its next attach; attach now so they do not pile up.
        with_python(|_| ());
    }
    called
}

pub unsafe extern "C" fn module_define(
    runtime: pyhost_runtime,
    name: pyhost_str,
    functions: *const pyhost_str,
    count: usize,
    callback: pyhost_host_call,
    context: usize,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        // SAFETY: strings valid for the call.
        let name = unsafe { text(name, "name") }?;
        let names: &[pyhost_str] = if count == 0 {
            &[]
        } else {
            // SAFETY: the core checked `functions` for NULL; `count` valid strings.
            unsafe { std::slice::from_raw_parts(functions, count) }
        };
        let names = names
            .iter()
            // SAFETY: as above.
            .map(|n| unsafe { text(*n, "a function name") })
            .collect::<Result<Vec<&str>, Failure>>()?;
        attached(runtime, |py, session| {
            modules::define(py, session, name, &names, callback, context)
        })
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

/// Never takes the GIL.
pub unsafe extern "C" fn state_publish(
    runtime: pyhost_runtime,
    name: pyhost_str,
    value: pyhost_str,
    out_version: *mut u64,
    out_error: *mut *mut pyhost_error,
) -> pyhost_status {
    let body = || {
        let session = sessions::find(runtime)?;
        // SAFETY: strings valid for the call.
        let (name, value) = unsafe { (text(name, "name")?, value.as_bytes()?) };
        let version = state::publish(session, name, value)?;
        if !out_version.is_null() {
            // SAFETY: non-NULL out-pointers are writable (C API contract).
            unsafe { out_version.write(version) };
        }
        Ok(())
    };
    // SAFETY: out_error is NULL or writable (C API contract).
    unsafe { ffi_boundary(out_error, body) }
}

pub extern "C" fn gil_contention() -> *const u32 {
    interpreter::gil_contention().as_ptr()
}

pub unsafe extern "C" fn bytes_free(bytes: pyhost_bytes) {
    // SAFETY: the core passes back a buffer this engine made, once.
    drop(unsafe { bytes.into_vec() });
}

pub unsafe extern "C" fn error_free(error: *mut pyhost_error) {
    // SAFETY: the core passes back an error this engine made, once.
    unsafe { Failure::free_raw(error) }
}
