//! The C API's guarantees that hold without a Python: NULL arguments are
//! errors, not crashes; nothing works before a start; a missing engine is
//! PYTHON_UNAVAILABLE with the reason.

use std::ptr;

use pyhost_abi::{
    pyhost_buffer, pyhost_bytes, pyhost_check, pyhost_direct_value, pyhost_error, pyhost_runtime,
    pyhost_runtime_options, pyhost_status, pyhost_str,
};
use pyhost_core::*;

fn message(err: *mut pyhost_error) -> String {
    assert!(!err.is_null(), "an error was expected");
    // SAFETY: err was written by the library.
    let text = unsafe { (*err).message.to_str("message") }
        .unwrap()
        .to_owned();
    // SAFETY: freed once.
    unsafe { pyhost_error_free(err) };
    text
}

fn options(engine: &str) -> pyhost_runtime_options {
    pyhost_runtime_options {
        engine_path: pyhost_str::borrow(engine),
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
    }
}

#[test]
fn null_pointers_are_invalid_arguments() {
    let mut err = ptr::null_mut();
    let mut rt = pyhost_runtime { id: 0 };
    // SAFETY: exercising the NULL checks.
    let status = unsafe { pyhost_runtime_start(ptr::null(), &mut rt, &mut err) };
    assert_eq!(status, pyhost_status::PYHOST_STATUS_INVALID_ARGUMENT);
    assert_eq!(message(err), "options is NULL");

    let opts = options("/nonexistent");
    let mut err = ptr::null_mut();
    // SAFETY: as above.
    let status = unsafe { pyhost_runtime_start(&opts, ptr::null_mut(), &mut err) };
    assert_eq!(status, pyhost_status::PYHOST_STATUS_INVALID_ARGUMENT);
    assert_eq!(message(err), "out_runtime is NULL");

    let mut err = ptr::null_mut();
    // SAFETY: as above.
    let status =
        unsafe { pyhost_check_run(rt, pyhost_check { id: 1 }, 0, ptr::null_mut(), &mut err) };
    assert_eq!(status, pyhost_status::PYHOST_STATUS_INVALID_ARGUMENT);
    assert_eq!(message(err), "out_batch is NULL");

    let mut len = 0usize;
    let mut out = pyhost_bytes::EMPTY;
    let mut err = ptr::null_mut();
    let scratch = pyhost_buffer {
        ptr: ptr::null_mut(),
        cap: 16,
    };
    // SAFETY: as above.
    let status = unsafe {
        pyhost_function_call(
            rt,
            pyhost_abi::pyhost_function { id: 1 },
            pyhost_str::EMPTY,
            scratch,
            &mut len,
            &mut out,
            &mut err,
        )
    };
    assert_eq!(status, pyhost_status::PYHOST_STATUS_INVALID_ARGUMENT);
    assert!(message(err).contains("scratch is NULL"));
    let mut err = ptr::null_mut();
    // SAFETY: as above.
    let status = unsafe { pyhost_meter_new(rt, ptr::null_mut(), &mut err) };
    assert_eq!(status, pyhost_status::PYHOST_STATUS_INVALID_ARGUMENT);
    assert_eq!(message(err), "out_meter is NULL");
    let mut err = ptr::null_mut();
    // SAFETY: as above.
    let status = unsafe { pyhost_meter_read(rt, 1, ptr::null_mut(), &mut err) };
    assert_eq!(status, pyhost_status::PYHOST_STATUS_INVALID_ARGUMENT);
    assert_eq!(message(err), "out_usage is NULL");
    // The direct typed call: NULL out-pointers, NULL arguments with a count.
    let function = pyhost_abi::pyhost_function { id: 1 };
    let mut value = pyhost_direct_value::NONE;
    for (args, count, out_value, out_result, expected) in [
        (
            ptr::null(),
            0,
            ptr::null_mut(),
            &mut out as *mut pyhost_bytes,
            "out_value is NULL",
        ),
        (
            ptr::null(),
            0,
            &mut value as *mut pyhost_direct_value,
            ptr::null_mut(),
            "out_result is NULL",
        ),
        (
            ptr::null(),
            2,
            &mut value as *mut pyhost_direct_value,
            &mut out as *mut pyhost_bytes,
            "args is NULL with a non-zero count",
        ),
    ] {
        let mut err = ptr::null_mut();
        // SAFETY: as above.
        let status = unsafe {
            pyhost_function_invoke_direct(
                rt,
                function,
                args,
                count,
                0,
                0,
                pyhost_buffer {
                    ptr: ptr::null_mut(),
                    cap: 0,
                },
                out_value,
                out_result,
                &mut err,
            )
        };
        assert_eq!(status, pyhost_status::PYHOST_STATUS_INVALID_ARGUMENT);
        assert_eq!(message(err), expected);
    }
    // A NULL error pointer is allowed: the status alone reports.
    // SAFETY: NULL out_error is part of the contract.
    let status = unsafe { pyhost_runtime_start(ptr::null(), &mut rt, ptr::null_mut()) };
    assert_eq!(status, pyhost_status::PYHOST_STATUS_INVALID_ARGUMENT);
}

#[test]
fn nothing_works_before_a_start_and_a_missing_engine_is_reported() {
    let mut err = ptr::null_mut();
    // SAFETY: plain values.
    let status = unsafe {
        pyhost_check_cancel(
            pyhost_runtime { id: 1 },
            pyhost_check { id: 1 },
            0,
            &mut err,
        )
    };
    assert_eq!(status, pyhost_status::PYHOST_STATUS_INVALID_HANDLE);
    assert!(message(err).contains("no pyhost runtime has been started"));

    let opts = options("/nonexistent/libpyhost_engine.so");
    let mut rt = pyhost_runtime { id: 0 };
    let mut err = ptr::null_mut();
    // SAFETY: valid pointers.
    let status = unsafe { pyhost_runtime_start(&opts, &mut rt, &mut err) };
    assert_eq!(status, pyhost_status::PYHOST_STATUS_PYTHON_UNAVAILABLE);
    let text = message(err);
    assert!(text.contains("/nonexistent/libpyhost_engine.so"), "{text}");
    assert!(
        text.contains("No such file"),
        "the loader's reason is kept: {text}"
    );
    assert_eq!(rt.id, 0, "outputs are written only on success");
}

#[test]
fn free_functions_accept_empty_values() {
    // SAFETY: NULL and empty values are documented no-ops.
    unsafe {
        pyhost_error_free(ptr::null_mut());
        pyhost_bytes_free(pyhost_bytes::EMPTY);
    }
    assert_eq!(pyhost_abi_version(), PYHOST_ABI_VERSION);
    // No engine is ever loaded in this process: no contention count yet.
    assert!(pyhost_gil_contention().is_null());
    // SAFETY: static string.
    let name = unsafe { pyhost_status_name(1003).to_str("name") }.unwrap();
    assert_eq!(name, "PYHOST_STATUS_PYTHON_UNAVAILABLE");
}
