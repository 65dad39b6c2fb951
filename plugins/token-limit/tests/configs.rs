//! The shipped configs against the real parser: default-config.yaml and README examples are
//! accepted, every file in tests/invalid-configs is rejected with a field path.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use gateway_sdk::testing::TestHost;
use token_limit::TokenLimit;

fn yaml_to_json(text: &str) -> serde_json::Value {
    let value: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
    serde_json::to_value(value).unwrap()
}

fn dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_default_config_is_accepted() {
    let config = yaml_to_json(&std::fs::read_to_string(dir().join("default-config.yaml")).unwrap());
    TestHost::<TokenLimit>::configure(&config.to_string()).unwrap_or_else(|e| panic!("{e}"));
}

/// The ```` ```yaml ```` blocks of the README (```` ```yaml fragment ```` blocks included: they
/// are skipped below only when they are not a whole config).
fn readme_yaml_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(dir().join("README.md")).unwrap();
    readme.split("```yaml").skip(1).map(|block| block.split("```").next().unwrap().to_string()).collect()
}

#[test]
fn readme_examples_are_accepted() {
    let mut checked = 0;
    let mut wasm_plugins = 0;
    for block in readme_yaml_blocks() {
        let (info, text) = block.split_once('\n').unwrap();
        assert!(info.trim().is_empty(), "no partial ```yaml fragment blocks in this README: {info}\n{text}");
        let value = yaml_to_json(text);
        // A WasmPlugin is configured as Higress delivers it: defaultConfig + matchRules as `_rules_`.
        let config = if value["kind"] == "WasmPlugin" {
            wasm_plugins += 1;
            gateway_sdk::testing::higress_config_from_wasmplugin(&value).unwrap_or_else(|e| panic!("{e}\n{text}"))
        } else {
            value
        };
        TestHost::<TokenLimit>::configure(&config.to_string()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        checked += 1;
    }
    assert!(checked >= 4 && wasm_plugins >= 2, "{checked} examples, {wasm_plugins} WasmPlugins");
}

#[test]
fn a_match_rule_that_adds_global_threshold_to_rule_items_is_rejected() {
    // The README example this guards against: `rule_items` and `global_threshold` in a rule
    // (a rule is a configuration of its own, as in Higress, so it brings its own `redis`).
    let items = serde_json::json!([{"limit_by_per_consumer": "", "limit_keys": [{"key": "*", "token_per_minute": 5}]}]);
    let wasm_plugin = serde_json::json!({"kind": "WasmPlugin", "spec": {
        "defaultConfig": {"rule_name": "d", "redis": {"service_name": "redis.static"}, "rule_items": items},
        "matchRules": [{"ingress": ["default/llm-api"], "config": {"rule_name": "d",
            "redis": {"service_name": "redis.static"}, "rule_items": items,
            "global_threshold": {"token_per_minute": 9}}}]
    }});
    let config = gateway_sdk::testing::higress_config_from_wasmplugin(&wasm_plugin).unwrap();
    let err = TestHost::<TokenLimit>::configure(&config.to_string()).err().expect("rejected").to_string();
    assert!(err.starts_with("token-limit: invalid config at _rules_[0]"), "{err}");
    assert!(err.contains("not both"), "{err}");
}

/// What a fixture's leading comments say its error is: the field path from the first line
/// (`# path: usage_paths.input`, or `# path: (top level)` for an error without a path), and
/// optionally text the message must contain (`# message: missing field `redis``).
fn expected_error(text: &str, path: &Path) -> (String, Option<String>) {
    let mut lines = text.lines();
    let at = lines
        .next()
        .and_then(|l| l.strip_prefix("# path: "))
        .unwrap_or_else(|| panic!("{}: the first line must be `# path: <field path>`", path.display()))
        .trim();
    let prefix = match at {
        "(top level)" => "token-limit: invalid config: ".to_string(),
        at => format!("token-limit: invalid config at {at}: "),
    };
    let message = lines.next().and_then(|l| l.strip_prefix("# message: ")).map(|m| m.trim().to_string());
    (prefix, message)
}

#[test]
fn invalid_configs_are_rejected_naming_where() {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir().join("tests/invalid-configs")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let (prefix, message) = expected_error(&text, &path);
        let config = yaml_to_json(&text);
        let err = TestHost::<TokenLimit>::configure(&config.to_string())
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", path.display()))
            .to_string();
        assert!(err.starts_with(&prefix), "{}: expected `{prefix}...`, got: {err}", path.display());
        if let Some(message) = message {
            assert!(err.contains(&message), "{}: expected `{message}` in: {err}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 9, "{checked} invalid configs");
}

/// Rejected by the plugin but not by spec.yaml (a JSONPath is a string to the schema), so not
/// in tests/invalid-configs, which xtask also checks against the schema.
#[test]
fn a_bad_jsonpath_expression_is_rejected_naming_the_field() {
    for (field, expr) in [("input", "$.usage[?(@.x =="), ("output", "$.usage[?(@.x ==]"), ("total", "usage.total")] {
        let config = serde_json::json!({
            "rule_name": "r", "redis": {"service_name": "redis.static"},
            "global_threshold": {"token_per_minute": 1000},
            "usage_paths": {field: expr}
        });
        let err = TestHost::<TokenLimit>::configure(&config.to_string()).err().expect("rejected").to_string();
        let prefix = format!("token-limit: invalid config at usage_paths.{field}: ");
        assert!(err.starts_with(&prefix), "{expr}: {err}");
        assert!(err.contains("not a valid JSONPath"), "{expr}: {err}");
    }
}

/// The error the README quotes for a bad JSONPath, word for word.
#[test]
fn the_readme_jsonpath_error_is_the_real_one() {
    let config = serde_json::json!({
        "rule_name": "r", "redis": {"service_name": "redis.static"},
        "global_threshold": {"token_per_minute": 1000},
        "usage_paths": {"output": "$.usage[?(@.x ==]"}
    });
    let err = TestHost::<TokenLimit>::configure(&config.to_string()).err().expect("rejected").to_string();
    let readme = std::fs::read_to_string(dir().join("README.md")).unwrap();
    assert!(readme.contains(&format!("``{err}``")), "README does not quote: {err}");
}

#[test]
fn an_unknown_timezone_is_rejected_naming_the_field() {
    let config = serde_json::json!({
        "rule_name": "m", "timezone": "Europe/Atlantis", "redis": {"service_name": "redis.static"},
        "global_threshold": {"token_quota": {"each_month": 1000000}}
    });
    let err = TestHost::<TokenLimit>::configure(&config.to_string()).err().expect("rejected").to_string();
    assert!(err.contains("timezone") && err.contains("unknown time zone `Europe/Atlantis`"), "{err}");
    let mut ok = config;
    ok["timezone"] = "Europe/London".into();
    TestHost::<TokenLimit>::configure(&ok.to_string()).unwrap_or_else(|e| panic!("{e}"));
}
