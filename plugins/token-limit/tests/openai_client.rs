//! token-limit with the real `openai` Python client (installed into a virtualenv by
//! scripts/bootstrap.sh) against a Python `http.server` upstream: keep-alive, JSON and streamed
//! calls, no `max_tokens`, as a new user tries it first.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use gateway_host::Gateway;
use gateway_host::testing::RedisServer;
use serde_json::{Value, json};
use support::*;

/// The Python with `openai` installed: `TOKEN_LIMIT_PYTHON`, else bootstrap's virtualenv.
fn python() -> PathBuf {
    let path = std::env::var_os("TOKEN_LIMIT_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/higress-redis-filters/py-venv/bin/python")
    });
    assert!(
        path.is_file(),
        "{} is missing: run `make test` (scripts/bootstrap.sh installs the openai client into that virtualenv)",
        path.display()
    );
    path
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/python").join(name)
}

/// The Python upstream; killed when dropped.
struct PyUpstream {
    child: Child,
    port: u16,
}

impl PyUpstream {
    fn start() -> PyUpstream {
        Self::start_with(&[])
    }

    fn start_with(args: &[&str]) -> PyUpstream {
        let mut child = Command::new(python())
            .arg(script("llm_upstream.py"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the Python upstream");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("upstream printed {line:?}"));
        PyUpstream { child, port }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for PyUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `calls` openai-client calls with `key`, each bounded by `timeout` seconds; one record each.
fn openai_calls(gateway: &Gateway, key: &str, calls: usize, timeout: f64) -> Vec<Value> {
    openai_calls_with(gateway, key, calls, timeout, &[])
}

fn openai_calls_with(gateway: &Gateway, key: &str, calls: usize, timeout: f64, extra: &[&str]) -> Vec<Value> {
    let output = Command::new(python())
        .arg(script("openai_calls.py"))
        .arg(format!("{}/v1", gateway.url()))
        .arg(key)
        .arg(calls.to_string())
        .arg(timeout.to_string())
        .args(extra)
        .stderr(Stdio::inherit())
        .output()
        .expect("running the openai client");
    let text = String::from_utf8_lossy(&output.stdout);
    let records: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(output.status.success(), "the client failed: {text}");
    let summary = records.last().cloned().unwrap_or_default();
    assert_eq!(summary["calls"], json!(calls), "{text}");
    records.into_iter().filter(|r| r.get("summary").is_none()).collect()
}

/// A gateway whose clock stands still at the start of a minute: every call of a test falls in one
/// window, and the minute counters read at the end have not expired (a fixed window's key lives
/// until its minute ends; a run that crossed a minute lost the earlier minute's counter).
fn pinned_gateway(redis: &RedisServer, upstream: &str, config: Value, workers: usize) -> Gateway {
    let gw = start_gateway(redis, upstream, config, workers);
    gw.set_time(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_040_000));
    gw
}

fn config(rule: &str, per_minute: u64) -> Value {
    json!({
        "rule_name": rule,
        "rule_items": [{"limit_by_per_header": "x-api-key", "limit_keys": [{"key": "*", "token_per_minute": per_minute}]}],
        "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 1000},
    })
}

#[test]
fn the_real_openai_client_gets_100_of_100_answers_within_a_second_each() {
    let redis = RedisServer::start().unwrap();
    let upstream = PyUpstream::start();
    let gw = pinned_gateway(&redis, &upstream.addr(), config("openai", 100_000), 1);
    let records = openai_calls(&gw, "tenant-openai", 100, 1.0);
    let failed: Vec<&Value> = records.iter().filter(|r| r["ok"] != json!(true)).collect();
    assert!(failed.is_empty(), "{} of 100 calls failed: {failed:#?}", failed.len());
    assert_eq!(records.len(), 100);
    // Every call, JSON or streamed, was charged its reported usage (46 tokens).
    assert_eq!(wait_charged(&redis, "openai", 100 * 46), 100 * 46);
}

#[test]
fn after_redis_rejects_a_key_the_client_gets_quick_429s_and_other_keys_still_get_answers() {
    let redis = RedisServer::start().unwrap();
    let upstream = PyUpstream::start();
    let gw = pinned_gateway(&redis, &upstream.addr(), config("reject", 1_100), 1);
    let records = openai_calls(&gw, "small-budget", 30, 1.0);
    assert_eq!(records[0]["ok"], json!(true), "the first call fits the budget: {:#?}", records[0]);
    let first_rejection =
        records.iter().position(|r| r["status"] == json!(429)).unwrap_or_else(|| panic!("no 429 in {records:#?}"));
    for r in &records[first_rejection..] {
        assert_eq!(r["status"], json!(429), "once used up, every call is rejected (no hang, no 5xx): {r:#?}");
        assert_eq!(r["error"], json!("RateLimitError"));
    }
    for r in &records[..first_rejection] {
        assert_eq!(r["ok"], json!(true), "{r:#?}");
    }
    let others = openai_calls(&gw, "other-key", 2, 1.0);
    assert!(others.iter().all(|r| r["ok"] == json!(true)), "{others:#?}");
}

#[test]
fn an_upstream_that_answers_before_the_body_is_admitted_never_hangs_the_response() {
    // The response headers arrive while token-limit's request body hook still awaits its
    // reservation: they are held and resumed after it (they used to stay paused forever).
    let redis = RedisServer::start().unwrap();
    let upstream = PyUpstream::start_with(&["--answer-before-body"]);
    let gw = pinned_gateway(&redis, &upstream.addr(), config("early", 100_000), 1);
    let records = openai_calls_with(&gw, "tenant-early", 40, 1.0, &["json"]);
    let failed: Vec<&Value> = records.iter().filter(|r| r["ok"] != json!(true)).collect();
    assert!(failed.is_empty(), "{} of 40 calls failed: {failed:#?}", failed.len());
    assert_eq!(wait_charged(&redis, "early", 40 * 46), 40 * 46);
}

#[test]
fn the_real_openai_client_without_max_tokens_is_answered_until_300_tokens_are_used_then_gets_rate_limit_errors() {
    // An upstream that gzips what the client's `Accept-Encoding: gzip, deflate` allows, as
    // many do: token-limit must still read every usage.
    let redis = RedisServer::start().unwrap();
    let upstream = PyUpstream::start_with(&["--gzip"]);
    load_scripts(&redis);
    let gw = pinned_gateway(&redis, &upstream.addr(), config("budget-300", 300), 1);
    let records = openai_calls(&gw, "tenant-300", 12, 2.0);
    let first_rejection =
        records.iter().position(|r| r["status"] == json!(429)).unwrap_or_else(|| panic!("no 429 in {records:#?}"));
    // 46 tokens a call, admitted while used <= 300 (as Higress): 6 × 46 = 276 admits a 7th.
    assert_eq!(first_rejection, 7, "{records:#?}");
    for r in &records[..first_rejection] {
        assert_eq!(r["ok"], json!(true), "JSON and streamed calls both answered: {r:#?}");
    }
    for r in &records[first_rejection..] {
        assert_eq!(r["error"], json!("RateLimitError"), "{r:#?}");
        let error = r["body"].get("error").unwrap_or(&r["body"]);
        assert_eq!(error["type"], json!("rate_limit_exceeded"), "an OpenAI error object: {r:#?}");
        assert!(error["message"].is_string() && error["code"].is_string(), "{r:#?}");
    }
    assert_eq!(wait_charged(&redis, "budget-300", 7 * 46), 7 * 46, "Redis holds exactly the reported usage");
}
