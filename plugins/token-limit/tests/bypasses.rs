//! token-limit end to end against what a client could steer or what over-charges real traffic
//! (issue 12): client aborts after the text, an `anthropic-version` header on an OpenAI route,
//! `Accept-Encoding`, lenient JSON, an estimate of 0, base64 media, requests that are not
//! completions, and a request that can never fit the quota. Real module in gateway-host, a real
//! redis-server and the mock LLM.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use gateway_host::testing::{RedisServer, http_request, wait_for};
use gateway_host::{Gateway, testing::HttpResponse};
use serde_json::{Value, json};
use support::mock_llm::MockLlm;
use support::*;

fn send(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    let url = format!("{}{path}", gw.url());
    http_request(method, &url, headers, body).unwrap()
}

fn post_json(gw: &Gateway, path: &str, key: &str, body: &str) -> HttpResponse {
    send(gw, "POST", path, &[("x-api-key", key), ("content-type", "application/json")], body.as_bytes())
}

/// Waits until the `token_limit.tokens_charged` metric is at least `at_least`; returns it.
fn charged_metric(gw: &Gateway, at_least: i64) -> i64 {
    wait_for(Duration::from_secs(10), || {
        let m = metric(gw, "token_limit.tokens_charged");
        (m >= at_least).then_some(m)
    })
    .unwrap_or_else(|| metric(gw, "token_limit.tokens_charged"))
}

#[test]
fn a_client_that_closes_a_stream_after_the_text_is_charged_for_it() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("abort-client", 1_000_000, json!({})), 1);
    // 100 max_tokens + 3 prompt tokens reserved; the answer goes on with 200 more text events.
    let mut client = StreamingResponse::post(
        &gw.addr().to_string(),
        "/openai/v1/chat/completions?in=6&out=900&gate=1&tail=200",
        "tenant-leaves",
        &chat(true, 100),
    );
    assert!(client.read_until(b"Hello", Duration::from_secs(10)), "{}", String::from_utf8_lossy(&client.raw));
    drop(client);
    llm.open_gate();
    // At least the prompt (3) and "Hello" (2) are charged, never the full refund of before.
    let charged = charged_metric(&gw, 5);
    assert!(charged >= 5, "the aborted stream was charged {charged} tokens");
    assert_eq!(wait_charged(&redis, "abort-client", charged), charged, "Redis holds what was charged");
    assert_eq!(metric(&gw, "token_limit.tokens_reserved"), 103);
}

#[test]
fn an_upstream_reset_after_the_first_text_charges_the_streamed_text_and_the_prompt() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    llm.open_gate();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("abort-upstream", 1_000_000, json!({})), 1);
    let mut client = StreamingResponse::post(
        &gw.addr().to_string(),
        "/openai/v1/chat/completions?in=6&out=9&gate=1&cut=1",
        "tenant-cut",
        &chat(true, 100),
    );
    client.read_to_end(Duration::from_secs(10));
    // "Hello": ceil(5 / 4) = 2 tokens streamed, plus ceil(12 / 4) = 3 of prompt.
    assert_eq!(charged_metric(&gw, 5), 5);
    assert_eq!(wait_charged(&redis, "abort-upstream", 5), 5);
}

#[test]
fn an_aborted_stream_follows_on_abort_refund_when_configured() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    llm.open_gate();
    let config = plugin_config("abort-refund", 1_000_000, json!({"on_abort": "refund"}));
    let gw = start_gateway(&redis, &llm.addr(), config, 1);
    let mut client = StreamingResponse::post(
        &gw.addr().to_string(),
        "/openai/v1/chat/completions?gate=1&cut=1",
        "tenant-cut",
        &chat(true, 100),
    );
    client.read_to_end(Duration::from_secs(10));
    let refunded =
        wait_for(Duration::from_secs(10), || (metric(&gw, "token_limit.tokens_refunded") == 103).then_some(103));
    assert_eq!(refunded, Some(103));
    // The metric moves when the charge is decided; Redis when the settle call lands.
    assert_eq!(wait_charged(&redis, "abort-refund", 0), 0);
}

#[test]
fn an_anthropic_version_header_does_not_turn_off_usage_on_an_openai_route() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("anthropic-header", 1_000_000, json!({})), 1);
    let headers =
        [("x-api-key", "tenant-h"), ("content-type", "application/json"), ("anthropic-version", "2023-06-01")];
    let resp = send(&gw, "POST", "/openai/v1/chat/completions?in=9&out=30", &headers, chat(true, 200).as_bytes());
    assert_eq!(resp.status, 200);
    let sent: Value = serde_json::from_slice(&llm.bodies()[0]).unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true, "the route and body are OpenAI's: {sent}");
    assert_eq!(wait_charged(&redis, "anthropic-header", 39), 39, "the reported usage, not the estimate");
}

#[test]
fn accept_encoding_is_removed_from_limited_requests_only() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("encoding", 1_000_000, json!({})), 1);
    let limited = [("x-api-key", "tenant-e"), ("content-type", "application/json"), ("accept-encoding", "gzip, br")];
    assert_eq!(send(&gw, "POST", "/openai/v1/chat/completions", &limited, chat(false, 10).as_bytes()).status, 200);
    let unlimited = [("content-type", "application/json"), ("accept-encoding", "gzip, br")];
    assert_eq!(send(&gw, "POST", "/openai/v1/chat/completions", &unlimited, chat(false, 10).as_bytes()).status, 200);
    let seen = llm.headers();
    let encoding = |i: usize| seen[i].iter().find(|(k, _)| k == "accept-encoding").map(|(_, v)| v.clone());
    assert_eq!(encoding(0), None, "a limited request asks for an uncompressed answer the scanner can read");
    assert_eq!(encoding(1).as_deref(), Some("gzip, br"), "requests outside the limits are untouched");
}

#[test]
fn bodies_with_a_utf8_bom_or_nan_are_read_and_injected() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("lenient", 1_000_000, json!({})), 1);
    let bom = format!("\u{feff}{}", chat(true, 50));
    let nan = r#"{"model":"m","stream":true,"max_tokens":50,"temperature":NaN,"top_p":Infinity,"messages":[{"role":"user","content":"abcdefgh"}]}"#;
    let mut expected = 0;
    for (body, usage) in [(bom.as_str(), (4, 5)), (nan, (6, 7))] {
        let path = format!("/openai/v1/chat/completions?in={}&out={}", usage.0, usage.1);
        assert_eq!(post_json(&gw, &path, "tenant-l", body).status, 200);
        expected += usage.0 + usage.1;
        assert_eq!(wait_charged(&redis, "lenient", expected), expected, "charged the usage of {body:?}");
    }
    let bodies = llm.bodies();
    for (sent, marker) in bodies.iter().zip(["\u{feff}", "NaN"]) {
        let text = String::from_utf8_lossy(sent);
        assert!(text.contains("\"include_usage\":true"), "{text}");
        assert!(text.contains(marker), "the rest of the body went upstream as sent: {text}");
    }
    assert_eq!(metric(&gw, "token_limit.usage_missing"), 0);
}

#[test]
fn an_estimate_of_zero_still_charges_the_reported_usage() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("zero", 1_000_000, json!({})), 1);
    let resp =
        post_json(&gw, "/openai/v1/chat/completions?in=10&out=20", "tenant-z", r#"{"max_tokens":0,"messages":[]}"#);
    assert_eq!(resp.status, 200);
    assert_eq!(wait_charged(&redis, "zero", 30), 30);
}

/// About 300 KB of base64.
fn base64_blob() -> String {
    "QUJD".repeat(75_000)
}

#[test]
fn base64_media_parts_cost_a_fixed_number_of_tokens_not_their_length() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("media", 50_000, json!({})), 1);
    let blob = base64_blob();
    let data_url = format!("data:image/png;base64,{blob}");
    let parts = [
        json!({"type": "image_url", "image_url": {"url": data_url}}),
        json!({"type": "input_audio", "input_audio": {"data": blob, "format": "wav"}}),
        json!({"type": "file", "file": {"file_data": format!("data:application/pdf;base64,{blob}"), "filename": "a.pdf"}}),
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": blob}}),
    ];
    let mut expected = 0;
    for (n, part) in parts.iter().enumerate() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, part]}]});
        let resp = post_json(&gw, "/openai/v1/chat/completions?in=800&out=20", "tenant-m", &body.to_string());
        assert_eq!(resp.status, 200, "part {n}: {}", resp.text());
        expected += 820;
        assert_eq!(wait_charged(&redis, "media", expected), expected);
    }
    // 1024 output tokens + 765 for the part + the text: the reservation never counted the blob.
    let reserved = metric(&gw, "token_limit.tokens_reserved");
    assert!(reserved < 4 * 2000, "reserved {reserved} for 4 requests");
}

#[test]
fn requests_that_are_not_completions_are_charged_only_reported_usage() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("not-completions", 1_000_000, json!({})), 1);
    let key = [("x-api-key", "tenant-n")];
    assert_eq!(send(&gw, "GET", "/models/v1/models", &key, b"").status, 200);
    let multipart = [("x-api-key", "tenant-n"), ("content-type", "multipart/form-data; boundary=x")];
    assert_eq!(send(&gw, "POST", "/files/v1/files", &multipart, b"--x\r\n\r\nabc\r\n--x--\r\n").status, 200);
    let done = wait_for(Duration::from_secs(10), || {
        (metric(&gw, "token_limit.tokens_charged") + metric(&gw, "token_limit.tokens_refunded")
            == metric(&gw, "token_limit.tokens_reserved"))
        .then_some(())
    });
    assert!(done.is_some());
    assert_eq!(metric(&gw, "token_limit.tokens_charged"), 0, "nothing reported, nothing charged");
    // A non-completion that reports usage (embeddings) is charged it.
    let embeddings = json!({"model": "e", "input": "abcdefgh"}).to_string();
    assert_eq!(post_json(&gw, "/openai/v1/embeddings?in=3&out=0", "tenant-n", &embeddings).status, 200);
    assert_eq!(wait_charged(&redis, "not-completions", 3), 3);
    assert_eq!(metric(&gw, "token_limit.usage_missing"), 0, "no usage is expected from these");
}

#[test]
fn a_request_that_can_never_fit_the_quota_is_told_so_without_retry_after() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("too-large", 100, json!({})), 1);
    let resp = post_json(&gw, "/openai/v1/chat/completions", "tenant-t", &chat(false, 500));
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert_eq!(resp.header("retry-after"), None, "waiting never helps");
    let body: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(body["error"]["code"], "token_quota_too_small");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("503") && message.contains("100"), "{message}");
    assert_eq!(llm.arrivals(), 0);
    // Without max_tokens the same prompt fits: it reserves what is left.
    let ok = post_json(
        &gw,
        "/openai/v1/chat/completions?in=10&out=20",
        "tenant-t",
        r#"{"messages":[{"role":"user","content":"abcdefgh"}]}"#,
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(wait_charged(&redis, "too-large", 30), 30);
}
