//! token-limit against the native TestHost: reserve then settle, rejections, include_usage
//! injection, malformed responses, aborts, reservation off, Redis failures, config errors.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use gateway_sdk::log::LogLevel;
use gateway_sdk::redis::Reply;
use gateway_sdk::testing::{Action, RedisCall, StreamId, TestHost};
use token_limit::TokenLimit;

fn config(extra: &str) -> String {
    format!(
        r#"{{"rule_name": "llm", "redis": {{"service_name": "redis.static", "service_port": 6379}},
        "rule_items": [{{"limit_by_consumer": "", "limit_keys": [{{"key": "alice", "token_per_minute": 1000, "token_per_day": 5000}}]}}]
        {extra}}}"#
    )
}

fn host(extra: &str) -> TestHost<TokenLimit> {
    TestHost::configure(&config(extra)).unwrap_or_else(|e| panic!("{e}"))
}

fn post(h: &mut TestHost<TokenLimit>, path: &str, body: &str) -> StreamId {
    let len = body.len().to_string();
    let s = h.new_stream(&[
        (":method", "POST"),
        (":path", path),
        (":authority", "llm.example.com"),
        ("x-mse-consumer", "alice"),
        ("content-type", "application/json"),
        ("content-length", &len),
    ]);
    assert_eq!(h.request_headers(s, false), Action::Continue);
    assert_eq!(h.request_body(s, body.as_bytes(), true), Action::Pause, "admission waits for Redis");
    s
}

fn one_call(h: &mut TestHost<TokenLimit>) -> RedisCall {
    let calls = h.take_redis_calls();
    assert_eq!(calls.len(), 1, "exactly one Redis call: {:?}", calls.iter().map(RedisCall::args).collect::<Vec<_>>());
    calls.into_iter().next().unwrap()
}

/// `EVALSHA sha numkeys keys... args...` → (keys, args).
fn split_script(call: &RedisCall) -> (Vec<String>, Vec<String>) {
    let a = call.args();
    assert_eq!(a[0], "EVALSHA");
    let n: usize = a[2].parse().unwrap();
    (a[3..3 + n].to_vec(), a[3 + n..].to_vec())
}

fn admitted(used: [i64; 2]) -> Reply {
    Reply::Array([0, used[0], 30_000, 0, used[1], 3_600_000, 0].into_iter().map(Reply::Int).collect())
}

const CHAT: &str =
    r#"{"model":"gpt-4o","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"abcdefgh"}]}"#;

fn sse_usage(prompt: u64, completion: u64) -> String {
    format!(
        "data: {{\"choices\":[{{\"delta\":{{\"content\":\"hi\"}}}}],\"usage\":null}}\n\n\
         data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":{prompt},\"completion_tokens\":{completion},\"total_tokens\":{}}}}}\n\n\
         data: [DONE]\n\n",
        prompt + completion
    )
}

#[test]
fn reserves_the_estimate_then_settles_to_the_streamed_usage() {
    let mut h = host("");
    let s = post(&mut h, "/v1/chat/completions", CHAT);
    let check = one_call(&mut h);
    let (keys, args) = split_script(&check);
    assert_eq!(keys.len(), 2, "one counter per window");
    assert!(
        keys.iter().all(|k| k.starts_with("token-limit:llm:{limit_by_consumer:x-mse-consumer:alice}:")),
        "{keys:?}"
    );
    // 100 max_tokens + ceil((4 + 8) chars / 4) = 103 tokens reserved.
    assert_eq!(args[0], "103");
    h.reply_redis(check.token, admitted([103, 103]));
    assert_eq!(h.request_resumed(s), 1);

    assert_eq!(
        h.response_headers(s, &[(":status", "200"), ("content-type", "text/event-stream")], false),
        Action::Continue
    );
    let body = sse_usage(9, 30);
    let (a, b) = body.as_bytes().split_at(body.find("completion_tokens").unwrap());
    assert_eq!(h.response_body(s, a, false), Action::Continue);
    assert_eq!(h.take_response_body(s), a, "the first chunk reaches the client at once");
    assert!(h.take_redis_calls().is_empty(), "nothing settles before the end");
    assert_eq!(h.response_body(s, b, true), Action::Continue);
    assert_eq!(h.take_response_body(s), b);

    let settle = one_call(&mut h);
    let (settle_keys, settle_args) = split_script(&settle);
    assert_eq!(settle_keys, keys, "settled in the windows it was reserved in");
    assert_eq!(settle_args[0], (39 - 103).to_string());
    h.reply_redis(settle.token, Reply::Array(vec![Reply::Int(39), Reply::Int(39)]));
    h.end_stream(s);
    assert!(h.take_redis_calls().is_empty(), "one call at the end, not two");
    assert_eq!(h.metric("token_limit.tokens_reserved"), Some(103));
    assert_eq!(h.metric("token_limit.tokens_charged"), Some(39));
    assert_eq!(h.metric("token_limit.tokens_refunded"), Some(64));
}

#[test]
fn adds_include_usage_to_streaming_openai_requests() {
    let mut h = host("");
    let s = post(&mut h, "/v1/chat/completions", CHAT);
    assert_eq!(h.request_header(s, "content-length"), None, "the length changes with the rewrite");
    let call = one_call(&mut h);
    h.reply_redis(call.token, admitted([1, 1]));
    let sent: serde_json::Value = serde_json::from_slice(&h.upstream_request_body(s)).unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["messages"][0]["content"], "abcdefgh");
}

#[test]
fn leaves_anthropic_and_opted_out_requests_alone() {
    let mut h = host("");
    let s = post(&mut h, "/v1/messages", CHAT);
    let call = one_call(&mut h);
    h.reply_redis(call.token, admitted([1, 1]));
    assert_eq!(h.upstream_request_body(s), CHAT.as_bytes());

    let mut h = host(r#", "include_usage": false"#);
    let s = post(&mut h, "/v1/chat/completions", CHAT);
    assert!(h.request_header(s, "content-length").is_some());
    let call = one_call(&mut h);
    h.reply_redis(call.token, admitted([1, 1]));
    assert_eq!(h.upstream_request_body(s), CHAT.as_bytes());
}

#[test]
fn rejects_with_an_openai_error_and_token_quota_headers() {
    let mut h = host("");
    let s = post(&mut h, "/v1/chat/completions", CHAT);
    let call = one_call(&mut h);
    h.reply_redis(
        call.token,
        Reply::Array([1, 950, 12_500, 0, 950, 3_600_000, 0].into_iter().map(Reply::Int).collect()),
    );
    let reply = h.local_response(s).expect("a local 429");
    assert_eq!(reply.status, 429);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_exceeded");
    assert_eq!(body["error"]["code"], "token_quota_exceeded");
    assert!(body["error"]["message"].as_str().unwrap().contains("token quota"));
    assert_eq!(reply.header("retry-after"), Some("13"));
    assert_eq!(
        reply.header("ratelimit-policy"),
        Some("\"1m\";q=1000;qu=\"tokens\";w=60, \"1d\";q=5000;qu=\"tokens\";w=86400")
    );
    assert_eq!(reply.header("ratelimit"), Some("\"1m\";r=50;t=13, \"1d\";r=4050;t=3600"));
    assert_eq!(h.metric("token_limit.requests_rejected"), Some(1));
    h.end_stream(s);
    assert!(h.take_redis_calls().is_empty(), "a rejected request settles nothing");
}

#[test]
fn requests_outside_every_rule_item_pass_untouched() {
    let mut h = host("");
    let s = h.new_stream(&[(":method", "POST"), (":path", "/v1/chat/completions"), ("x-mse-consumer", "bob")]);
    assert_eq!(h.request_headers(s, false), Action::Continue);
    assert_eq!(h.request_body(s, CHAT.as_bytes(), true), Action::Continue);
    assert!(h.take_redis_calls().is_empty());
    assert_eq!(h.upstream_request_body(s), CHAT.as_bytes());
}

#[test]
fn missing_usage_in_a_success_keeps_the_estimate_and_is_counted() {
    let mut h = host("");
    let s = post(&mut h, "/v1/chat/completions", r#"{"max_tokens":20,"messages":[]}"#);
    let call = one_call(&mut h);
    h.reply_redis(call.token, admitted([20, 20]));
    h.response_headers(s, &[(":status", "200"), ("content-type", "application/json")], false);
    h.response_body(s, b"<html>not json", true);
    assert!(h.take_redis_calls().is_empty(), "charged exactly the reservation: no call needed");
    assert_eq!(h.metric("token_limit.usage_missing"), Some(1));
    assert_eq!(h.metric("token_limit.tokens_charged"), Some(20));
    assert!(h.logs(LogLevel::Warn).iter().any(|l| l.contains("no usable usage")), "{:?}", h.logs(LogLevel::Warn));
}

#[test]
fn upstream_errors_and_truncated_streams_refund_the_reservation() {
    let mut h = host("");
    let s = post(&mut h, "/v1/chat/completions", r#"{"max_tokens":20,"messages":[]}"#);
    let call = one_call(&mut h);
    h.reply_redis(call.token, admitted([20, 20]));
    h.response_headers(s, &[(":status", "502"), ("content-type", "text/event-stream")], false);
    h.response_body(s, b"data: {\"usage\":{\"prompt_tokens\":-4", true);
    let refund = one_call(&mut h);
    assert_eq!(split_script(&refund).1[0], "-20");
    assert_eq!(h.metric("token_limit.tokens_refunded"), Some(20));
    assert_eq!(h.metric("token_limit.usage_missing"), Some(1));
}

#[test]
fn an_aborted_stream_settles_to_the_usage_seen_or_refunds() {
    let mut h = host("");
    let s = post(&mut h, "/v1/chat/completions", r#"{"max_tokens":50,"messages":[]}"#);
    let call = one_call(&mut h);
    h.reply_redis(call.token, admitted([50, 50]));
    h.response_headers(s, &[(":status", "200"), ("content-type", "text/event-stream")], false);
    h.response_body(s, b"data: {\"choices\":[{\"delta\":{}}]}\n\n", false);
    h.end_stream(s);
    let refund = one_call(&mut h);
    assert_eq!(split_script(&refund).1[0], "-50", "client went away before any usage: refunded");

    let s = post(&mut h, "/v1/chat/completions", r#"{"max_tokens":50,"messages":[]}"#);
    let call = one_call(&mut h);
    h.reply_redis(call.token, admitted([50, 50]));
    h.response_headers(s, &[(":status", "200"), ("content-type", "text/event-stream")], false);
    h.response_body(s, sse_usage(5, 6).as_bytes(), false);
    h.end_stream(s);
    let settle = one_call(&mut h);
    assert_eq!(split_script(&settle).1[0], "-39", "usage arrived before the abort: 11 charged");
}

#[test]
fn without_reservation_it_checks_then_charges_the_usage() {
    let mut h = host(r#", "reservation": "off""#);
    let s = post(&mut h, "/v1/chat/completions", CHAT);
    let check = one_call(&mut h);
    let (keys, args) = split_script(&check);
    assert_eq!(args[0], "0", "only a check");
    h.reply_redis(
        check.token,
        Reply::Array([0, 10, 30_000, 0, 10, 3_600_000, 0].into_iter().map(Reply::Int).collect()),
    );
    h.response_headers(s, &[(":status", "200"), ("content-type", "application/json")], false);
    h.response_body(s, br#"{"usage":{"prompt_tokens":7,"completion_tokens":8,"total_tokens":15}}"#, true);
    let charge = one_call(&mut h);
    let (charge_keys, charge_args) = split_script(&charge);
    assert_eq!(charge_keys, keys);
    assert_eq!(charge_args[0], "15");
    assert_eq!(charge_args.len(), 3, "tokens + a TTL per window");
}

#[test]
fn redis_failures_follow_failure_mode() {
    let mut h = host("");
    let s = post(&mut h, "/v1/chat/completions", CHAT);
    let call = one_call(&mut h);
    h.fail_redis(call.token);
    assert_eq!(h.request_resumed(s), 1, "fails open");
    assert_eq!(h.local_response(s), None);

    let mut h = host(r#", "failure_mode": "deny", "failure_status": 503"#);
    let s = post(&mut h, "/v1/chat/completions", CHAT);
    let call = one_call(&mut h);
    h.fail_redis(call.token);
    assert_eq!(h.local_response(s).map(|r| r.status), Some(503));
}

#[test]
fn the_breaker_stops_calling_a_dead_redis_and_falls_back_locally() {
    let mut h = host(r#", "circuit_breaker": {"failure_threshold": 2, "cooldown_ms": 60000}, "gateway_count": 2"#);
    for _ in 0..2 {
        let s = post(&mut h, "/v1/chat/completions", r#"{"max_tokens":200,"messages":[]}"#);
        let call = one_call(&mut h);
        h.fail_redis(call.token);
        h.end_stream(s);
        h.take_redis_calls();
    }
    // Open: 1000 tokens/minute over 2 gateways = 500 locally; 200 at a time fits twice.
    let mut admitted = 0;
    for _ in 0..3 {
        let s = h.new_stream(&[(":method", "POST"), (":path", "/v1/chat/completions"), ("x-mse-consumer", "alice")]);
        h.request_headers(s, false);
        if h.request_body(s, br#"{"max_tokens":200,"messages":[]}"#, true) == Action::Continue
            && h.local_response(s).is_none()
        {
            admitted += 1;
        }
    }
    assert!(h.take_redis_calls().is_empty(), "no Redis calls while open");
    assert_eq!(admitted, 2);
}

#[test]
fn custom_jsonpath_and_weights_decide_the_charge() {
    let extra = r#", "usage_paths": {"input": "$.meta.in", "output": "$.meta.out"}, "token_weights": {"output": 2}"#;
    let mut h = host(extra);
    let s = post(&mut h, "/v1/generate", r#"{"max_tokens":100,"prompt":""}"#);
    let call = one_call(&mut h);
    h.reply_redis(call.token, admitted([100, 100]));
    h.response_headers(s, &[(":status", "200"), ("content-type", "application/json")], false);
    h.response_body(s, br#"{"meta":{"in":10,"out":20}}"#, true);
    let settle = one_call(&mut h);
    assert_eq!(split_script(&settle).1[0], (10 + 2 * 20 - 100).to_string());
}

#[test]
fn accepts_higress_ai_token_ratelimit_configs_unchanged() {
    let higress = r#"{
      "rule_name": "default_limit_by_param_apikey",
      "rule_items": [
        {"limit_by_param": "apikey", "limit_keys": [{"key": "9a342114-ba8a-11ec-b1bf-00163e1250b5", "token_per_minute": 10},
                                                     {"key": "a6a6d7f2-ba8a-11ec-bec2-00163e1250b5", "token_per_hour": 100}]},
        {"limit_by_per_header": "x-ca-key", "limit_keys": [{"key": "regexp:^a.*", "token_per_day": 1000}, {"key": "*", "token_per_minute": 5}]},
        {"limit_by_per_ip": "from-header-x-forwarded-for", "limit_keys": [{"key": "1.1.1.1/32", "token_per_day": 10}, {"key": "0.0.0.0/0", "token_per_hour": 100}]}
      ],
      "rejected_code": 429,
      "rejected_msg": "too many tokens",
      "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 500}
    }"#;
    TestHost::<TokenLimit>::configure(higress).unwrap_or_else(|e| panic!("{e}"));
    let global = r#"{"rule_name": "g", "global_threshold": {"token_per_minute": 1000}, "redis": {"service_name": "redis.static"}}"#;
    TestHost::<TokenLimit>::configure(global).unwrap_or_else(|e| panic!("{e}"));
}

fn config_error(json: &str) -> String {
    TestHost::<TokenLimit>::configure(json).err().map(|e| e.to_string()).unwrap_or_else(|| panic!("accepted: {json}"))
}

#[test]
fn bad_configs_are_rejected_naming_the_field() {
    let cases = [
        (config(r#", "usage_paths": {"output": "$.usage[?(@.x ==]"}"#), "usage_paths.output"),
        (config(r#", "reservation": "maybe""#), "reservation"),
        (config(r#", "token_weights": {"input": -1}"#), "token_weights.input"),
        (config(r#", "default_max_tokens": 0"#), "default_max_tokens"),
        (config(r#", "usage_format": "gemini""#), "usage_format"),
        // Unknown keys are warnings, as in Higress; `strict: true` makes them errors.
        (config(r#", "unknown_key": 1, "strict": true"#), "unknown_key"),
        (
            r#"{"rule_name": "r", "redis": {"service_name": "redis.static"}, "rule_items": [{"limit_by_header": "x", "limit_keys": [{"key": "a", "token_per_minute": 0}]}]}"#.to_string(),
            "rule_items[0].limit_keys[0].token_per_minute",
        ),
        (
            r#"{"rule_name": "r", "redis": {"service_name": "redis.static"}, "rule_items": [{"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "1.2.3.4/40", "token_per_minute": 5}]}]}"#.to_string(),
            "rule_items[0].limit_keys[0].key",
        ),
        (r#"{"rule_name": "r", "redis": {"service_name": "redis.static"}}"#.to_string(), ""),
        (r#"{"rule_name": "r", "global_threshold": {"token_per_minute": 5}}"#.to_string(), ""),
    ];
    for (json, path) in cases {
        let err = config_error(&json);
        let expected = if path.is_empty() {
            "token-limit: invalid config".to_string()
        } else {
            format!("token-limit: invalid config at {path}")
        };
        assert!(err.starts_with(&expected), "{err} (wanted {expected})");
    }
    let err = config_error(r#"{"rule_name": "r", "global_threshold": {"token_per_minute": 5}}"#);
    assert!(err.contains("missing field `redis`"), "{err}");
}

#[test]
fn a_rule_matched_by_route_applies_its_own_limit_on_that_route() {
    // As Higress delivers a WasmPlugin `matchRules` entry for ingress `default/llm-api`.
    // A rule is a configuration of its own (as in Higress), so it brings its own `redis`.
    let rule = r#", "_rules_": [{"_match_route_": ["default/llm-api"], "rule_name": "llm-api",
        "redis": {"service_name": "redis.static", "service_port": 6379},
        "rule_items": [{"limit_by_consumer": "", "limit_keys": [{"key": "alice", "token_per_minute": 200, "token_per_hour": 7000}]}]}]"#;
    let mut h = host(rule);
    let send = |h: &mut TestHost<TokenLimit>, route: Option<&str>| {
        let s = h.new_stream(&[
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            (":authority", "llm.example.com"),
            ("x-mse-consumer", "alice"),
            ("content-type", "application/json"),
        ]);
        if let Some(route) = route {
            h.set_property(s, "route_name", route);
        }
        assert_eq!(h.request_headers(s, false), Action::Continue);
        assert_eq!(h.request_body(s, CHAT.as_bytes(), true), Action::Pause);
        let call = one_call(h);
        let (keys, _) = split_script(&call);
        // Over quota in both windows, so the rejection shows the limits that applied.
        h.reply_redis(
            call.token,
            Reply::Array([1, 150, 12_500, 0, 150, 3_600_000, 0].into_iter().map(Reply::Int).collect()),
        );
        let reply = h.local_response(s).expect("a local 429");
        (keys, reply.header("ratelimit-policy").map(str::to_string))
    };

    let (keys, policy) = send(&mut h, Some("default/llm-api"));
    assert!(keys.iter().all(|k| k.starts_with("token-limit:llm-api:{")), "{keys:?}");
    assert!(keys[0].contains(":60:") && keys[1].contains(":3600:"), "{keys:?}");
    assert_eq!(policy.as_deref(), Some("\"1m\";q=200;qu=\"tokens\";w=60, \"1h\";q=7000;qu=\"tokens\";w=3600"));

    for other in [Some("default/other"), None] {
        let (keys, policy) = send(&mut h, other);
        assert!(keys.iter().all(|k| k.starts_with("token-limit:llm:{")), "{other:?}: {keys:?}");
        assert_eq!(
            policy.as_deref(),
            Some("\"1m\";q=1000;qu=\"tokens\";w=60, \"1d\";q=5000;qu=\"tokens\";w=86400"),
            "{other:?}: the global limit"
        );
    }
}

#[test]
fn without_max_tokens_it_reserves_what_fits_and_needs_only_the_prompt() {
    let mut h = host("");
    let s =
        post(&mut h, "/v1/chat/completions", r#"{"stream":true,"messages":[{"role":"user","content":"abcdefgh"}]}"#);
    let call = one_call(&mut h);
    let (_, args) = split_script(&call);
    assert_eq!(args[0], "1027", "default_max_tokens + the prompt, if it fits");
    assert_eq!(args.last().map(String::as_str), Some("3"), "at least the prompt");
    // The minute had 40 left: 40 reserved.
    h.reply_redis(
        call.token,
        Reply::Array([0, 1000, 30_000, 0, 4040, 3_600_000, 0, 40].into_iter().map(Reply::Int).collect()),
    );
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.metric("token_limit.tokens_reserved"), Some(40));
    h.response_headers(s, &[(":status", "200"), ("content-type", "text/event-stream")], false);
    h.response_body(s, sse_usage(9, 30).as_bytes(), true);
    let settle = one_call(&mut h);
    assert_eq!(split_script(&settle).1[0], "-1", "39 used of the 40 reserved");
}

#[test]
fn a_request_larger_than_a_whole_quota_is_answered_without_calling_redis() {
    let mut h = host("");
    let s = post(&mut h, "/v1/chat/completions", r#"{"max_tokens":2000,"messages":[]}"#);
    assert!(h.take_redis_calls().is_empty(), "decided from the configuration alone");
    let reply = h.local_response(s).expect("a local answer");
    assert_eq!(reply.status, 413);
    assert_eq!(reply.header("retry-after"), None);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["error"]["code"], "token_quota_too_small");
}
