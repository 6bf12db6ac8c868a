//! Loads the engine shared object once per process and keeps it for good:
//! an embedded CPython cannot be unloaded safely.

use std::error::Error as _;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
use pyhost_abi::{
    pyhost_engine_table, pyhost_runtime_options, pyhost_status, Failure, ENGINE_ENTRY_SYMBOL,
    PYHOST_ABI_VERSION,
};

/// The loaded engine. Its library is never closed.
pub struct Engine {
    pub table: &'static pyhost_engine_table,
    pub path: PathBuf,
}

static ENGINE: OnceLock<Engine> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// The engine, if a runtime start has loaded it.
pub fn loaded() -> Result<&'static Engine, Failure> {
    ENGINE
        .get()
        .ok_or_else(|| Failure::invalid_handle("no pyhost runtime has been started"))
}

fn unavailable(what: &str, path: &str, err: libloading::Error) -> Failure {
    // libloading's own text is generic; the loader's reason is in source().
    let detail = err
        .source()
        .map(|s| s.to_string())
        .unwrap_or_else(|| err.to_string());
    Failure::new(
        pyhost_status::PYHOST_STATUS_PYTHON_UNAVAILABLE,
        format!("cannot load {what} {path}: {detail}"),
    )
}

/// Loads the engine named by the options (or the default), or returns the one
/// already loaded if it is the same.
pub fn load(options: &pyhost_runtime_options) -> Result<&'static Engine, Failure> {
    // SAFETY: the options' strings are valid for this call (C API contract).
    let requested = unsafe { options.engine_path.to_str("engine_path") }?;
    // SAFETY: as above.
    let libpython = unsafe { options.libpython_path.to_str("libpython_path") }?;
    let path = if !requested.is_empty() {
        PathBuf::from(requested)
    } else if let Some(env) = std::env::var_os("PYHOST_ENGINE").filter(|v| !v.is_empty()) {
        PathBuf::from(env)
    } else {
        PathBuf::from(env!("PYHOST_DEFAULT_ENGINE"))
    };

    let _guard = LOADING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(engine) = ENGINE.get() {
        if !requested.is_empty() && engine.path != path {
            return Err(Failure::new(
                pyhost_status::PYHOST_STATUS_CONFLICT,
                format!(
                    "the engine {} is already loaded; one process hosts one Python, {} cannot be loaded too",
                    engine.path.display(),
                    path.display()
                ),
            ));
        }
        return Ok(engine);
    }

    if !libpython.is_empty() {
        // Loading libpython globally first makes the engine bind to it (same
        // soname) and lets C extension modules see its symbols.
        // SAFETY: loading a library runs its initialisers; libpython's are benign.
        let lib = unsafe { Library::open(Some(libpython), RTLD_NOW | RTLD_GLOBAL) }
            .map_err(|e| unavailable("libpython", libpython, e))?;
        std::mem::forget(lib);
    }
    // RTLD_GLOBAL: third-party C extensions (_ctypes, _json, numpy…) resolve
    // libpython's symbols through the global scope.
    // SAFETY: the engine's initialisers only set up Rust statics.
    let lib = unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_GLOBAL) }
        .map_err(|e| unavailable("the pyhost engine", &path.display().to_string(), e))?;
    type Entry = unsafe extern "C" fn(u32) -> *const pyhost_engine_table;
    // SAFETY: the symbol, when present, has this signature (pyhost-abi).
    let entry = unsafe { lib.get::<Entry>(ENGINE_ENTRY_SYMBOL) }
        .map_err(|e| unavailable("the engine entry point in", &path.display().to_string(), e))?;
    // SAFETY: calling the engine's entry point with our ABI version.
    let table = unsafe { entry(PYHOST_ABI_VERSION) };
    if table.is_null() {
        return Err(Failure::new(
            pyhost_status::PYHOST_STATUS_ABI_MISMATCH,
            format!(
                "the engine {} does not speak ABI version {PYHOST_ABI_VERSION}",
                path.display()
            ),
        ));
    }
    // SAFETY: the engine returns a pointer to a static table.
    let table: &'static pyhost_engine_table = unsafe { &*table };
    if table.abi_version != PYHOST_ABI_VERSION {
        return Err(Failure::new(
            pyhost_status::PYHOST_STATUS_ABI_MISMATCH,
            format!(
                "the engine {} has ABI version {}, this library {PYHOST_ABI_VERSION}",
                path.display(),
                table.abi_version
            ),
        ));
    }
    std::mem::forget(lib);
    Ok(ENGINE.get_or_init(|| Engine { table, path }))
}
