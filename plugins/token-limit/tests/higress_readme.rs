//! The configuration examples of Higress's `ai-token-ratelimit` README (README_EN.md at
//! github:alibaba/higress `plugins/wasm-go/extensions/ai-token-ratelimit`), unchanged, through
//! gateway-host with an upstream that answers 46 tokens (13 prompt + 33 completion, as in that
//! README's demo) and requests without `max_tokens`, as that README's curl sends them. The
//! counts are the ones Higress's check (`used <= threshold` admits) gives for 46 tokens a call.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, SystemTime};

use gateway_host::Gateway;
use gateway_host::testing::{RedisServer, http_request};
use serde_json::Value;
use support::mock_llm::MockLlm;
use support::*;

/// The README's request body (no `max_tokens`).
const BODY: &str =
    r#"{"model": "gpt-3", "messages": [{"role": "user", "content": "Hello, who are you?"}], "stream": false}"#;

/// 2027-01-15T08:00:00Z: the start of a minute and of an hour.
const T0: u64 = 1_800_000_000;

fn yaml(text: &str) -> Value {
    let v: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
    serde_json::to_value(v).unwrap()
}

/// A gateway running `config` (the README's YAML; its Redis is pointed at the test's).
fn gateway(redis: &RedisServer, llm: &MockLlm, config: &str) -> Gateway {
    let mut config = yaml(config);
    config["redis"] = serde_json::json!({"service_name": "redis.static", "service_port": 6379});
    load_scripts(redis);
    let gw = start_gateway(redis, &llm.addr(), config, 1);
    gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(T0));
    gw
}

/// Sends `n` README requests to `path` with `headers`, the clock held at `T0` (so one second
/// windows do not turn over); returns the statuses.
fn statuses(gw: &Gateway, path: &str, headers: &[(&str, &str)], n: usize) -> Vec<u16> {
    (0..n)
        .map(|_| {
            gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(T0));
            let mut h = vec![("content-type", "application/json")];
            h.extend_from_slice(headers);
            http_request("POST", &format!("{}{path}", gw.url()), &h, BODY.as_bytes()).unwrap().status
        })
        .collect()
}

/// `admitted` times 200, then 429s up to `n` requests.
fn admits(admitted: usize, n: usize) -> Vec<u16> {
    let mut v = vec![200; admitted];
    v.resize(n, 429);
    v
}

#[test]
fn the_full_example_admits_five_requests_of_46_tokens_in_200_per_minute_and_rejects_the_sixth() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = gateway(
        &redis,
        &llm,
        r#"
rule_name: default_limit_by_param_apikey
rule_items:
- limit_by_param: apikey
  limit_keys:
  - key: 123456
    token_per_minute: 200
redis:
  service_name: redis.dns
  service_port: 6379
"#,
    );
    assert_eq!(statuses(&gw, "/v1/chat/completions?apikey=123456", &[], 7), admits(5, 7));
    assert_eq!(wait_charged(&redis, "default_limit_by_param_apikey", 5 * 46), 5 * 46, "the usage of the 5");
    let url = format!("{}/v1/chat/completions?apikey=123456", gw.url());
    let no = http_request("POST", &url, &[("content-type", "application/json")], BODY.as_bytes()).unwrap();
    assert_eq!(no.status, 429);
    let retry: u64 = no.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "the minute ends within {retry} s: that wait helps");
    assert!(no.header("x-tokenratelimit-reset").is_some(), "Higress's reset header");
    // Other keys are not limited by this config.
    assert_eq!(statuses(&gw, "/v1/chat/completions?apikey=other", &[], 8), vec![200; 8]);
}

#[test]
fn the_global_example_shares_1000_tokens_per_minute() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = gateway(
        &redis,
        &llm,
        "rule_name: routeA-global-limit-rule\nglobal_threshold:\n  token_per_minute: 1000\nredis:\n  service_name: redis.static\n",
    );
    // 21 × 46 = 966 <= 1000 admits a 22nd; 1012 rejects the 23rd.
    assert_eq!(statuses(&gw, "/v1/chat/completions", &[], 24), admits(22, 24));
}

const BY_PARAM: &str = r#"
rule_name: default_rule
rule_items:
  - limit_by_param: apikey
    limit_keys:
      - key: 9a342114-ba8a-11ec-b1bf-00163e1250b5
        token_per_minute: 10
      - key: a6a6d7f2-ba8a-11ec-bec2-00163e1250b5
        token_per_hour: 100
  - limit_by_per_param: apikey
    limit_keys:
      - key: "regexp:^a.*"
        token_per_second: 10
      - key: "regexp:^b.*"
        token_per_minute: 100
      - key: "*"
        token_per_hour: 1000
redis:
  service_name: redis.static
"#;

#[test]
fn the_apikey_parameter_example_limits_each_key_as_documented() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = gateway(&redis, &llm, BY_PARAM);
    let path = |key: &str| format!("/v1/chat/completions?apikey={key}");
    assert_eq!(statuses(&gw, &path("9a342114-ba8a-11ec-b1bf-00163e1250b5"), &[], 3), admits(1, 3), "10 per minute");
    assert_eq!(statuses(&gw, &path("a6a6d7f2-ba8a-11ec-bec2-00163e1250b5"), &[], 5), admits(3, 5), "100 per hour");
    assert_eq!(statuses(&gw, &path("alpha"), &[], 3), admits(1, 3), "^a: 10 per second, per key");
    assert_eq!(statuses(&gw, &path("avocado"), &[], 3), admits(1, 3), "another ^a key has its own 10");
    assert_eq!(statuses(&gw, &path("beta"), &[], 5), admits(3, 5), "^b: 100 per minute");
    assert_eq!(statuses(&gw, &path("zulu"), &[], 24), admits(22, 24), "*: 1000 per hour");
    // The next second, the ^a key has its 10 tokens again.
    gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + 1));
    let url = format!("{}{}", gw.url(), path("alpha"));
    let next = http_request("POST", &url, &[("content-type", "application/json")], BODY.as_bytes()).unwrap();
    assert_eq!(next.status, 200);
}

#[test]
fn the_header_consumer_and_ip_examples_limit_each_value_as_documented() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let by_header =
        BY_PARAM.replace("limit_by_param", "limit_by_header").replace("limit_by_per_param", "limit_by_per_header");
    let by_header = by_header.replace("apikey", "x-ca-key").replace("9a342114-ba8a-11ec-b1bf-00163e1250b5", "102234");
    let gw = gateway(&redis, &llm, &by_header);
    assert_eq!(statuses(&gw, "/v1/chat/completions", &[("x-ca-key", "102234")], 3), admits(1, 3));
    assert_eq!(statuses(&gw, "/v1/chat/completions", &[("x-ca-key", "bob")], 5), admits(3, 5));
    drop(gw);
    redis.command(&["FLUSHALL"]).unwrap();

    let by_consumer = r#"
rule_name: default_rule
rule_items:
  - limit_by_consumer: ''
    limit_keys:
      - key: consumer1
        token_per_second: 10
      - key: consumer2
        token_per_hour: 100
  - limit_by_per_consumer: ''
    limit_keys:
      - key: "regexp:^a.*"
        token_per_second: 10
      - key: "regexp:^b.*"
        token_per_minute: 100
      - key: "*"
        token_per_hour: 1000
redis:
  service_name: redis.static
"#;
    let gw = gateway(&redis, &llm, by_consumer);
    let consumer = |name: &'static str| [("x-mse-consumer", name)];
    assert_eq!(statuses(&gw, "/v1/chat/completions", &consumer("consumer1"), 3), admits(1, 3));
    assert_eq!(statuses(&gw, "/v1/chat/completions", &consumer("consumer2"), 5), admits(3, 5));
    assert_eq!(statuses(&gw, "/v1/chat/completions", &consumer("bert"), 5), admits(3, 5));
    drop(gw);
    redis.command(&["FLUSHALL"]).unwrap();

    let by_ip = r#"
rule_name: default_rule
rule_items:
  - limit_by_per_ip: from-header-x-forwarded-for
    limit_keys:
      - key: 1.1.1.1
        token_per_day: 10
      - key: 1.1.1.0/24
        token_per_day: 100
      - key: 0.0.0.0/0
        token_per_day: 1000
redis:
  service_name: redis.static
"#;
    let gw = gateway(&redis, &llm, by_ip);
    let ip = |addr: &'static str| [("x-forwarded-for", addr)];
    assert_eq!(statuses(&gw, "/v1/chat/completions", &ip("1.1.1.1"), 3), admits(1, 3), "exact IP: 10 a day");
    assert_eq!(statuses(&gw, "/v1/chat/completions", &ip("1.1.1.2, 10.0.0.1"), 5), admits(3, 5), "/24: 100 each");
    assert_eq!(statuses(&gw, "/v1/chat/completions", &ip("1.1.1.3"), 5), admits(3, 5), "each IP its own 100");
    assert_eq!(statuses(&gw, "/v1/chat/completions", &ip("8.8.8.8"), 24), admits(22, 24), "fallback 1000");
}

#[test]
fn the_cookie_example_answers_its_own_code_and_body() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = gateway(
        &redis,
        &llm,
        r#"
rule_name: default_rule
rule_items:
  - limit_by_cookie: key1
    limit_keys:
      - key: value1
        token_per_minute: 10
      - key: value2
        token_per_hour: 100
  - limit_by_per_cookie: key1
    limit_keys:
      - key: "regexp:^a.*"
        token_per_second: 10
      - key: "regexp:^b.*"
        token_per_minute: 100
      - key: "*"
        token_per_hour: 1000
rejected_code: 200
rejected_msg: '{"code":-1,"msg":"Too many requests"}'
redis:
  service_name: redis.static
"#,
    );
    let url = format!("{}/v1/chat/completions", gw.url());
    let send = |cookie: &str| {
        gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(T0));
        let headers = [("content-type", "application/json"), ("cookie", cookie)];
        http_request("POST", &url, &headers, BODY.as_bytes()).unwrap()
    };
    assert_eq!(send("a=b; key1=value1").status, 200);
    let rejected = send("a=b; key1=value1");
    assert_eq!(rejected.status, 200, "rejected_code 200");
    assert_eq!(rejected.text(), r#"{"code":-1,"msg":"Too many requests"}"#, "rejected_msg is the body, as in Higress");
    for _ in 0..3 {
        assert_eq!(send("key1=bravo").status, 200);
    }
    let fourth: Value = serde_json::from_slice(&send("key1=bravo").body).unwrap();
    assert_eq!(fourth["code"], -1);
}

#[test]
fn reservation_off_admits_while_used_is_at_most_the_quota_and_charges_only_reported_usage() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let gw = gateway(
        &redis,
        &llm,
        "rule_name: off\nreservation: off\nglobal_threshold:\n  token_per_minute: 184\nredis:\n  service_name: redis.static\n",
    );
    // 4 × 46 = 184 used is not over 184: Higress admits a 5th; 230 rejects the 6th.
    assert_eq!(statuses(&gw, "/v1/chat/completions", &[], 6), admits(5, 6));
    assert_eq!(wait_charged(&redis, "off", 230), 230);
    redis.command(&["FLUSHALL"]).unwrap();
    // No usage in the answer: nothing is charged (Higress adds only reported usage).
    let url = format!("{}/bad/html", gw.url());
    let resp = http_request("POST", &url, &[("content-type", "application/json")], BODY.as_bytes()).unwrap();
    assert_eq!(resp.status, 200);
    let missing = gateway_host::testing::wait_for(Duration::from_secs(10), || {
        (metric(&gw, "token_limit.usage_missing") == 1).then_some(())
    });
    assert!(missing.is_some());
    assert_eq!(charged(&redis, "off"), 0);
}
