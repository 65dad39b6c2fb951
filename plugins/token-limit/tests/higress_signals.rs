//! What Higress's ai-token-ratelimit leaves behind on a rejection (alibaba/higress 4e0d691
//! `ai-token-ratelimit/main.go` 178-181 and `rejected()`): `token_ratelimit_status: limited` in
//! the `ai_log` attribute, the `token_ratelimit_count` metric named by route, upstream, model and
//! consumer, the response code details `ai-token-ratelimit.rejected`, and `X-TokenRateLimit-Reset`
//! as the counter's TTL.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use gateway_sdk::redis::Reply;
use gateway_sdk::testing::TestHost;
use serde_json::json;
use token_limit::TokenLimit;

#[test]
fn a_rejection_is_logged_counted_and_detailed_as_higress_does() {
    let config = json!({"rule_name": "r", "redis": {"service_name": "redis.static"},
        "global_threshold": {"token_per_minute": 100}});
    let mut h = TestHost::<TokenLimit>::configure(&config.to_string()).unwrap();
    let body = br#"{"model": "qwen-max", "messages": [{"role": "user", "content": "hi"}]}"#;
    let s = h.new_stream(&[
        (":method", "POST"),
        (":path", "/v1/chat/completions"),
        (":authority", "x"),
        ("content-type", "application/json"),
        ("x-mse-consumer", "alice"),
    ]);
    h.set_property(s, "route_name", "ai-route");
    h.set_property(s, "cluster_name", "outbound|443||llm.dns");
    // What ai-statistics wrote before us, in wasm-go's escaped encoding.
    h.set_property(s, "ai_log", r#"{\"model\":\"qwen-max\"}"#);
    h.request_headers(s, false);
    h.request_body(s, body, true);
    let call = h.take_redis_calls().remove(0);
    // The check rejects: window 1 over its quota, 12.6 s left.
    h.reply_redis(
        call.token,
        Reply::Array(vec![Reply::Int(1), Reply::Int(130), Reply::Int(12_600), Reply::Int(0), Reply::Int(0)]),
    );
    let reply = h.local_response(s).unwrap();
    assert_eq!(reply.status, 429);
    assert_eq!(reply.details, "ai-token-ratelimit.rejected");
    assert_eq!(reply.header("x-tokenratelimit-reset"), Some("13"), "Redis's TTL of 12.6 s");
    let log = String::from_utf8(h.property(s, "ai_log").unwrap()).unwrap();
    assert_eq!(log, r#"{\"model\":\"qwen-max\",\"token_ratelimit_status\":\"limited\"}"#);
    let metric = "route.ai-route.upstream.outbound|443||llm.dns.model.none.consumer.alice.metric.token_ratelimit_count";
    assert_eq!(h.metric(metric), Some(1));
}
