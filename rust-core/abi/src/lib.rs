//! The binary contract between the pyhost C API (`pyhost-core`, linked into the
//! host program) and the Python engine (`pyhost-engine`, a shared object loaded
//! at run time). Every type here is `#[repr(C)]` and appears in `pyhost.h`.
//!
//! Allocation rule: neither crate sets a `#[global_allocator]`, so both use the
//! system allocator and an owned buffer made on one side may be freed on the
//! other (`pyhost_bytes_free`, `pyhost_error_free`).

#![allow(non_camel_case_types)]

pub mod batch;
mod boundary;
mod types;

pub use boundary::{check_out, ffi_boundary, Failure, FailureFields};
pub use types::*;

/// Version of the C API and of the engine table. The host checks it against
/// the header it was compiled with, and the core checks it against the engine.
pub const PYHOST_ABI_VERSION: u32 = 1;

/// Name of the single symbol an engine exports.
pub const ENGINE_ENTRY_SYMBOL: &[u8] = b"pyhost_engine_entry\0";
