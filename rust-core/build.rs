//! Records where the engine built by this workspace will be, so a host that
//! names no engine finds the one built next to this library.
use std::path::PathBuf;

fn main() {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/pyhost-core-<hash>/out.
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("target profile directory");
    let engine = profile_dir.join("libpyhost_engine.so");
    println!("cargo:rustc-env=PYHOST_DEFAULT_ENGINE={}", engine.display());
    println!("cargo:rerun-if-changed=build.rs");
}
