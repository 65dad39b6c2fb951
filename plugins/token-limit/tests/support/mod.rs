//! Shared pieces of the end-to-end tests: gateways running the real token-limit module in
//! gateway-host against a real redis-server, Redis inspection, and a streaming HTTP client.
#![allow(dead_code)]

pub mod mock_llm;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gateway_host::testing::{RedisServer, RedisValue, plugin_wasm};
use gateway_host::{ClusterConfig, Gateway, GatewayConfig, PluginConfig, RouteConfig};
use serde_json::{Value, json};

pub const REDIS_CLUSTER: &str = "outbound|6379||redis.static";

/// A plugin config limiting by the `x-api-key` header, with `extra` keys merged in.
pub fn plugin_config(rule: &str, per_minute: u64, extra: Value) -> Value {
    let mut config = json!({
        "rule_name": rule,
        "rule_items": [{"limit_by_per_header": "x-api-key", "limit_keys": [{"key": "*", "token_per_minute": per_minute, "token_per_day": per_minute * 100}]}],
        "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 2000, "buffer_flush_timeout": 0, "max_buffer_size_before_flush": 0},
    });
    if let (Some(c), Value::Object(e)) = (config.as_object_mut(), extra) {
        c.extend(e);
    }
    config
}

/// The gateway config: one route to the mock LLM through token-limit.
pub fn gateway_config(redis: &RedisServer, upstream: &str, config: Value, workers: usize) -> GatewayConfig {
    let mut g = GatewayConfig::new();
    g.concurrency = workers;
    g.clusters.push(cluster(REDIS_CLUSTER, &redis.addr()));
    g.clusters.push(cluster("outbound|80||llm.static", upstream));
    g.plugins.push(PluginConfig {
        name: "token-limit".into(),
        wasm: plugin_wasm("token-limit"),
        root_id: String::new(),
        config,
        vm_config: String::new(),
    });
    g.listeners[0].routes.push(RouteConfig {
        name: "llm".into(),
        domains: Vec::new(),
        prefix: "/".into(),
        cluster: Some("outbound|80||llm.static".into()),
        direct_response: None,
        filters: Some(vec!["token-limit".into()]),
    });
    g
}

fn cluster(name: &str, endpoint: &str) -> ClusterConfig {
    ClusterConfig { name: name.into(), endpoints: vec![endpoint.into()], connect_timeout_ms: 1000, timeout_ms: 30_000 }
}

pub fn start_gateway(redis: &RedisServer, upstream: &str, config: Value, workers: usize) -> Gateway {
    Gateway::start(gateway_config(redis, upstream, config, workers)).unwrap_or_else(|e| panic!("gateway start: {e:#}"))
}

/// Loads token-limit's scripts into `redis` (`SCRIPT LOAD`), so no call takes the EVALSHA →
/// NOSCRIPT → EVAL detour. That detour costs the first settle of a fresh Redis a round trip,
/// during which a request sent right after the answer still sees the reservation: tests of
/// exact sequences load the scripts first.
pub fn load_scripts(redis: &RedisServer) {
    use gateway_sdk::redis::{RedisClient, RedisConfig};
    let config: RedisConfig = gateway_sdk::config::read_at(
        &gateway_sdk::config_json!({"service_name": "redis.static"}),
        &gateway_sdk::ConfigPath::root("test"),
    )
    .unwrap();
    let client = RedisClient::new(&config, &gateway_sdk::ConfigPath::root("t").field("redis")).unwrap();
    let store = gateway_quota::QuotaStore::new(client, "t", gateway_quota::Algorithm::Fixed);
    let charge = include_str!("../../../../crates/gateway-quota/src/charge.lua");
    for source in [store.check_script().source(), store.settle_script().source(), charge] {
        redis.command(&["SCRIPT", "LOAD", source]).unwrap();
    }
}

/// Every counter of `rule` for windows of `seconds`: (key, value).
pub fn counters(redis: &RedisServer, rule: &str, seconds: u64) -> Vec<(String, i64)> {
    let pattern = format!("token-limit:{rule}:*:{seconds}:*");
    let RedisValue::Array(keys) = redis.command(&["KEYS", &pattern]).unwrap() else { panic!("KEYS") };
    keys.into_iter()
        .map(|k| match k {
            RedisValue::Bulk(k) => {
                let v = redis.get_int(&k).unwrap().unwrap_or(0);
                (k, v)
            }
            other => panic!("KEYS gave {other:?}"),
        })
        .collect()
}

/// The sum of the minute counters of `rule`.
pub fn charged(redis: &RedisServer, rule: &str) -> i64 {
    counters(redis, rule, 60).iter().map(|(_, v)| v).sum()
}

/// Polls until the minute counters of `rule` sum to `expected` (settles run after the
/// response); returns the last sum seen.
pub fn wait_charged(redis: &RedisServer, rule: &str, expected: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = charged(redis, rule);
        if now == expected || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `calls` of one command in `INFO commandstats` (e.g. `evalsha`).
pub fn command_calls(redis: &RedisServer, command: &str) -> u64 {
    redis.commandstats().unwrap().get(command).copied().unwrap_or(0)
}

/// A value of a plugin metric summed over the gateway's workers.
pub fn metric(gateway: &Gateway, name: &str) -> i64 {
    gateway.metrics().iter().filter(|m| m.name == name).map(|m| m.value).sum()
}

/// A request body for an OpenAI-style chat request.
pub fn chat(stream: bool, max_tokens: u64) -> String {
    json!({"model": "m", "stream": stream, "max_tokens": max_tokens, "messages": [{"role": "user", "content": "abcdefgh"}]})
        .to_string()
}

/// A streaming response as it arrives at a client.
pub struct StreamingResponse {
    stream: TcpStream,
    pub raw: Vec<u8>,
}

impl StreamingResponse {
    /// Sends a POST and returns once the request is written.
    pub fn post(addr: &str, path: &str, key: &str, body: &str) -> StreamingResponse {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: llm.example.com\r\nconnection: close\r\nx-api-key: {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        StreamingResponse { stream, raw: Vec::new() }
    }

    /// Reads until `needle` has arrived (true) or `timeout` passed / the connection closed (false).
    pub fn read_until(&mut self, needle: &[u8], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if self.raw.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return self.raw.windows(needle.len()).any(|w| w == needle),
                Ok(n) => self.raw.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// Reads to the end of the connection (bounded by `timeout`).
    pub fn read_to_end(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => self.raw.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        }
    }

    pub fn status(&self) -> u16 {
        let text = String::from_utf8_lossy(&self.raw);
        text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }
}
