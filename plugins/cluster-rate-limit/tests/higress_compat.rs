//! Done-when 2 of issue 13: one case per rule-semantics and field difference, with the behaviour
//! Higress shows, written from its Go sources. Each test names the line it comes from:
//! `rule_matcher.go` is higress-group/wasm-go d153aa4 `pkg/matcher/rule_matcher.go`;
//! `config.go` and `main.go` are alibaba/higress 4e0d691
//! `plugins/wasm-go/extensions/cluster-key-rate-limit/{config/config.go,main.go}`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use cluster_rate_limit::ClusterRateLimit;
use gateway_sdk::config::rules::RuleSet;
use gateway_sdk::testing::TestHost;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/higress-compat/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// Loads `config`; returns its warnings.
fn loads(config: &Value) -> Vec<String> {
    match RuleSet::<ClusterRateLimit>::compile_quietly(config.to_string().as_bytes()) {
        Ok(set) => set.warnings().iter().map(ToString::to_string).collect(),
        Err(e) => panic!("refused: {e}\n{config}"),
    }
}

fn refused(config: &Value) -> String {
    match RuleSet::<ClusterRateLimit>::compile_quietly(config.to_string().as_bytes()) {
        Ok(_) => panic!("accepted: {config}"),
        Err(e) => e.to_string(),
    }
}

const REDIS: &str = r#"{"service_name": "redis.static"}"#;

fn base(extra: Value) -> Value {
    let mut v = json!({"rule_name": "r", "redis": serde_json::from_str::<Value>(REDIS).unwrap()});
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

/// The Redis key and ARGV of the one check a request makes, or None when it is not limited.
fn checked_key(config: &Value, headers: &[(&str, &str)], route: Option<&str>) -> Option<String> {
    let mut h = TestHost::<ClusterRateLimit>::configure(&config.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let mut all = vec![(":method", "GET"), (":path", "/"), (":authority", "example.com")];
    all.extend_from_slice(headers);
    let s = h.new_stream(&all);
    if let Some(r) = route {
        h.set_property(s, "route_name", r);
    }
    h.request_headers(s, true);
    let calls = h.take_redis_calls();
    calls.first().map(|c| c.args().join(" "))
}

/// rule_matcher.go 253: a rule is parsed on its own (`parsePluginConfig(ruleJson)`), so a rule
/// that relies on the global `redis` is refused (199-213 tolerate only the global object).
#[test]
fn rule_matcher_go_253_a_rule_inherits_nothing_from_the_global_config() {
    let err = refused(&fixture("rule-inherits-nothing.json"));
    assert!(err.contains("_rules_[0]") && err.contains("redis"), "{err}");
}

/// rule_matcher.go 253 with config.go 172: a global `global_threshold` next to a rule with
/// `rule_items` is no conflict, since the rule does not see the global object.
#[test]
fn rule_matcher_go_253_a_rule_with_rule_items_under_a_global_threshold_loads() {
    let config = base(json!({"global_threshold": {"query_per_second": 1}, "_rules_": [
        {"_match_route_": ["a"], "rule_name": "a", "redis": {"service_name": "redis.static"},
         "rule_items": [{"limit_by_header": "x-k", "limit_keys": [{"key": "v", "query_per_minute": 3}]}]}]}));
    assert!(loads(&config).is_empty());
    let key = checked_key(&config, &[("x-k", "v")], Some("a")).unwrap();
    assert!(key.contains("{a:"), "the rule's own counters: {key}");
}

/// config.go 148-153 through rule_matcher.go 253: a rule without `rejected_code` gets the
/// default 429, not the global one.
#[test]
fn config_go_152_a_rule_without_rejected_code_answers_429() {
    let config = base(json!({"global_threshold": {"query_per_second": 1}, "rejected_code": 403, "_rules_": [
        {"_match_route_": ["a"], "rule_name": "a", "redis": {"service_name": "redis.static"},
         "global_threshold": {"query_per_second": 1}}]}));
    let mut h = TestHost::<ClusterRateLimit>::configure(&config.to_string()).unwrap();
    let s = h.new_stream(&[(":method", "GET"), (":path", "/"), (":authority", "x")]);
    h.set_property(s, "route_name", "a");
    h.request_headers(s, true);
    let call = h.take_redis_calls().remove(0);
    // A script reply rejecting the request: rejected=1, then (used, reset_ms, _) for its window.
    h.reply_redis(call.token, {
        use gateway_sdk::redis::Reply;
        Reply::Array(vec![Reply::Int(1), Reply::Int(2), Reply::Int(500), Reply::Int(0)])
    });
    assert_eq!(h.local_response(s).map(|r| r.status), Some(429));
}

/// main.go `rejected()`: `SendHttpResponseWithDetail(code, "cluster-key-rate-limit.rejected", ...)`
/// with `X-RateLimit-Reset` = the counter's TTL (the reply's third value, Redis's rounding).
#[test]
fn main_go_rejected_sets_the_response_code_details_and_the_counters_ttl() {
    let config = base(json!({"global_threshold": {"query_per_minute": 1}}));
    let mut h = TestHost::<ClusterRateLimit>::configure(&config.to_string()).unwrap();
    let s = h.new_stream(&[(":method", "GET"), (":path", "/"), (":authority", "x")]);
    h.request_headers(s, true);
    let call = h.take_redis_calls().remove(0);
    h.reply_redis(call.token, {
        use gateway_sdk::redis::Reply;
        Reply::Array(vec![Reply::Int(1), Reply::Int(1), Reply::Int(41_499), Reply::Int(0)])
    });
    let reply = h.local_response(s).unwrap();
    assert_eq!(reply.details, "cluster-key-rate-limit.rejected");
    assert_eq!(reply.header("x-ratelimit-reset"), Some("41"), "41.499 s is TTL 41");
    assert_eq!(reply.header("retry-after"), Some("42"), "Retry-After rounds up");
}

/// rule_matcher.go 199-213: a global object that does not parse is tolerated next to rules
/// (only their routes are served); without rules it is an error.
#[test]
fn rule_matcher_go_200_a_bad_global_config_is_tolerated_when_rules_exist() {
    let rule = json!({"_match_route_": ["a"], "rule_name": "a", "redis": {"service_name": "redis.static"},
        "global_threshold": {"query_per_second": 1}});
    let config = json!({"global_threshold": {"query_per_second": 1}, "_rules_": [rule]});
    let warnings = loads(&config);
    assert!(
        warnings.iter().any(|w| w.contains("global configuration is ignored") && w.contains("rule_name")),
        "{warnings:?}"
    );
    assert!(checked_key(&config, &[], Some("a")).is_some(), "the rule's route is served");
    assert!(checked_key(&config, &[], Some("b")).is_none(), "other routes pass through");
    assert!(refused(&json!({"global_threshold": {"query_per_second": 1}})).contains("rule_name"));
    let mut strict = config.clone();
    strict["strict"] = json!(true);
    assert!(refused(&strict).contains("(strict: true)"));
}

/// rule_matcher.go 256-280: cluster-key-rate-limit does not enable rule-level isolation, so
/// one bad rule fails the whole configuration (we do the same).
#[test]
fn rule_matcher_go_279_one_bad_rule_fails_the_whole_config() {
    let good = json!({"_match_route_": ["a"], "rule_name": "a", "redis": {"service_name": "redis.static"},
        "global_threshold": {"query_per_second": 1}});
    let bad = json!({"_match_route_": ["b"], "rule_name": "b", "redis": {"service_name": "redis.static"},
        "global_threshold": {"query_per_second": 0}});
    let err = refused(&base(json!({"global_threshold": {"query_per_second": 1}, "_rules_": [good, bad]})));
    assert!(err.contains("_rules_[1].global_threshold.query_per_second"), "{err}");
}

/// rule_matcher.go 236-240 and 160-166: `_match_route_` with `_match_service_` needs both.
#[test]
fn rule_matcher_go_239_route_and_service_must_both_match() {
    let rule = json!({"_match_route_": ["a"], "_match_service_": ["backend.static", ""], "rule_name": "a",
        "redis": {"service_name": "redis.static"}, "global_threshold": {"query_per_second": 1}});
    let config = json!({"_rules_": [rule]});
    let check = |cluster: &str, route: &str| {
        let mut h = TestHost::<ClusterRateLimit>::configure(&config.to_string()).unwrap();
        let s = h.new_stream(&[(":method", "GET"), (":path", "/"), (":authority", "x")]);
        h.set_property(s, "route_name", route);
        h.set_property(s, "cluster_name", cluster);
        h.request_headers(s, true);
        !h.take_redis_calls().is_empty()
    };
    assert!(check("outbound|80||backend.static", "a"));
    assert!(!check("outbound|80||other.static", "a"));
    assert!(!check("outbound|80||backend.static", "b"));
}

/// config.go 132-136: rule_name must exist, but may be empty (warned: counters are shared).
#[test]
fn config_go_136_an_empty_rule_name_loads_with_a_warning() {
    let w = loads(&base(json!({"rule_name": "", "global_threshold": {"query_per_second": 1}})));
    assert!(w.iter().any(|w| w.contains("rule_name: is empty")), "{w:?}");
}

/// config.go 143-160, 220-224, 363-367: gjson's Bool(), Uint() and Int() read strings.
#[test]
fn config_go_145_numbers_and_booleans_written_as_strings_load() {
    let config = base(json!({"show_limit_quota_header": "true", "rejected_code": "403", "rule_items": [
        {"limit_by_header": "x-k", "limit_keys": [{"key": "v", "query_per_minute": "10"}]}]}));
    assert!(loads(&config).is_empty());
    let key = checked_key(&config, &[("x-k", "v")], None).unwrap();
    assert!(key.contains(" 10"), "the quota is 10: {key}");
}

/// config.go 312-318: `key.String()`, so a float or a boolean is a key.
#[test]
fn config_go_318_keys_written_as_floats_or_booleans_load() {
    let config = base(json!({"rule_items": [{"limit_by_header": "x-k", "limit_keys": [
        {"key": 1.5, "query_per_second": 1}, {"key": true, "query_per_second": 2}]}]}));
    assert!(loads(&config).is_empty());
    assert!(checked_key(&config, &[("x-k", "1.5")], None).is_some());
    assert!(checked_key(&config, &[("x-k", "true")], None).is_some());
}

/// config.go 106-121: `service_port: 0` and `timeout: 0` mean the defaults; a `username`
/// without a `password` is passed on with an empty password (no AUTH).
#[test]
fn config_go_107_redis_port_and_timeout_zero_are_defaults_and_username_alone_loads() {
    let config = json!({"rule_name": "r", "global_threshold": {"query_per_second": 1},
        "redis": {"service_name": "redis.static", "service_port": 0, "timeout": 0, "username": "u"}});
    let w = loads(&config);
    assert!(w.iter().any(|w| w.contains("redis.username")), "{w:?}");
    let h = TestHost::<ClusterRateLimit>::configure(&config.to_string()).unwrap();
    let inits = h.redis_inits();
    assert!(
        inits.iter().all(|(target, user, _, timeout)| target == "outbound|80||redis.static"
            && user.is_empty()
            && *timeout == 1000),
        "{inits:?}"
    );
}

/// config.go 253-257: `limit_by_consumer` counts whenever it exists, `null` included.
#[test]
fn config_go_254_limit_by_consumer_null_loads() {
    let config = base(json!({"rule_items": [{"limit_by_consumer": null, "limit_keys": [
        {"key": "alice", "query_per_second": 1}]}]}));
    assert!(loads(&config).is_empty());
    assert!(checked_key(&config, &[("x-mse-consumer", "alice")], None).is_some());
}

/// config.go 246-286: two `limit_by_*` in one item: the last in Go's order wins (warned).
#[test]
fn config_go_285_the_last_limit_by_field_wins() {
    let config = fixture("two-limit-by-fields.json");
    let w = loads(&config);
    assert!(w.iter().any(|w| w.contains("limit_by_param: wins over limit_by_header")), "{w:?}");
    assert!(checked_key(&config, &[("k", "a")], None).is_none(), "the header is not read");
    let mut h = TestHost::<ClusterRateLimit>::configure(&config.to_string()).unwrap();
    let s = h.new_stream(&[(":method", "GET"), (":path", "/?p=a"), (":authority", "x")]);
    h.request_headers(s, true);
    assert_eq!(h.take_redis_calls().len(), 1, "the parameter is");
}

/// config.go 148-153: `uint32(Uint())`: any unsigned code loads.
#[test]
fn config_go_150_any_unsigned_rejected_code_loads() {
    assert!(loads(&base(json!({"rejected_code": 999, "global_threshold": {"query_per_second": 1}}))).is_empty());
    let w = loads(&base(json!({"rejected_code": 0, "global_threshold": {"query_per_second": 1}})));
    assert!(w.iter().any(|w| w.contains("answered with 429")), "{w:?}");
}

/// rule_matcher.go 307-341: empty strings in `_match_route_`/`_match_service_` are skipped.
#[test]
fn rule_matcher_go_312_empty_strings_in_match_lists_are_skipped() {
    let rule = json!({"_match_route_": ["", "a"], "rule_name": "a", "redis": {"service_name": "redis.static"},
        "global_threshold": {"query_per_second": 1}});
    let config = json!({"_rules_": [rule]});
    assert!(loads(&config).is_empty());
    assert!(checked_key(&config, &[], Some("a")).is_some());
    assert!(checked_key(&config, &[], None).is_none(), "no route name does not match the empty one");
}

/// rule_matcher.go 128 reads `:authority` as sent and 381-402 compare it with its case; the
/// port goes (364-378).
#[test]
fn rule_matcher_go_389_domains_match_with_their_case_and_without_the_port() {
    let rule = json!({"_match_domain_": ["*.Example.com"], "rule_name": "a", "redis": {"service_name": "redis.static"},
        "global_threshold": {"query_per_second": 1}});
    let config = json!({"_rules_": [rule]});
    let with_host = |host: &str| {
        let mut h = TestHost::<ClusterRateLimit>::configure(&config.to_string()).unwrap();
        let s = h.new_stream(&[(":method", "GET"), (":path", "/"), (":authority", host)]);
        h.request_headers(s, true);
        !h.take_redis_calls().is_empty()
    };
    assert!(with_host("api.Example.com:8443"));
    assert!(with_host("api.Example.com"));
    assert!(!with_host("api.example.com"), "another case is another domain for wasm-go");
}

/// Unknown keys: config.go reads only the fields it knows, so Higress ignores the rest; we warn
/// with the path and the closest known field.
#[test]
fn config_go_131_unknown_keys_load_with_a_warning_naming_the_closest_field() {
    let w = loads(&fixture("unknown-key.json"));
    assert!(w.iter().any(|w| w.contains("at rejected_mesage") && w.contains("`rejected_msg`")), "{w:?}");
    let w = loads(&fixture("unknown-key-in-limit-keys.json"));
    assert!(w.iter().any(|w| w.contains("rule_items[0].limit_keys[0].burst")), "{w:?}");
}

/// config.go 336-343 compiles `regexp:` keys with Go's RE2 `regexp`, Unicode classes included:
/// `\p{Han}` loads and matches Han values; a class we do not carry is refused naming the key.
#[test]
fn config_go_339_unicode_classes_in_regexp_keys_load_and_match() {
    let config = base(json!({"rule_items": [{"limit_by_per_header": "x-u", "limit_keys": [
        {"key": "regexp:^\\p{Han}+$", "query_per_second": 1}, {"key": "regexp:^[a-z]\\d{2,}$", "query_per_second": 2}]}]}));
    assert!(loads(&config).is_empty());
    let han = checked_key(&config, &[("x-u", "张三")], None).unwrap();
    assert!(han.contains("limit_by_per_header:x-u:张三"), "{han}");
    assert!(han.contains(" f 1 "), "the \\p{{Han}} key's limit (quota 1): {han}");
    assert!(checked_key(&config, &[("x-u", "a12")], None).unwrap().contains(" f 2 "));
    assert!(checked_key(&config, &[("x-u", "Zhang")], None).is_none());
    let err = refused(&base(json!({"rule_items": [{"limit_by_per_header": "x-u", "limit_keys": [
        {"key": "regexp:^\\p{Tangut}+$", "query_per_second": 1}]}]})));
    assert!(err.contains("rule_items[0].limit_keys[0].key") && err.contains("`Tangut` is not supported"), "{err}");
}
