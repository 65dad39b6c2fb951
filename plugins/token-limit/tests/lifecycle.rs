//! token-limit through the stream lifecycle as Envoy runs it, end to end (real module,
//! gateway-host, redis-server, mock LLM): requests that end with HTTP/2 trailers or on their
//! headers are admitted and charged, and a stream that ends while its reservation is in flight
//! gets the reservation back.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gateway_host::testing::{H2Request, RedisServer, h2c_request};
use serde_json::json;
use support::mock_llm::MockLlm;
use support::*;

#[test]
fn a_request_that_ends_with_http2_trailers_is_admitted_and_charged() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("trailers", 1_000_000, json!({})), 1);
    let body = chat(false, 100);
    let (first, second) = body.split_at(body.len() / 2);
    let request = H2Request::new("POST", &format!("{}/openai/v1/chat/completions?in=12&out=30", gw.url()))
        .header("x-api-key", "tenant-t")
        .header("content-type", "application/json")
        .data(first)
        .data(second)
        .trailer("x-client-checksum", "abc");
    let response = h2c_request(&request).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(wait_charged(&redis, "trailers", 42), 42, "the usage of a request ending with trailers is charged");
    assert_eq!(llm.bodies().last().map(|b| b.len()), Some(body.len()), "the whole body went upstream");
}

#[test]
fn a_bodyless_post_over_http2_is_admitted_and_charged() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("bodyless", 1_000_000, json!({})), 1);
    // No data frame and no content-length: the request ends on its headers.
    let request = H2Request::new("POST", &format!("{}/openai/v1/chat/completions?in=3&out=4", gw.url()))
        .header("x-api-key", "tenant-b");
    let response = h2c_request(&request).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(wait_charged(&redis, "bodyless", 7), 7);
}

#[test]
fn a_stream_that_ends_during_the_reserve_call_gets_its_reservation_back() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = start_gateway(&redis, &llm.addr(), plugin_config("abort", 1_000_000, json!({})), 1);
    // Load the scripts first so the aborted request's reservation is a single EVALSHA.
    let warm = h2c_request(
        &H2Request::new("POST", &format!("{}/openai/v1/chat/completions?in=1&out=1", gw.url()))
            .header("x-api-key", "warm")
            .data(chat(false, 10)),
    )
    .unwrap();
    assert_eq!(warm.status, 200);
    assert_eq!(wait_charged(&redis, "abort", 2), 2);
    let refunded_before = metric(&gw, "token_limit.tokens_refunded");
    // Redis holds every command for 600 ms: the reservation is in flight when the client leaves.
    redis.command(&["CLIENT", "PAUSE", "600", "ALL"]).unwrap();
    let body = chat(false, 500);
    let mut client = TcpStream::connect(gw.addr()).unwrap();
    let head = format!(
        "POST /openai/v1/chat/completions?in=5&out=5 HTTP/1.1\r\nhost: llm\r\nx-api-key: leaver\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).unwrap();
    client.write_all(body.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    drop(client);
    // After the pause the reservation lands; nobody is left to settle it, so it is refunded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&gw, "token_limit.tokens_refunded") - refunded_before < 500 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let refunded = metric(&gw, "token_limit.tokens_refunded") - refunded_before;
    assert!(refunded >= 500, "the abandoned reservation is refunded in full ({refunded})");
    assert_eq!(wait_charged(&redis, "abort", 2), 2, "Redis holds only the warm-up's usage");
    assert_eq!(llm.arrivals(), 1, "the abandoned request never went upstream");
}
