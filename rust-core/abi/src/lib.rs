//! The binary contract between the pyhost C API (`pyhost-core`, linked into the
//! host program) and the Python engine (`pyhost-engine`, a shared object loaded
//! at run time). Every type here is `#[repr(C)]` and appears in `pyhost.h`.
//!
//! Allocation rule: memory is freed by the library that allocated it. The
//! host program links the core and may give it its own `#[global_allocator]`;
//! the engine is a separate shared object with the system allocator. So the
//! core frees the engine's buffers through the engine's table
//! (`bytes_free`), and errors the engine reports are copied into errors of
//! the core's own before they reach the host.

#![allow(non_camel_case_types)]

pub mod batch;
mod boundary;
mod types;
pub mod value;

pub use boundary::{check_out, ffi_boundary, Failure, FailureFields};
pub use types::*;

/// Version of the C API and of the engine table. The host checks it against
/// the header it was compiled with, and the core checks it against the engine.
pub const PYHOST_ABI_VERSION: u32 = 6;

/// Name of the single symbol an engine exports.
pub const ENGINE_ENTRY_SYMBOL: &[u8] = b"pyhost_engine_entry\0";
