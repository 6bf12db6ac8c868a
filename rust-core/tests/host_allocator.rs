//! A Rust host with its own global allocator: every buffer and error the C
//! API hands it must be freed by the allocator that made it. This host's
//! allocator marks its blocks; a free of a block it did not make (one the
//! engine, a separate shared object with the system allocator, made) is
//! counted, and the test fails if there is any.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyhost_abi::{
    pyhost_buffer, pyhost_bytes, pyhost_error, pyhost_function, pyhost_runtime,
    pyhost_runtime_options, pyhost_status, pyhost_str,
};
use pyhost_core::*;

/// Puts a marker in front of every block it hands out.
struct Marking;

const MARK: u64 = 0x5059_484f_5354_2121;
static FOREIGN_FREES: AtomicUsize = AtomicUsize::new(0);

/// The header in front of a block: room for the mark, keeping the alignment.
fn outer(layout: Layout) -> (Layout, usize) {
    let header = layout.align().max(16);
    let outer = Layout::from_size_align(layout.size() + header, header).unwrap();
    (outer, header)
}

// SAFETY: blocks are System blocks with a header in front, the mark in
// the header's last 8 bytes.
unsafe impl GlobalAlloc for Marking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (outer, header) = outer(layout);
        // SAFETY: a non-zero size.
        let base = unsafe { System.alloc(outer) };
        if base.is_null() {
            return base;
        }
        // SAFETY: the header is at least 16 bytes.
        unsafe {
            let block = base.add(header);
            (block.sub(8) as *mut u64).write(MARK);
            block
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let (outer, header) = outer(layout);
        // SAFETY: reading the 8 bytes in front of a block; for a foreign
        // block they are the system allocator's own header.
        if unsafe { (block.sub(8) as *const u64).read() } != MARK {
            FOREIGN_FREES.fetch_add(1, Ordering::SeqCst);
            // The system allocator made it: give it back there.
            // SAFETY: System::dealloc of a malloc block with align <= 16 is free().
            unsafe { System.dealloc(block, layout) };
            return;
        }
        // SAFETY: the block came from `alloc` with this outer layout.
        unsafe { System.dealloc(block.sub(header), outer) };
    }
}

#[global_allocator]
static ALLOCATOR: Marking = Marking;

fn status_of(status: pyhost_status, err: *mut pyhost_error) -> Result<(), String> {
    if status == pyhost_status::PYHOST_STATUS_OK {
        return Ok(());
    }
    assert!(!err.is_null());
    // SAFETY: the library wrote the error.
    let message = unsafe { (*err).message.to_str("message") }
        .unwrap()
        .to_owned();
    // SAFETY: freed once, by the C API.
    unsafe { pyhost_error_free(err) };
    Err(message)
}

#[test]
fn buffers_and_errors_go_back_to_the_allocator_that_made_them() {
    let options = pyhost_runtime_options {
        engine_path: pyhost_str::EMPTY,
        libpython_path: pyhost_str::EMPTY,
        python_executable: pyhost_str::EMPTY,
        python_path: ptr::null(),
        python_path_len: 0,
        log_level: 0,
        log_callback: None,
        log_context: 0,
        metric_callback: None,
        metric_context: 0,
        disable_accounting: 0,
    };
    let mut rt = pyhost_runtime { id: 0 };
    let mut err = ptr::null_mut();
    // SAFETY: valid pointers.
    let status = unsafe { pyhost_runtime_start(&options, &mut rt, &mut err) };
    status_of(status, err).expect("the runtime starts");

    // An owned buffer from the engine (the interpreter's description).
    let mut info = pyhost_bytes::EMPTY;
    let mut err = ptr::null_mut();
    // SAFETY: valid pointers.
    let status = unsafe { pyhost_runtime_python_info(rt, &mut info, &mut err) };
    status_of(status, err).unwrap();
    assert!(info.len > 0);
    // SAFETY: freed once.
    unsafe { pyhost_bytes_free(info) };

    // A result too big for the scratch buffer spills into an owned one.
    let mut function = pyhost_function { id: 0 };
    let mut err = ptr::null_mut();
    // SAFETY: valid pointers.
    let status = unsafe {
        pyhost_function_load(
            rt,
            pyhost_str::borrow("json"),
            pyhost_str::borrow("dumps"),
            &mut function,
            &mut err,
        )
    };
    status_of(status, err).unwrap();
    let args = format!("[\"{}\"]", "x".repeat(10_000));
    let (mut len, mut owned, mut err) = (0usize, pyhost_bytes::EMPTY, ptr::null_mut());
    let mut scratch = [0u8; 64];
    // SAFETY: valid pointers; the scratch buffer is lent for the call.
    let status = unsafe {
        pyhost_function_call(
            rt,
            function,
            pyhost_str::borrow(&args),
            pyhost_buffer {
                ptr: scratch.as_mut_ptr(),
                cap: scratch.len(),
            },
            &mut len,
            &mut owned,
            &mut err,
        )
    };
    status_of(status, err).unwrap();
    assert!(!owned.ptr.is_null() && len > 10_000);
    // SAFETY: freed once.
    unsafe { pyhost_bytes_free(owned) };

    // Errors the engine reports: a Python exception, a bad handle.
    let mut err = ptr::null_mut();
    // SAFETY: valid pointers.
    let status = unsafe {
        pyhost_function_load(
            rt,
            pyhost_str::borrow("no_such_module_anywhere"),
            pyhost_str::borrow("f"),
            &mut function,
            &mut err,
        )
    };
    assert!(status_of(status, err)
        .unwrap_err()
        .contains("no_such_module_anywhere"));
    let mut err = ptr::null_mut();
    // SAFETY: valid pointers.
    let status = unsafe { pyhost_function_free(rt, pyhost_function { id: 0xdead }, &mut err) };
    assert!(status_of(status, err)
        .unwrap_err()
        .contains("function handle"));

    let mut err = ptr::null_mut();
    // SAFETY: valid pointers.
    let status = unsafe { pyhost_runtime_shutdown(rt, 5000, &mut err) };
    status_of(status, err).unwrap();
    assert_eq!(
        FOREIGN_FREES.load(Ordering::SeqCst),
        0,
        "the host's allocator was given blocks another allocator made"
    );
}
