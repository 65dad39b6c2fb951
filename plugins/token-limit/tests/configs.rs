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

#[test]
fn readme_examples_are_accepted() {
    let readme = std::fs::read_to_string(dir().join("README.md")).unwrap();
    let mut checked = 0;
    for block in readme.split("```yaml\n").skip(1) {
        let text = block.split("```").next().unwrap();
        let value = yaml_to_json(text);
        let config = if value["kind"] == "WasmPlugin" { value["spec"]["defaultConfig"].clone() } else { value };
        TestHost::<TokenLimit>::configure(&config.to_string()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        checked += 1;
    }
    assert!(checked >= 3, "{checked} examples");
}

#[test]
fn invalid_configs_are_rejected_naming_where() {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir().join("tests/invalid-configs")).unwrap() {
        let path = entry.unwrap().path();
        let config = yaml_to_json(&std::fs::read_to_string(&path).unwrap());
        let err = TestHost::<TokenLimit>::configure(&config.to_string())
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", path.display()))
            .to_string();
        assert!(err.starts_with("token-limit: invalid config"), "{}: {err}", path.display());
        checked += 1;
    }
    assert!(checked >= 5);
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
