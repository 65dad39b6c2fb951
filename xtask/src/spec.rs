//! A plugin's `spec.yaml` (the Higress plugin spec layer): loading and the checks packaging relies on.

use anyhow::{Context, Result, bail};
use serde_yaml::Value;

use crate::workspace::Plugin;

pub const CATEGORIES: [&str; 6] = ["auth", "security", "protocol", "flow-control", "flow-monitor", "custom"];
pub const PHASES: [&str; 4] = ["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"];

/// The parts of `spec.yaml` xtask uses; the file itself ships unchanged.
#[derive(Debug)]
pub struct Spec {
    pub bytes: Vec<u8>,
    pub description: String,
    pub phase: String,
    pub priority: i64,
    /// `spec.configSchema` as JSON.
    pub config_schema: serde_json::Value,
}

/// Reads and checks `plugin`'s `spec.yaml`: `apiVersion`, `info` (category, `name: <plugin>/<version>`,
/// title, description), `spec` (phase, priority, a `configSchema` mapping).
pub fn load(plugin: &Plugin) -> Result<Spec> {
    let path = plugin.dir.join("spec.yaml");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let doc: Value = serde_yaml::from_slice(&bytes).with_context(|| format!("{} is not valid YAML", path.display()))?;
    let fail = |what: String| -> anyhow::Error { anyhow::anyhow!("{}: {what}", path.display()) };
    let text = |v: &Value, key: &str| -> Result<String> {
        match v {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(fail(format!("`{key}` must be a non-empty string"))),
        }
    };

    text(&doc["apiVersion"], "apiVersion")?;
    let info = &doc["info"];
    let category = text(&info["category"], "info.category")?;
    if !CATEGORIES.contains(&category.as_str()) {
        return Err(fail(format!("info.category `{category}` is not one of {}", CATEGORIES.join(", "))));
    }
    let name = text(&info["name"], "info.name")?;
    match name.split_once('/') {
        Some((n, v)) if n == plugin.name && !v.is_empty() => {}
        _ => {
            return Err(fail(format!("info.name `{name}` must be `{}/<version>`", plugin.name)));
        }
    }
    text(&info["title"], "info.title")?;
    let description = text(&info["description"], "info.description")?;

    let spec = &doc["spec"];
    let phase = text(&spec["phase"], "spec.phase")?;
    if !PHASES.contains(&phase.as_str()) {
        return Err(fail(format!("spec.phase `{phase}` is not one of {}", PHASES.join(", "))));
    }
    let Some(priority) = spec["priority"].as_i64() else {
        bail!("{}: spec.priority must be an integer", path.display());
    };
    if !spec["configSchema"].is_mapping() {
        bail!("{}: spec.configSchema must be a JSON-schema mapping", path.display());
    }
    let config_schema = serde_json::to_value(&spec["configSchema"])
        .with_context(|| format!("{}: spec.configSchema is not JSON-compatible", path.display()))?;
    Ok(Spec { bytes, description, phase, priority, config_schema })
}
