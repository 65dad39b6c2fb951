//! Redis misconfigured under load, end to end with real `redis-server`s: a wrong password, a
//! missing password, a wrong ACL user, a read-only replica and a Redis Cluster node without a
//! proxy. Requests follow `failure_mode`; the error replies open the circuit breaker, so Redis
//! sees no command from the plugin until the probe; the log holds one line per cause per interval.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use gateway_host::Gateway;
use gateway_host::testing::{RedisServer, RedisValue, TestUpstream};
use serde_json::{Value, json};

mod support;

use support::{REDIS_CLUSTER, start_gateway};
const REQUESTS: usize = 60;

fn gateway(redis_addr: &str, upstream: &TestUpstream, redis: Value, extra: Value) -> Gateway {
    let mut config = json!({
        "rule_name": "misconfigured",
        "global_threshold": {"query_per_minute": 100000},
        "redis": redis,
        // A cool-down longer than any run of this file, so only the test that moves the clock
        // sees a probe.
        "circuit_breaker": {"failure_threshold": 3, "cooldown_ms": 60000},
    });
    if let (Some(c), Value::Object(e)) = (config.as_object_mut(), extra) {
        c.extend(e);
    }
    start_gateway(REDIS_CLUSTER, redis_addr, &upstream.addr(), config, &[("main", "/")])
}

fn redis_block(extra: Value) -> Value {
    let mut r = json!({"service_name": "redis.static", "service_port": 6379, "timeout": 1000});
    if let (Some(r), Value::Object(e)) = (r.as_object_mut(), extra) {
        r.extend(e);
    }
    r
}

/// Script calls Redis received (run or rejected before running).
fn script_calls(redis: &RedisServer) -> u64 {
    let stats = redis.commands_received().unwrap();
    ["evalsha", "eval"].iter().filter_map(|c| stats.get(*c)).sum()
}

/// Sends `REQUESTS` requests; returns their statuses.
fn load(gw: &Gateway) -> Vec<u16> {
    (0..REQUESTS)
        .map(|i| {
            let url = format!("{}/item/{i}", gw.url());
            gateway_host::testing::http_request("GET", &url, &[("x-user", "alice")], b"").unwrap().status
        })
        .collect()
}

/// The plugin's warn lines that mention `needle`.
fn warnings(gw: &Gateway, needle: &str) -> Vec<String> {
    gw.logs().into_iter().filter(|l| l.message.contains(needle)).map(|l| l.message).collect()
}

fn metric(gw: &Gateway, name: &str) -> i64 {
    gw.metrics().iter().filter(|m| m.name == name).map(|m| m.value).sum()
}

/// What every misconfiguration must show under load.
fn assert_breaker_holds_redis_off(gw: &Gateway, script_calls_seen: u64, cause: &str, advice: &str) {
    // failure_threshold 3: three failed calls learn the cause (the first may be an
    // EVALSHA answered NOSCRIPT and its EVAL), then nothing until the probe.
    assert!(script_calls_seen <= 4, "Redis saw {script_calls_seen} script calls for {REQUESTS} requests");
    assert_eq!(metric(gw, &format!("redis_unavailable.{cause}")), 3, "three failures opened the breaker");
    let lines = warnings(gw, "Redis cannot serve this plugin");
    assert_eq!(lines.len(), 1, "one line for the cause, not one per request: {lines:#?}");
    assert!(lines[0].contains(advice), "the message says what to do: {}", lines[0]);
    assert!(warnings(gw, "quota not checked").is_empty(), "no per-request warning");
}

#[test]
fn a_wrong_password_fails_open_and_stops_calling_redis() {
    let redis = RedisServer::start_with_password("right").unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let gw = gateway(&redis.addr(), &upstream, redis_block(json!({"password": "wrong"})), json!({}));
    let statuses = load(&gw);
    assert!(statuses.iter().all(|s| *s == 200), "failure_mode allow: {statuses:?}");
    let before = script_calls(&redis);
    assert_breaker_holds_redis_off(&gw, before, "auth", "redis.password");
    // After the cool-down one request probes Redis, fails again, and the breaker reopens.
    gw.set_time(std::time::SystemTime::now() + std::time::Duration::from_secs(61));
    assert!(load(&gw).iter().all(|s| *s == 200));
    assert_eq!(script_calls(&redis), before + 1, "exactly one probe per cool-down");
    assert_eq!(metric(&gw, "redis_unavailable.auth"), 4);
}

#[test]
fn a_missing_password_denies_with_failure_mode_deny_and_stops_calling_redis() {
    let redis = RedisServer::start_with_password("right").unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let gw = gateway(&redis.addr(), &upstream, redis_block(json!({})), json!({"failure_mode": "deny"}));
    let statuses = load(&gw);
    assert!(statuses.iter().all(|s| *s == 503), "failure_mode deny: {statuses:?}");
    assert_breaker_holds_redis_off(&gw, script_calls(&redis), "auth", "redis.password");
}

#[test]
fn a_wrong_acl_username_fails_open_and_stops_calling_redis() {
    let redis = RedisServer::start_with_password("right").unwrap();
    redis.command(&["ACL", "SETUSER", "limiter", "on", ">secret", "~*", "+@all"]).unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let block = redis_block(json!({"username": "limitr", "password": "secret"}));
    let gw = gateway(&redis.addr(), &upstream, block, json!({}));
    assert!(load(&gw).iter().all(|s| *s == 200));
    assert_breaker_holds_redis_off(&gw, script_calls(&redis), "auth", "redis.username");
}

#[test]
fn a_read_only_replica_fails_open_and_stops_calling_redis() {
    let primary = RedisServer::start().unwrap();
    let replica = RedisServer::start().unwrap();
    replica.command(&["REPLICAOF", "127.0.0.1", &primary.port().to_string()]).unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let gw = gateway(&replica.addr(), &upstream, redis_block(json!({})), json!({}));
    assert!(load(&gw).iter().all(|s| *s == 200));
    assert_breaker_holds_redis_off(&gw, script_calls(&replica), "readonly", "primary");
}

#[test]
fn a_cluster_node_without_a_proxy_fails_open_and_stops_calling_redis() {
    let nodes_file =
        std::env::temp_dir().join(format!("crl-nodes-{}-{:?}.conf", std::process::id(), std::thread::current().id()));
    let nodes_file = nodes_file.to_string_lossy().replace(['(', ')'], "");
    let node =
        RedisServer::start_with_args(&["--cluster-enabled", "yes", "--cluster-config-file", &nodes_file]).unwrap();
    match node.command(&["CLUSTER", "INFO"]).unwrap() {
        RedisValue::Bulk(info) => {
            assert!(info.contains("cluster_enabled:1") || info.contains("cluster_state"), "{info}")
        }
        other => panic!("CLUSTER INFO: {other:?}"),
    }
    let upstream = TestUpstream::echo().unwrap();
    let gw = gateway(&node.addr(), &upstream, redis_block(json!({})), json!({}));
    assert!(load(&gw).iter().all(|s| *s == 200));
    assert_breaker_holds_redis_off(&gw, script_calls(&node), "clusterdown", "cluster-aware proxy");
}

#[test]
fn a_healthy_redis_is_called_for_every_request_and_nothing_is_reported() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let gw = gateway(&redis.addr(), &upstream, redis_block(json!({})), json!({}));
    assert!(load(&gw).iter().all(|s| *s == 200));
    assert!(script_calls(&redis) >= REQUESTS as u64, "every request called Redis");
    assert!(warnings(&gw, "Redis cannot serve this plugin").is_empty());
}
