use std::ptr;

use crate::Failure;

/// Result of every fallible C API call. `PYHOST_STATUS_OK` is 0; errors sit in
/// their own range (1000..) so they are never mistaken for counts or errno.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum pyhost_status {
    PYHOST_STATUS_OK = 0,
    /// A NULL pointer, bad UTF-8, malformed JSON or an out-of-range value.
    PYHOST_STATUS_INVALID_ARGUMENT = 1001,
    /// A zero, stale, freed or wrong-kind handle.
    PYHOST_STATUS_INVALID_HANDLE = 1002,
    /// The engine or libpython could not be loaded.
    PYHOST_STATUS_PYTHON_UNAVAILABLE = 1003,
    /// Python raised; the error carries type, message and traceback.
    PYHOST_STATUS_PYTHON_EXCEPTION = 1004,
    /// The runtime was shut down.
    PYHOST_STATUS_SHUTDOWN = 1005,
    /// The object is in use (a check already running).
    PYHOST_STATUS_BUSY = 1006,
    /// The engine, the core and the header disagree on `PYHOST_ABI_VERSION`.
    PYHOST_STATUS_ABI_MISMATCH = 1007,
    /// The request conflicts with existing state (e.g. a duplicate check id,
    /// or a second start naming a different Python).
    PYHOST_STATUS_CONFLICT = 1008,
    /// A Rust panic was caught at the boundary.
    PYHOST_STATUS_PANIC = 1009,
    /// Shutdown timed out with calls still in flight.
    PYHOST_STATUS_TIMEOUT = 1010,
}

impl pyhost_status {
    /// The C name of a status value, or "PYHOST_STATUS_UNKNOWN".
    pub fn name_of(status: u32) -> &'static str {
        use pyhost_status::*;
        match status {
            s if s == PYHOST_STATUS_OK as u32 => "PYHOST_STATUS_OK",
            s if s == PYHOST_STATUS_INVALID_ARGUMENT as u32 => "PYHOST_STATUS_INVALID_ARGUMENT",
            s if s == PYHOST_STATUS_INVALID_HANDLE as u32 => "PYHOST_STATUS_INVALID_HANDLE",
            s if s == PYHOST_STATUS_PYTHON_UNAVAILABLE as u32 => "PYHOST_STATUS_PYTHON_UNAVAILABLE",
            s if s == PYHOST_STATUS_PYTHON_EXCEPTION as u32 => "PYHOST_STATUS_PYTHON_EXCEPTION",
            s if s == PYHOST_STATUS_SHUTDOWN as u32 => "PYHOST_STATUS_SHUTDOWN",
            s if s == PYHOST_STATUS_BUSY as u32 => "PYHOST_STATUS_BUSY",
            s if s == PYHOST_STATUS_ABI_MISMATCH as u32 => "PYHOST_STATUS_ABI_MISMATCH",
            s if s == PYHOST_STATUS_CONFLICT as u32 => "PYHOST_STATUS_CONFLICT",
            s if s == PYHOST_STATUS_PANIC as u32 => "PYHOST_STATUS_PANIC",
            s if s == PYHOST_STATUS_TIMEOUT as u32 => "PYHOST_STATUS_TIMEOUT",
            _ => "PYHOST_STATUS_UNKNOWN",
        }
    }
}

/// One argument or result of a direct typed call
/// (`pyhost_function_invoke_direct`), passed in place rather than in the
/// value encoding: `tag` is a `PYHOST_VALUE_*` tag. NONE, FALSE, TRUE: no
/// payload. INT, UINT, FLOAT: `bits` is the i64, the u64 or the f64's bits
/// (finite only). STR, BYTES: `ptr` and `len` borrow the bytes (UTF-8 for
/// STR), for the call only. `PYHOST_VALUE_ENCODED`: `ptr` and `len` are one
/// value in the value encoding (a list, a dict, a big integer …).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pyhost_direct_value {
    pub tag: u8,
    pub bits: u64,
    pub ptr: *const u8,
    pub len: usize,
}

impl pyhost_direct_value {
    pub const NONE: pyhost_direct_value = pyhost_direct_value {
        tag: crate::value::PYHOST_VALUE_NONE,
        bits: 0,
        ptr: ptr::null(),
        len: 0,
    };
}

/// A borrowed UTF-8 (or byte) view, valid for the duration of the call only.
/// `ptr` may be NULL when `len` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pyhost_str {
    pub ptr: *const u8,
    pub len: usize,
}

impl pyhost_str {
    pub const EMPTY: pyhost_str = pyhost_str {
        ptr: ptr::null(),
        len: 0,
    };

    pub fn borrow(s: &str) -> pyhost_str {
        pyhost_str {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// # Safety
    /// `ptr` must point to `len` readable bytes for the lifetime `'a`.
    #[inline]
    pub unsafe fn as_bytes<'a>(&self) -> Result<&'a [u8], Failure> {
        if self.len == 0 {
            return Ok(&[]);
        }
        if self.ptr.is_null() {
            return Err(null_with_length());
        }
        // SAFETY: non-null, and the caller guarantees `len` readable bytes.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr, self.len) })
    }

    /// # Safety
    /// As [`pyhost_str::as_bytes`].
    pub unsafe fn to_str<'a>(&self, what: &str) -> Result<&'a str, Failure> {
        // SAFETY: forwarded to the caller.
        let bytes = unsafe { self.as_bytes() }?;
        std::str::from_utf8(bytes)
            .map_err(|e| Failure::invalid_argument(format!("{what} is not valid UTF-8: {e}")))
    }
}

#[cold]
#[inline(never)]
fn null_with_length() -> Failure {
    Failure::invalid_argument("NULL string with a non-zero length")
}

/// A caller-owned writable buffer, valid for the duration of the call only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pyhost_buffer {
    pub ptr: *mut u8,
    pub cap: usize,
}

/// An owned byte buffer made by the library. Free it with `pyhost_bytes_free`.
/// An empty value has `ptr == NULL`.
#[repr(C)]
#[derive(Debug)]
pub struct pyhost_bytes {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
}

impl pyhost_bytes {
    pub const EMPTY: pyhost_bytes = pyhost_bytes {
        ptr: ptr::null_mut(),
        len: 0,
        cap: 0,
    };

    pub fn from_vec(v: Vec<u8>) -> pyhost_bytes {
        let mut v = std::mem::ManuallyDrop::new(v);
        pyhost_bytes {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    }

    /// # Safety
    /// `self` must come from [`pyhost_bytes::from_vec`] and not be freed yet.
    pub unsafe fn into_vec(self) -> Option<Vec<u8>> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: reconstitutes the Vec leaked by `from_vec`.
        Some(unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) })
    }
}

/// An owned error: a status, the Python exception type (empty for errors
/// that are not Python exceptions), a message and, for Python errors, the
/// formatted traceback. The strings are owned by the error. Free it with
/// `pyhost_error_free`.
#[repr(C)]
#[derive(Debug)]
pub struct pyhost_error {
    pub status: pyhost_status,
    pub type_name: pyhost_str,
    pub message: pyhost_str,
    pub traceback: pyhost_str,
}

/// A started runtime: one session over the process's single interpreter.
///
/// An opaque handle: a number, never a pointer. Zero is never valid; a freed
/// handle stays invalid (until its slot has been reused 2^24 times); every
/// call checks it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct pyhost_runtime {
    pub id: u64,
}

/// A loaded check class.
///
/// An opaque handle: a number, never a pointer. Zero is never valid; a freed
/// handle stays invalid (until its slot has been reused 2^24 times); every
/// call checks it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct pyhost_check_class {
    pub id: u64,
}

/// A check instance created from a class and its configuration.
///
/// An opaque handle: a number, never a pointer. Zero is never valid; a freed
/// handle stays invalid (until its slot has been reused 2^24 times); every
/// call checks it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct pyhost_check {
    pub id: u64,
}

/// A module-level Python function, looked up once and called many times.
///
/// An opaque handle: a number, never a pointer. Zero is never valid; a freed
/// handle stays invalid (until its slot has been reused 2^24 times); every
/// call checks it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct pyhost_function {
    pub id: u64,
}

/// What the calls made under a meter cost (`pyhost_meter_read`): a meter
/// is a plugin's account (a module, a hook point) that typed calls name.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pyhost_meter_usage {
    /// Calls that ended, and calls going on now.
    pub calls: u64,
    pub in_flight: u64,
    /// Totals of the ended calls: from asking for the GIL to the end, and
    /// the wait to take it.
    pub wall_ns: u64,
    pub gil_wait_ns: u64,
    /// CPU time of the ended calls, plus so far of those going on that read
    /// the thread's CPU clock (a long call: a module's serve loop).
    pub cpu_ns: u64,
    /// Python memory the calls allocated, and the part still alive (0
    /// unless `memory` is 1: memory is counted only if the process's first
    /// runtime started with accounting on).
    pub allocated_bytes: u64,
    pub retained_bytes: u64,
    pub memory: u8,
}

/// Receives Python log records. `level` is the Python logging level (10 DEBUG
/// … 50 CRITICAL). The strings are valid for the duration of the call only.
/// It is called without the GIL held, from whatever thread logged.
pub type pyhost_log_callback = Option<
    unsafe extern "C" fn(
        context: usize,
        level: i32,
        logger: pyhost_str,
        check_id: pyhost_str,
        message: pyhost_str,
    ),
>;

/// Receives one metric per call. Only for comparison benchmarks: this is how
/// hosts that cross into the host language per metric deliver submissions.
/// When set, metrics go here instead of into the run's batch.
pub type pyhost_metric_callback = Option<
    unsafe extern "C" fn(
        context: usize,
        check_id: pyhost_str,
        metric_type: i32,
        name: pyhost_str,
        value: f64,
        tags: *const pyhost_str,
        tags_len: usize,
        hostname: pyhost_str,
    ),
>;

/// What a host function returned (see `pyhost_host_call`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum pyhost_host_status {
    /// The result is one encoded value (see `PYHOST_VALUE_*`).
    PYHOST_HOST_OK = 0,
    /// The function returned an error: Python raises `pyhost.GoError` with
    /// the result (UTF-8 text) as its message.
    PYHOST_HOST_ERROR = 1,
    /// The function panicked: Python raises `pyhost.GoPanic`, the result is
    /// the panic value as text.
    PYHOST_HOST_PANIC = 2,
    /// Wrong argument count or type: Python raises `TypeError`.
    PYHOST_HOST_TYPE_ERROR = 3,
    /// An integer out of the parameter's range: Python raises `OverflowError`.
    PYHOST_HOST_OVERFLOW_ERROR = 4,
    /// A value that cannot cross (invalid UTF-8 from the host, NaN): Python
    /// raises `ValueError`.
    PYHOST_HOST_VALUE_ERROR = 5,
    /// The host's runtime is closed: Python raises `RuntimeError`.
    PYHOST_HOST_SHUT_DOWN = 6,
}

/// Where a host function's result goes. On entry `ptr`/`cap` lend a
/// buffer the host may fill (then it sets `len`); a result that does not fit
/// goes in memory from `malloc`, with `ptr`/`len` pointing at it and
/// `malloced` set, and the engine frees it with `free`.
#[repr(C)]
#[derive(Debug)]
pub struct pyhost_host_result {
    pub ptr: *mut u8,
    pub cap: usize,
    pub len: usize,
    pub malloced: u32,
}

/// A host function Python called: function `function` (its index in the
/// names given to `pyhost_module_define`) of the module defined with
/// `context`. `args` is one encoded list of the positional arguments.
/// `token` is the token of the host call the Python thread is in (the
/// `run_id` of a check run, the token of `pyhost_function_invoke`), or 0 for
/// a thread in no host call. Called without the GIL, on the Python thread
/// that called; it may call back into the C API. Returns a
/// `pyhost_host_status` and writes the result (or the error text) to
/// `result`.
pub type pyhost_host_call = Option<
    unsafe extern "C" fn(
        context: usize,
        function: u32,
        token: u64,
        args: pyhost_str,
        result: *mut pyhost_host_result,
    ) -> u32,
>;

/// Options for `pyhost_runtime_start`. Zero-initialise it, then set fields:
/// every empty string means "the default".
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pyhost_runtime_options {
    /// Path of the engine shared object; default: `PYHOST_ENGINE` in the
    /// environment, else the engine built next to this library.
    pub engine_path: pyhost_str,
    /// A libpython to load (globally) before the engine, to pick a Python at
    /// run time; default: the one the engine was linked against.
    pub libpython_path: pyhost_str,
    /// The Python executable the interpreter behaves as (`sys.executable`);
    /// a virtual environment's `bin/python` makes its site-packages visible.
    /// Default: the Python the engine was built with.
    pub python_executable: pyhost_str,
    /// Extra `sys.path` entries, prepended in order.
    pub python_path: *const pyhost_str,
    pub python_path_len: usize,
    /// Python logging level for records forwarded to `log_callback`
    /// (0 means 20, INFO).
    pub log_level: i32,
    pub log_callback: pyhost_log_callback,
    pub log_context: usize,
    pub metric_callback: pyhost_metric_callback,
    pub metric_context: usize,
    /// Non-zero turns per-run accounting off: runs then report no CPU time,
    /// GIL wait or Python memory, and cost nothing more. Python memory is
    /// counted only if the first runtime of the process started with
    /// accounting on (the allocator is chosen when Python starts).
    pub disable_accounting: u8,
}

/// The engine's function table. Internal to pyhost: the core forwards each C
/// API call to the same-named entry after checking its pointer arguments.
#[repr(C)]
pub struct pyhost_engine_table {
    pub abi_version: u32,
    pub runtime_start: unsafe extern "C" fn(
        *const pyhost_runtime_options,
        *mut pyhost_runtime,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub runtime_shutdown:
        unsafe extern "C" fn(pyhost_runtime, u64, *mut *mut pyhost_error) -> pyhost_status,
    pub runtime_python_info: unsafe extern "C" fn(
        pyhost_runtime,
        *mut pyhost_bytes,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub check_class_load: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_str,
        pyhost_str,
        *mut pyhost_check_class,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub check_class_free: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_check_class,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub check_new: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_check_class,
        *const pyhost_check_config,
        *mut pyhost_check,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub check_run: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_check,
        u64,
        *mut pyhost_bytes,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub check_cancel: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_check,
        u64,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub check_free:
        unsafe extern "C" fn(pyhost_runtime, pyhost_check, *mut *mut pyhost_error) -> pyhost_status,
    pub function_load: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_str,
        pyhost_str,
        *mut pyhost_function,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub function_call: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_function,
        pyhost_str,
        pyhost_buffer,
        *mut usize,
        *mut pyhost_bytes,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub function_free: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_function,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub module_define: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_str,
        *const pyhost_str,
        usize,
        pyhost_host_call,
        usize,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub meter_new:
        unsafe extern "C" fn(pyhost_runtime, *mut u64, *mut *mut pyhost_error) -> pyhost_status,
    pub meter_read: unsafe extern "C" fn(
        pyhost_runtime,
        u64,
        *mut pyhost_meter_usage,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub state_publish: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_str,
        pyhost_str,
        *mut u64,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub function_invoke: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_function,
        pyhost_str,
        u64,
        u64,
        pyhost_buffer,
        *mut usize,
        *mut pyhost_bytes,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    pub function_invoke_direct: unsafe extern "C" fn(
        pyhost_runtime,
        pyhost_function,
        *const pyhost_direct_value,
        usize,
        u64,
        u64,
        pyhost_buffer,
        *mut pyhost_direct_value,
        *mut pyhost_bytes,
        *mut *mut pyhost_error,
    ) -> pyhost_status,
    /// The engine's count of calls that found the GIL held by another
    /// thread (`pyhost_gil_contention`): static, valid for good.
    pub gil_contention: extern "C" fn() -> *const u32,
    /// Frees a buffer the engine made: memory goes back to the allocator
    /// that gave it, whatever allocator the host links.
    pub bytes_free: unsafe extern "C" fn(pyhost_bytes),
    /// Frees an error the engine made.
    pub error_free: unsafe extern "C" fn(*mut pyhost_error),
}

/// What `pyhost_check_new` needs to build a check instance.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct pyhost_check_config {
    /// The check's name (e.g. "disk").
    pub name: pyhost_str,
    /// The check id, unique among live checks (e.g. "disk:5d2f0c1a9e3b4f70").
    pub check_id: pyhost_str,
    /// `init_config` as a JSON object (empty means `{}`).
    pub init_config_json: pyhost_str,
    /// The instance as a JSON object (empty means `{}`).
    pub instance_json: pyhost_str,
}
