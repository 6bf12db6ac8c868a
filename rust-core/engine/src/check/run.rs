//! A check's run: `run()` called on the calling thread, its outcome (what
//! it returned, raised, or a cancellation) and its warnings written after
//! its submissions, what it cost last, and the sink's records taken as the
//! run's batch.

use std::sync::atomic::{AtomicBool, Ordering};

use pyhost_abi::batch::{
    Usage, PYHOST_BATCH_CANCELLED, PYHOST_USAGE_CPU_EXACT, PYHOST_USAGE_MEMORY,
};
use pyhost_abi::{pyhost_status, Failure};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::cancel::{self, CheckCancelled};
use super::instances::{CheckEntry, RunState, CHECKS};
use super::sinks;
use crate::runtime::accounting::{self, Attributing, Timing};
use crate::runtime::calls;
use crate::runtime::errors::python_failure;
use crate::runtime::sessions::Session;

/// Clears `busy` when a run ends, however it ends.
struct BusyGuard<'a>(&'a AtomicBool);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Runs the check on this thread and returns its batch. `run_id` is the
/// host's number for this run (0: none), which a cancellation may name
/// before the run starts. `asked`, when accounting is on, is when the run
/// asked for the GIL (`accounting::ticks`) and whether it may have waited
/// for it (`accounting::gil_may_be_held`).
pub fn run(
    py: Python<'_>,
    session: &Session,
    check: u64,
    run_id: u64,
    asked: Option<(u64, bool)>,
) -> Result<Vec<u8>, Failure> {
    let entry = CHECKS.get(py, session.id, check)?;
    let meter = asked.map(|(asked, waited)| Meter::start(&entry, asked, waited));
    if entry.busy.swap(true, Ordering::SeqCst) {
        return Err(Failure::new(
            pyhost_status::PYHOST_STATUS_BUSY,
            format!("check {} is already running", entry.check_id),
        ));
    }
    let _busy = BusyGuard(&entry.busy);
    // SAFETY: GIL held; this thread's own state.
    let tstate = unsafe { ffi::PyThreadState_Get() };
    // A cancellation that named this run before it got here cancels it now.
    let cancelled_early = entry.with_run(py, |r| {
        *r = RunState {
            tstate,
            run_id,
            cancelled_up_to: r.cancelled_up_to,
            cancel_called: false,
            raise_after_ns: 0,
            armed: false,
            armed_at: None,
        };
        run_id != 0 && r.cancelled_up_to >= run_id
    });
    let outcome = if cancelled_early {
        None
    } else {
        let attributing = meter.as_ref().map(|_| Attributing::enter(entry.owner));
        let running = sinks::enter_run(sinks::Current {
            check_id: entry.check_id.clone(),
            sink: std::sync::Arc::clone(&entry.sink),
        });
        let here = cancel::running_here(&entry);
        // Host functions the run calls get the run's id as their token.
        let within = calls::enter(run_id);
        let outcome = entry.object.bind(py).call_method0(intern!(py, "run"));
        drop((within, here, running, attributing));
        Some(outcome)
    };
    // Still holding the GIL since run() returned: clear the running mark,
    // and a tracer a cancellation installed that did not fire, so it can
    // never hit whatever this thread runs next.
    let armed = entry.with_run(py, |r| {
        r.tstate = std::ptr::null_mut();
        r.run_id = 0;
        std::mem::replace(&mut r.armed, false)
    });
    if armed {
        cancel::disarm_here(py);
    }

    let warnings = entry
        .object
        .bind(py)
        .call_method0(intern!(py, "get_warnings"))
        .ok()
        .and_then(|w| w.extract::<Vec<String>>().ok())
        .unwrap_or_default();
    let usage = meter.map(|m| m.stop(&entry));

    // Everything that may run Python happens before the batch is borrowed.
    let outcome = match outcome {
        None => RunOutcome::Cancelled,
        Some(Ok(result)) => RunOutcome::Returned(run_result_text(&result)),
        Some(Err(e)) if e.is_instance_of::<CheckCancelled>(py) => RunOutcome::Cancelled,
        Some(Err(e)) => RunOutcome::Raised(python_failure(py, &e)),
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
            if let Some(usage) = &usage {
                w.usage(usage);
            }
            w.take()
        })
    };
    if entry.freed.load(Ordering::SeqCst) {
        sinks::close_if(py, &entry.check_id, &entry.sink);
    }
    Ok(batch)
}

/// A run's timing (see `accounting::Timing` for when it reads the CPU
/// clock) and the owner's memory before it.
struct Meter {
    timing: Timing,
    allocated_before: u64,
}

impl Meter {
    fn start(entry: &CheckEntry, asked: u64, waited: bool) -> Meter {
        Meter {
            timing: Timing::asked(asked, waited, &entry.clock, accounting::EXACT_CPU_EVERY),
            allocated_before: accounting::memory(entry.owner).allocated,
        }
    }

    fn stop(self, entry: &CheckEntry) -> Usage {
        let t = self.timing.stop(&entry.clock);
        let memory = accounting::memory(entry.owner);
        let mut flags = 0;
        if t.cpu_exact {
            flags |= PYHOST_USAGE_CPU_EXACT;
        }
        if accounting::counting_memory() {
            flags |= PYHOST_USAGE_MEMORY;
        }
        Usage {
            flags,
            wall_ns: t.wall_ns,
            cpu_ns: t.cpu_ns,
            gil_wait_ns: t.gil_wait_ns,
            allocated_bytes: memory.allocated.saturating_sub(self.allocated_before),
            retained_bytes: memory.retained,
        }
    }
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
