//! The one panic boundary every exported function goes through, and the
//! error value it produces.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::{pyhost_error, pyhost_status, pyhost_str};

/// An error on its way to the caller. Becomes an owned `pyhost_error`.
///
/// Boxed, so that `Result<_, Failure>` stays pointer-sized and the success
/// path of every call returns in registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(Box<FailureFields>);

/// What a [`Failure`] carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureFields {
    pub status: pyhost_status,
    /// The Python exception type (e.g. `ValueError`), or empty.
    pub type_name: String,
    pub message: String,
    pub traceback: String,
}

impl std::ops::Deref for Failure {
    type Target = FailureFields;
    fn deref(&self) -> &FailureFields {
        &self.0
    }
}

impl Failure {
    pub fn new(status: pyhost_status, message: impl Into<String>) -> Failure {
        Failure(Box::new(FailureFields {
            status,
            type_name: String::new(),
            message: message.into(),
            traceback: String::new(),
        }))
    }

    pub fn invalid_argument(message: impl Into<String>) -> Failure {
        Failure::new(pyhost_status::PYHOST_STATUS_INVALID_ARGUMENT, message)
    }

    pub fn invalid_handle(message: impl Into<String>) -> Failure {
        Failure::new(pyhost_status::PYHOST_STATUS_INVALID_HANDLE, message)
    }

    pub fn python(type_name: String, message: String, traceback: String) -> Failure {
        Failure(Box::new(FailureFields {
            status: pyhost_status::PYHOST_STATUS_PYTHON_EXCEPTION,
            type_name,
            message,
            traceback,
        }))
    }

    fn leak(s: String) -> pyhost_str {
        let boxed: Box<[u8]> = s.into_bytes().into_boxed_slice();
        let len = boxed.len();
        pyhost_str {
            ptr: Box::into_raw(boxed) as *const u8,
            len,
        }
    }

    /// Moves the failure to the heap as a C-visible error.
    pub fn into_raw(self) -> *mut pyhost_error {
        let this = *self.0;
        Box::into_raw(Box::new(pyhost_error {
            status: this.status,
            type_name: Failure::leak(this.type_name),
            message: Failure::leak(this.message),
            traceback: Failure::leak(this.traceback),
        }))
    }

    /// A copy of a C-visible error (made by another library).
    ///
    /// # Safety
    /// `error` points to a live `pyhost_error` whose strings are valid.
    pub unsafe fn copy_of(error: *const pyhost_error) -> Failure {
        // SAFETY: the caller's contract.
        let error = unsafe { &*error };
        let text = |s: pyhost_str| {
            // SAFETY: the error's strings are valid (the caller's contract).
            let bytes = unsafe { s.as_bytes() }.unwrap_or_default();
            String::from_utf8_lossy(bytes).into_owned()
        };
        Failure(Box::new(FailureFields {
            status: error.status,
            type_name: text(error.type_name),
            message: text(error.message),
            traceback: text(error.traceback),
        }))
    }

    /// Frees an error made by [`Failure::into_raw`]. NULL is ignored.
    ///
    /// # Safety
    /// `error` must be NULL or come from `into_raw` and not be freed yet.
    pub unsafe fn free_raw(error: *mut pyhost_error) {
        if error.is_null() {
            return;
        }
        // SAFETY: the caller guarantees `error` came from `into_raw`.
        let error = unsafe { Box::from_raw(error) };
        for s in [error.type_name, error.message, error.traceback] {
            let slice = std::ptr::slice_from_raw_parts_mut(s.ptr as *mut u8, s.len);
            // SAFETY: each string was leaked from a Box<[u8]> of exactly this length.
            drop(unsafe { Box::from_raw(slice) });
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// Runs `body`, turning a `Failure` or a panic into a status and, when
/// `out_error` is not NULL, an owned error written through it. Nothing is
/// written on success.
///
/// # Safety
/// `out_error` must be NULL or valid for writes.
#[inline(always)]
pub unsafe fn ffi_boundary<F>(out_error: *mut *mut pyhost_error, body: F) -> pyhost_status
where
    F: FnOnce() -> Result<(), Failure>,
{
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => pyhost_status::PYHOST_STATUS_OK,
        // SAFETY: forwarded to the caller.
        Ok(Err(failure)) => unsafe { report(out_error, failure) },
        // SAFETY: as above.
        Err(payload) => unsafe { report_panic(out_error, payload) },
    }
}

/// The error path of [`ffi_boundary`], kept out of line so the success path
/// of every export stays small.
///
/// # Safety
/// `out_error` must be NULL or valid for writes.
#[cold]
#[inline(never)]
unsafe fn report(out_error: *mut *mut pyhost_error, failure: Failure) -> pyhost_status {
    let status = failure.status;
    if !out_error.is_null() {
        // SAFETY: non-null out-pointer supplied by the caller for this purpose.
        unsafe { *out_error = failure.into_raw() };
    }
    status
}

/// # Safety
/// `out_error` must be NULL or valid for writes.
#[cold]
#[inline(never)]
unsafe fn report_panic(
    out_error: *mut *mut pyhost_error,
    payload: Box<dyn std::any::Any + Send>,
) -> pyhost_status {
    let failure = Failure::new(
        pyhost_status::PYHOST_STATUS_PANIC,
        format!("internal panic: {}", panic_message(payload.as_ref())),
    );
    // SAFETY: forwarded to the caller.
    unsafe { report(out_error, failure) }
}

/// Checks that an out-pointer is usable before any work is done, so that
/// outputs are written only on success and a NULL never reaches a write.
#[inline(always)]
pub fn check_out<T>(out: *const T, name: &str) -> Result<(), Failure> {
    if out.is_null() {
        Err(null_out(name))
    } else {
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn null_out(name: &str) -> Failure {
    Failure::invalid_argument(format!("{name} is NULL"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr;

    #[test]
    fn success_writes_no_error() {
        let mut err: *mut pyhost_error = ptr::null_mut();
        // SAFETY: &mut err is writable.
        let status = unsafe { ffi_boundary(&mut err, || Ok(())) };
        assert_eq!(status, pyhost_status::PYHOST_STATUS_OK);
        assert!(err.is_null());
    }

    #[test]
    fn failure_becomes_an_owned_error() {
        let mut err: *mut pyhost_error = ptr::null_mut();
        // SAFETY: &mut err is writable.
        let status = unsafe {
            ffi_boundary(&mut err, || {
                Err(Failure::python(
                    "ValueError".into(),
                    "bad".into(),
                    "Traceback...".into(),
                ))
            })
        };
        assert_eq!(status, pyhost_status::PYHOST_STATUS_PYTHON_EXCEPTION);
        assert!(!err.is_null());
        // SAFETY: err was just written by ffi_boundary.
        let e = unsafe { &*err };
        // SAFETY: the strings are owned by the error.
        let text = |s: pyhost_str| unsafe { s.to_str("field") }.unwrap().to_owned();
        assert_eq!(text(e.type_name), "ValueError");
        assert_eq!(text(e.message), "bad");
        assert_eq!(text(e.traceback), "Traceback...");
        // SAFETY: freed once.
        unsafe { Failure::free_raw(err) };
    }

    #[test]
    fn panic_is_caught_and_reported() {
        let mut err: *mut pyhost_error = ptr::null_mut();
        // SAFETY: &mut err is writable.
        let status = unsafe { ffi_boundary(&mut err, || panic!("kaboom {}", 7)) };
        assert_eq!(status, pyhost_status::PYHOST_STATUS_PANIC);
        // SAFETY: written by ffi_boundary.
        let message = unsafe { (*err).message.to_str("message") }
            .unwrap()
            .to_owned();
        assert!(message.contains("kaboom 7"), "{message}");
        // SAFETY: freed once.
        unsafe { Failure::free_raw(err) };
    }

    #[test]
    fn null_out_error_still_returns_the_status() {
        // SAFETY: NULL is allowed for out_error.
        let status = unsafe { ffi_boundary(ptr::null_mut(), || Err(Failure::invalid_handle("x"))) };
        assert_eq!(status, pyhost_status::PYHOST_STATUS_INVALID_HANDLE);
    }

    #[test]
    fn borrowed_strings_are_checked() {
        let null_with_len = pyhost_str {
            ptr: ptr::null(),
            len: 3,
        };
        // SAFETY: the function must reject this without reading.
        assert!(unsafe { null_with_len.to_str("s") }.is_err());
        let bad = [0xffu8, 0xfe];
        let s = pyhost_str {
            ptr: bad.as_ptr(),
            len: bad.len(),
        };
        // SAFETY: points at `bad`.
        let err = unsafe { s.to_str("name") }.unwrap_err();
        assert_eq!(err.status, pyhost_status::PYHOST_STATUS_INVALID_ARGUMENT);
        assert!(err.message.contains("name is not valid UTF-8"));
        // SAFETY: empty views never read.
        assert_eq!(unsafe { pyhost_str::EMPTY.to_str("e") }.unwrap(), "");
    }

    #[test]
    fn status_names_match_the_header() {
        assert_eq!(pyhost_status::name_of(1005), "PYHOST_STATUS_SHUTDOWN");
        assert_eq!(pyhost_status::name_of(0), "PYHOST_STATUS_OK");
        assert_eq!(pyhost_status::name_of(4242), "PYHOST_STATUS_UNKNOWN");
    }
}
