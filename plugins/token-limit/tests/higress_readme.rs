//! Issue 13 for token-limit: every YAML example of Higress's own ai-token-ratelimit READMEs (zh
//! and en, pinned in tests/higress/PINNED) loads unchanged and behaves as the README says,
//! through gateway-host with the compiled plugin and a real redis-server. Each example is
//! delivered twice, as Higress delivers a WasmPlugin: as `defaultConfig` (the top level) and as
//! the `config` of a `matchRules` entry (a `_rules_` entry matched by route).
//!
//! The upstream answers 46 tokens (13 prompt + 33 completion, as in the README's demo) to
//! requests without `max_tokens`, as the README's curl sends them. The counts are the ones
//! Higress's check (`used <= threshold` admits) gives for 46 tokens a call. Time is frozen in
//! the gateway (`set_time`), so windows cannot roll over mid-test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, SystemTime};

use gateway_host::testing::{HttpResponse, RedisServer, http_request};
use gateway_host::{ClusterConfig, Gateway};
use gateway_sdk::testing::higress_config_from_wasmplugin;
use serde::Deserialize;
use serde_json::{Value, json};
use support::mock_llm::MockLlm;
use support::*;

/// The README's request body (no `max_tokens`).
const BODY: &str =
    r#"{"model": "gpt-3", "messages": [{"role": "user", "content": "Hello, who are you?"}], "stream": false}"#;

/// 2027-01-15T08:00:00Z: the start of a minute and of an hour.
const T0: u64 = 1_800_000_000;

/// The route of the gateway, which a `matchRules` entry names in `ingress`.
const ROUTE: &str = "llm";

/// One YAML document of a README: where it is, and its value.
struct Doc {
    origin: String,
    value: Value,
}

/// Every document of every ```` ```yaml ```` block of a pinned README (the en one writes
/// ```` ```yaml   ````), and the blocks YAML refuses as written (with the fixed text: see
/// [`as_meant`]).
fn yaml_docs(file: &str) -> (Vec<Doc>, Vec<String>) {
    let path = format!("{}/tests/higress/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (mut docs, mut refused) = (Vec::new(), Vec::new());
    let mut offset = 0;
    for block in text.split("```yaml").skip(1) {
        offset += 1;
        let body = block.split_once('\n').map(|(_, b)| b).unwrap_or_default();
        let body = body.split("```").next().unwrap_or_default();
        let origin = format!("{file} yaml block {offset}");
        let parsed = parse_all(body).or_else(|e| {
            refused.push(format!("{origin}: {e}"));
            parse_all(&as_meant(body))
        });
        let values = parsed.unwrap_or_else(|e| panic!("{origin}: {e}\n{body}"));
        docs.extend(values.into_iter().map(|value| Doc { origin: origin.clone(), value }));
    }
    (docs, refused)
}

/// The zh README indents one line with spaces and a tab (`       \ttoken_per_second: 10`),
/// which YAML (and so Higress's console and kubectl) refuses; its author meant a space.
fn as_meant(body: &str) -> String {
    body.replace('\t', " ")
}

fn parse_all(body: &str) -> Result<Vec<Value>, serde_yaml::Error> {
    let mut values = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(body) {
        let v = serde_yaml::Value::deserialize(doc)?;
        if !v.is_null() {
            values.push(serde_json::to_value(v).unwrap());
        }
    }
    Ok(values)
}

/// A gateway running `config`, with the Redis clusters the README examples name
/// (`redis.static` on Higress's default port 80 for static services, and `redis.dns:6379`) at
/// the test's redis-server.
fn gateway(redis: &RedisServer, llm: &MockLlm, config: Value) -> Gateway {
    load_scripts(redis);
    let mut c = gateway_config(redis, &llm.addr(), config, 1);
    for name in ["outbound|80||redis.static", "outbound|6379||redis.dns"] {
        c.clusters.push(ClusterConfig {
            name: name.into(),
            endpoints: vec![redis.addr()],
            connect_timeout_ms: 1000,
            timeout_ms: 30_000,
        });
    }
    c.listeners[0].routes[0].name = ROUTE.into();
    let gw = Gateway::start(c).unwrap_or_else(|e| panic!("gateway start: {e:#}"));
    gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(T0));
    gw
}

fn send(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(T0));
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    http_request("POST", &format!("{}{path}", gw.url()), &h, BODY.as_bytes()).unwrap()
}

/// Sends `n` README requests to `path` with `headers`, the clock held at `T0` (so one second
/// windows do not turn over); returns the statuses.
fn statuses(gw: &Gateway, path: &str, headers: &[(&str, &str)], n: usize) -> Vec<u16> {
    (0..n).map(|_| send(gw, path, headers).status).collect()
}

/// `admitted` times 200, then 429s up to `n` requests.
fn admits(admitted: usize, n: usize) -> Vec<u16> {
    let mut v = vec![200; admitted];
    v.resize(n, 429);
    v
}

/// Without `rejected_msg` the body is our OpenAI error object (Higress: `Too many requests`).
fn assert_default_rejection(r: &HttpResponse) {
    assert_eq!(r.status, 429);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"]["code"], "token_quota_exceeded", "{body}");
    assert!(r.header("x-tokenratelimit-reset").is_some(), "Higress's reset header");
}

/// Which README example a configuration is: its `rule_name` and its first item's type.
fn example_name(config: &Value) -> String {
    let first_item = config["rule_items"][0]
        .as_object()
        .map(|item| item.keys().find(|k| k.starts_with("limit_by_")).cloned().unwrap_or_default());
    format!("{} {}", config["rule_name"].as_str().unwrap_or_default(), first_item.unwrap_or_default())
}

/// What each README example documents, checked on a fresh Redis.
fn check_documented_behaviour(example: &str, redis: &RedisServer, gw: &Gateway) {
    let chat = "/v1/chat/completions";
    match example {
        // The demo: 200 tokens a minute for apikey 123456; the README's second curl is refused
        // once the minute's usage is over 200 (the sixth call of 46 tokens).
        "default_limit_by_param_apikey limit_by_param" => {
            let url = "/v1/chat/completions?apikey=123456";
            assert_eq!(statuses(gw, url, &[], 7), admits(5, 7));
            assert_eq!(wait_charged(redis, "default_limit_by_param_apikey", 5 * 46), 5 * 46, "the usage of the 5");
            let no = send(gw, url, &[]);
            assert_default_rejection(&no);
            let retry: u64 = no.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry), "the minute ends within {retry} s: that wait helps");
            assert_eq!(statuses(gw, "/v1/chat/completions?apikey=other", &[], 8), vec![200; 8], "other keys");
        }
        // global_threshold: 1000 tokens a minute for the whole rule group.
        "routeA-global-limit-rule " => {
            // 21 × 46 = 966 <= 1000 admits a 22nd; 1012 rejects the 23rd.
            assert_eq!(statuses(gw, chat, &[], 24), admits(22, 24));
            assert_default_rejection(&send(gw, chat, &[]));
        }
        // apikey: exact keys first, then limit_by_per_param regexps (each key its own), then `*`.
        "default_rule limit_by_param" => {
            let path = |key: &str| format!("/v1/chat/completions?apikey={key}");
            assert_eq!(statuses(gw, &path("9a342114-ba8a-11ec-b1bf-00163e1250b5"), &[], 3), admits(1, 3), "10/min");
            assert_eq!(statuses(gw, &path("a6a6d7f2-ba8a-11ec-bec2-00163e1250b5"), &[], 5), admits(3, 5), "100/h");
            assert_eq!(statuses(gw, &path("alpha"), &[], 3), admits(1, 3), "^a: 10 per second, per key");
            assert_eq!(statuses(gw, &path("avocado"), &[], 3), admits(1, 3), "another ^a key has its own 10");
            assert_eq!(statuses(gw, &path("beta"), &[], 5), admits(3, 5), "^b: 100 per minute");
            assert_eq!(statuses(gw, &path("zulu"), &[], 24), admits(22, 24), "*: 1000 per hour");
            assert_eq!(statuses(gw, chat, &[], 3), vec![200; 3], "no apikey: no item matches");
            // The next second, the ^a key has its 10 tokens again.
            gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + 1));
            let url = format!("{}{}", gw.url(), path("alpha"));
            let next = http_request("POST", &url, &[("content-type", "application/json")], BODY.as_bytes()).unwrap();
            assert_eq!(next.status, 200);
        }
        // x-ca-key with numeric keys (`key: 102234`), then per-header regexps.
        "default_rule limit_by_header" => {
            let key = |k: &'static str| [("x-ca-key", k)];
            assert_eq!(statuses(gw, chat, &key("102234"), 3), admits(1, 3), "10 per minute");
            assert_eq!(statuses(gw, chat, &key("308239"), 3), admits(1, 3), "10 per hour");
            assert_eq!(statuses(gw, chat, &key("abc"), 3), admits(1, 3), "^a: 10 per second");
            assert_eq!(statuses(gw, chat, &key("bob"), 5), admits(3, 5), "^b: 100 per minute");
            assert_eq!(statuses(gw, chat, &key("zed"), 24), admits(22, 24), "*: 1000 per hour");
        }
        // limit_by_per_ip from x-forwarded-for: exact IP, then its /24 (each IP its own), then everyone.
        "default_rule limit_by_per_ip" => {
            let ip = |addr: &'static str| [("x-forwarded-for", addr)];
            assert_eq!(statuses(gw, chat, &ip("1.1.1.1"), 3), admits(1, 3), "exact IP: 10 a day");
            assert_eq!(statuses(gw, chat, &ip("1.1.1.2, 10.0.0.1"), 5), admits(3, 5), "/24: 100 each");
            assert_eq!(statuses(gw, chat, &ip("1.1.1.3"), 5), admits(3, 5), "each IP its own 100");
            assert_eq!(statuses(gw, chat, &ip("8.8.8.8"), 24), admits(22, 24), "fallback 1000");
        }
        // limit_by_consumer (x-mse-consumer): exact names, then per-consumer regexps.
        "default_rule limit_by_consumer" => {
            let consumer = |name: &'static str| [("x-mse-consumer", name)];
            assert_eq!(statuses(gw, chat, &consumer("consumer1"), 3), admits(1, 3), "10 per second");
            assert_eq!(statuses(gw, chat, &consumer("consumer2"), 5), admits(3, 5), "100 per hour");
            assert_eq!(statuses(gw, chat, &consumer("alice"), 3), admits(1, 3), "^a: 10 per second");
            assert_eq!(statuses(gw, chat, &consumer("bert"), 5), admits(3, 5), "^b: 100 per minute");
        }
        // limit_by_cookie key1, rejected with status 200 and the README's JSON body as written.
        "default_rule limit_by_cookie" => {
            let cookie = |c: &'static str| [("cookie", c)];
            assert_eq!(send(gw, chat, &cookie("a=b; key1=value1")).status, 200);
            let rejected = send(gw, chat, &cookie("a=b; key1=value1"));
            assert_eq!(rejected.status, 200, "rejected_code 200");
            assert_eq!(rejected.text(), r#"{"code":-1,"msg":"Too many requests"}"#, "rejected_msg is the body");
            assert_eq!(rejected.header("content-type"), Some("application/json"));
            assert!(rejected.header("x-tokenratelimit-reset").is_some());
            assert_eq!(statuses(gw, chat, &cookie("key1=value2"), 3), vec![200; 3], "100 per hour");
            assert_eq!(statuses(gw, chat, &cookie("key1=alpha"), 1), vec![200], "^a: 10 per second");
            assert_eq!(send(gw, chat, &cookie("key1=alpha")).text(), r#"{"code":-1,"msg":"Too many requests"}"#);
            for _ in 0..3 {
                assert_eq!(send(gw, chat, &cookie("key1=bravo")).status, 200);
            }
            let fourth: Value = serde_json::from_slice(&send(gw, chat, &cookie("key1=bravo")).body).unwrap();
            assert_eq!(fourth["code"], -1, "^b: 100 per minute");
        }
        other => panic!("a README example this test does not know: {other}"),
    }
}

/// The plugin configurations of a README: its config examples, and the `defaultConfig` of its
/// ai-token-ratelimit WasmPlugin. The other documents are the demo's Kubernetes objects.
fn examples(docs: Vec<Doc>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for Doc { origin, value } in docs {
        let kind = value["kind"].as_str().unwrap_or_default();
        if kind.is_empty() {
            assert!(value.get("rule_name").is_some(), "{origin}: {value}");
            out.push((origin, value));
        } else if kind == "WasmPlugin" && value["metadata"]["name"] == "ai-token-ratelimit" {
            let config = higress_config_from_wasmplugin(&value).unwrap();
            out.push((origin, config));
        } else {
            let known = ["Deployment", "Service", "WasmPlugin", "McpBridge", "Ingress"];
            assert!(known.contains(&kind), "{origin}: a README document this test does not know: {kind}");
        }
    }
    out
}

#[test]
fn every_higress_readme_example_loads_and_behaves_as_documented_through_the_gateway() {
    let llm = MockLlm::start();
    let mut checked = Vec::new();
    for file in ["README.md", "README_EN.md"] {
        let (docs, _) = yaml_docs(file);
        for (origin, example) in examples(docs) {
            let name = example_name(&example);
            let as_default = json!({"kind": "WasmPlugin", "spec": {"defaultConfig": example}});
            let as_rule = json!({"kind": "WasmPlugin", "spec": {
                "matchRules": [{"ingress": [ROUTE], "config": example}]}});
            for resource in [as_default, as_rule] {
                let config = higress_config_from_wasmplugin(&resource).unwrap();
                let redis = RedisServer::start().unwrap();
                let gw = gateway(&redis, &llm, config.clone());
                check_documented_behaviour(&name, &redis, &gw);
                let delivery = if config.get("_rules_").is_some() { "rule" } else { "default" };
                checked.push(format!("{origin}: {name} ({delivery})"));
            }
        }
    }
    // 6 config examples and the demo's WasmPlugin in each README, as defaultConfig and as a rule.
    assert_eq!(checked.len(), 28, "{checked:#?}");
}

#[test]
fn the_zh_readme_apikey_example_is_refused_by_yaml_as_written_for_its_tab() {
    let (_, refused) = yaml_docs("README.md");
    assert_eq!(refused.len(), 1, "{refused:?}");
    // Line 13 of the block is README.md line 103: seven spaces, a tab, `token_per_second: 10`.
    assert!(refused[0].starts_with("README.md yaml block 2:"), "{refused:?}");
    assert!(refused[0].contains("cannot start any token at line 13 column 8"), "{refused:?}");
    let readme = std::fs::read_to_string(format!("{}/tests/higress/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert_eq!(readme.lines().nth(102), Some("       \ttoken_per_second: 10"));
    let (_, refused) = yaml_docs("README_EN.md");
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn reservation_off_admits_while_used_is_at_most_the_quota_and_charges_only_reported_usage() {
    let redis = RedisServer::start().unwrap();
    let llm = MockLlm::start();
    let config = json!({"rule_name": "off", "reservation": "off", "global_threshold": {"token_per_minute": 184},
        "redis": {"service_name": "redis.static"}});
    let gw = gateway(&redis, &llm, config);
    // 4 × 46 = 184 used is not over 184: Higress admits a 5th; 230 rejects the 6th.
    assert_eq!(statuses(&gw, "/v1/chat/completions", &[], 6), admits(5, 6));
    assert_eq!(wait_charged(&redis, "off", 230), 230);
    redis.command(&["FLUSHALL"]).unwrap();
    // No usage in the answer: nothing is charged (Higress adds only reported usage).
    let resp = send(&gw, "/bad/html", &[]);
    assert_eq!(resp.status, 200);
    let missing = gateway_host::testing::wait_for(Duration::from_secs(10), || {
        (metric(&gw, "token_limit.usage_missing") == 1).then_some(())
    });
    assert!(missing.is_some());
    assert_eq!(charged(&redis, "off"), 0);
}
