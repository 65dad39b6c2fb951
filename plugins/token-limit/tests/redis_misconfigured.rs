//! token-limit with a Redis that cannot serve it (a wrong password, a cluster node without a
//! proxy), end to end: requests follow `failure_mode`, the circuit breaker stops the calls after
//! three failures, and the cause is logged once with what to do.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway_host::testing::{RedisServer, http_request};
use serde_json::json;
use support::mock_llm::MockLlm;
use support::*;

fn script_calls(redis: &RedisServer) -> u64 {
    let stats = redis.commands_received().unwrap();
    ["evalsha", "eval"].iter().filter_map(|c| stats.get(*c)).sum()
}

fn run(redis: &RedisServer, password: Option<&str>, advice: &str) {
    let llm = MockLlm::start();
    let mut config = plugin_config(
        "misconfigured",
        1_000_000,
        json!({"circuit_breaker": {"failure_threshold": 3, "cooldown_ms": 60000}}),
    );
    if let Some(p) = password {
        config["redis"]["password"] = json!(p);
    }
    let gw = start_gateway(redis, &llm.addr(), config, 1);
    for i in 0..30 {
        let url = format!("{}/openai/v1/chat/completions?in=2&out=3", gw.url());
        let key = format!("tenant-{i}");
        let headers = [("x-api-key", key.as_str()), ("content-type", "application/json")];
        let r = http_request("POST", &url, &headers, chat(false, 10).as_bytes()).unwrap();
        assert_eq!(r.status, 200, "failure_mode allow: {}", r.text());
    }
    let all: Vec<String> = gw.logs().into_iter().map(|l| l.message).collect();
    assert!(script_calls(redis) <= 4, "calls stop once the breaker opens: {} {all:#?}", script_calls(redis));
    let lines: Vec<String> = gw
        .logs()
        .into_iter()
        .filter(|l| l.message.contains("Redis cannot serve this plugin"))
        .map(|l| l.message)
        .collect();
    assert_eq!(lines.len(), 1, "one line for the cause: {lines:#?}");
    assert!(lines[0].contains(advice), "{}", lines[0]);
    let per_request: Vec<String> =
        gw.logs().into_iter().filter(|l| l.message.contains("quota check failed")).map(|l| l.message).collect();
    assert!(per_request.len() <= 1, "the per-request line is throttled too: {per_request:#?}");
}

#[test]
fn a_wrong_password_follows_failure_mode_and_stops_calling_redis() {
    let redis = RedisServer::start_with_password("right").unwrap();
    run(&redis, Some("wrong"), "redis.password");
}

#[test]
fn a_cluster_node_without_a_proxy_follows_failure_mode_and_stops_calling_redis() {
    let conf = std::env::temp_dir().join(format!("tl-nodes-{}.conf", std::process::id()));
    let conf = conf.to_string_lossy().to_string();
    let node = RedisServer::start_with_args(&["--cluster-enabled", "yes", "--cluster-config-file", &conf]).unwrap();
    run(&node, None, "cluster-aware proxy");
}
