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

  --plugin NAME  build one plugin (default: every cdylib crate under plugins/ and examples/)
  --no-opt       skip wasm-opt even when it is installed

Prints the path of each plugin.wasm.";

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
    /// cargo's output before wasm-opt (it keeps the function names the fuel profile reports).
    pub raw: Vec<u8>,
}

/// Builds each plugin in its own cargo invocation (so features resolve the same way whichever
/// plugins are selected, and the bytes, hence the image digest, do not depend on the selection),
/// then optimises each result.
pub fn build(ws: &Workspace, plugins: &[Plugin], optimise: bool) -> Result<Vec<Built>> {
    let mut raws = Vec::with_capacity(plugins.len());
    for plugin in plugins {
        eprintln!("building {} for {WASM_TARGET} (release)", plugin.name);
        let status = Command::new(workspace::cargo())
            .args(["build", "--release", "--target", WASM_TARGET, "--manifest-path"])
            .arg(ws.root.join("Cargo.toml"))
            .args(["-p", &plugin.name])
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build of {} for {WASM_TARGET} failed ({status})", plugin.name);
        }
        let raw_path =
            ws.target_dir.join(WASM_TARGET).join("release").join(format!("{}.wasm", plugin.name.replace('-', "_")));
        // Read at once: another build with a different selection may rewrite the file later.
        let raw = std::fs::read(&raw_path).with_context(|| format!("reading cargo's output {}", raw_path.display()))?;
        raws.push(raw);
    }

    let wasm_opt = if optimise { wasm_opt_version() } else { None };
    if optimise && wasm_opt.is_none() {
        eprintln!("wasm-opt not found (apt-get install binaryen): shipping cargo's output as is");
    }
    let mut built = Vec::new();
    for (plugin, raw) in plugins.iter().zip(raws) {
        let out_dir = ws.out_dir(plugin);
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("creating {}", out_dir.display()))?;
        let wasm = out_dir.join("plugin.wasm");
        let bytes = match &wasm_opt {
            Some(version) => optimise_cached(&raw, &wasm, version)?,
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
        built.push(Built { wasm, bytes, raw });
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

/// Optimises `raw` into `out`, reusing an earlier result for exactly these input bytes, wasm-opt
/// version and flags (kept in `.opt-cache/KEY.wasm` beside `out`; concurrent runs never mix results).
fn optimise_cached(raw: &[u8], out: &Path, version: &str) -> Result<Vec<u8>> {
    let mut key = Sha256::new();
    key.update(raw);
    key.update(version.as_bytes());
    key.update(WASM_OPT_ARGS.join(" ").as_bytes());
    let key = format!("{:x}", key.finalize());
    let cache_dir = out.with_file_name(".opt-cache");
    let cached = cache_dir.join(format!("{key}.wasm"));
    if let Ok(bytes) = std::fs::read(&cached) {
        if std::fs::read(out).ok().as_deref() != Some(&bytes[..]) {
            workspace::write_atomic(out, &bytes)?;
        }
        return Ok(bytes);
    }
    std::fs::create_dir_all(&cache_dir).with_context(|| format!("creating {}", cache_dir.display()))?;
    // wasm-opt reads a private copy: cargo may rewrite its output while we work.
    let input = workspace::temp_sibling(&cached);
    let output = workspace::temp_sibling(&cached);
    std::fs::write(&input, raw).with_context(|| format!("writing {}", input.display()))?;
    let run = Command::new("wasm-opt").args(WASM_OPT_ARGS).arg(&input).arg("-o").arg(&output).output();
    let _ = std::fs::remove_file(&input);
    let run = run.context("running wasm-opt")?;
    if !run.status.success() {
        let _ = std::fs::remove_file(&output);
        bail!("wasm-opt {} failed:\n{}", WASM_OPT_ARGS.join(" "), String::from_utf8_lossy(&run.stderr));
    }
    let bytes = std::fs::read(&output).with_context(|| format!("reading {}", output.display()))?;
    // Keep only this result: older entries belong to sources that are gone.
    for entry in std::fs::read_dir(&cache_dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".wasm") && entry.path() != cached {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    std::fs::rename(&output, &cached).with_context(|| format!("renaming into {}", cached.display()))?;
    workspace::write_atomic(out, &bytes)?;
    Ok(bytes)
}
