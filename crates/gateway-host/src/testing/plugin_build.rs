//! Builds workspace plugins for `wasm32-wasip1` (release) once per test process.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(|p| p.parent()).map(PathBuf::from).unwrap_or(manifest)
}

/// Builds crate `name` with `cargo build --release --target wasm32-wasip1 -p NAME` (once per
/// process; parallel callers wait) and returns the path of its `.wasm`. Respects
/// `CARGO_TARGET_DIR`. Panics with cargo's output when the build fails.
#[allow(clippy::panic)]
pub fn plugin_wasm(name: &str) -> PathBuf {
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(p) = built.get(name) {
        return p.clone();
    }
    let root = workspace_root();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_relative() { root.join(p) } else { p })
        .unwrap_or_else(|| root.join("target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip1", "-p", name])
        .env("CARGO_TARGET_DIR", &target_dir)
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) => panic!("running cargo to build {name}: {e}"),
    };
    if !output.status.success() {
        panic!("building {name} for wasm32-wasip1 failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    let path = target_dir.join("wasm32-wasip1").join("release").join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.exists(), "{} missing after the build", path.display());
    built.insert(name.to_string(), path.clone());
    path
}
