//! Acceptance: the compiled `examples/hello-redis` module in the gateway against a real
//! `redis-server`: header and stored count agree, fail-open within the timeout when Redis is
//! stopped, a wrong cluster name is reported by name, two gateways share one count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use gateway_host::testing::{RedisServer, TestUpstream, http_get, plugin_wasm};
use gateway_host::{Gateway, GatewayConfig, PluginConfig};
use serde_json::json;

const CLUSTER: &str = "outbound|6379||redis.static";
const KEY: &str = "hello:127.0.0.1";

fn hello_config(redis_endpoint: &str, upstream: &TestUpstream, service_name: &str, timeout_ms: u64) -> GatewayConfig {
    let plugin = PluginConfig {
        config: json!({
            "redis": {"service_name": service_name, "service_port": 6379, "timeout": timeout_ms},
            "ttl_seconds": 60
        }),
        ..plugin_config("hello-redis", plugin_wasm("hello-redis"))
    };
    config(
        vec![route("main", "/", "backend", &["hello-redis"])],
        vec![cluster("backend", &upstream.addr()), cluster(CLUSTER, redis_endpoint)],
        vec![plugin],
    )
}

fn count_header(gw: &Gateway) -> Option<i64> {
    let resp = http_get(&format!("{}/", gw.url())).unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.header("x-hello-count").map(|v| v.parse().unwrap())
}

#[test]
fn the_count_in_redis_and_the_response_header_agree() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let gw = Gateway::start(hello_config(&redis.addr(), &upstream, "redis.static", 1000)).unwrap();
    for expected in 1..=5 {
        assert_eq!(count_header(&gw), Some(expected));
        assert_eq!(redis.get_int(KEY).unwrap(), Some(expected));
    }
    let ttl = redis.command(&["TTL", KEY]).unwrap();
    assert!(
        matches!(ttl, gateway_host::testing::RedisValue::Int(t) if t > 0 && t <= 60),
        "the key has the configured TTL: {ttl:?}"
    );
    assert_eq!(upstream.requests().len(), 5);
    assert!(gw.fuel().mean() > 0.0);
}

#[test]
fn with_redis_stopped_every_request_passes_within_the_timeout() {
    let mut redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let timeout_ms = 500;
    let mut c = hello_config(&redis.addr(), &upstream, "redis.static", timeout_ms);
    c.concurrency = 2;
    let gw = Gateway::start(c).unwrap();
    assert_eq!(count_header(&gw), Some(1));
    redis.stop();
    for _ in 0..6 {
        let started = Instant::now();
        assert_eq!(count_header(&gw), None, "fails open: no count, request passes");
        assert!(
            started.elapsed() < Duration::from_millis(timeout_ms) + Duration::from_secs(2),
            "completed within the configured timeout (plus slack): {:?}",
            started.elapsed()
        );
    }
    assert_eq!(upstream.requests().len(), 7);
}

#[test]
fn with_redis_hung_requests_pass_after_the_op_timeout_not_later() {
    // A "Redis" that accepts connections and never answers: every call ends by the op timeout.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = hung.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in hung.incoming().flatten() {
            held.push(conn);
        }
    });
    let upstream = TestUpstream::echo().unwrap();
    let timeout_ms = 300;
    let gw = Gateway::start(hello_config(&addr, &upstream, "redis.static", timeout_ms)).unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(count_header(&gw), None, "fails open: no count, the request passes");
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(timeout_ms) + Duration::from_secs(1),
            "not held past the timeout: {took:?}"
        );
    }
    assert_eq!(upstream.requests().len(), 3, "every request reached the upstream");
}

#[test]
fn a_wrong_cluster_name_is_reported_with_that_name() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let wrong = "outbound|6379||wrong.static";
    let started = Gateway::start(hello_config(&redis.addr(), &upstream, "wrong.static", 1000));
    match started {
        Err(e) => assert!(format!("{e:#}").contains(wrong), "{e:#}"),
        Ok(gw) => {
            // Started anyway: requests fail open and the plugin's log names the cluster.
            assert_eq!(count_header(&gw), None);
            assert!(gw.logs().iter().any(|l| l.message.contains(wrong)), "{:?}", gw.logs());
        }
    }
}

#[test]
fn two_gateways_sharing_one_redis_share_one_count() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let a = Gateway::start(hello_config(&redis.addr(), &upstream, "redis.static", 1000)).unwrap();
    let b = Gateway::start(hello_config(&redis.addr(), &upstream, "redis.static", 1000)).unwrap();
    let counts: Vec<_> = (0..6).map(|i| count_header(if i % 2 == 0 { &a } else { &b }).unwrap()).collect();
    assert_eq!(counts, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(redis.get_int(KEY).unwrap(), Some(6));
}
