//! Issue 13 for token-limit: one case per rule-semantics and field difference from Higress's
//! `ai-token-ratelimit`, with the behaviour Higress shows, written from its Go sources. Each
//! test names the line it comes from: `rule_matcher.go` is higress-group/wasm-go d153aa4
//! `pkg/matcher/rule_matcher.go`; `config.go` and `main.go` are alibaba/higress 4e0d691
//! `plugins/wasm-go/extensions/ai-token-ratelimit/{config/config.go,main.go}`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use gateway_sdk::config::rules::RuleSet;
use gateway_sdk::redis::Reply;
use gateway_sdk::testing::{LocalResponse, TestHost};
use serde_json::{Value, json};
use token_limit::TokenLimit;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/higress-compat/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// Loads `config`; returns its warnings.
fn loads(config: &Value) -> Vec<String> {
    match RuleSet::<TokenLimit>::compile_quietly(config.to_string().as_bytes()) {
        Ok(set) => set.warnings().iter().map(ToString::to_string).collect(),
        Err(e) => panic!("refused: {e}\n{config}"),
    }
}

fn refused(config: &Value) -> String {
    match RuleSet::<TokenLimit>::compile_quietly(config.to_string().as_bytes()) {
        Ok(_) => panic!("accepted: {config}"),
        Err(e) => e.to_string(),
    }
}

/// `rule_name: r`, a Redis, and `extra`'s keys.
fn base(extra: Value) -> Value {
    let mut v = json!({"rule_name": "r", "redis": {"service_name": "redis.static"}});
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

/// A chat request without a prompt or `max_tokens`: its lower bound is 0, so it always reaches
/// Redis however small the quota (what it reserves is what fits).
const BODY: &str = r#"{"model":"m","messages":[]}"#;

/// A chat request (`path`, extra `headers`, the `route_name` property `route`) through `h`.
fn request(
    h: &mut TestHost<TokenLimit>,
    path: &str,
    headers: &[(&str, &str)],
    route: Option<&str>,
) -> gateway_sdk::testing::StreamId {
    let mut all = vec![(":method", "POST"), (":path", path), (":authority", "llm.example.com")];
    all.push(("content-type", "application/json"));
    all.extend_from_slice(headers);
    let s = h.new_stream(&all);
    if let Some(r) = route {
        h.set_property(s, "route_name", r);
    }
    h.request_headers(s, false);
    h.request_body(s, BODY.as_bytes(), true);
    s
}

/// The counters (Redis keys) and their quotas the one admission of a request checks, or None
/// when the request is not limited.
fn checked(config: &Value, path: &str, headers: &[(&str, &str)], route: Option<&str>) -> Option<Vec<(String, u64)>> {
    let mut h = TestHost::<TokenLimit>::configure(&config.to_string()).unwrap_or_else(|e| panic!("{e}"));
    request(&mut h, path, headers, route);
    let call = h.take_redis_calls().into_iter().next()?;
    let a = call.args();
    let n: usize = a[2].parse().unwrap();
    let (keys, args) = (&a[3..3 + n], &a[3 + n..]);
    // ARGV: units, now, then (kind, quota, a, b) per key (check.lua).
    Some(keys.iter().enumerate().map(|(i, k)| (k.clone(), args[3 + 4 * i].parse().unwrap())).collect())
}

/// The answer to a request `config` rejects (its one window over quota).
fn rejection(config: &Value, route: Option<&str>) -> LocalResponse {
    let mut h = TestHost::<TokenLimit>::configure(&config.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let s = request(&mut h, "/v1/chat/completions", &[], route);
    let call = h.take_redis_calls().remove(0);
    // Rejected; the window has used 10 and resets in 12.5 s.
    h.reply_redis(call.token, Reply::Array([1, 10, 12_500, 0].into_iter().map(Reply::Int).collect()));
    h.local_response(s).expect("a local rejection")
}

fn global(per_minute: u64) -> Value {
    json!({"token_per_minute": per_minute})
}

/// rule_matcher.go 253: a rule is parsed on its own (`parsePluginConfig(ruleJson)`), so a rule
/// that relies on the global `redis` is refused (main.go 120 with config.go 108).
#[test]
fn rule_matcher_go_253_a_rule_inherits_nothing_from_the_global_config() {
    let err = refused(&fixture("rule-inherits-nothing.json"));
    assert!(err.contains("_rules_[0]") && err.contains("redis"), "{err}");
}

/// rule_matcher.go 253 with config.go 184: a global `global_threshold` next to a rule with
/// `rule_items` is no conflict, since the rule does not see the global object.
#[test]
fn rule_matcher_go_253_a_rule_with_rule_items_under_a_global_threshold_loads() {
    let config = base(json!({"global_threshold": global(1000), "_rules_": [
        {"_match_route_": ["a"], "rule_name": "a", "redis": {"service_name": "redis.static"},
         "rule_items": [{"limit_by_header": "x-k", "limit_keys": [{"key": "v", "token_per_minute": 3}]}]}]}));
    assert!(loads(&config).is_empty());
    let keys = checked(&config, "/", &[("x-k", "v")], Some("a")).unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].0.starts_with("token-limit:a:{limit_by_header:x-k:v}"), "the rule's own counter: {keys:?}");
    assert_eq!(keys[0].1, 3);
    let keys = checked(&config, "/", &[("x-k", "v")], Some("b")).unwrap();
    assert!(keys[0].0.starts_with("token-limit:r:") && keys[0].1 == 1000, "other routes: the global one: {keys:?}");
}

/// config.go 161-172 through rule_matcher.go 253: a rule without `rejected_code` and
/// `rejected_msg` gets the defaults (429; our OpenAI error object), not the global ones.
#[test]
fn config_go_165_a_rule_without_rejected_code_or_msg_answers_with_the_defaults() {
    let config =
        base(json!({"global_threshold": global(1), "rejected_code": 403, "rejected_msg": "global", "_rules_": [
        {"_match_route_": ["a"], "rule_name": "a", "redis": {"service_name": "redis.static"},
         "global_threshold": global(1)}]}));
    let r = rejection(&config, Some("a"));
    assert_eq!(r.status, 429);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"]["code"], "token_quota_exceeded");
    let r = rejection(&config, Some("b"));
    assert_eq!((r.status, r.body.as_slice()), (403, b"global".as_slice()));
}

/// rule_matcher.go 199-213: a global object that does not parse is tolerated next to rules
/// (only their routes are served); without rules it is an error; `strict: true` refuses it.
#[test]
fn rule_matcher_go_200_a_bad_global_config_is_tolerated_when_rules_exist() {
    let rule = json!({"_match_route_": ["a"], "rule_name": "a", "redis": {"service_name": "redis.static"},
        "global_threshold": global(5)});
    let config = json!({"global_threshold": global(5), "_rules_": [rule]});
    let warnings = loads(&config);
    assert!(
        warnings.iter().any(|w| w.contains("global configuration is ignored") && w.contains("rule_name")),
        "{warnings:?}"
    );
    assert!(checked(&config, "/", &[], Some("a")).is_some(), "the rule's route is served");
    assert!(checked(&config, "/", &[], Some("b")).is_none(), "other routes pass through");
    assert!(refused(&json!({"global_threshold": global(5)})).contains("rule_name"));
    let mut strict = config.clone();
    strict["strict"] = json!(true);
    assert!(refused(&strict).contains("(strict: true)"));
}

/// rule_matcher.go 256-280: ai-token-ratelimit does not enable rule-level isolation, so one
/// bad rule fails the whole configuration.
#[test]
fn rule_matcher_go_279_one_bad_rule_fails_the_whole_config() {
    let rule = |name: &str, quota: u64| {
        json!({"_match_route_": [name], "rule_name": name, "redis": {"service_name": "redis.static"},
            "global_threshold": global(quota)})
    };
    let err = refused(&base(json!({"global_threshold": global(5), "_rules_": [rule("a", 5), rule("b", 0)]})));
    assert!(err.contains("_rules_[1].global_threshold.token_per_minute"), "{err}");
}

/// rule_matcher.go 236-240 and 160-166: `_match_route_` with `_match_service_` needs both.
#[test]
fn rule_matcher_go_239_route_and_service_must_both_match() {
    let rule = json!({"_match_route_": ["a"], "_match_service_": ["llm.static"], "rule_name": "a",
        "redis": {"service_name": "redis.static"}, "global_threshold": global(5)});
    let config = json!({"_rules_": [rule]});
    let check = |cluster: &str, route: &str| {
        let mut h = TestHost::<TokenLimit>::configure(&config.to_string()).unwrap();
        let s = h.new_stream(&[
            (":method", "POST"),
            (":path", "/"),
            (":authority", "x"),
            ("content-type", "application/json"),
        ]);
        h.set_property(s, "route_name", route);
        h.set_property(s, "cluster_name", cluster);
        h.request_headers(s, false);
        h.request_body(s, BODY.as_bytes(), true);
        !h.take_redis_calls().is_empty()
    };
    assert!(check("outbound|80||llm.static", "a"));
    assert!(!check("outbound|80||other.static", "a"));
    assert!(!check("outbound|80||llm.static", "b"));
}

/// config.go 149-153: rule_name must exist, but may be empty (warned: counters are shared).
#[test]
fn config_go_153_an_empty_rule_name_loads_with_a_warning() {
    let config = base(json!({"rule_name": "", "global_threshold": global(5)}));
    let w = loads(&config);
    assert!(w.iter().any(|w| w.contains("rule_name: is empty")), "{w:?}");
    assert!(
        refused(&json!({"redis": {"service_name": "redis.static"}, "global_threshold": global(5)}))
            .contains("rule_name")
    );
    assert!(checked(&config, "/", &[], None).is_some());
}

/// config.go 163, 234 and 377: gjson's Uint() and Int() read numbers written as strings.
#[test]
fn config_go_377_numbers_written_as_strings_load() {
    let config = base(json!({"rejected_code": "403", "rule_items": [
        {"limit_by_header": "x-k", "limit_keys": [{"key": "v", "token_per_minute": "10"}]}]}));
    assert!(loads(&config).is_empty());
    let keys = checked(&config, "/", &[("x-k", "v")], None).unwrap();
    assert_eq!(keys[0].1, 10);
    let config = base(json!({"rejected_code": "403", "global_threshold": {"token_per_hour": "7"}}));
    assert_eq!(rejection(&config, None).status, 403);
    // Int() of a string that is not a number is 0, which config.go 378 refuses.
    let err = refused(&base(json!({"global_threshold": {"token_per_hour": "lots"}})));
    assert!(err.contains("global_threshold.token_per_hour"), "{err}");
}

/// config.go 324-330: `key.String()`, so a float or a boolean is a key.
#[test]
fn config_go_330_keys_written_as_floats_or_booleans_load() {
    let config = base(json!({"rule_items": [{"limit_by_header": "x-k", "limit_keys": [
        {"key": 1.5, "token_per_minute": 1}, {"key": true, "token_per_minute": 2}]}]}));
    assert!(loads(&config).is_empty());
    assert_eq!(checked(&config, "/", &[("x-k", "1.5")], None).unwrap()[0].1, 1);
    assert_eq!(checked(&config, "/", &[("x-k", "true")], None).unwrap()[0].1, 2);
}

/// config.go 199 and 323: gjson `Array()` makes a single object a list of one.
#[test]
fn config_go_199_rule_items_and_limit_keys_may_be_single_objects() {
    let config =
        base(json!({"rule_items": {"limit_by_header": "x-k", "limit_keys": {"key": "v", "token_per_minute": 4}}}));
    assert!(loads(&config).is_empty());
    assert_eq!(checked(&config, "/", &[("x-k", "v")], None).unwrap()[0].1, 4);
}

/// config.go 117-132: `service_port: 0` and `timeout: 0` mean the defaults; a `username`
/// without a `password` is passed on with an empty password (no AUTH).
#[test]
fn config_go_118_redis_port_and_timeout_zero_are_defaults_and_username_alone_loads() {
    let config = json!({"rule_name": "r", "global_threshold": global(5),
        "redis": {"service_name": "redis.static", "service_port": 0, "timeout": 0, "username": "u"}});
    let w = loads(&config);
    assert!(w.iter().any(|w| w.contains("redis.username")), "{w:?}");
    let h = TestHost::<TokenLimit>::configure(&config.to_string()).unwrap();
    let inits = h.redis_inits();
    assert!(
        inits.iter().all(|(target, user, _, timeout)| target == "outbound|80||redis.static"
            && user.is_empty()
            && *timeout == 1000),
        "{inits:?}"
    );
}

/// config.go 107-115: no `redis`, or an empty `service_name`, is refused.
#[test]
fn config_go_108_a_missing_redis_or_service_name_is_refused() {
    assert!(refused(&json!({"rule_name": "r", "global_threshold": global(5)})).contains("redis"));
    let err = refused(&json!({"rule_name": "r", "global_threshold": global(5), "redis": {"service_name": ""}}));
    assert!(err.contains("redis.service_name"), "{err}");
}

/// config.go 265-269: `limit_by_consumer` counts whenever it exists, `null` included.
#[test]
fn config_go_266_limit_by_consumer_null_loads() {
    let config = base(json!({"rule_items": [{"limit_by_consumer": null, "limit_keys": [
        {"key": "alice", "token_per_minute": 1}]}]}));
    assert!(loads(&config).is_empty());
    assert!(checked(&config, "/", &[("x-mse-consumer", "alice")], None).is_some());
}

/// config.go 252-298: two `limit_by_*` in one item: the last in Go's order wins (warned).
#[test]
fn config_go_297_the_last_limit_by_field_wins() {
    let config = fixture("two-limit-by-fields.json");
    let w = loads(&config);
    assert!(w.iter().any(|w| w.contains("limit_by_param: wins over limit_by_header")), "{w:?}");
    assert!(checked(&config, "/", &[("k", "a")], None).is_none(), "the header is not read");
    assert!(checked(&config, "/?p=a", &[], None).is_some(), "the parameter is");
}

/// config.go 214-222: a repeated limit type and name is logged by Higress, not refused.
#[test]
fn config_go_219_a_repeated_rule_item_loads_with_a_warning() {
    let item = |key: &str| json!({"limit_by_header": "x-k", "limit_keys": [{"key": key, "token_per_minute": 1}]});
    let config = base(json!({"rule_items": [item("a"), item("b")]}));
    let w = loads(&config);
    assert!(w.iter().any(|w| w.contains("rule_items[1].limit_by_header: repeats rule_items[0]")), "{w:?}");
    assert!(checked(&config, "/", &[("x-k", "b")], None).is_some(), "the second still applies to its keys");
}

/// config.go 161-166: `uint32(Uint())`: any unsigned code loads (one a client cannot read
/// is answered with 429, warned).
#[test]
fn config_go_163_any_unsigned_rejected_code_loads() {
    let config = base(json!({"rejected_code": 999, "global_threshold": global(5)}));
    assert!(loads(&config).is_empty());
    assert_eq!(rejection(&config, None).status, 999);
    let config = base(json!({"rejected_code": 0, "global_threshold": global(5)}));
    let w = loads(&config);
    assert!(w.iter().any(|w| w.contains("answered with 429")), "{w:?}");
    assert_eq!(rejection(&config, None).status, 429);
}

/// main.go 345-349: `rejected_msg` is the body as written, with `X-TokenRateLimit-Reset`.
/// Envoy's local reply gives a body without a content type `text/plain`; a JSON one is
/// labelled `application/json` here.
#[test]
fn main_go_349_a_configured_rejected_msg_is_the_body_as_written() {
    let r = rejection(&base(json!({"rejected_msg": "no more tokens", "global_threshold": global(5)})), None);
    assert_eq!((r.status, r.body.as_slice()), (429, b"no more tokens".as_slice()));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-tokenratelimit-reset"), Some("13"));
    let r = rejection(&base(json!({"rejected_msg": "{\"code\": -1}", "global_threshold": global(5)})), None);
    assert_eq!((r.body.as_slice(), r.header("content-type")), (b"{\"code\": -1}".as_slice(), Some("application/json")));
    // config.go 169: `rejected_msg: null` exists, so its String() (empty) is the body.
    let r = rejection(&base(json!({"rejected_msg": null, "global_threshold": global(5)})), None);
    assert!(r.body.is_empty(), "{:?}", r.body);
}

/// config.go 374-389 iterates a Go map, so of several `token_per_*` in one object Higress
/// enforces one at random; we enforce them all (README: Coming from Higress).
#[test]
fn config_go_374_several_windows_in_one_object_all_apply() {
    let config = base(json!({"global_threshold": {"token_per_minute": 10, "token_per_hour": 100}}));
    assert!(loads(&config).is_empty());
    let quotas: Vec<u64> = checked(&config, "/", &[], None).unwrap().into_iter().map(|(_, q)| q).collect();
    assert_eq!(quotas, vec![10, 100]);
}

/// config.go 200, 316-330, 235, 295, 357: what Higress refuses, we refuse, naming the field.
#[test]
fn config_go_refuses_what_higress_refuses() {
    let items = |item: Value| base(json!({"rule_items": [item]}));
    let cases = [
        (base(json!({"rule_items": []})), "rule_items"),
        (items(json!({"limit_by_header": "x"})), "rule_items[0]"),
        (items(json!({"limit_by_header": "x", "limit_keys": []})), "rule_items[0].limit_keys"),
        (items(json!({"limit_by_header": "x", "limit_keys": [{"key": "", "token_per_minute": 1}]})), "key"),
        (items(json!({"limit_by_header": "", "limit_keys": [{"key": "a", "token_per_minute": 1}]})), "rule_items[0]"),
        (
            items(json!({"limit_by_per_ip": "x", "limit_keys": [{"key": "1.1.1.1", "token_per_minute": 1}]})),
            "limit_by_per_ip",
        ),
        (items(json!({"limit_by_per_header": "x", "limit_keys": [{"key": "a", "token_per_minute": 1}]})), "key"),
        (base(json!({"global_threshold": {"token_per_minute": -1}})), "global_threshold.token_per_minute"),
        (base(json!({})), "global_threshold"),
    ];
    for (config, path) in cases {
        let err = refused(&config);
        assert!(err.contains(path), "{config}: {err}");
    }
}

/// Unknown keys: config.go reads only the fields it knows, so Higress ignores the rest; we warn
/// with the path and the closest known field, and `strict: true` refuses them.
#[test]
fn config_go_148_unknown_keys_load_with_a_warning_naming_the_closest_field() {
    let w = loads(&fixture("unknown-key.json"));
    assert!(w.iter().any(|w| w.contains("at rejected_mesage") && w.contains("`rejected_msg`")), "{w:?}");
    let w = loads(&fixture("unknown-key-in-limit-keys.json"));
    assert!(w.iter().any(|w| w.contains("rule_items[0].limit_keys[0].burst")), "{w:?}");
    let mut strict = fixture("unknown-key.json");
    strict["strict"] = json!(true);
    assert!(refused(&strict).contains("rejected_mesage"));
}
