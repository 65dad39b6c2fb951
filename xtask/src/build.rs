//! `cargo xtask build`: compiles plugins for wasm32-wasip1 in release, runs `wasm-opt` when installed,
//! and leaves each module at `target/plugins/NAME/plugin.wasm`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::flags::Flags;
use crate::workspace::{self, Plugin, Workspace};

pub const ABOUT: &str = "build plugins for wasm32-wasip1 (release) and shrink them with wasm-opt";
pub const USAGE: &str = "\
cargo xtask build [--plugin NAME] [--no-opt]

Prints the path of each plugin.wasm.

  --plugin NAME  build one plugin (default: every cdylib crate under plugins/ and examples/)
  --no-opt       skip wasm-opt even when it is installed";

pub const WASM_TARGET: &str = "wasm32-wasip1";

/// wasm-opt arguments: optimise for size and drop DWARF/name sections nobody reads in production.
const WASM_OPT_ARGS: [&str; 2] = ["-Oz", "--strip-debug"];

pub fn run(mut flags: Flags) -> Result<()> {
    let plugin = flags.value("--plugin")?;
    let optimise = !flags.switch("--no-opt");
    flags.finish()?;
    let ws = Workspace::load()?;
    let plugins = ws.select(plugin.as_deref())?;
    if plugins.is_empty() {
        eprintln!("no plugin crates under plugins/ or examples/");
        return Ok(());
    }
    for built in build(&ws, &plugins, optimise)? {
        println!("{}", built.wasm.display());
    }
    Ok(())
}

/// A plugin module ready to ship.
#[derive(Debug)]
pub struct Built {
    pub wasm: PathBuf,
    pub bytes: Vec<u8>,
}

/// Builds `plugins` in one cargo invocation and optimises each result.
pub fn build(ws: &Workspace, plugins: &[Plugin], optimise: bool) -> Result<Vec<Built>> {
    let mut cargo = Command::new(workspace::cargo());
    cargo
        .args(["build", "--release", "--target", WASM_TARGET, "--manifest-path"])
        .arg(ws.root.join("Cargo.toml"));
    for p in plugins {
        cargo.args(["-p", &p.name]);
    }
    eprintln!(
        "building {} for {WASM_TARGET} (release)",
        plugins
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let status = cargo.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build for {WASM_TARGET} failed ({status})");
    }

    let wasm_opt = if optimise { wasm_opt_version() } else { None };
    if optimise && wasm_opt.is_none() {
        eprintln!("wasm-opt not found (apt-get install binaryen): shipping cargo's output as is");
    }
    let mut built = Vec::new();
    for plugin in plugins {
        let raw_path = ws
            .target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{}.wasm", plugin.name.replace('-', "_")));
        let raw = std::fs::read(&raw_path)
            .with_context(|| format!("reading cargo's output {}", raw_path.display()))?;
        let out_dir = ws.out_dir(plugin);
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("creating {}", out_dir.display()))?;
        let wasm = out_dir.join("plugin.wasm");
        let bytes = match &wasm_opt {
            Some(version) => optimise_cached(&raw_path, &raw, &wasm, version)?,
            None => {
                workspace::write_atomic(&wasm, &raw)?;
                raw.clone()
            }
        };
        eprintln!(
            "{}: {} bytes from cargo, {} bytes {} -> {}",
            plugin.name,
            raw.len(),
            bytes.len(),
            if wasm_opt.is_some() {
                "after wasm-opt"
            } else {
                "unoptimised"
            },
            ws.relative(&wasm).display()
        );
        built.push(Built { wasm, bytes });
    }
    Ok(built)
}

/// `wasm-opt --version` when wasm-opt is on `PATH`.
fn wasm_opt_version() -> Option<String> {
    let out = Command::new("wasm-opt").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs wasm-opt unless `out` already holds the optimised form of exactly these input bytes.
fn optimise_cached(raw_path: &Path, raw: &[u8], out: &Path, version: &str) -> Result<Vec<u8>> {
    let mut key = Sha256::new();
    key.update(raw);
    key.update(version.as_bytes());
    key.update(WASM_OPT_ARGS.join(" ").as_bytes());
    let key = format!("{:x}", key.finalize());
    let stamp = out.with_file_name(".plugin.wasm.opt-input");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == key)
        && let Ok(bytes) = std::fs::read(out)
    {
        return Ok(bytes);
    }
    let tmp = workspace::temp_sibling(out);
    let output = Command::new("wasm-opt")
        .args(WASM_OPT_ARGS)
        .arg(raw_path)
        .arg("-o")
        .arg(&tmp)
        .output()
        .context("running wasm-opt")?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "wasm-opt {} failed on {}:\n{}",
            WASM_OPT_ARGS.join(" "),
            raw_path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::rename(&tmp, out).with_context(|| format!("renaming into {}", out.display()))?;
    workspace::write_atomic(&stamp, key.as_bytes())?;
    std::fs::read(out).with_context(|| format!("reading {}", out.display()))
}
