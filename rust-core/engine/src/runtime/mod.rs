//! The embedding core, the bottom layer: starting CPython and the rules for
//! which thread touches it when, what each plugin's runs cost (memory
//! owners, clocks), runtime sessions and their shutdown, the
//! handle tables, Python errors as `Failure`s, log routing, JSON values, and
//! plain Python functions called from the host.
//!
//! It knows nothing of checks, the SDK or Datadog. The layers above hook in
//! where they must (modules registered before start, helpers installed after
//! it, a log router, tables released at shutdown) without this layer naming
//! them.

pub mod accounting;
pub mod calls;
pub mod convert;
pub mod errors;
pub mod functions;
pub mod gil_cell;
pub mod handles;
pub mod host;
pub mod interpreter;
pub mod logging;
pub mod sessions;
