//! Python-side helpers: modules whose source is embedded in the engine and
//! installed in `sys.modules` at start. This layer's own is `host.py`
//! (`_pyhost_host`: loading modules, describing exceptions, the logging
//! handler, `sys.path`, what the interpreter is); the layers above declare
//! theirs with [`Helper`] too.

use std::ffi::{CStr, CString};

use pyhost_abi::Failure;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

/// A Python module embedded in the engine.
pub struct Helper {
    name: &'static CStr,
    file: &'static CStr,
    source: &'static str,
    module: PyOnceLock<Py<PyModule>>,
}

impl Helper {
    pub const fn new(name: &'static CStr, file: &'static CStr, source: &'static str) -> Helper {
        Helper {
            name,
            file,
            source,
            module: PyOnceLock::new(),
        }
    }

    /// Runs the module's code and registers it in `sys.modules`; once.
    pub fn install(&self, py: Python<'_>) -> Result<(), Failure> {
        if self.module.get(py).is_some() {
            return Ok(());
        }
        let source = CString::new(self.source).expect("no NUL in embedded source");
        // An error here is a bug in an embedded module: reported plainly,
        // as the helpers that describe exceptions may be what failed.
        let failed = |e: PyErr| {
            let traceback = e
                .traceback(py)
                .and_then(|t| t.format().ok())
                .unwrap_or_default();
            Failure::python(
                e.get_type(py)
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                format!("{}: {}", self.name.to_string_lossy(), e.value(py)),
                traceback,
            )
        };
        let module = PyModule::from_code(py, &source, self.file, self.name).map_err(failed)?;
        py.import("sys")
            .and_then(|sys| sys.getattr("modules")?.set_item(self.name, &module))
            .map_err(failed)?;
        let _ = self.module.set(py, module.unbind());
        Ok(())
    }

    /// The installed module, if [`Helper::install`] ran.
    pub fn module<'py>(&self, py: Python<'py>) -> Option<&Bound<'py, PyModule>> {
        self.module.get(py).map(|m| m.bind(py))
    }

    /// Calls one of the module's functions.
    pub fn call<'py>(
        &self,
        py: Python<'py>,
        function: &str,
        args: impl pyo3::call::PyCallArgs<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let module = self.module(py).ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err(format!(
                "pyhost: helper module {} is not installed",
                self.name.to_string_lossy()
            ))
        })?;
        module.getattr(function)?.call1(args)
    }
}

/// `_pyhost_host`, this layer's helpers.
pub static HOST: Helper = Helper::new(c"_pyhost_host", c"<pyhost host>", include_str!("host.py"));

/// Runs once, on CPython's main thread, right after initialisation.
pub fn bootstrap(py: Python<'_>) -> Result<(), Failure> {
    HOST.install(py)
}

/// Calls a function of `_pyhost_host`.
pub fn call<'py>(
    py: Python<'py>,
    name: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    HOST.call(py, name, args)
}
