//! Configuration fixtures: Higress's cluster-key-rate-limit README examples are accepted
//! unchanged; bad configurations are rejected with the field path named.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use cluster_rate_limit::ClusterRateLimit;
use gateway_sdk::testing::TestHost;

fn configure(json: &str) -> Result<TestHost<ClusterRateLimit>, String> {
    TestHost::<ClusterRateLimit>::configure(json).map_err(|e| e.to_string())
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn accepts_every_higress_readme_example() {
    for name in ["global", "param", "header", "client-ip", "consumer", "cookie", "rules"] {
        if let Err(e) = configure(&fixture(&format!("higress/{name}.json"))) {
            panic!("higress/{name}.json was rejected: {e}");
        }
    }
}

#[test]
fn accepts_our_extensions() {
    configure(&fixture("extended.json")).unwrap();
}

/// Configures `json` and returns the error text, failing the test if it was accepted.
fn rejected(json: serde_json::Value) -> String {
    match configure(&json.to_string()) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e,
    }
}

fn base() -> serde_json::Value {
    serde_json::json!({"rule_name": "r", "redis": {"service_name": "redis.static"}})
}

fn with(extra: serde_json::Value) -> serde_json::Value {
    let mut v = base();
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

fn assert_at(err: &str, path: &str) {
    let prefix = format!("cluster-rate-limit: invalid config at {path}:");
    assert!(err.starts_with(&prefix), "expected an error at `{path}`, got: {err}");
}

#[test]
fn rejects_a_config_without_a_window() {
    assert_at(&rejected(with(serde_json::json!({"global_threshold": {}}))), "global_threshold");
    let err =
        rejected(with(serde_json::json!({"rule_items": [{"limit_by_header": "k", "limit_keys": [{"key": "a"}]}]})));
    assert_at(&err, "rule_items[0].limit_keys[0]");
    assert!(err.contains("no window"), "{err}");
    assert!(rejected(base()).contains("set one of global_threshold or rule_items"));
}

#[test]
fn rejects_a_bad_regexp() {
    let err = rejected(with(serde_json::json!({"rule_items": [{"limit_by_per_header": "k", "limit_keys": [
        {"key": "*", "query_per_second": 1}, {"key": "regexp:^(a", "query_per_second": 1}]}]})));
    assert_at(&err, "rule_items[0].limit_keys[1].key");
}

#[test]
fn rejects_a_bad_cidr() {
    let err = rejected(with(serde_json::json!({"rule_items": [{"limit_by_per_ip": "from-remote-addr", "limit_keys": [
        {"key": "10.0.0.0/33", "query_per_second": 1}]}]})));
    assert_at(&err, "rule_items[0].limit_keys[0].key");
    let err = rejected(with(serde_json::json!({"rule_items": [{"limit_by_per_ip": "from-remote-addr", "limit_keys": [
        {"key": "10.0.0.0.1", "query_per_second": 1}]}]})));
    assert_at(&err, "rule_items[0].limit_keys[0].key");
}

#[test]
fn rejects_zero_and_negative_quotas() {
    assert_at(
        &rejected(with(serde_json::json!({"global_threshold": {"query_per_second": 0}}))),
        "global_threshold.query_per_second",
    );
    let err = rejected(with(serde_json::json!({"rule_items": [{"limit_by_header": "k", "limit_keys": [
        {"key": "a", "query_per_minute": -5}]}]})));
    assert_at(&err, "rule_items[0].limit_keys[0].query_per_minute");
    let err = rejected(with(serde_json::json!({"global_threshold": {"windows": [{"seconds": 10, "quota": 0}]}})));
    assert_at(&err, "global_threshold.windows[0].quota");
}

#[test]
fn rejects_a_redis_block_without_service_name() {
    let err = rejected(
        serde_json::json!({"rule_name": "r", "global_threshold": {"query_per_second": 1}, "redis": {"service_port": 6379}}),
    );
    assert_at(&err, "redis");
    assert!(err.contains("service_name"), "{err}");
    let err = rejected(
        serde_json::json!({"rule_name": "r", "global_threshold": {"query_per_second": 1}, "redis": {"service_name": ""}}),
    );
    assert_at(&err, "redis.service_name");
    let err = rejected(serde_json::json!({"rule_name": "r", "global_threshold": {"query_per_second": 1}}));
    assert!(err.contains("redis"), "{err}");
}

/// Higress ignores keys it does not know (config.go reads only its own fields); we accept
/// them with a warning naming the path and the closest known field (tests/higress_compat.rs).
#[test]
fn unknown_keys_are_errors_only_with_strict() {
    let config = with(serde_json::json!({"global_threshold": {"query_per_secnd": 1, "query_per_second": 1}}));
    configure(&config.to_string()).unwrap();
    let mut strict = config;
    strict["strict"] = serde_json::json!(true);
    let err = rejected(strict);
    assert_at(&err, "global_threshold.query_per_secnd");
    assert!(err.contains("did you mean `query_per_second`?") && err.contains("(strict: true)"), "{err}");
}

#[test]
fn rejects_other_bad_values_naming_the_field() {
    let g = serde_json::json!({"query_per_second": 1});
    assert_at(&rejected(with(serde_json::json!({"global_threshold": g, "rejected_code": -1}))), "rejected_code");
    assert_at(&rejected(with(serde_json::json!({"global_threshold": g, "gateway_count": 0}))), "gateway_count");
    assert_at(&rejected(with(serde_json::json!({"global_threshold": g, "algorithm": "leaky"}))), "algorithm");
    assert_at(&rejected(with(serde_json::json!({"global_threshold": g, "failure_mode": "maybe"}))), "failure_mode");
    assert_at(
        &rejected(with(serde_json::json!({"global_threshold": g, "circuit_breaker": {"failure_threshold": 0}}))),
        "circuit_breaker.failure_threshold",
    );
    assert_at(&rejected(with(serde_json::json!({"global_threshold": g, "rule_items": []}))), "rule_items");
    let err = rejected(serde_json::json!({"rule_name": "r", "redis": {"service_name": "redis.static"},
        "global_threshold": {"query_per_second": 1},
        "_rules_": [{"_match_route_": ["a"], "rule_name": "a", "redis": {"service_name": "redis.static"},
            "global_threshold": {"query_per_hour": -1}}]}));
    assert_at(&err, "_rules_[0].global_threshold.query_per_hour");
}

#[test]
fn rejects_every_invalid_config_the_schema_rejects() {
    let dir = format!("{}/tests/invalid-configs", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if configure(&text).is_ok() {
            panic!("{} was accepted", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} invalid configs");
}

fn yaml_to_json(text: &str) -> serde_json::Value {
    let value: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    serde_json::to_value(value).unwrap()
}

#[test]
fn accepts_the_default_config() {
    let path = format!("{}/default-config.yaml", env!("CARGO_MANIFEST_DIR"));
    let config = yaml_to_json(&std::fs::read_to_string(&path).unwrap());
    assert!(config["global_threshold"].is_object(), "{config}");
    configure(&config.to_string()).unwrap_or_else(|e| panic!("{path}: {e}"));
}

/// Every ```` ```yaml ```` block of the README: a `WasmPlugin` is configured as Higress delivers
/// it (`defaultConfig` with its `matchRules` as `_rules_`), any other block as a plain config.
#[test]
fn accepts_every_readme_yaml_example_as_higress_delivers_it() {
    let readme = std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let (mut checked, mut wasm_plugins, mut with_rules) = (0, 0, 0);
    for block in readme.split("```yaml").skip(1) {
        let block = block.split("```").next().unwrap();
        let (info, text) = block.split_once('\n').unwrap();
        assert!(info.trim().is_empty(), "no partial ```yaml fragment blocks in this README: {info}\n{text}");
        let value = yaml_to_json(text);
        let config = if value["kind"] == "WasmPlugin" {
            wasm_plugins += 1;
            let config =
                gateway_sdk::testing::higress_config_from_wasmplugin(&value).unwrap_or_else(|e| panic!("{e}\n{text}"));
            with_rules += usize::from(config.get("_rules_").is_some());
            config
        } else {
            value
        };
        configure(&config.to_string()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        checked += 1;
    }
    assert!(checked >= 5 && wasm_plugins >= 3 && with_rules >= 1, "{checked} examples, {wasm_plugins} WasmPlugins");
}

#[test]
fn calendar_quotas_take_an_iana_timezone_and_name_bad_ones() {
    let with = |extra: serde_json::Value| {
        let mut v = base();
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let monthly = serde_json::json!({"query_per_second": 10, "query_quota": {"each_day": 1000, "each_month": 20000}});
    configure(&with(serde_json::json!({"timezone": "Asia/Shanghai", "global_threshold": monthly})).to_string())
        .unwrap();
    configure(&with(serde_json::json!({"global_threshold": monthly})).to_string()).expect("UTC by default");
    let err = rejected(with(serde_json::json!({"timezone": "Asia/Atlantis", "global_threshold": monthly})));
    assert_at(&err, "timezone");
    assert!(err.contains("unknown time zone `Asia/Atlantis`"), "{err}");
    let err = rejected(with(serde_json::json!({"global_threshold": {"query_quota": {"each_year": -5}}})));
    assert_at(&err, "global_threshold.query_quota.each_year");
    let keyed = serde_json::json!([{"limit_by_header": "x-user", "limit_keys": [{"key": "a", "query_quota": {}}]}]);
    assert_at(&rejected(with(serde_json::json!({"rule_items": keyed}))), "rule_items[0].limit_keys[0].query_quota");
}
