//! token-limit end to end: the real wasm module in gateway-host, a real redis-server and a mock
//! LLM upstream over real HTTP. Exact charges for every format (usage split across TCP writes),
//! streaming pass-through, Redis round trips, malformed bodies and bad configs.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use gateway_host::testing::{RedisServer, http_request};
use gateway_host::{Gateway, GatewayConfig};
use serde_json::json;
use support::mock_llm::MockLlm;
use support::*;

fn post(gateway: &Gateway, path: &str, key: &str, body: &str) -> gateway_host::testing::HttpResponse {
    let url = format!("{}{path}", gateway.url());
    let headers = [("x-api-key", key), ("content-type", "application/json")];
    http_request("POST", &url, &headers, body.as_bytes()).unwrap()
}

#[test]
fn charges_exactly_the_reported_usage_for_every_format_and_split() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("exact", 1_000_000, json!({})), 1);
    let cases = [
        ("/openai/v1/chat/completions?in=9&out=30", true),
        ("/openai/v1/chat/completions?in=11&out=7", false),
        ("/qwen/api/v1/services/aigc/text-generation/generation?in=21&out=33", true),
        ("/qwen/api/v1/services/aigc/text-generation/generation?in=4&out=5", false),
        ("/qwen-compat/compatible-mode/v1/chat/completions?in=13&out=17", true),
        ("/anthropic/v1/messages?in=25&out=15", true),
        ("/anthropic/v1/messages?in=3&out=12", false),
        ("/responses/v1/responses?in=8&out=19", true),
        ("/responses/v1/responses?in=2&out=40", false),
    ];
    let mut expected = 0;
    for (path, stream) in cases {
        let resp = post(&gw, path, "tenant-a", &chat(stream, 200));
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
        if stream {
            assert!(resp.text().contains("usage"), "{path}: the stream passed through: {}", resp.text());
        }
        let usage: i64 = ["in=", "out="]
            .iter()
            .map(|k| path.split(k).nth(1).unwrap().split('&').next().unwrap().parse::<i64>().unwrap())
            .sum();
        expected += usage;
        assert_eq!(wait_charged(&redis, "exact", expected), expected, "after {path}");
    }
    assert_eq!(metric(&gw, "token_limit.usage_missing"), 0);
    assert_eq!(metric(&gw, "token_limit.tokens_charged"), expected);
    // The streaming OpenAI-style requests went upstream with include_usage added.
    let bodies: Vec<serde_json::Value> = llm.bodies().iter().map(|b| serde_json::from_slice(b).unwrap()).collect();
    assert_eq!(bodies[0]["stream_options"]["include_usage"], true);
    assert_eq!(bodies[5]["stream_options"], serde_json::Value::Null, "not added for Anthropic");
}

#[test]
fn the_first_sse_event_reaches_the_client_before_the_upstream_finishes() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("stream", 1_000_000, json!({})), 1);
    let mut client = StreamingResponse::post(
        &gw.addr().to_string(),
        "/openai/v1/chat/completions?in=6&out=9&gate=1",
        "tenant-s",
        &chat(true, 100),
    );
    assert!(
        client.read_until(b"Hello", Duration::from_secs(10)),
        "first event: {}",
        String::from_utf8_lossy(&client.raw)
    );
    assert_eq!(llm.finished_streams(), 0, "the upstream is still holding the rest of the stream");
    assert!(!String::from_utf8_lossy(&client.raw).contains("prompt_tokens"));
    llm.open_gate();
    client.read_to_end(Duration::from_secs(10));
    assert_eq!(client.status(), 200);
    assert!(String::from_utf8_lossy(&client.raw).contains("[DONE]"));
    assert_eq!(wait_charged(&redis, "stream", 15), 15);
}

#[test]
fn one_redis_round_trip_at_request_time_and_one_at_stream_end() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("trips", 1_000_000, json!({})), 1);
    // Warm up: the first use of each script loads it (EVALSHA answered NOSCRIPT, then EVAL).
    post(&gw, "/openai/v1/chat/completions?in=1&out=1", "k", &chat(true, 100));
    assert_eq!(wait_charged(&redis, "trips", 2), 2);
    redis.command(&["CONFIG", "RESETSTAT"]).unwrap();

    let mut client = StreamingResponse::post(
        &gw.addr().to_string(),
        "/openai/v1/chat/completions?in=3&out=4&gate=1",
        "k",
        &chat(true, 100),
    );
    assert!(client.read_until(b"Hello", Duration::from_secs(10)));
    assert_eq!(command_calls(&redis, "evalsha"), 1, "one call at request time");
    llm.open_gate();
    client.read_to_end(Duration::from_secs(10));
    assert_eq!(wait_charged(&redis, "trips", 9), 9);
    assert_eq!(command_calls(&redis, "evalsha"), 2, "and one at the end of the stream");
    assert_eq!(command_calls(&redis, "eval"), 0, "the scripts were cached: no EVAL fallback");
}

#[test]
fn malformed_upstream_bodies_never_panic_and_settle_per_config() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("bad", 1_000_000, json!({})), 1);
    // Estimate of each: 50 max_tokens + ceil(12 chars / 4) = 53.
    let estimate = 53;
    let mut expected = 0;
    for (kind, stream, charged) in [
        ("html", false, estimate),
        ("truncated", true, estimate),
        ("negative", false, estimate),
        ("huge", false, estimate),
        ("binary", true, estimate),
        ("error", false, 0),
    ] {
        let resp = post(&gw, &format!("/bad/{kind}"), "tenant-b", &chat(stream, 50));
        assert!(resp.status == 200 || resp.status == 500, "{kind}: {}", resp.status);
        expected += charged;
        assert_eq!(wait_charged(&redis, "bad", expected), expected, "after {kind}");
    }
    assert_eq!(metric(&gw, "token_limit.usage_missing"), 6);
    assert_eq!(metric(&gw, "token_limit.tokens_refunded"), estimate);
    assert!(gw.logs().iter().any(|l| l.message.contains("no usable usage")));
    // The module is still healthy.
    let ok = post(&gw, "/openai/v1/chat/completions?in=1&out=2", "tenant-b", &chat(false, 50));
    assert_eq!(ok.status, 200);
    assert_eq!(wait_charged(&redis, "bad", expected + 3), expected + 3);

    // With refunds for missing usage, nothing stays charged.
    let gw2 =
        start_gateway(&redis, &llm.addr(), plugin_config("bad2", 1_000_000, json!({"on_missing_usage": "refund"})), 1);
    for kind in ["html", "truncated", "negative"] {
        post(&gw2, &format!("/bad/{kind}"), "tenant-b", &chat(kind == "truncated", 50));
    }
    assert_eq!(metric_eventually(&gw2, "token_limit.tokens_refunded", 3 * estimate), 3 * estimate);
    assert_eq!(wait_charged(&redis, "bad2", 0), 0);
}

fn metric_eventually(gw: &Gateway, name: &str, expected: i64) -> i64 {
    gateway_host::testing::wait_for(Duration::from_secs(10), || (metric(gw, name) == expected).then_some(expected))
        .unwrap_or_else(|| metric(gw, name))
}

#[test]
fn over_budget_requests_get_an_openai_style_429() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    // A day window (a minute one could roll over between the two requests).
    let day_only = json!({"rule_items": [{"limit_by_per_header": "x-api-key", "limit_keys": [{"key": "*", "token_per_day": 100}]}]});
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("reject", 100, day_only), 1);
    let ok = post(&gw, "/openai/v1/chat/completions?in=30&out=30", "t", &chat(false, 50));
    assert_eq!(ok.status, 200);
    let day_used = || counters(&redis, "reject", 86_400).iter().map(|(_, v)| v).sum::<i64>();
    assert_eq!(gateway_host::testing::wait_for(Duration::from_secs(10), || (day_used() == 60).then_some(60)), Some(60));
    let no = post(&gw, "/openai/v1/chat/completions", "t", &chat(false, 50));
    assert_eq!(no.status, 429, "60 used + 53 reserved > 100");
    let body: serde_json::Value = serde_json::from_slice(&no.body).unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_exceeded");
    assert!(no.header("ratelimit-policy").unwrap().contains("qu=\"tokens\""));
    let retry: u64 = no.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry));
    assert_eq!(llm.arrivals(), 1, "the rejected request never reached the upstream");
}

#[test]
fn bad_configs_are_rejected_at_start_naming_the_field() {
    let redis = RedisServer::start().unwrap();
    for (extra, path) in [
        (json!({"usage_paths": {"input": "$.usage[?(@.x =="}}), "usage_paths.input"),
        (json!({"reservation": "sometimes"}), "reservation"),
        (json!({"token_weights": {"output": "double"}}), "token_weights.output"),
    ] {
        let config: GatewayConfig = gateway_config(&redis, "127.0.0.1:9", plugin_config("cfg", 10, extra), 1);
        let err = format!("{:#}", Gateway::start(config).expect_err("rejected"));
        assert!(err.contains(&format!("token-limit: invalid config at {path}")), "{err}");
    }
}

/// 2026-12-01T05:00:00Z: midnight of December 1st in America/New_York (EST, UTC-5).
const NEW_YORK_DECEMBER: u64 = 1_796_101_200;

/// The calendar-month counter of `rule` for `month` (`2026-11`), if it exists.
fn month_counter(redis: &RedisServer, rule: &str, month: &str) -> Option<i64> {
    let pattern = format!("token-limit:{rule}:*:month:{month}");
    let gateway_host::testing::RedisValue::Array(keys) = redis.command(&["KEYS", &pattern]).unwrap() else {
        panic!("KEYS")
    };
    assert!(keys.len() <= 1, "one counter per key and month: {keys:?}");
    match keys.first() {
        Some(gateway_host::testing::RedisValue::Bulk(k)) => redis.get_int(k).unwrap(),
        _ => None,
    }
}

#[test]
fn a_monthly_token_budget_resets_at_local_midnight_and_a_request_spanning_it_settles_in_its_own_month() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let monthly = json!({
        "timezone": "America/New_York",
        "rule_items": [{"limit_by_per_header": "x-api-key", "limit_keys": [{"key": "*", "token_quota": {"each_month": 100}}]}]
    });
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("monthly", 100, monthly), 1);
    let at = |secs: u64| std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(secs);

    // 23:59:00 on November 30th in New York. 60 + 30 tokens fit; the next reservation does not.
    gw.set_time(at(NEW_YORK_DECEMBER - 60));
    assert_eq!(post(&gw, "/openai/v1/chat/completions?in=30&out=30", "t", &chat(false, 10)).status, 200);
    let wait = |month: &str, expected: i64| {
        gateway_host::testing::wait_for(Duration::from_secs(10), || {
            (month_counter(&redis, "monthly", month) == Some(expected)).then_some(())
        })
        .unwrap_or_else(|| panic!("{month} never reached {expected}: {:?}", month_counter(&redis, "monthly", month)))
    };
    wait("2026-11", 60);
    let no = post(&gw, "/openai/v1/chat/completions", "t", &chat(false, 50));
    assert_eq!(no.status, 429, "60 used + 53 reserved > 100");
    let t: u64 = no.header("ratelimit").unwrap().split(";t=").nth(1).unwrap().parse().unwrap();
    assert!((1..=60).contains(&t), "t={t}: seconds until midnight in New York");

    // A request admitted in November whose response arrives in December: reserved and settled
    // in November, nothing charged to December.
    llm.close_gate();
    let addr = gw.url().trim_start_matches("http://").to_string();
    let mut spanning =
        StreamingResponse::post(&addr, "/openai/v1/chat/completions?in=10&out=20", "t", &chat(false, 20));
    let reserved = gateway_host::testing::wait_for(Duration::from_secs(10), || {
        month_counter(&redis, "monthly", "2026-11").filter(|&v| v > 80)
    });
    assert!(reserved.is_some(), "the estimate (20 + prompt) was reserved in November");
    gw.set_time(at(NEW_YORK_DECEMBER + 1));
    llm.open_gate();
    spanning.read_to_end(Duration::from_secs(10));
    assert_eq!(spanning.status(), 200);
    wait("2026-11", 60 + 30);
    assert_eq!(month_counter(&redis, "monthly", "2026-12"), None, "nothing charged to December by it");

    // One second after midnight the budget is whole again: 100 tokens fit.
    let yes = post(&gw, "/openai/v1/chat/completions?in=50&out=50", "t", &chat(false, 60));
    assert_eq!(yes.status, 200, "{}", String::from_utf8_lossy(&yes.body));
    wait("2026-12", 100);
}
