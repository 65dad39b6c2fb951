//! token-limit while Redis is down, end to end (real module, gateway-host, a real redis-server
//! that is stopped and started again, the mock LLM): requests admitted while the breaker is
//! open are charged their usage once Redis answers again.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, SystemTime};

use gateway_host::Gateway;
use gateway_host::testing::{RedisServer, http_request, wait_for};
use serde_json::json;
use support::mock_llm::MockLlm;
use support::*;

/// The start of a minute: the counters of the test stay in one window.
const T0: u64 = 1_800_000_000;

fn post(gw: &Gateway, key: &str) -> u16 {
    let url = format!("{}/openai/v1/chat/completions?in=10&out=20", gw.url());
    let headers = [("x-api-key", key), ("content-type", "application/json")];
    http_request("POST", &url, &headers, chat(false, 100).as_bytes()).unwrap().status
}

/// The minute counters of one API key.
fn key_charged(redis: &RedisServer, rule: &str, key: &str) -> i64 {
    counters(redis, rule, 60).iter().filter(|(k, _)| k.contains(&format!(":{key}}}"))).map(|(_, v)| v).sum()
}

#[test]
fn usage_of_requests_admitted_while_redis_was_down_is_charged_once_it_answers_again() {
    let mut redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let config = plugin_config(
        "outage",
        1_000_000,
        json!({
            "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 300,
                      "buffer_flush_timeout": 0, "max_buffer_size_before_flush": 0},
            "circuit_breaker": {"failure_threshold": 1, "cooldown_ms": 200},
        }),
    );
    let gw = start_gateway(&redis, &llm.addr(), config, 1);
    gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(T0));
    assert_eq!(post(&gw, "warm"), 200);
    assert_eq!(wait_charged(&redis, "outage", 30), 30);

    redis.stop();
    // The first fails its check and opens the breaker; the second is decided locally.
    assert_eq!(post(&gw, "down"), 200);
    assert_eq!(post(&gw, "down"), 200);
    redis.restart().unwrap();

    // Once the breaker lets a request through to Redis again, the waiting usage follows.
    let charged = wait_for(Duration::from_secs(20), || {
        assert_eq!(post(&gw, "probe"), 200);
        (key_charged(&redis, "outage", "down") == 60).then_some(60)
    });
    assert_eq!(charged, Some(60), "the two requests' usage ({} charged)", key_charged(&redis, "outage", "down"));
    assert_eq!(metric(&gw, "token_limit.charges_dropped"), 0);
}
