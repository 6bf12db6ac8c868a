//! Links the engine to the libpython of `PYO3_PYTHON` with an rpath to it, so
//! the engine loads that Python and never another one on the same machine;
//! records the Python to run when the host names none; and embeds the
//! pyhost SDK's sources, so `import pyhost` works in whichever Python the
//! engine runs.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    pyo3_build_config::add_libpython_rpath_link_args();
    let config = pyo3_build_config::get();
    let executable = config.executable().unwrap_or_default();
    println!("cargo:rustc-env=PYHOST_BUILD_PYTHON={executable}");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    // `make` sets it to the virtual environment it builds (the SDK, pinned
    // datadog-checks-base): the default for hosts that name no Python.
    let default = std::env::var("PYHOST_DEFAULT_PYTHON").unwrap_or_default();
    println!("cargo:rustc-env=PYHOST_DEFAULT_PYTHON={default}");
    println!("cargo:rerun-if-env-changed=PYHOST_DEFAULT_PYTHON");
    embed_sdk();
}

/// Writes `$OUT_DIR/sdk_sources.rs`: every module of the SDK package as
/// (dotted name, is a package, source).
fn embed_sdk() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let root = manifest.join("../../python-sdk/src/pyhost");
    let root = root
        .canonicalize()
        .expect("the SDK sources (python-sdk/src/pyhost)");
    // Which modules there are: `make` lists them (watching the folders
    // instead would see every .pyc written beside the sources).
    println!("cargo:rerun-if-env-changed=PYHOST_SDK_MODULES");
    let mut modules = Vec::new();
    collect(&root, "pyhost", &mut modules);
    modules.sort();
    let mut out = String::from("pub static SOURCES: &[(&str, bool, &str)] = &[\n");
    for (name, package, path) in &modules {
        writeln!(
            out,
            "    ({name:?}, {package}, include_str!({:?})),",
            path.display()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("sdk_sources.rs");
    std::fs::write(dest, out).expect("write sdk_sources.rs");
}

fn collect(dir: &Path, package: &str, out: &mut Vec<(String, bool, PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read an SDK directory")
        .map(|e| e.expect("an SDK directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if path.join("__init__.py").is_file() {
                collect(&path, &format!("{package}.{name}"), out);
            }
        } else if let Some(stem) = name.strip_suffix(".py") {
            println!("cargo:rerun-if-changed={}", path.display());
            if stem == "__init__" {
                out.push((package.to_owned(), true, path));
            } else {
                out.push((format!("{package}.{stem}"), false, path));
            }
        }
    }
}
