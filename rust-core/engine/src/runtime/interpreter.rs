//! Starting CPython, and the rule for which thread touches it when.
//!
//! - The interpreter is initialised on a thread the engine owns
//!   ("pyhost-python-main"), which then parks for good. CPython's main thread
//!   therefore never runs plugin code, so `signal.signal()` in a plugin raises
//!   instead of taking a signal away from the host.
//! - Every other thread keeps one Python thread state for its whole life: the
//!   first call on a thread creates it, later calls only take and drop the
//!   GIL (creating one per call costs ~50× the call), and the thread's exit
//!   deletes it. A thread that already has a state it did not get from the
//!   engine (a Python `threading.Thread` calling back into the host) uses
//!   that one for the call and never keeps it: Python deletes it when the
//!   thread's function returns.
//! - The interpreter is never finalised: finalising with host threads inside
//!   Python either hangs or ends those threads.

use std::cell::Cell;
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex};

use pyhost_abi::{pyhost_status, Failure};
use pyo3::ffi;
use pyo3::prelude::*;

use super::{accounting, host};

/// What the interpreter was started as; fixed for the life of the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    pub executable: String,
    /// Python memory is counted per plugin (see `accounting`).
    pub accounting: bool,
}

static STARTED: Mutex<Option<Result<Started, Failure>>> = Mutex::new(None);

/// The Python the engine was built against, used when no executable is named.
pub fn build_python() -> &'static str {
    env!("PYHOST_BUILD_PYTHON")
}

/// The Python the engine runs as when the host names none: the one `make`
/// recorded at build time (`PYHOST_DEFAULT_PYTHON`, the project's virtual
/// environment) while it exists, else the Python the engine was built with.
pub fn default_python() -> String {
    let recorded = env!("PYHOST_DEFAULT_PYTHON");
    if !recorded.is_empty() && std::path::Path::new(recorded).is_file() {
        recorded.to_owned()
    } else {
        build_python().to_owned()
    }
}

/// What the layers above add to the interpreter's start, without this layer
/// naming them: in-memory modules registered before CPython initialises
/// (`PyImport_AppendInittab` works only then), and Python-side helpers
/// installed right after, on CPython's main thread.
#[derive(Default)]
pub struct StartHooks {
    pub register_modules: &'static [fn()],
    pub install: &'static [Installer],
}

/// Installs a layer's Python-side helpers; an error fails the start.
pub type Installer = for<'py> fn(Python<'py>) -> Result<(), Failure>;

/// Initialises the interpreter once. A later call must name the same
/// executable (or none); an initialisation failure is reported every time.
/// `accounting` (counting Python memory per plugin) and `hooks` are used by
/// the call that starts the interpreter only; what it started with is
/// returned every time.
pub fn ensure_started(
    executable: &str,
    accounting: bool,
    hooks: &StartHooks,
) -> Result<Started, Failure> {
    let mut started = STARTED.lock().unwrap_or_else(|p| p.into_inner());
    let wanted = if executable.is_empty() {
        default_python()
    } else {
        executable.to_owned()
    };
    match &*started {
        Some(Ok(s)) if executable.is_empty() || s.executable == wanted => Ok(s.clone()),
        Some(Ok(s)) => Err(Failure::new(
            pyhost_status::PYHOST_STATUS_CONFLICT,
            format!(
                "the interpreter already runs as {}; one process hosts one Python, it cannot also run as {wanted}",
                s.executable
            ),
        )),
        Some(Err(f)) => Err(f.clone()),
        None => {
            // Only a Python the host named (the defaults are the engine's
            // own); not remembered: a mistyped path must not keep the
            // process from starting the right one.
            if !executable.is_empty() {
                missing_python(&wanted)?;
            }
            let result = start_on_own_thread(
                wanted.clone(),
                accounting,
                hooks.register_modules,
                hooks.install,
            )
            .map(|()| Started {
                executable: wanted,
                accounting,
            });
            *started = Some(result.clone());
            result
        }
    }
}

/// Fails when `executable` names no file: CPython would start anyway, as a
/// Python with no `sys.prefix` of its own (no site-packages, no venv).
fn missing_python(executable: &str) -> Result<(), Failure> {
    let found = if executable.contains('/') {
        std::path::Path::new(executable).is_file()
    } else {
        std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| dir.join(executable).is_file())
        })
    };
    if found {
        return Ok(());
    }
    Err(Failure::new(
        pyhost_status::PYHOST_STATUS_PYTHON_UNAVAILABLE,
        format!("the Python to embed, {executable}, does not exist"),
    ))
}

fn start_on_own_thread(
    executable: String,
    accounting: bool,
    register_modules: &'static [fn()],
    install: &'static [Installer],
) -> Result<(), Failure> {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("pyhost-python-main".into())
        .spawn(move || {
            // SAFETY: runs once per process, before any other Python use.
            let result =
                unsafe { initialize_here(&executable, accounting, register_modules, install) };
            let ok = result.is_ok();
            let _ = done_tx.send(result);
            if ok {
                // CPython's main thread stays alive and idle for good.
                loop {
                    std::thread::park();
                }
            }
        })
        .map_err(|e| {
            Failure::new(
                pyhost_status::PYHOST_STATUS_PYTHON_UNAVAILABLE,
                e.to_string(),
            )
        })?;
    done_rx.recv().unwrap_or_else(|_| {
        Err(Failure::new(
            pyhost_status::PYHOST_STATUS_PANIC,
            "the interpreter thread ended while starting Python",
        ))
    })
}

/// # Safety
/// Must be called once, on the thread that will be CPython's main thread.
unsafe fn initialize_here(
    executable: &str,
    accounting: bool,
    register_modules: &[fn()],
    install: &[Installer],
) -> Result<(), Failure> {
    let unavailable =
        |msg: String| Failure::new(pyhost_status::PYHOST_STATUS_PYTHON_UNAVAILABLE, msg);
    for register in register_modules {
        register();
    }

    // Pre-initialisation chooses CPython's allocators; the accounting
    // wrapper goes over them before the first block is allocated.
    let mut preconfig = MaybeUninit::<ffi::PyPreConfig>::uninit();
    // SAFETY: PyPreConfig_InitPythonConfig fully initialises the struct;
    // nothing has used Python yet.
    let status = unsafe {
        ffi::PyPreConfig_InitPythonConfig(preconfig.as_mut_ptr());
        ffi::Py_PreInitialize(preconfig.as_ptr())
    };
    // SAFETY: reading a status returned by CPython.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 {
        return Err(unavailable(format!(
            "cannot pre-initialise Python: {}",
            status_message(&status)
        )));
    }
    if accounting {
        // SAFETY: after pre-initialisation, before initialisation, once.
        unsafe { accounting::install_allocator() };
    }

    let mut config = MaybeUninit::<ffi::PyConfig>::uninit();
    // SAFETY: PyConfig_InitPythonConfig fully initialises the struct.
    let config = unsafe {
        ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        &mut *config.as_mut_ptr()
    };
    // The host owns the process's signals.
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    let exe = CString::new(executable)
        .map_err(|_| unavailable("python executable contains NUL".into()))?;
    // SAFETY: config initialised above; exe is a valid C string. Setting the
    // program name makes CPython compute prefix and sys.path as that
    // executable would, a virtual environment's site-packages included.
    let status =
        unsafe { ffi::PyConfig_SetBytesString(config, &mut config.program_name, exe.as_ptr()) };
    // SAFETY: reading a status returned by CPython.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 {
        // SAFETY: releasing the config's allocations.
        unsafe { ffi::PyConfig_Clear(config) };
        return Err(unavailable(format!(
            "cannot configure Python: {}",
            status_message(&status)
        )));
    }
    // SAFETY: config is complete; this thread becomes CPython's main thread.
    let status = unsafe { ffi::Py_InitializeFromConfig(config) };
    // SAFETY: releasing the config's allocations.
    unsafe { ffi::PyConfig_Clear(config) };
    // SAFETY: reading a status returned by CPython.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 {
        return Err(unavailable(format!(
            "cannot start Python as {executable}: {}",
            status_message(&status)
        )));
    }
    let boot = Python::attach(|py| {
        host::bootstrap(py)?;
        install.iter().try_for_each(|installer| installer(py))
    });
    // SAFETY: this thread holds the GIL after initialisation; release it for good.
    unsafe { ffi::PyEval_SaveThread() };
    boot
}

fn status_message(status: &ffi::PyStatus) -> String {
    if status.err_msg.is_null() {
        return "unknown error".into();
    }
    // SAFETY: CPython sets err_msg to a static C string.
    unsafe { std::ffi::CStr::from_ptr(status.err_msg) }
        .to_string_lossy()
        .into_owned()
}

/// Keeps this thread's Python thread state alive between calls and deletes it
/// when the thread exits.
struct KeptThreadState {
    tstate: Cell<*mut ffi::PyThreadState>,
}

impl Drop for KeptThreadState {
    fn drop(&mut self) {
        let tstate = self.tstate.get();
        if !tstate.is_null() {
            // SAFETY: the state was created on this thread by PyGILState_Ensure
            // and parked by PyEval_SaveThread; the interpreter is never
            // finalised. Releasing the outermost gilstate deletes it.
            unsafe {
                ffi::PyEval_RestoreThread(tstate);
                ffi::PyGILState_Release(ffi::PyGILState_STATE::PyGILState_UNLOCKED);
            }
        }
    }
}

thread_local! {
    static KEPT: KeptThreadState = const { KeptThreadState { tstate: Cell::new(std::ptr::null_mut()) } };
}

/// Runs `f` attached to the interpreter, on this thread's kept thread state.
/// Returns with the GIL released. The interpreter must be started.
pub fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    // During thread teardown the slot may be gone; pyo3 then makes a temporary state.
    let _ = KEPT.try_with(keep_a_thread_state);
    Python::attach(f)
}

/// Creates this thread's kept state on its first call, unless the thread
/// already has one that the engine did not make (a Python thread calling
/// back into the host): that one belongs to Python, which deletes it when
/// the thread's function returns, so keeping it would resume freed memory.
/// Returns the thread's state, kept or not (NULL if it has none).
fn keep_a_thread_state(kept: &KeptThreadState) -> *mut ffi::PyThreadState {
    if kept.tstate.get().is_null() {
        // SAFETY: a plain query; the interpreter is initialised.
        let existing = unsafe { ffi::PyGILState_GetThisThreadState() };
        if !existing.is_null() {
            return existing;
        }
        // SAFETY: the interpreter is initialised (callers passed a runtime
        // check). The outer Ensure makes a thread state whose gilstate
        // count stays at 1, so later Ensure/Release pairs (pyo3's attach)
        // reuse it instead of creating and deleting one per call.
        unsafe {
            ffi::PyGILState_Ensure();
            kept.tstate.set(ffi::PyEval_SaveThread());
        }
    }
    kept.tstate.get()
}

// pyo3's `PyEval_RestoreThread` guards against CPython ending the thread
// while the interpreter finalises; it is never finalised here (see the
// module note), so the call path calls CPython's directly.
extern "C" {
    #[link_name = "PyEval_RestoreThread"]
    fn restore_thread(tstate: *mut ffi::PyThreadState);
}

/// How many calls on the call path found the GIL held by another thread
/// when they asked for it (approximate: two threads counting at once may
/// count one). The host's call gate reads it to learn that its callers
/// contend, and orders them only then (see `pyhost_gil_contention`).
static CONTENDED: AtomicU32 = AtomicU32::new(0);

/// The contention count, which stays valid for good.
pub fn gil_contention() -> &'static AtomicU32 {
    &CONTENDED
}

/// Counts a contended call: a plain load and store, no read-modify-write,
/// as the count only has to move.
#[inline(always)]
fn note_contention() {
    CONTENDED.store(
        CONTENDED.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// The call path's variant of [`with_python`]: resumes this thread's kept
/// thread state directly (`PyEval_RestoreThread`/`PyEval_SaveThread`),
/// skipping the bookkeeping of `PyGILState_Ensure` and pyo3's attach.
///
/// `f` must only use `Bound` values (their drop decrefs at once); a `Py`
/// dropped inside would wait for pyo3's next attach to be released. Falls
/// back to [`with_python`] when this thread already holds the GIL (a
/// nested call from a host callback) or is being torn down.
pub fn with_python_direct<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    // CPython's own per-thread slot (a pthread key) finds the kept state:
    // cheaper than this library's thread-local, which a dlopened library
    // reaches through __tls_get_addr on every call. A state someone else
    // made for this thread is resumed and parked again, as a nested
    // PyGILState_Ensure/Release pair would.
    // SAFETY: plain queries; the interpreter is initialised.
    let mut tstate = unsafe { ffi::PyGILState_GetThisThreadState() };
    if tstate.is_null() {
        // The first call on this thread: create and keep its state.
        match KEPT.try_with(keep_a_thread_state) {
            Ok(kept) => tstate = kept,
            Err(_) => return with_python(f),
        }
    }
    // SAFETY: a plain query.
    let current = unsafe { ffi::compat::PyThreadState_GetUnchecked() };
    if current == tstate {
        // This thread already holds the GIL: a nested call.
        return with_python(f);
    }
    // Not this thread (above): if the GIL looks held, another thread has it.
    if accounting::gil_may_be_held_by(current) {
        note_contention();
    }

    /// Parks the thread state again even if `f` unwinds.
    struct Resumed;
    impl Drop for Resumed {
        fn drop(&mut self) {
            // SAFETY: this thread resumed its state below and still holds it.
            unsafe { ffi::PyEval_SaveThread() };
        }
    }
    // SAFETY: `tstate` is this thread's own kept state, currently parked.
    unsafe { restore_thread(tstate) };
    let _resumed = Resumed;
    // SAFETY: this thread holds the GIL until `_resumed` drops.
    f(unsafe { Python::assume_attached() })
}
