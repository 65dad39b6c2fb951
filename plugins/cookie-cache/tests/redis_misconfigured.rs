//! cookie-cache with a Redis that cannot serve it (a wrong password, a read-only replica), end to
//! end: every request goes upstream uncached, the circuit breaker stops the lookups after three
//! failures, and the cause is logged once with what to do.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway_host::testing::{RedisServer, TestResponse, TestUpstream};
use serde_json::json;
use support::*;

fn page() -> TestUpstream {
    TestUpstream::start(|req| TestResponse::new(200, format!("page {}", req.path)).header("content-type", "text/plain"))
        .unwrap()
}

/// Script calls Redis received (run or rejected before running).
fn script_calls(redis: &RedisServer) -> u64 {
    let stats = redis.commands_received().unwrap();
    ["evalsha", "eval"].iter().filter_map(|c| stats.get(*c)).sum()
}

fn cause_lines(gw: &gateway_host::Gateway) -> Vec<String> {
    gw.logs().into_iter().filter(|l| l.message.contains("Redis cannot serve this plugin")).map(|l| l.message).collect()
}

#[test]
fn a_wrong_password_bypasses_the_cache_and_stops_calling_redis() {
    let redis = RedisServer::start_with_password("right").unwrap();
    let upstream = page();
    let mut config = cache_config();
    config["redis"]["password"] = json!("wrong");
    config["circuit_breaker"] = json!({"failure_threshold": 3, "cooldown_ms": 60000});
    let gw = gateway(config, &redis.addr(), &upstream.addr(), None, 1);
    for i in 0..40 {
        let r = get(&gw, &format!("/p{i}"), &[("cookie", "sid=a")]);
        assert_eq!(r.status, 200);
        assert!(r.header("cache-status").unwrap().contains("fwd=bypass"), "{r:?}");
    }
    assert_eq!(upstream.requests().len(), 40, "every request reached the upstream");
    assert!(script_calls(&redis) <= 4, "lookups stop once the breaker opens: {}", script_calls(&redis));
    let lines = cause_lines(&gw);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("redis.password"), "{}", lines[0]);
}

#[test]
fn a_read_only_replica_bypasses_the_cache_and_stops_calling_redis() {
    let primary = RedisServer::start().unwrap();
    let replica = RedisServer::start().unwrap();
    replica.command(&["REPLICAOF", "127.0.0.1", &primary.port().to_string()]).unwrap();
    let upstream = page();
    let mut config = cache_config();
    config["circuit_breaker"] = json!({"failure_threshold": 3, "cooldown_ms": 60000});
    let gw = gateway(config, &replica.addr(), &upstream.addr(), None, 1);
    for i in 0..40 {
        assert_eq!(get(&gw, &format!("/p{i}"), &[("cookie", "sid=a")]).status, 200);
    }
    assert_eq!(upstream.requests().len(), 40);
    assert!(script_calls(&replica) <= 4, "lookups stop once the breaker opens: {}", script_calls(&replica));
    let lines = cause_lines(&gw);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("primary"), "{}", lines[0]);
}
