//! Configuration: defaults that work, and bad configurations rejected with the field path.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use cookie_cache::CookieCache;
use gateway_sdk::testing::{Action, TestHost};

const REDIS: &str = r#""redis": {"service_name": "redis.static"}"#;

fn rejects(json: &str, expected: &str) {
    match TestHost::<CookieCache>::configure(json) {
        Ok(_) => panic!("accepted a bad config: {json}"),
        Err(e) => {
            let text = e.to_string();
            assert!(text.starts_with("cookie-cache: invalid config"), "{text}");
            assert!(text.contains(expected), "{json}\n  gave: {text}\n  wanted: {expected}");
        }
    }
}

#[test]
fn a_minimal_config_caches_get_with_defaults() {
    let mut h = TestHost::<CookieCache>::configure(&format!("{{{REDIS}}}")).unwrap_or_else(|e| panic!("{e}"));
    let s = h.new_stream(&[(":method", "GET"), (":path", "/"), (":authority", "a.example")]);
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let call = h.take_redis_calls().remove(0);
    assert_eq!(call.cluster, "outbound|80||redis.static");
    let args = call.args();
    assert!(args[3].starts_with("cookie-cache:{"), "{args:?}");
    assert_eq!(args[7], "10000", "default lock expiry");
}

#[test]
fn bad_configs_are_rejected_naming_the_field_path() {
    let session = |extra: &str| {
        format!(r#"{{{REDIS}, "session": {{"cookie": "sid", "auth": {{"service_name": "auth.static"}}{extra}}}}}"#)
    };
    let cases: Vec<(String, &str)> = vec![
        (r#"{"cache": {}}"#.into(), "missing field `redis`"),
        (format!(r#"{{{REDIS}, "cache": {{"ttl_seconds": 0}}}}"#), "at cache.ttl_seconds: must be at least 1"),
        (format!(r#"{{{REDIS}, "cache": {{"ttl_seconds": "60"}}}}"#), "at cache.ttl_seconds:"),
        (format!(r#"{{{REDIS}, "cache": {{"methods": ["GET", "POST"]}}}}"#), "at cache.methods[1]:"),
        (format!(r#"{{{REDIS}, "cache": {{"statuses": [200, 99]}}}}"#), "at cache.statuses[1]:"),
        (format!(r#"{{{REDIS}, "cache": {{"stale_on_status": [503, 200]}}}}"#), "at cache.stale_on_status[1]:"),
        (format!(r#"{{{REDIS}, "cache": {{"max_body_bytes": 0}}}}"#), "at cache.max_body_bytes:"),
        (format!(r#"{{{REDIS}, "cache": {{"key": {{"cookies": ["ok", "bad name"]}}}}}}"#), "at cache.key.cookies[1]:"),
        (format!(r#"{{{REDIS}, "cache": {{"key": {{"headers": ["cookie"]}}}}}}"#), "at cache.key.headers[0]:"),
        (format!(r#"{{{REDIS}, "cache": {{"key": {{"query_params": ["a=b"]}}}}}}"#), "at cache.key.query_params[0]:"),
        (format!(r#"{{{REDIS}, "cache": {{"key": {{"cokies": []}}}}}}"#), "unknown field `cokies`"),
        (format!(r#"{{{REDIS}, "cache": {{"stampede": {{"lock_ms": 0}}}}}}"#), "at cache.stampede.lock_ms:"),
        (
            format!(r#"{{{REDIS}, "cache": {{"stampede": {{"lock_ms": 100, "wait_ms": 200}}}}}}"#),
            "at cache.stampede.wait_ms:",
        ),
        (format!(r#"{{{REDIS}, "key_prefix": "a{{b}}"}}"#), "at key_prefix:"),
        (
            format!(r#"{{{REDIS}, "circuit_breaker": {{"failure_threshold": 0}}}}"#),
            "at circuit_breaker.failure_threshold:",
        ),
        (format!(r#"{{{REDIS}, "cache": {{"enabled": false}}}}"#), "nothing to do"),
        (r#"{"redis": {"service_name": ""}}"#.into(), "at redis.service_name: must not be empty"),
        (r#"{"redis": {"service_name": "r.dns", "timeout": 0}}"#.into(), "at redis.timeout:"),
        (session(r#", "cookie": "a b""#).replacen(r#""cookie": "sid", "#, "", 1), "at session.cookie:"),
        (session(r#", "identity_headers": ["x-user", "cookie"]"#), "at session.identity_headers[1]:"),
        (session(r#", "deny": {"status": 200}"#), "at session.deny.status:"),
        (session(r#", "deny": {"status": 403, "redirect": "/login"}"#), "at session.deny.status:"),
        (session(r#", "failure_status": 200"#), "at session.failure_status:"),
        (session(r#", "failure_mode": "maybe""#), "at session.failure_mode:"),
        (session(r#", "allow_ttl_seconds": 0"#), "at session.allow_ttl_seconds:"),
        (
            format!(r#"{{{REDIS}, "session": {{"cookie": "sid", "auth": {{"service_name": "outbound|80||a"}}}}}}"#),
            "at session.auth.service_name:",
        ),
        (
            format!(
                r#"{{{REDIS}, "session": {{"cookie": "sid", "auth": {{"service_name": "a.static", "path": "x"}}}}}}"#
            ),
            "at session.auth.path:",
        ),
        (
            format!(
                r#"{{{REDIS}, "session": {{"cookie": "sid", "auth": {{"service_name": "a.static", "forward_headers": ["ok", ""]}}}}}}"#
            ),
            "at session.auth.forward_headers[1]:",
        ),
        (
            format!(r#"{{{REDIS}, "_rules_": [{{"_match_route_": ["r"], "cache": {{"ttl_seconds": 0}}}}]}}"#),
            "at _rules_[0].cache.ttl_seconds:",
        ),
        (
            format!(r#"{{{REDIS}, "cache": {{"key": {{"query_params": []}}}}}}"#),
            "at cache.key.query_params: an empty list",
        ),
        (
            format!(r#"{{{REDIS}, "cache": {{"key": {{"query_params": "all"}}}}}}"#),
            "at cache.key.query_params: invalid value",
        ),
        (
            format!(r#"{{{REDIS}, "cache": {{"key": {{"query_params": 1}}}}}}"#),
            "at cache.key.query_params: invalid type",
        ),
        (
            format!(r#"{{{REDIS}, "cache": {{"key": {{"query_params": ["page", "*"]}}}}}}"#),
            "at cache.key.query_params[1]: `*`",
        ),
        (format!(r#"{{{REDIS}, "cache": {{"key": {{"query_params": ["a;b"]}}}}}}"#), "at cache.key.query_params[0]:"),
        (format!(r#"{{{REDIS}, "cache": {{"key": {{"query_params": [7]}}}}}}"#), "at cache.key.query_params[0]:"),
    ];
    for (json, expected) in &cases {
        rejects(json, expected);
    }
}

/// A session in front of the cache (`{key}` is the `cache.key` object, `{extra}` more session keys).
fn sessions_and_cache(key: &str, extra: &str) -> String {
    format!(
        r#"{{{REDIS}, "cache": {{"key": {key}}},
            "session": {{"cookie": "sid", "auth": {{"service_name": "auth.static"}}{extra}}}}}"#
    )
}

#[test]
fn configs_that_would_share_one_users_responses_with_others_are_refused_naming_the_field() {
    let identity = r#", "identity_headers": ["x-user-id"]"#;
    let cases: Vec<(String, &str)> = vec![
        // One visitor's Set-Cookie replayed to every visitor.
        (format!(r#"{{{REDIS}, "cache": {{"store_set_cookie": true}}}}"#), "at cache.store_set_cookie: with no cookie"),
        (
            format!(r#"{{{REDIS}, "cache": {{"store_set_cookie": true, "key": {{"headers": ["accept-language"]}}}}}}"#),
            "at cache.store_set_cookie:",
        ),
        (
            format!(r#"{{{REDIS}, "_rules_": [{{"_match_route_": ["r"], "cache": {{"store_set_cookie": true}}}}]}}"#),
            "at _rules_[0].cache.store_set_cookie:",
        ),
        // Personalised pages shared between signed-in users.
        (sessions_and_cache("{}", identity), "at session.identity_headers: identity headers personalise pages"),
        (
            sessions_and_cache(r#"{"cookies": ["theme"], "headers": ["x-tenant"]}"#, identity),
            "at session.identity_headers:",
        ),
        (sessions_and_cache(r#"{"headers": ["x_user_id"]}"#, identity), "at session.identity_headers:"),
        (sessions_and_cache("{}", ""), "at cache.key.cookies: the session cookie `sid` is not in the cache key"),
    ];
    for (json, expected) in &cases {
        rejects(json, expected);
        let text = TestHost::<CookieCache>::configure(json).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("shared_between_users"), "the error names the override: {text}");
    }
}

#[test]
fn keyed_or_acknowledged_configs_are_accepted() {
    let identity = r#", "identity_headers": ["x-user-id"]"#;
    let accepted = [
        format!(r#"{{{REDIS}, "cache": {{"store_set_cookie": true, "key": {{"cookies": ["sid"]}}}}}}"#),
        format!(r#"{{{REDIS}, "cache": {{"store_set_cookie": true, "key": {{"shared_between_users": true}}}}}}"#),
        sessions_and_cache(r#"{"cookies": ["sid"]}"#, identity),
        sessions_and_cache(r#"{"headers": ["X-User-Id"]}"#, identity),
        sessions_and_cache(r#"{"shared_between_users": true}"#, identity),
        sessions_and_cache(r#"{"cookies": ["sid"]}"#, ""),
        format!(
            r#"{{{REDIS}, "cache": {{"enabled": false}}, "session": {{"cookie": "sid", "auth": {{"service_name": "a.static"}}{identity}}}}}"#
        ),
        format!(r#"{{{REDIS}, "cache": {{"key": {{"query_params": "ignore"}}}}}}"#),
        format!(r#"{{{REDIS}, "cache": {{"key": {{"query_params": "*"}}}}}}"#),
        format!(r#"{{{REDIS}, "cache": {{"key": {{"query_params": ["*"]}}}}}}"#),
        format!(r#"{{{REDIS}, "cache": {{"stampede": {{"hit_for_pass_ms": 0}}}}}}"#),
    ];
    for json in &accepted {
        TestHost::<CookieCache>::configure(json).unwrap_or_else(|e| panic!("{json}\n  {e}"));
    }
}

#[test]
fn secrets_never_appear_in_errors() {
    let json = r#"{"redis": {"service_name": "r.dns", "password": "hunter2"}, "cache": {"ttl_seconds": 0}}"#;
    let err = TestHost::<CookieCache>::configure(json).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("cache.ttl_seconds") && !err.contains("hunter2"), "{err}");
}

#[test]
fn every_config_in_invalid_configs_is_rejected() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid-configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let json = std::fs::read_to_string(&path).unwrap();
        let err = TestHost::<CookieCache>::configure(&json).err().map(|e| e.to_string());
        let err = err.unwrap_or_else(|| panic!("{} was accepted", path.display()));
        assert!(err.starts_with("cookie-cache: invalid config"), "{}: {err}", path.display());
        seen += 1;
    }
    assert!(seen >= 5, "{seen} invalid configs");
}

fn manifest_dir() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_to_json(text: &str) -> serde_json::Value {
    let value: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    serde_json::to_value(value).unwrap()
}

#[test]
fn the_default_config_file_is_accepted() {
    let text = std::fs::read_to_string(manifest_dir().join("default-config.yaml")).unwrap();
    let config = yaml_to_json(&text);
    assert!(config["cache"].is_object(), "{config}");
    TestHost::<CookieCache>::configure(&config.to_string()).unwrap_or_else(|e| panic!("{e}\n{text}"));
}

/// Every ```` ```yaml ```` block of the README is accepted by the plugin: a `WasmPlugin` as Higress
/// delivers it (`defaultConfig` with its `matchRules` as `_rules_`), a plain block as it is. A
/// ```` ```yaml fragment ```` block is checked too when it is a whole `defaultConfig` (a snippet of
/// a `WasmPlugin` spec); fragments without one are partial configs and are skipped.
#[test]
fn readme_yaml_examples_are_accepted_as_higress_delivers_them() {
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).unwrap();
    let (mut checked, mut wasm_plugins, mut with_rules, mut fragments) = (0, 0, 0, 0);
    for block in readme.split("```yaml").skip(1) {
        let block = block.split("```").next().unwrap();
        let (info, text) = block.split_once('\n').unwrap();
        let fragment = info.split_whitespace().any(|w| w == "fragment");
        let value = yaml_to_json(text);
        let config = if value["kind"] == "WasmPlugin" || value.get("defaultConfig").is_some() {
            wasm_plugins += 1;
            fragments += usize::from(fragment);
            let config =
                gateway_sdk::testing::higress_config_from_wasmplugin(&value).unwrap_or_else(|e| panic!("{e}\n{text}"));
            with_rules += usize::from(config.get("_rules_").is_some());
            config
        } else if fragment {
            // A partial config (only some keys): nothing to configure on its own.
            continue;
        } else {
            value
        };
        TestHost::<CookieCache>::configure(&config.to_string()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        checked += 1;
    }
    assert!(
        checked >= 3 && wasm_plugins >= 3 && with_rules >= 1 && fragments >= 1,
        "{checked} examples, {wasm_plugins} WasmPlugins, {with_rules} with rules, {fragments} fragments"
    );
}
