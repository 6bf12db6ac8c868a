//! Links the engine to the libpython of `PYO3_PYTHON` with an rpath to it, so
//! the engine loads that Python and never another one on the same machine.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    pyo3_build_config::add_libpython_rpath_link_args();
    let config = pyo3_build_config::get();
    let executable = config.executable().unwrap_or_default();
    println!("cargo:rustc-env=PYHOST_BUILD_PYTHON={executable}");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
