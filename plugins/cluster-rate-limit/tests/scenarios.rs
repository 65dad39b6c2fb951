//! cluster-rate-limit against the native TestHost: one Redis call per checked request (three
//! windows included), the headers (parsed as structured fields), the local over-limit cache,
//! the breaker with its fallback limit, deny mode and shadow mode.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use cluster_rate_limit::ClusterRateLimit;
use gateway_sdk::redis::Reply;
use gateway_sdk::testing::{Action, RedisCall, StreamId, TestHost};

/// 10.5 s into a minute (1.8e12 ms is a whole minute).
const T0_MS: u64 = 1_800_000_000_000 + 10_500;

fn host(config: serde_json::Value) -> TestHost<ClusterRateLimit> {
    let mut h = TestHost::<ClusterRateLimit>::configure(&config.to_string()).unwrap_or_else(|e| panic!("{e}"));
    h.set_time(SystemTime::UNIX_EPOCH + Duration::from_millis(T0_MS));
    h
}

fn config(extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::json!({
        "rule_name": "r",
        "redis": {"service_name": "redis.static", "timeout": 200},
        "global_threshold": {"query_per_second": 10, "query_per_minute": 100, "query_per_hour": 1000},
    });
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    // `null` removes a key (Higress counts a `null` member as set: config.go 168-174).
    v.as_object_mut().unwrap().retain(|_, x| !x.is_null());
    v
}

fn request(h: &mut TestHost<ClusterRateLimit>, headers: &[(&str, &str)]) -> (StreamId, Action) {
    let mut all = vec![(":method", "GET"), (":path", "/"), (":authority", "example.com")];
    all.extend_from_slice(headers);
    let s = h.new_stream(&all);
    let action = h.request_headers(s, true);
    (s, action)
}

/// A check-script reply: `rejected` (0 = admitted), then (used, reset_ms) per window.
fn reply(rejected: i64, windows: &[(i64, i64)]) -> Reply {
    let mut items = vec![Reply::Int(rejected)];
    for &(used, reset) in windows {
        items.extend([Reply::Int(used), Reply::Int(reset), Reply::Int(0)]);
    }
    Reply::Array(items)
}

fn one_call(h: &mut TestHost<ClusterRateLimit>) -> RedisCall {
    let calls = h.take_redis_calls();
    assert_eq!(calls.len(), 1, "exactly one Redis call: {:?}", calls.iter().map(RedisCall::args).collect::<Vec<_>>());
    calls.into_iter().next().unwrap()
}

/// Parses a structured-field list of `"name";k=v...` items into (name, [(k, integer or string)]).
fn parse_sf_list(value: &str) -> Vec<(String, Vec<(String, String)>)> {
    let list: sfv::List =
        sfv::Parser::new(value).parse().unwrap_or_else(|e| panic!("`{value}` is not a structured list: {e}"));
    list.into_iter()
        .map(|entry| match entry {
            sfv::ListEntry::Item(item) => {
                let name = item
                    .bare_item
                    .as_string()
                    .unwrap_or_else(|| panic!("`{value}`: names are strings"))
                    .as_str()
                    .to_string();
                let params = item
                    .params
                    .iter()
                    .map(|(k, v)| {
                        let v = match (v.as_integer(), v.as_string()) {
                            (Some(i), _) => i64::from(i).to_string(),
                            (_, Some(s)) => s.as_str().to_string(),
                            _ => panic!("unexpected parameter {k:?}={v:?}"),
                        };
                        (k.as_str().to_string(), v)
                    })
                    .collect();
                (name, params)
            }
            other => panic!("unexpected inner list {other:?}"),
        })
        .collect()
}

fn param(items: &[(String, Vec<(String, String)>)], name: &str, key: &str) -> i64 {
    let (_, params) = items.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no policy {name}"));
    params.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no {key} on {name}")).1.parse().unwrap()
}

#[test]
fn checks_three_windows_in_one_redis_call_with_one_hash_tag() {
    let mut h = host(config(serde_json::json!({})));
    let (s, action) = request(&mut h, &[]);
    assert_eq!(action, Action::Pause);
    let call = one_call(&mut h);
    let args = call.args();
    assert_eq!(args[0], "EVALSHA");
    assert_eq!(args[2], "3", "three keys");
    let keys = &args[3..6];
    for k in keys {
        assert!(k.starts_with("cluster-rate-limit:{r:global_threshold}:"), "{k}");
    }
    h.reply_redis(call.token, reply(0, &[(1, 500), (1, 49_500), (1, 1_000_000)]));
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.local_response(s), None);
    h.response_headers(s, &[(":status", "200")], true);
    let policy = parse_sf_list(&h.response_header(s, "ratelimit-policy").unwrap());
    assert_eq!(policy.len(), 3);
    assert_eq!((param(&policy, "1s", "q"), param(&policy, "1s", "w")), (10, 1));
    assert_eq!((param(&policy, "1h", "q"), param(&policy, "1h", "w")), (1000, 3600));
    let limit = parse_sf_list(&h.response_header(s, "ratelimit").unwrap());
    assert_eq!((param(&limit, "1s", "r"), param(&limit, "1s", "t")), (9, 1));
    assert_eq!((param(&limit, "1m", "r"), param(&limit, "1m", "t")), (99, 50));
    assert_eq!(h.response_header(s, "x-ratelimit-limit"), None, "show_limit_quota_header is off");
    assert_eq!(h.metric("cluster_rate_limit.allowed"), Some(1));
}

#[test]
fn the_first_call_loads_the_script_once_after_noscript() {
    let mut h = host(config(serde_json::json!({})));
    let (s, _) = request(&mut h, &[]);
    let call = one_call(&mut h);
    h.reply_redis(call.token, Reply::Error("NOSCRIPT No matching script".into()));
    let eval = one_call(&mut h);
    assert_eq!(eval.args()[0], "EVAL");
    h.reply_redis(eval.token, reply(0, &[(1, 500), (1, 1), (1, 1)]));
    assert_eq!(h.request_resumed(s), 1);
}

#[test]
fn rejects_with_parseable_headers_and_retry_after_not_before_t() {
    let mut h = host(config(serde_json::json!({"show_limit_quota_header": true, "rejected_msg": "slow down"})));
    let (s, _) = request(&mut h, &[]);
    let call = one_call(&mut h);
    h.reply_redis(call.token, reply(2, &[(3, 500), (100, 49_500), (100, 1_000_000)]));
    let r = h.local_response(s).expect("rejected");
    assert_eq!(r.status, 429);
    assert_eq!(r.body, b"slow down");
    let limit = parse_sf_list(r.header("ratelimit").unwrap());
    let t = param(&limit, "1m", "t");
    assert_eq!((param(&limit, "1m", "r"), t), (0, 50));
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= t, "Retry-After {retry} < t {t}");
    parse_sf_list(r.header("ratelimit-policy").unwrap());
    assert_eq!(r.header("x-ratelimit-limit"), Some("100"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(h.metric("cluster_rate_limit.rejected"), Some(1));
}

#[test]
fn over_limit_keys_are_rejected_locally_until_their_window_resets() {
    let mut h = host(config(serde_json::json!({"global_threshold": {"query_per_second": 10}})));
    let (_, _) = request(&mut h, &[]);
    let call = one_call(&mut h);
    h.reply_redis(call.token, reply(1, &[(10, 500)]));
    for _ in 0..5 {
        let (s, _) = request(&mut h, &[]);
        assert!(h.take_redis_calls().is_empty(), "no Redis call for a locally rejected key");
        let r = h.local_response(s).unwrap();
        assert_eq!(r.status, 429);
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!(retry >= 1);
    }
    assert_eq!(h.metric("cluster_rate_limit.local_rejected"), Some(5));
    h.advance(Duration::from_millis(500));
    let (s, action) = request(&mut h, &[]);
    assert_eq!(action, Action::Pause, "the window reset: back to Redis");
    let call = one_call(&mut h);
    h.reply_redis(call.token, reply(0, &[(1, 1000)]));
    assert_eq!(h.local_response(s), None);
}

#[test]
fn rule_items_pick_the_key_and_unmatched_requests_pass_without_redis() {
    let mut h = host(config(serde_json::json!({"global_threshold": null, "rule_items": [
        {"limit_by_header": "x-ca-key", "limit_keys": [{"key": 102234, "query_per_minute": 10}]},
        {"limit_by_per_ip": "from-header-x-forwarded-for", "limit_keys": [{"key": "10.0.0.0/8", "query_per_second": 5}]}]})));
    let (s, action) = request(&mut h, &[("x-ca-key", "999")]);
    assert_eq!(action, Action::Continue);
    assert!(h.take_redis_calls().is_empty());
    assert_eq!(h.local_response(s), None);
    request(&mut h, &[("x-ca-key", "102234")]);
    let args = one_call(&mut h).args();
    assert!(args[3].starts_with("cluster-rate-limit:{r:limit_by_header:x-ca-key:102234}:60:"), "{}", args[3]);
    request(&mut h, &[("x-forwarded-for", "10.1.2.3, 192.168.0.1")]);
    let args = one_call(&mut h).args();
    assert!(
        args[3].starts_with("cluster-rate-limit:{r:limit_by_per_ip:from-header-x-forwarded-for:10.1.2.3}:1:"),
        "{}",
        args[3]
    );
}

#[test]
fn an_open_breaker_skips_redis_and_enforces_the_per_gateway_fallback() {
    let mut h = host(config(serde_json::json!({
        "global_threshold": {"query_per_second": 40},
        "gateway_count": 4,
        "circuit_breaker": {"failure_threshold": 2, "cooldown_ms": 5000}})));
    for _ in 0..2 {
        let (s, _) = request(&mut h, &[]);
        let call = one_call(&mut h);
        h.fail_redis(call.token);
        assert_eq!(h.request_resumed(s), 1, "allow mode lets it through");
        assert_eq!(h.local_response(s), None);
    }
    assert_eq!(h.metric("cluster_rate_limit.redis_errors"), Some(2));
    // Open: no Redis call, no pause; 40 / 4 = 10 per second pass on this gateway.
    let mut admitted = 0;
    for _ in 0..25 {
        let (s, action) = request(&mut h, &[]);
        if h.local_response(s).is_none() {
            assert_eq!(action, Action::Continue, "admitted at once");
            admitted += 1;
        } else {
            assert_eq!(h.local_response(s).unwrap().status, 429);
        }
    }
    assert!(h.take_redis_calls().is_empty(), "no Redis wait while the breaker is open");
    assert_eq!(admitted, 10);
    assert_eq!(h.metric("cluster_rate_limit.fallback_decisions"), Some(2 + 25));
    // After the cool-down one request probes Redis; success closes the breaker.
    h.advance(Duration::from_millis(5000));
    let (s, action) = request(&mut h, &[]);
    assert_eq!(action, Action::Pause);
    let call = one_call(&mut h);
    h.reply_redis(call.token, reply(0, &[(1, 500)]));
    assert_eq!(h.local_response(s), None);
    let (_, action) = request(&mut h, &[]);
    assert_eq!(action, Action::Pause, "closed again: back to Redis");
    assert_eq!(h.take_redis_calls().len(), 1);
}

#[test]
fn deny_mode_answers_the_failure_status() {
    let mut h = host(config(serde_json::json!({"failure_mode": "deny", "failure_status": 503,
        "circuit_breaker": {"failure_threshold": 1, "cooldown_ms": 1000}})));
    let (s, _) = request(&mut h, &[]);
    let call = one_call(&mut h);
    h.fail_redis(call.token);
    assert_eq!(h.local_response(s).unwrap().status, 503);
    let (s, _) = request(&mut h, &[]);
    assert!(h.take_redis_calls().is_empty(), "breaker open: denied at once");
    assert_eq!(h.local_response(s).unwrap().status, 503);
    // An error reply (Redis is up but refuses) follows the failure mode without opening the breaker.
    let mut h = host(config(serde_json::json!({"failure_mode": "deny", "failure_status": 500})));
    let (s, _) = request(&mut h, &[]);
    let call = one_call(&mut h);
    h.reply_redis(call.token, Reply::Error("WRONGPASS invalid username-password pair".into()));
    assert_eq!(h.local_response(s).unwrap().status, 500);
}

#[test]
fn shadow_mode_counts_rejections_but_lets_requests_through() {
    let mut h = host(config(serde_json::json!({"shadow_mode": true, "global_threshold": {"query_per_second": 1}})));
    let (s, _) = request(&mut h, &[]);
    let call = one_call(&mut h);
    h.reply_redis(call.token, reply(1, &[(1, 500)]));
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.local_response(s), None);
    let (s, action) = request(&mut h, &[]);
    assert_eq!(action, Action::Continue, "the local cache decides, and shadow mode lets it pass");
    assert_eq!(h.local_response(s), None);
    assert_eq!(h.metric("cluster_rate_limit.shadow_rejected"), Some(2));
    assert_eq!(h.metric("cluster_rate_limit.rejected").unwrap_or(0), 0);
}
