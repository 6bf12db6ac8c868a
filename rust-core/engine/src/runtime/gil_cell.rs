//! State that only code holding the GIL touches.
//!
//! The engine's tables and batch buffers are read and written only while a
//! thread is attached to the interpreter, and CPython (3.11, with its GIL)
//! runs one attached thread at a time, so a lock around them would only add
//! cost to every call. `GilCell` makes that rule a type: access needs a
//! `Python` token, and the closure given access must not run Python code
//! (running Python could release the GIL, or re-enter and alias the borrow).

use std::cell::UnsafeCell;

use pyo3::Python;

#[cfg(Py_GIL_DISABLED)]
compile_error!("pyhost's engine relies on the GIL; free-threaded CPython is not supported");

pub struct GilCell<T>(UnsafeCell<T>);

// SAFETY: every access goes through `with`, which requires the GIL (a
// `Python` token), and the GIL admits one thread at a time.
unsafe impl<T: Send> Sync for GilCell<T> {}

impl<T> GilCell<T> {
    pub const fn new(value: T) -> GilCell<T> {
        GilCell(UnsafeCell::new(value))
    }

    /// Runs `f` with exclusive access.
    ///
    /// # Safety
    /// `f` must not run Python code (no calls into Python objects, no drops of
    /// Python objects): Python code could release the GIL or re-enter this
    /// cell, and two `&mut T` would exist at once.
    pub unsafe fn with<R>(&self, _py: Python<'_>, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the GIL is held (token), so no other thread is here; the
        // caller guarantees `f` cannot re-enter on this thread.
        f(unsafe { &mut *self.0.get() })
    }
}
