//! Check classes, check instances and runs; module-level functions.

use std::os::raw::c_long;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use pyhost_abi::batch::PYHOST_BATCH_CANCELLED;
use pyhost_abi::{pyhost_status, Failure};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::builtins::CheckCancelled;
use crate::registry::{self, Object, RuntimeState, KIND_CHECK, KIND_CLASS, KIND_FUNCTION};
use crate::sinks::{self, Sink};
use crate::{convert, host};

/// A live check instance.
pub struct CheckEntry {
    pub object: Py<PyAny>,
    pub check_id: String,
    pub sink: Arc<Sink>,
    /// Python thread id of the thread inside `run()`, 0 otherwise: where a
    /// cancellation is sent.
    running_on: AtomicU64,
    /// A run is in progress, from the start of `run()` until its batch is
    /// taken: a second run is refused meanwhile.
    busy: AtomicBool,
    freed: AtomicBool,
}

/// Clears `busy` when a run ends, however it ends.
struct BusyGuard<'a>(&'a AtomicBool);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

fn py_fail(py: Python<'_>) -> impl Fn(PyErr) -> Failure + '_ {
    move |e| host::python_failure(py, &e)
}

fn parse_json(text: &str, what: &str) -> Result<serde_json::Value, Failure> {
    if text.is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_str(text)
        .map_err(|e| Failure::invalid_argument(format!("{what} is not valid JSON: {e}")))
}

pub fn load_class(
    py: Python<'_>,
    runtime: &RuntimeState,
    source: &str,
    class_name: &str,
) -> Result<u64, Failure> {
    if source.is_empty() {
        return Err(Failure::invalid_argument("the check source is empty"));
    }
    let class = host::call(py, "load_check_class", (source, class_name)).map_err(py_fail(py))?;
    Ok(registry::insert(py, runtime, Object::Class(class.unbind())))
}

pub struct NewCheck<'a> {
    pub name: &'a str,
    pub check_id: &'a str,
    pub init_config_json: &'a str,
    pub instance_json: &'a str,
}

pub fn new_check(
    py: Python<'_>,
    runtime: &'static RuntimeState,
    class: u64,
    config: NewCheck<'_>,
) -> Result<u64, Failure> {
    let Object::Class(class) = registry::get(py, runtime, class, KIND_CLASS)? else {
        unreachable!("kind checked by the registry")
    };
    if config.name.is_empty() || config.check_id.is_empty() {
        return Err(Failure::invalid_argument(
            "a check needs a name and a check id",
        ));
    }
    let init_config = parse_json(config.init_config_json, "init_config")?;
    let instance = parse_json(config.instance_json, "the instance")?;
    if !init_config.is_object() {
        return Err(Failure::invalid_argument(
            "init_config must be a JSON object",
        ));
    }
    if !instance.is_object() {
        return Err(Failure::invalid_argument(
            "the instance must be a JSON object",
        ));
    }
    let init_config = convert::json_to_py(py, &init_config).map_err(py_fail(py))?;
    let instance = convert::json_to_py(py, &instance).map_err(py_fail(py))?;
    let instances = PyList::new(py, [instance]).map_err(py_fail(py))?;
    // The id is routable from here on; the SDK's AgentCheck learns it only
    // when check_id is set below, so its __init__ cannot submit yet.
    let sink = sinks::open(py, config.check_id, runtime)?;
    let made = class
        .bind(py)
        .call1((config.name, init_config, instances))
        .and_then(|object| {
            object
                .setattr(intern!(py, "check_id"), config.check_id)
                .map(|()| object)
        });
    let object = match made {
        Ok(object) => object,
        Err(e) => {
            sinks::close(py, config.check_id);
            return Err(host::python_failure(py, &e));
        }
    };
    let entry = CheckEntry {
        object: object.unbind(),
        check_id: config.check_id.to_owned(),
        sink,
        running_on: AtomicU64::new(0),
        busy: AtomicBool::new(false),
        freed: AtomicBool::new(false),
    };
    Ok(registry::insert(
        py,
        runtime,
        Object::Check(Arc::new(entry)),
    ))
}

fn get_check(
    py: Python<'_>,
    runtime: &RuntimeState,
    check: u64,
) -> Result<Arc<CheckEntry>, Failure> {
    match registry::get(py, runtime, check, KIND_CHECK)? {
        Object::Check(entry) => Ok(entry),
        _ => unreachable!("kind checked by the registry"),
    }
}

/// Runs the check on this thread; returns its batch.
pub fn run(py: Python<'_>, runtime: &RuntimeState, check: u64) -> Result<Vec<u8>, Failure> {
    let entry = get_check(py, runtime, check)?;
    // SAFETY: plain query of the current thread's id.
    let thread = unsafe { ffi::PyThread_get_thread_ident() } as u64;
    if entry.busy.swap(true, Ordering::SeqCst) {
        return Err(Failure::new(
            pyhost_status::PYHOST_STATUS_BUSY,
            format!("check {} is already running", entry.check_id),
        ));
    }
    let _busy = BusyGuard(&entry.busy);
    entry.running_on.store(thread, Ordering::SeqCst);
    let running = sinks::enter_run(sinks::Current {
        check_id: entry.check_id.clone(),
        sink: Arc::clone(&entry.sink),
    });
    let outcome = entry.object.bind(py).call_method0(intern!(py, "run"));
    drop(running);
    // Still holding the GIL since run() returned: clear the running mark and
    // any cancellation that arrived too late to be raised, so it can never
    // hit whatever this thread runs next.
    entry.running_on.store(0, Ordering::SeqCst);
    // SAFETY: GIL held; a NULL exception clears this thread's pending one.
    unsafe { ffi::PyThreadState_SetAsyncExc(thread as c_long, std::ptr::null_mut()) };

    let warnings = entry
        .object
        .bind(py)
        .call_method0(intern!(py, "get_warnings"))
        .ok()
        .and_then(|w| w.extract::<Vec<String>>().ok())
        .unwrap_or_default();

    // Everything that may run Python happens before the batch is borrowed.
    let outcome = match outcome {
        Ok(result) => RunOutcome::Returned(run_result_text(&result)),
        Err(e) if e.is_instance_of::<CheckCancelled>(py) => RunOutcome::Cancelled,
        Err(e) => RunOutcome::Raised(host::python_failure(py, &e)),
    };
    // SAFETY: writing records from Rust values; everything that runs Python happened above.
    let batch = unsafe {
        entry.sink.with(py, |w| {
            match &outcome {
                RunOutcome::Returned(Ok(text)) => record_run_result(w, text),
                RunOutcome::Returned(Err(type_name)) => w.error(
                    "pyhost.InvalidRunResult",
                    &format!("run() returned {type_name}, expected str"),
                    "",
                ),
                RunOutcome::Cancelled => w.u8(PYHOST_BATCH_CANCELLED),
                RunOutcome::Raised(f) => w.error(&f.type_name, &f.message, &f.traceback),
            }
            for warning in &warnings {
                w.warning(warning);
            }
            w.take()
        })
    };
    if entry.freed.load(Ordering::SeqCst) {
        sinks::close_if(py, &entry.check_id, &entry.sink);
    }
    Ok(batch)
}

enum RunOutcome {
    /// run() returned: its text, or the name of the wrong type it returned.
    Returned(Result<String, String>),
    Cancelled,
    Raised(Failure),
}

fn run_result_text(result: &Bound<'_, PyAny>) -> Result<String, String> {
    if result.is_none() {
        return Ok(String::new());
    }
    result
        .cast::<PyString>()
        .map(|s| s.to_string_lossy().into_owned())
        .map_err(|_| {
            result
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        })
}

/// `run()` returns "" on success, or a JSON list of
/// `{"type", "message", "traceback"}` objects (the SDK's contract).
/// datadog_checks_base's `AgentCheck.run()` writes no `type`: it is read
/// from the traceback's last line.
fn record_run_result(w: &mut pyhost_abi::batch::Writer, text: &str) {
    if text.is_empty() {
        return;
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(errors)) if !errors.is_empty() => {
            for error in errors {
                let field = |k: &str| {
                    error
                        .get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_owned()
                };
                let (message, traceback) = (field("message"), field("traceback"));
                let mut type_name = field("type");
                if type_name.is_empty() {
                    type_name = type_from_traceback(&traceback, &message).to_owned();
                }
                w.error(&type_name, &message, &traceback);
            }
        }
        _ => w.error("pyhost.InvalidRunResult", text, ""),
    }
}

/// The exception type a formatted traceback ends with: the text before
/// `": " + message` (messages may span lines), else before the last line's
/// first colon; "" when that is not a dotted name.
fn type_from_traceback<'a>(traceback: &'a str, message: &str) -> &'a str {
    let text = traceback.trim_end();
    let head = if !message.is_empty() && text.ends_with(message.trim_end()) {
        text[..text.len() - message.trim_end().len()].strip_suffix(": ")
    } else {
        None
    };
    let head = head.unwrap_or_else(|| {
        let last = text.rsplit('\n').next().unwrap_or("");
        last.split(':').next().unwrap_or("")
    });
    let name = head.rsplit('\n').next().unwrap_or("").trim();
    let dotted = !name.is_empty()
        && name.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        });
    if dotted {
        name
    } else {
        ""
    }
}

/// Raises CheckCancelled inside the check if it is running.
pub fn cancel(py: Python<'_>, runtime: &RuntimeState, check: u64) -> Result<(), Failure> {
    let entry = get_check(py, runtime, check)?;
    cancel_entry(py, &entry);
    Ok(())
}

pub fn cancel_entry(py: Python<'_>, entry: &CheckEntry) {
    // Read under the GIL: run() clears the mark under the GIL too, so the
    // thread found here is still inside this check.
    let thread = entry.running_on.load(Ordering::SeqCst);
    if thread != 0 {
        let exc = py.get_type::<CheckCancelled>();
        // SAFETY: GIL held; exc is a live exception type.
        unsafe { ffi::PyThreadState_SetAsyncExc(thread as c_long, exc.as_ptr()) };
    }
}

pub fn free_check(py: Python<'_>, runtime: &RuntimeState, check: u64) -> Result<(), Failure> {
    match registry::remove(py, runtime, check, KIND_CHECK)? {
        Object::Check(entry) => release_check(py, &entry),
        _ => unreachable!("kind checked by the registry"),
    }
    Ok(())
}

/// Drops a check's route; a run in progress keeps its sink and closes it.
pub fn release_check(py: Python<'_>, entry: &CheckEntry) {
    entry.freed.store(true, Ordering::SeqCst);
    if !entry.busy.load(Ordering::SeqCst) {
        sinks::close_if(py, &entry.check_id, &entry.sink);
    }
}

pub fn free_class(py: Python<'_>, runtime: &RuntimeState, class: u64) -> Result<(), Failure> {
    registry::remove(py, runtime, class, KIND_CLASS).map(drop)
}

pub fn load_function(
    py: Python<'_>,
    runtime: &RuntimeState,
    module: &str,
    name: &str,
) -> Result<u64, Failure> {
    if module.is_empty() || name.is_empty() {
        return Err(Failure::invalid_argument(
            "a function needs a module and a name",
        ));
    }
    let function = host::call(py, "load_function", (module, name)).map_err(py_fail(py))?;
    Ok(registry::insert(
        py,
        runtime,
        Object::Function(function.unbind()),
    ))
}

/// Calls a function with a JSON array of positional arguments; appends the
/// JSON result to `out`.
pub fn call_function(
    py: Python<'_>,
    runtime: &RuntimeState,
    function: u64,
    args_json: &[u8],
    out: &mut impl convert::JsonOut,
) -> Result<(), Failure> {
    let function = registry::get_function(py, runtime, function)?;
    let result = if args_json.is_empty() || args_json == b"[]" {
        function.call0()
    } else {
        let args: serde_json::Value = serde_json::from_slice(args_json).map_err(|e| {
            Failure::invalid_argument(format!("the arguments are not valid JSON: {e}"))
        })?;
        let serde_json::Value::Array(items) = args else {
            return Err(Failure::invalid_argument(
                "the arguments must be a JSON array",
            ));
        };
        let items = items
            .iter()
            .map(|v| convert::json_to_py(py, v))
            .collect::<PyResult<Vec<_>>>()
            .map_err(py_fail(py))?;
        let args = PyTuple::new(py, items).map_err(py_fail(py))?;
        function.call1(args)
    }
    .map_err(py_fail(py))?;
    convert::py_to_json(&result, out).map_err(py_fail(py))
}

pub fn free_function(py: Python<'_>, runtime: &RuntimeState, function: u64) -> Result<(), Failure> {
    registry::remove(py, runtime, function, KIND_FUNCTION).map(drop)
}

/// Cancels the runtime's running checks (shutdown).
pub fn cancel_all(py: Python<'_>, runtime: &RuntimeState) {
    for entry in registry::checks_of(py, runtime) {
        cancel_entry(py, &entry);
    }
}

/// Frees every object of a runtime (shutdown, after calls drained).
pub fn free_all(py: Python<'_>, runtime: &RuntimeState) {
    for object in registry::remove_all(py, runtime) {
        if let Object::Check(entry) = &object {
            release_check(py, entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::type_from_traceback;

    #[test]
    fn types_come_from_the_last_traceback_line() {
        let tb = "Traceback (most recent call last):\n  File \"c.py\", line 3, in check\n    d['x']\nKeyError: 'x'\n";
        assert_eq!(type_from_traceback(tb, "'x'"), "KeyError");
        let tb =
            "Traceback (most recent call last):\n  ...\nmycheck.errors.FetchError: two\nlines\n";
        assert_eq!(
            type_from_traceback(tb, "two\nlines"),
            "mycheck.errors.FetchError"
        );
        // A message changed by sanitising: the last line still names the type.
        assert_eq!(
            type_from_traceback("...\nValueError: ****\n", "boom"),
            "ValueError"
        );
        assert_eq!(
            type_from_traceback("...\nStopIteration\n", ""),
            "StopIteration"
        );
        assert_eq!(type_from_traceback("", "boom"), "");
        assert_eq!(type_from_traceback("not a traceback at all", ""), "");
    }
}
