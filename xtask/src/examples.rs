//! The config examples a plugin ships, checked against its `spec.yaml` `configSchema`: README code
//! blocks and `default-config.yaml` must conform; each `tests/invalid-configs/*.yaml` must not.

use std::path::Path;

use gateway_sdk::config::wasm_plugin::higress_config_from_wasmplugin;
use serde_json::Value;

use crate::schema;
use crate::spec;
use crate::workspace::{DEFAULT_CONFIG_FILE, Plugin};

/// Directory (inside a plugin) of configs the plugin rejects; its own tests should load them too.
pub const INVALID_CONFIGS_DIR: &str = "tests/invalid-configs";

/// A config example and where it came from.
#[derive(Debug)]
pub struct Example {
    pub origin: String,
    pub config: Value,
}

/// Config examples in README code blocks tagged `yaml`, `yml` or `json`. A `WasmPlugin` (or a snippet
/// of its `spec`) contributes its `defaultConfig`; other Kubernetes objects nothing; blocks tagged
/// with a second word `fragment` (```` ```yaml fragment ````) are partial and skipped.
pub fn readme_examples(readme: &str, file: &str) -> Result<Vec<Example>, String> {
    let mut examples = Vec::new();
    let mut lines = readme.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```").or_else(|| trimmed.strip_prefix("~~~")) else {
            continue;
        };
        let fence = &trimmed[..3];
        let mut words = info.split_whitespace();
        let lang = words.next().unwrap_or_default().to_ascii_lowercase();
        let fragment = words.any(|w| w == "fragment");
        let mut body = String::new();
        for (_, line) in lines.by_ref() {
            if line.trim_start().starts_with(fence) {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        if fragment || !matches!(lang.as_str(), "yaml" | "yml" | "json") {
            continue;
        }
        let origin = format!("{file}:{} (```{lang} block)", n + 1);
        let value: Value = serde_yaml::from_str(&body).map_err(|e| format!("{origin}: not valid {lang}: {e}"))?;
        if !value.is_object() {
            continue;
        }
        let Some(config) = config_in(value) else {
            continue;
        };
        examples.push(Example { origin, config });
    }
    Ok(examples)
}

/// Fields of a `WasmPlugin`'s `spec`, for recognising README snippets of one.
const WASM_PLUGIN_SPEC_FIELDS: [&str; 11] = [
    "url",
    "phase",
    "priority",
    "failStrategy",
    "imagePullPolicy",
    "imagePullSecret",
    "sha256",
    "defaultConfig",
    "defaultConfigDisable",
    "matchRules",
    "pluginName",
];

/// The plugin config a README block shows: the block itself, or what Higress hands the plugin
/// for a `WasmPlugin` (whole, its `spec`, or a snippet of its `spec` fields): `defaultConfig`
/// plus `matchRules` as `_rules_`. None for other Kubernetes objects and for `WasmPlugin`
/// snippets without a `defaultConfig`.
fn config_in(value: Value) -> Option<Value> {
    let Value::Object(map) = &value else {
        return None;
    };
    let delivered = |spec: &Value| higress_config_from_wasmplugin(spec).ok();
    if map.contains_key("apiVersion") && map.contains_key("kind") {
        return (value["kind"] == "WasmPlugin" && value["spec"]["defaultConfig"].is_object())
            .then(|| delivered(&value["spec"]))
            .flatten();
    }
    if map.len() == 1
        && let Some(spec) = map.get("spec")
        && spec.get("defaultConfig").is_some()
    {
        return spec["defaultConfig"].is_object().then(|| delivered(spec)).flatten();
    }
    if map.keys().all(|k| WASM_PLUGIN_SPEC_FIELDS.contains(&k.as_str())) {
        return value["defaultConfig"].is_object().then(|| delivered(&value)).flatten();
    }
    Some(value)
}

fn read_yaml(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("{}: not valid YAML: {e}", path.display()))
}

/// Every problem with `plugin`'s examples (empty when README examples and the default config conform
/// and every invalid config is rejected). Plugins without `spec.yaml` have nothing to check.
pub fn check(plugin: &Plugin) -> Vec<String> {
    if !plugin.dir.join("spec.yaml").is_file() {
        return Vec::new();
    }
    let spec = match spec::load(plugin) {
        Ok(spec) => spec,
        Err(e) => return vec![format!("{e:#}")],
    };
    let schema = schema::config_schema(&spec.config_schema);
    let mut problems = Vec::new();
    let mut valid = Vec::new();

    let readme = plugin.dir.join("README.md");
    if let Ok(text) = std::fs::read_to_string(&readme) {
        match readme_examples(&text, &format!("{}/README.md", plugin.name)) {
            Ok(examples) => valid.extend(examples),
            Err(e) => problems.push(e),
        }
    }
    let default_config = plugin.dir.join(DEFAULT_CONFIG_FILE);
    if default_config.is_file() {
        match read_yaml(&default_config) {
            Ok(config) => valid.push(Example { origin: format!("{}/{DEFAULT_CONFIG_FILE}", plugin.name), config }),
            Err(e) => problems.push(e),
        }
    }
    for example in &valid {
        let errors = schema::validate(schema, &example.config);
        if !errors.is_empty() {
            problems.push(format!(
                "{} does not match spec.yaml configSchema (mark partial README blocks ```yaml fragment):\n    {}",
                example.origin,
                errors.join("\n    ")
            ));
        }
    }

    let mut invalid: Vec<_> = std::fs::read_dir(plugin.dir.join(INVALID_CONFIGS_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "json"))
        .collect();
    invalid.sort();
    for path in invalid {
        match read_yaml(&path) {
            Ok(config) if schema::validate(schema, &config).is_empty() => problems.push(format!(
                "{}/{INVALID_CONFIGS_DIR}/{}: the plugin rejects this config but spec.yaml configSchema accepts it",
                plugin.name,
                path.file_name().unwrap_or_default().to_string_lossy()
            )),
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture_plugin() -> Plugin {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace/plugins/tiny-filter");
        Plugin { name: "tiny-filter".into(), dir, repository: None }
    }

    /// A copy of the fixture plugin's example files in a scratch directory, to break on purpose.
    fn scratch_copy(label: &str) -> Result<Plugin, std::io::Error> {
        let fixture = fixture_plugin();
        let dir: PathBuf = std::env::temp_dir().join(format!("xtask-examples-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(INVALID_CONFIGS_DIR))?;
        for file in ["README.md", "spec.yaml", DEFAULT_CONFIG_FILE] {
            std::fs::copy(fixture.dir.join(file), dir.join(file))?;
        }
        Ok(Plugin { dir, ..fixture })
    }

    #[test]
    fn the_fixture_plugin_examples_agree_with_its_schema() {
        assert_eq!(check(&fixture_plugin()), Vec::<String>::new());
    }

    #[test]
    fn a_readme_example_the_schema_rejects_is_reported() -> Result<(), std::io::Error> {
        let plugin = scratch_copy("readme")?;
        std::fs::write(plugin.dir.join("README.md"), "# x\n\n```yaml\ngreeting: hi\ncolour: red\n```\n")?;
        let problems = check(&plugin).join("\n");
        std::fs::remove_dir_all(&plugin.dir)?;
        assert!(problems.contains("tiny-filter/README.md:3 (```yaml block) does not match"), "{problems}");
        assert!(problems.contains("/colour: unknown field `colour`"), "{problems}");
        Ok(())
    }

    #[test]
    fn an_invalid_config_the_schema_accepts_is_reported() -> Result<(), std::io::Error> {
        let plugin = scratch_copy("invalid")?;
        std::fs::write(plugin.dir.join(INVALID_CONFIGS_DIR).join("accepted.yaml"), "greeting: fine\n")?;
        let problems = check(&plugin).join("\n");
        std::fs::remove_dir_all(&plugin.dir)?;
        assert!(
            problems.contains("accepted.yaml: the plugin rejects this config but spec.yaml configSchema accepts it"),
            "{problems}"
        );
        Ok(())
    }

    #[test]
    fn finds_config_blocks_and_wasm_plugin_default_configs() -> Result<(), String> {
        let readme = "# x\n\n```yaml\nlimit: 5\n```\n\n```json\n{\"limit\": 6}\n```\n\n\
            ```yaml fragment\nredis: {}\n```\n\n```sh\necho hi\n```\n\n\
            ```yaml\napiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\nspec:\n  defaultConfig:\n    limit: 7\n```\n\n\
            ```yaml\napiVersion: networking.higress.io/v1\nkind: McpBridge\nspec: {}\n```\n\n\
            ```yaml\n  defaultConfig:\n    limit: 8\n  matchRules: []\n```\n\n\
            ```yaml\nspec:\n  defaultConfig:\n    limit: 9\n```\n\n\
            ```yaml\nmatchRules:\n- ingress: [a]\n  config: {limit: 1}\n```\n";
        let examples = readme_examples(readme, "README.md")?;
        let limits: Vec<i64> = examples.iter().filter_map(|e| e.config["limit"].as_i64()).collect();
        assert_eq!(limits, [5, 6, 7, 8, 9]);
        assert_eq!(examples[0].origin, "README.md:3 (```yaml block)");
        assert!(readme_examples("```yaml\n: : bad\n  - x\n```\n", "R").is_err());
        Ok(())
    }
}
