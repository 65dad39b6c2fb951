//! Done-when 3 of issue 13 for token budgets: with `share_counters_with_higress`, gateway-host
//! running our module and a Go gateway running Higress's `ai-token-ratelimit` share one Redis
//! counter and one limit. The Go side is a driver making exactly that plugin's Redis calls
//! (alibaba/higress 4e0d691, `ai-token-ratelimit/main.go`): at request headers one `EVAL` of its
//! request-phase script (GET, TTL: refused when the count is over the threshold), at the end of
//! the response one `EVAL` of its response-phase script (GET; INCRBY the usage only while the
//! count is not over the threshold; EXPIRE on the first charge or a key without TTL). The scripts
//! here are ours, written to issue the same commands in the same order.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use gateway_host::testing::{RedisServer, RedisValue, http_request};
use serde_json::{Value, json};
use support::mock_llm::MockLlm;
use support::{load_scripts, start_gateway};

mod support;

/// Request phase, command for command (main.go `RequestPhaseFixedWindowScript`).
const GO_REQUEST_PHASE: &str = r"
local count = redis.call('get', KEYS[1])
local ttl = redis.call('ttl', KEYS[1])
if not count then return {tonumber(ARGV[1]), 0, tonumber(ARGV[2])} end
if ttl < 0 then ttl = tonumber(ARGV[2]) end
return {tonumber(ARGV[1]), tonumber(count), ttl}
";

/// Response phase, command for command (main.go `ResponsePhaseFixedWindowScript`).
const GO_RESPONSE_PHASE: &str = r"
local count = tonumber(redis.call('get', KEYS[1]) or '0')
if count <= tonumber(ARGV[1]) then
  count = redis.call('incrby', KEYS[1], ARGV[3])
  if count == tonumber(ARGV[3]) then
    redis.call('expire', KEYS[1], ARGV[2])
  elseif redis.call('ttl', KEYS[1]) < 0 then
    redis.call('expire', KEYS[1], ARGV[2])
  end
end
return {tonumber(ARGV[1]), count, redis.call('ttl', KEYS[1])}
";

fn ints(v: RedisValue) -> Vec<i64> {
    let RedisValue::Array(items) = v else { panic!("{v:?}") };
    items.iter().map(|v| if let RedisValue::Int(i) = v { *i } else { panic!("{v:?}") }).collect()
}

/// One request through a Go gateway that the upstream answers with `usage` tokens: whether it
/// was admitted (main.go: refused when current > threshold) and the reset it would send.
fn go_gateway_request(redis: &RedisServer, key: &str, threshold: u64, window: u64, usage: u64) -> (bool, i64) {
    let (t, w) = (threshold.to_string(), window.to_string());
    let r = ints(redis.command(&["EVAL", GO_REQUEST_PHASE, "1", key, &t, &w]).unwrap());
    if r[1] > r[0] {
        return (false, r[2]);
    }
    redis.command(&["EVAL", GO_RESPONSE_PHASE, "1", key, &t, &w, &usage.to_string()]).unwrap();
    (true, r[2])
}

fn shared_config(limits: Value) -> Value {
    let mut c = json!({
        "rule_name": "tokens",
        "share_counters_with_higress": true,
        "reservation": "off",
        "redis": {"service_name": "redis.static", "service_port": 6379},
    });
    for (k, v) in limits.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

const BODY: &str = r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]}"#;

fn ours(gw: &gateway_host::Gateway, headers: &[(&str, &str)]) -> gateway_host::testing::HttpResponse {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    http_request("POST", &format!("{}/v1/chat/completions", gw.url()), &h, BODY.as_bytes()).unwrap()
}

fn count(redis: &RedisServer, key: &str) -> i64 {
    redis.get_int(key).unwrap().unwrap_or(0)
}

/// Our charge is made after the response; wait for Redis to show it.
fn wait_count(redis: &RedisServer, key: &str, expected: i64) -> i64 {
    for _ in 0..100 {
        if count(redis, key) == expected {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    count(redis, key)
}

#[test]
fn a_go_gateway_and_ours_share_one_token_counter_and_the_budget_holds_across_both() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    load_scripts(&redis);
    let config = shared_config(json!({"global_threshold": {"token_per_minute": 200}}));
    let gw = start_gateway(&redis, &llm.addr(), config, 1);
    // main.go (`AiTokenGlobalRateLimitFormat`): prefix, rule name, global_threshold, window.
    let key = "higress-token-ratelimit:tokens:global_threshold:60";

    assert!(go_gateway_request(&redis, key, 200, 60, 50).0, "the Go gateway's first request");
    let RedisValue::Int(ttl) = redis.command(&["TTL", key]).unwrap() else { panic!() };
    assert!((55..=60).contains(&ttl), "the window starts at the first charge: {ttl}");
    let mut expected = 50;
    let mut per_answer = 0;
    for i in 0..3 {
        let r = ours(&gw, &[]);
        assert_eq!(r.status, 200, "our request {i}");
        if per_answer == 0 {
            per_answer = wait_count(&redis, key, -1) - expected;
            assert!(per_answer > 0, "our usage went into the shared key");
        }
        expected += per_answer;
        assert_eq!(wait_count(&redis, key, expected), expected, "after our request {i}");
    }
    // Under the budget still (ai-token-ratelimit admits while used <= quota): the Go gateway's
    // request is admitted and charged, which takes the count over.
    assert!(expected <= 200, "{expected}");
    assert!(go_gateway_request(&redis, key, 200, 60, 80).0);
    expected += 80;
    assert_eq!(count(&redis, key), expected);
    // Over: both refuse.
    let refused = ours(&gw, &[]);
    assert_eq!(refused.status, 429);
    let reset: i64 = refused.header("x-tokenratelimit-reset").unwrap().parse().unwrap();
    let (admitted, go_reset) = go_gateway_request(&redis, key, 200, 60, 50);
    assert!(!admitted);
    assert!((reset - go_reset).abs() <= 1, "ours {reset}, Go {go_reset}");
    let RedisValue::Int(later) = redis.command(&["TTL", key]).unwrap() else { panic!() };
    assert!(later <= ttl, "no request moved the window's end: {later} after {ttl}");
    let RedisValue::Array(keys) = redis.command(&["KEYS", "*"]).unwrap() else { panic!() };
    assert_eq!(keys, vec![RedisValue::Bulk(key.to_string())], "one counter, Higress's");
}

#[test]
fn keyed_budgets_use_the_go_plugins_item_key_and_stop_charging_over_the_threshold() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    load_scripts(&redis);
    let config = shared_config(json!({"rule_items": [{
        "limit_by_per_header": "x-api-key",
        "limit_keys": [{"key": "*", "token_per_hour": 10}],
    }]}));
    let gw = start_gateway(&redis, &llm.addr(), config, 1);
    // main.go (`AiTokenRateLimitFormat`): ... limit type, window, item key, value.
    let key = "higress-token-ratelimit:tokens:limit_by_per_header:3600:x-api-key:alice";
    // A Go gateway takes the key to 11 of 10; a charge then adds nothing (main.go's response
    // phase adds only while the count is at most the threshold).
    assert!(go_gateway_request(&redis, key, 10, 3600, 11).0);
    assert_eq!(ours(&gw, &[("x-api-key", "alice")]).status, 429);
    assert!(!go_gateway_request(&redis, key, 10, 3600, 5).0);
    assert_eq!(count(&redis, key), 11);
    // Another key is its own counter, on both sides.
    assert_eq!(ours(&gw, &[("x-api-key", "bob")]).status, 200);
    let bob = "higress-token-ratelimit:tokens:limit_by_per_header:3600:x-api-key:bob";
    let charged = wait_count(&redis, bob, -1);
    assert!(charged > 10, "one answer's usage: {charged}");
    // Bob is over now; ours refuses and so would the Go gateway.
    assert_eq!(ours(&gw, &[("x-api-key", "bob")]).status, 429);
    assert!(!go_gateway_request(&redis, bob, 10, 3600, 5).0);
}

#[test]
fn shared_token_counters_take_one_window_of_seconds_per_key() {
    use gateway_sdk::config::rules::RuleSet;
    use token_limit::TokenLimit;
    let refused =
        |limits: Value| match RuleSet::<TokenLimit>::compile_quietly(shared_config(limits).to_string().as_bytes()) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        };
    let two = refused(json!({"global_threshold": {"token_per_minute": 10, "token_per_day": 100}}));
    assert!(two.contains("global_threshold: has 2 windows"), "{two}");
    let month = refused(json!({"rule_items": [{"limit_by_header": "k", "limit_keys": [
        {"key": "a", "token_quota": {"each_month": 9}}]}]}));
    assert!(month.contains("rule_items[0].limit_keys[0]: a calendar quota cannot be shared"), "{month}");
}
