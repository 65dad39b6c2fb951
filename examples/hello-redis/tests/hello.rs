//! hello-redis against the native TestHost: counting, the header, failing open, config errors.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use gateway_sdk::log::LogLevel;
use gateway_sdk::redis::Reply;
use gateway_sdk::testing::{Action, TestHost};
use hello_redis::HelloRedis;

const CONFIG: &str = r#"{"redis": {"service_name": "redis.static", "service_port": 6379}, "ttl_seconds": 30}"#;

fn host() -> TestHost<HelloRedis> {
    TestHost::configure(CONFIG).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn counts_per_client_address_with_a_ttl_and_returns_the_count() {
    let mut h = host();
    let s = h.new_stream(&[(":method", "GET"), (":path", "/")]);
    h.set_property(s, "source.address", "10.1.2.3:5555");
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let calls = h.take_redis_calls();
    let args: Vec<Vec<String>> = calls.iter().map(|c| c.args()).collect();
    assert_eq!(args, [vec!["INCR", "hello:10.1.2.3"], vec!["EXPIRE", "hello:10.1.2.3", "30"]]);
    h.reply_redis(calls[1].token, Reply::Int(1));
    h.reply_redis(calls[0].token, Reply::Int(7));
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.response_headers(s, &[(":status", "200")], true), Action::Continue);
    assert_eq!(h.response_header(s, "x-hello-count").as_deref(), Some("7"));
}

#[test]
fn fails_open_when_redis_fails() {
    let mut h = host();
    let s = h.new_stream(&[(":method", "GET"), (":path", "/")]);
    h.request_headers(s, true);
    for call in h.take_redis_calls() {
        h.fail_redis(call.token);
    }
    assert_eq!(h.request_resumed(s), 1, "the request went on without a count");
    assert_eq!(h.local_response(s), None);
    h.response_headers(s, &[(":status", "200")], true);
    assert_eq!(h.response_header(s, "x-hello-count"), None);
    assert!(h.logs(LogLevel::Warn).iter().any(|l| l.contains("network error or timeout")));
}

#[test]
fn rejects_a_zero_ttl_naming_the_field() {
    let err = TestHost::<HelloRedis>::configure(r#"{"redis": {"service_name": "r.dns"}, "ttl_seconds": 0}"#)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.starts_with("hello-redis: invalid config at ttl_seconds:"), "{err}");
}
