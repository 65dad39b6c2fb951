//! The workspace as xtask sees it: where it lives, where cargo builds, which crates are plugins, and git facts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Directories scanned for plugin crates, in this order.
pub const PLUGIN_PARENTS: [&str; 2] = ["plugins", "examples"];

/// Files a plugin directory needs before it can be packaged as an image.
pub const PACKAGE_FILES: [&str; 3] = ["README.md", "spec.yaml", "VERSION"];

/// The plugin's default configuration, used by `cargo xtask manifest`.
pub const DEFAULT_CONFIG_FILE: &str = "default-config.yaml";

#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub plugins: Vec<Plugin>,
}

/// A `cdylib` crate under `plugins/` or `examples/`.
#[derive(Debug, Clone)]
pub struct Plugin {
    /// Crate name = directory name = OCI repository name.
    pub name: String,
    pub dir: PathBuf,
    /// `package.repository` from Cargo.toml, else `[workspace.package] repository`, for the image's
    /// `source` annotation.
    pub repository: Option<String>,
}

impl Plugin {
    /// Packaging files this plugin lacks (empty when it can be packaged).
    pub fn missing_package_files(&self) -> Vec<&'static str> {
        PACKAGE_FILES.into_iter().filter(|f| !self.dir.join(f).is_file()).collect()
    }

    /// The version in the plugin's `VERSION` file.
    pub fn version(&self) -> Result<String> {
        let path = self.dir.join("VERSION");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let version = text.trim().to_string();
        if version.is_empty() || version.contains(char::is_whitespace) {
            bail!("{} must hold one version, found {text:?}", path.display());
        }
        Ok(version)
    }
}

/// The cargo binary running us (cargo sets `CARGO`), else `cargo` from `PATH`.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

impl Workspace {
    /// Finds the workspace (`XTASK_WORKSPACE_ROOT` overrides the one xtask was built in) and its plugins.
    pub fn load() -> Result<Workspace> {
        let root = match std::env::var_os("XTASK_WORKSPACE_ROOT") {
            Some(r) => PathBuf::from(r),
            None => {
                Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask has no parent directory")?.to_path_buf()
            }
        };
        let output = Command::new(cargo())
            .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .output()
            .context("running `cargo metadata`")?;
        if !output.status.success() {
            bail!("`cargo metadata` failed:\n{}", String::from_utf8_lossy(&output.stderr));
        }
        let meta: Value = serde_json::from_slice(&output.stdout).context("parsing `cargo metadata` output")?;
        let target_dir =
            PathBuf::from(meta["target_directory"].as_str().context("`cargo metadata` gave no target_directory")?);
        let plugins = discover(&root, &meta)?;
        Ok(Workspace { root, target_dir, plugins })
    }

    /// Where `cargo xtask` writes a plugin's artifacts.
    pub fn out_dir(&self, plugin: &Plugin) -> PathBuf {
        self.target_dir.join("plugins").join(&plugin.name)
    }

    /// One plugin by name, or all of them.
    pub fn select(&self, name: Option<&str>) -> Result<Vec<Plugin>> {
        let Some(name) = name else {
            return Ok(self.plugins.clone());
        };
        match self.plugins.iter().find(|p| p.name == name) {
            Some(p) => Ok(vec![p.clone()]),
            None => {
                let known: Vec<&str> = self.plugins.iter().map(|p| p.name.as_str()).collect();
                bail!(
                    "no plugin named `{name}` (cdylib crates under plugins/ and examples/: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )
            }
        }
    }

    /// Selects plugins that can be packaged: a named one must have every packaging file; when all are
    /// selected, those lacking files are skipped with a message.
    pub fn select_packageable(&self, name: Option<&str>) -> Result<Vec<Plugin>> {
        let mut out = Vec::new();
        for plugin in self.select(name)? {
            let missing = plugin.missing_package_files();
            if missing.is_empty() {
                out.push(plugin);
            } else if name.is_some() {
                bail!(
                    "cannot package `{}`: {} lacks {}",
                    plugin.name,
                    self.relative(&plugin.dir).display(),
                    missing.join(", ")
                );
            } else {
                eprintln!(
                    "skipping {}: no {} (needed for packaging)",
                    self.relative(&plugin.dir).display(),
                    missing.join(", ")
                );
            }
        }
        Ok(out)
    }

    pub fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }

    /// The commit checked out (`unknown` outside git or before the first commit).
    pub fn revision(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_string())
    }

    /// Seconds since the epoch that stamp the image: `SOURCE_DATE_EPOCH`, else the commit time, else 0.
    pub fn source_date_epoch(&self) -> Result<u64> {
        if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
            return v.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"));
        }
        Ok(self.git(&["log", "-1", "--format=%ct"]).and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    fn git(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("git").arg("-C").arg(&self.root).args(args).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    }
}

fn discover(root: &Path, meta: &Value) -> Result<Vec<Plugin>> {
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let mut plugins = Vec::new();
    for parent in PLUGIN_PARENTS {
        let Ok(entries) = std::fs::read_dir(root.join(parent)) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|d| d.join("Cargo.toml").is_file()).collect();
        dirs.sort();
        for dir in dirs {
            let manifest = dir.join("Cargo.toml");
            let canonical = manifest.canonicalize().unwrap_or(manifest.clone());
            let package = packages.iter().find(|p| {
                p["manifest_path"].as_str().is_some_and(|m| Path::new(m) == canonical || Path::new(m) == manifest)
            });
            let rel = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
            let Some(package) = package else {
                eprintln!("skipping {rel}: not a member of the workspace");
                continue;
            };
            let is_cdylib = package["targets"].as_array().is_some_and(|targets| {
                targets.iter().any(|t| t["crate_types"].as_array().is_some_and(|c| c.iter().any(|c| c == "cdylib")))
            });
            if !is_cdylib {
                continue;
            }
            let name = package["name"].as_str().unwrap_or_default().to_string();
            let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name != dir_name {
                bail!("{rel}: crate name `{name}` must equal its directory name `{dir_name}`");
            }
            let repository = package["repository"].as_str().map(str::to_string).or_else(|| workspace_repository(root));
            plugins.push(Plugin { name, dir, repository });
        }
    }
    Ok(plugins)
}

/// `repository` of the root manifest's `[workspace.package]` table (a line scan: a string value).
fn workspace_repository(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).ok()?;
    let mut in_table = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[workspace.package]";
        } else if in_table
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "repository"
        {
            return Some(value.trim().trim_matches('"').to_string()).filter(|v| !v.is_empty());
        }
    }
    None
}

/// Writes a file so readers never see it half-written: a temporary sibling renamed into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_sibling(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}

/// A unique path next to `path`, for staging files and directories before a rename.
pub fn temp_sibling(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Formats seconds since the epoch as an RFC 3339 UTC timestamp.
pub fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar, 400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_epoch_seconds_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
