//! Done-when 1 of issue 13: every YAML example of Higress's own cluster-key-rate-limit READMEs
//! (zh and en, pinned in tests/higress/PINNED) loads unchanged and behaves as the README says,
//! through gateway-host with the compiled plugin and a real redis-server. Each example is
//! delivered twice, as Higress delivers a WasmPlugin: as `defaultConfig` (the top level) and as
//! the `config` of a `matchRules` entry (a `_rules_` entry matched by route).
//!
//! Time is frozen in the gateway (`set_time`), so windows cannot roll over mid-test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use gateway_host::Gateway;
use gateway_host::testing::{HttpResponse, RedisServer, TestUpstream, http_request};
use support::start_gateway;

mod support;
use gateway_sdk::testing::higress_config_from_wasmplugin;
use serde_json::json;

/// `redis.service_name: redis.static` without a port: Higress's default port 80 (config.go 106-114).
const REDIS_CLUSTER: &str = "outbound|80||redis.static";

/// The ```` ```yaml ```` blocks of a pinned Higress README (the en one writes ```` ```yaml   ````).
fn yaml_blocks(file: &str) -> Vec<serde_json::Value> {
    let path = format!("{}/tests/higress/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split("```yaml")
        .skip(1)
        .map(|block| {
            let body = block.split_once('\n').map(|(_, b)| b).unwrap_or_default();
            let body = body.split("```").next().unwrap_or_default();
            let value: serde_yaml::Value = serde_yaml::from_str(body).unwrap_or_else(|e| panic!("{file}: {e}\n{body}"));
            serde_json::to_value(value).unwrap()
        })
        .collect()
}

fn gateway(redis: &RedisServer, upstream: &TestUpstream, config: serde_json::Value) -> Gateway {
    let gw = start_gateway(REDIS_CLUSTER, &redis.addr(), &upstream.addr(), config, &[("default/route-a", "/")]);
    // Noon UTC on a Wednesday, 10.5 s into a minute: no window of a second or more rolls over.
    gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_040_000_500));
    gw
}

fn send(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    http_request("GET", &format!("{}{path}", gw.url()), headers, b"").unwrap()
}

/// Sends `n` requests; returns their statuses and the last response.
fn burst(gw: &Gateway, n: usize, path: &str, headers: &[(&str, &str)]) -> (Vec<u16>, HttpResponse) {
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..n {
        let r = send(gw, path, headers);
        statuses.push(r.status);
        last = Some(r);
    }
    (statuses, last.unwrap())
}

/// `limit` admitted, then one rejected with `code` and `body`, and Higress's headers
/// (`show_limit_quota_header: true` in every example; main.go 291-299).
fn assert_limit(gw: &Gateway, limit: usize, path: &str, headers: &[(&str, &str)], code: u16, body: &str) {
    let (statuses, _) = burst(gw, limit, path, headers);
    assert!(statuses.iter().all(|s| *s == 200), "{path} {headers:?}: {statuses:?}");
    let r = send(gw, path, headers);
    assert_eq!(r.status, code, "{path} {headers:?}: request {} is over the limit", limit + 1);
    assert_eq!(String::from_utf8_lossy(&r.body), body);
    assert_eq!(r.header("x-ratelimit-limit"), Some(limit.to_string().as_str()));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert!(r.header("x-ratelimit-reset").is_some(), "X-RateLimit-Reset on a rejection");
}

const TOO_MANY: &str = "Too many requests";

/// What each README example documents, checked on a fresh Redis.
fn check_documented_behaviour(rule_name: &str, gw: &Gateway) {
    match rule_name {
        // global_threshold: 1000 per minute for the whole rule group.
        "routeA-global-limit-rule" => {
            let r = send(gw, "/", &[]);
            assert_eq!(r.status, 200);
            assert_eq!(r.header("x-ratelimit-limit"), Some("1000"));
            assert_eq!(r.header("x-ratelimit-remaining"), Some("999"));
        }
        // limit_by_param apikey: exact keys first, then limit_by_per_param regexps, then `*`.
        "routeA-request-param-limit-rule" => {
            assert_limit(gw, 10, "/?apikey=9a342114-ba8a-11ec-b1bf-00163e1250b5", &[], 429, TOO_MANY);
            assert_limit(gw, 100, "/?apikey=a6a6d7f2-ba8a-11ec-bec2-00163e1250b5", &[], 429, TOO_MANY);
            // `regexp:^a.*`: 10 per second for each apikey on its own.
            assert_limit(gw, 10, "/?apikey=alpha", &[], 429, TOO_MANY);
            assert_limit(gw, 10, "/?apikey=another", &[], 429, TOO_MANY);
            assert_eq!(send(gw, "/?apikey=bravo", &[]).header("x-ratelimit-limit"), Some("100"));
            assert_eq!(send(gw, "/?apikey=zulu", &[]).header("x-ratelimit-limit"), Some("1000"));
            let r = send(gw, "/?other=1", &[]);
            assert_eq!((r.status, r.header("x-ratelimit-limit")), (200, None), "no item matches: not limited");
        }
        // limit_by_header x-ca-key with numeric keys (`key: 102234`).
        "routeA-request-header-limit-rule" => {
            assert_limit(gw, 10, "/", &[("x-ca-key", "102234")], 429, TOO_MANY);
            assert_limit(gw, 10, "/", &[("x-ca-key", "308239")], 429, TOO_MANY);
            assert_limit(gw, 10, "/", &[("x-ca-key", "abc")], 429, TOO_MANY);
            assert_eq!(send(gw, "/", &[("x-ca-key", "b1")]).header("x-ratelimit-limit"), Some("100"));
        }
        // limit_by_per_ip from x-forwarded-for: exact IP, then its /24, then everyone.
        "routeA-client-ip-limit-rule" => {
            assert_limit(gw, 10, "/", &[("x-forwarded-for", "1.1.1.1")], 429, TOO_MANY);
            assert_eq!(
                send(gw, "/", &[("x-forwarded-for", "1.1.1.2, 10.0.0.1")]).header("x-ratelimit-limit"),
                Some("100")
            );
            assert_eq!(send(gw, "/", &[("x-forwarded-for", "8.8.8.8")]).header("x-ratelimit-limit"), Some("1000"));
        }
        // limit_by_consumer (x-mse-consumer): exact names, then per-consumer regexps.
        "routeA-consumer-limit-rule" => {
            assert_limit(gw, 10, "/", &[("x-mse-consumer", "consumer1")], 429, TOO_MANY);
            assert_eq!(send(gw, "/", &[("x-mse-consumer", "consumer2")]).header("x-ratelimit-limit"), Some("100"));
            assert_limit(gw, 10, "/", &[("x-mse-consumer", "alice")], 429, TOO_MANY);
        }
        // limit_by_cookie key1, rejected with status 200 and a JSON body of its own.
        "routeA-cookie-limit-rule" => {
            let body = r#"{"code":-1,"msg":"Too many requests"}"#;
            assert_limit(gw, 10, "/", &[("cookie", "key1=value1")], 200, body);
            assert_limit(gw, 10, "/", &[("cookie", "other=x; key1=abc")], 200, body);
            assert_eq!(send(gw, "/", &[("cookie", "key1=value2")]).header("x-ratelimit-limit"), Some("100"));
        }
        other => panic!("a README example this test does not know: rule_name {other}"),
    }
}

#[test]
fn every_higress_readme_example_loads_and_behaves_as_documented_through_the_gateway() {
    let upstream = TestUpstream::echo().unwrap();
    let mut checked = Vec::new();
    for file in ["README.md", "README_EN.md"] {
        for example in yaml_blocks(file) {
            let rule_name = example["rule_name"].as_str().unwrap_or_else(|| panic!("{file}: {example}")).to_string();
            let as_default = json!({"kind": "WasmPlugin", "spec": {"defaultConfig": example}});
            let as_rule = json!({"kind": "WasmPlugin", "spec": {
                "matchRules": [{"ingress": ["default/route-a"], "config": example}]}});
            for resource in [as_default, as_rule] {
                let config = higress_config_from_wasmplugin(&resource).unwrap();
                let redis = RedisServer::start().unwrap();
                let gw = gateway(&redis, &upstream, config.clone());
                check_documented_behaviour(&rule_name, &gw);
                checked.push(format!(
                    "{file}: {rule_name} ({})",
                    if config.get("_rules_").is_some() { "rule" } else { "default" }
                ));
            }
        }
    }
    // 6 examples in the zh README, 6 in the en one, each as defaultConfig and as a rule.
    assert_eq!(checked.len(), 24, "{checked:#?}");
}
