//! Done-when 3 of issue 13: with `share_counters_with_higress`, gateway-host running our module
//! and a Go gateway running Higress's `cluster-key-rate-limit` share one Redis counter and one
//! limit. The Go side is a driver that makes exactly the Redis calls of that plugin's
//! `onHttpRequestHeaders` (alibaba/higress 4e0d691, `cluster-key-rate-limit/main.go` 104-160):
//! one `EVAL` of its fixed-window script with KEYS = [the key of `ClusterRateLimitFormat` /
//! `ClusterGlobalRateLimitFormat`] and ARGV = [count, time window]. The script here is ours,
//! written to issue the same commands in the same order (GET; stop when over the threshold;
//! INCR; EXPIRE when the count is 1; TTL), so Redis sees what a Go gateway makes it do.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use gateway_host::testing::{RedisServer, RedisValue, TestUpstream, http_request};
use serde_json::{Value, json};
use support::start_gateway;

mod support;

const REDIS_CLUSTER: &str = "outbound|6379||redis.static";

/// The Go plugin's fixed-window script, command for command (not its text).
const GO_PLUGIN_SCRIPT: &str = r"
local threshold = tonumber(ARGV[1])
local count = tonumber(redis.call('get', KEYS[1]) or '0')
if count > threshold then
  return {threshold, count, redis.call('ttl', KEYS[1])}
end
count = redis.call('incr', KEYS[1])
if count == 1 then redis.call('expire', KEYS[1], ARGV[2]) end
return {threshold, count, redis.call('ttl', KEYS[1])}
";

/// One request through a Go gateway: (admitted, remaining, reset seconds) as main.go 137-147
/// derives them from the script's reply.
fn go_gateway_request(redis: &RedisServer, key: &str, count: u64, window: u64) -> (bool, i64, i64) {
    let reply = redis.command(&["EVAL", GO_PLUGIN_SCRIPT, "1", key, &count.to_string(), &window.to_string()]).unwrap();
    let RedisValue::Array(items) = reply else { panic!("{reply:?}") };
    let ints: Vec<i64> = items.iter().map(|v| if let RedisValue::Int(i) = v { *i } else { panic!("{v:?}") }).collect();
    let [threshold, current, ttl] = ints[..] else { panic!("{ints:?}") };
    (current <= threshold, threshold - current, ttl)
}

fn shared_config(limits: Value) -> Value {
    let mut c = json!({
        "rule_name": "migrating",
        "share_counters_with_higress": true,
        "show_limit_quota_header": true,
        "redis": {"service_name": "redis.static", "service_port": 6379},
    });
    for (k, v) in limits.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[test]
fn a_go_gateway_and_ours_share_one_counter_per_key_and_the_limit_holds_across_both() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let config = shared_config(json!({"rule_items": [{
        "limit_by_header": "x-api-key",
        "limit_keys": [{"key": "alice", "query_per_minute": 10}],
    }]}));
    let gw = start_gateway(REDIS_CLUSTER, &redis.addr(), &upstream.addr(), config, &[("r", "/")]);
    // main.go 53 (`ClusterRateLimitFormat`): prefix, rule name, limit type, window, item key, value.
    let key = "higress-cluster-key-rate-limit:migrating:limit_by_header:60:x-api-key:alice";
    let ours = || http_request("GET", &format!("{}/", gw.url()), &[("x-api-key", "alice")], b"").unwrap();

    // The Go gateway takes the first request: the window starts there (main.go's EXPIRE on 1).
    assert!(go_gateway_request(&redis, key, 10, 60).0);
    let first_ttl = redis.get_int(key).map(|_| redis.command(&["TTL", key]).unwrap()).unwrap();
    let mut admitted_by = (1, 0);
    for i in 0..8 {
        if i % 2 == 0 {
            assert_eq!(ours().status, 200, "our request {i}");
            admitted_by.1 += 1;
        } else {
            assert!(go_gateway_request(&redis, key, 10, 60).0, "Go request {i}");
            admitted_by.0 += 1;
        }
    }
    // 9 admitted: one more fits, through ours, with the quota headers as Higress computes them.
    let last = ours();
    assert_eq!((last.status, last.header("x-ratelimit-remaining")), (200, Some("0")));
    assert_eq!(redis.get_int(key).unwrap(), Some(10), "one counter for both: {admitted_by:?} + 1");
    // The 11th is refused on both sides.
    let (admitted, _, reset) = go_gateway_request(&redis, key, 10, 60);
    assert!(!admitted && (1..=60).contains(&reset), "Go gateway: over the limit, reset {reset}");
    let refused = ours();
    assert_eq!(refused.status, 429);
    let our_reset: i64 = refused.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!((1..=60).contains(&our_reset) && (our_reset - reset).abs() <= 1, "ours {our_reset}, Go {reset}");
    // The window is the key's first request's: no request of ours moved its end.
    let RedisValue::Int(ttl) = redis.command(&["TTL", key]).unwrap() else { panic!() };
    let RedisValue::Int(first) = first_ttl else { panic!("{first_ttl:?}") };
    assert!(ttl <= first && ttl > 0, "TTL {ttl} after {first}");
    // Nothing else was written: no key of our own naming.
    let RedisValue::Array(keys) = redis.command(&["KEYS", "*"]).unwrap() else { panic!() };
    assert_eq!(keys, vec![RedisValue::Bulk(key.to_string())]);
}

#[test]
fn a_global_threshold_is_shared_under_the_go_plugins_global_key() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let config = shared_config(json!({"global_threshold": {"query_per_hour": 4}}));
    let gw = start_gateway(REDIS_CLUSTER, &redis.addr(), &upstream.addr(), config, &[("r", "/")]);
    // main.go 51 (`ClusterGlobalRateLimitFormat`).
    let key = "higress-cluster-key-rate-limit:migrating:global_threshold:3600";
    let ours = || http_request("GET", &format!("{}/", gw.url()), &[], b"").unwrap().status;
    assert_eq!(ours(), 200);
    let RedisValue::Int(ttl) = redis.command(&["TTL", key]).unwrap() else { panic!() };
    assert!((3590..=3600).contains(&ttl), "our first request starts the hour: {ttl}");
    assert!(go_gateway_request(&redis, key, 4, 3600).0);
    assert_eq!(ours(), 200);
    let (admitted, remaining, _) = go_gateway_request(&redis, key, 4, 3600);
    assert_eq!((admitted, remaining), (true, 0));
    assert_eq!(ours(), 429);
    assert!(!go_gateway_request(&redis, key, 4, 3600).0);
}

#[test]
fn shared_counters_take_one_window_of_seconds_per_key_and_say_where_not() {
    use cluster_rate_limit::ClusterRateLimit;
    use gateway_sdk::config::rules::RuleSet;
    let refused = |limits: Value| match RuleSet::<ClusterRateLimit>::compile_quietly(
        shared_config(limits).to_string().as_bytes(),
    ) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let two = refused(json!({"rule_items": [{
        "limit_by_header": "k",
        "limit_keys": [{"key": "a", "query_per_second": 1}, {"key": "b", "query_per_second": 1, "query_per_hour": 9}],
    }]}));
    assert!(two.contains("rule_items[0].limit_keys[1]: has 2 windows"), "{two}");
    let month = refused(json!({"global_threshold": {"query_quota": {"each_month": 9}}}));
    assert!(month.contains("global_threshold: a calendar quota cannot be shared"), "{month}");
    let sliding = refused(json!({"algorithm": "sliding", "global_threshold": {"query_per_second": 1}}));
    assert!(sliding.contains("at algorithm: must be `fixed`"), "{sliding}");
}
