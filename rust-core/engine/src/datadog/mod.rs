//! The Datadog Agent's side, the top layer: the in-memory modules the
//! Agent's rtloader gives checks (`aggregator`, `datadog_agent`, `_util`,
//! `util`, `tagger`, `containers`, `kubeutil`), with rtloader's names,
//! positional signatures, return values and argument errors, so checks
//! written for datadog_checks_base run unmodified.

pub mod aggregator;
pub mod cfunc;
pub mod datadog_agent;
pub mod subprocess;
pub mod workloads;

use pyhost_abi::Failure;
use pyo3::Python;

use crate::runtime::host::Helper;

/// `_pyhost_datadog`: the agent settings, the persistent cache,
/// subprocesses, and what datadog_checks_base looks like to the layers below.
pub static AGENT: Helper = Helper::new(
    c"_pyhost_datadog",
    c"<pyhost datadog>",
    include_str!("agent.py"),
);

/// Registers the Agent's modules (before the interpreter starts).
pub fn register_modules() {
    use crate::datadog::aggregator::aggregator;
    use crate::datadog::datadog_agent::{datadog_agent, util};
    use crate::datadog::subprocess::util_private;
    use crate::datadog::workloads::{containers, kubeutil, tagger};
    pyo3::append_to_inittab!(aggregator);
    pyo3::append_to_inittab!(datadog_agent);
    pyo3::append_to_inittab!(util_private);
    pyo3::append_to_inittab!(util);
    pyo3::append_to_inittab!(tagger);
    pyo3::append_to_inittab!(containers);
    pyo3::append_to_inittab!(kubeutil);
}

/// Installs `_pyhost_datadog`.
pub fn install(py: Python<'_>) -> Result<(), Failure> {
    AGENT.install(py)
}
