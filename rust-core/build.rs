//! Records where the engine is, so a host that names no engine finds it:
//! the one built next to this library, or `PYHOST_DEFAULT_ENGINE` when set
//! (`make install` sets it to the engine's installed path).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=PYHOST_DEFAULT_ENGINE");
    println!("cargo:rerun-if-changed=build.rs");
    let engine = match std::env::var("PYHOST_DEFAULT_ENGINE") {
        Ok(path) if !path.is_empty() => PathBuf::from(path),
        _ => {
            let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
            // OUT_DIR is <target>/<profile>/build/pyhost-core-<hash>/out.
            let profile_dir = out_dir
                .ancestors()
                .nth(3)
                .expect("target profile directory");
            profile_dir.join("libpyhost_engine.so")
        }
    };
    println!("cargo:rustc-env=PYHOST_DEFAULT_ENGINE={}", engine.display());
}
