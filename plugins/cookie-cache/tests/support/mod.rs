//! What the end-to-end test files share: a gateway-host gateway with cookie-cache in front of one
//! upstream (and optionally an auth service), HTTP helpers, and counts read from Redis and from
//! the plugin's metrics.
#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use gateway_host::testing::{
    HttpResponse, RedisServer, RedisValue, TestRequest, TestUpstream, http_request, plugin_wasm,
};
use gateway_host::{Gateway, GatewayConfig};
use serde_json::{Value, json};

pub const REDIS_CLUSTER: &str = "outbound|6379||redis.static";
pub const AUTH_CLUSTER: &str = "outbound|80||auth.static";
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A gateway with cookie-cache in front of `upstream`, Redis at `redis` and the auth service at `auth`.
pub fn gateway(plugin_config: Value, redis: &str, upstream: &str, auth: Option<&str>, concurrency: usize) -> Gateway {
    try_gateway(plugin_config, redis, upstream, auth, concurrency).unwrap_or_else(|e| panic!("{e:#}"))
}

pub fn try_gateway(
    plugin_config: Value,
    redis: &str,
    upstream: &str,
    auth: Option<&str>,
    concurrency: usize,
) -> Result<Gateway, String> {
    let mut clusters = vec![
        json!({"name": REDIS_CLUSTER, "endpoints": [redis]}),
        json!({"name": "backend", "endpoints": [upstream], "connect_timeout_ms": 200, "timeout_ms": 5000}),
    ];
    if let Some(a) = auth {
        clusters.push(json!({"name": AUTH_CLUSTER, "endpoints": [a], "connect_timeout_ms": 200}));
    }
    let config = json!({
        "concurrency": concurrency,
        "log_level": "debug",
        "listeners": [{"address": "127.0.0.1:0", "filters": ["cookie-cache"],
                       "routes": [{"name": "shop", "cluster": "backend"}]}],
        "clusters": clusters,
        "plugins": [{"name": "cookie-cache", "wasm": plugin_wasm("cookie-cache"), "config": plugin_config}],
    });
    let config: GatewayConfig = serde_json::from_value(config).map_err(|e| e.to_string())?;
    Gateway::start(config).map_err(|e| format!("{e:#}"))
}

pub fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut all = vec![("host", "shop.example.com")];
    all.extend_from_slice(headers);
    http_request("GET", &format!("{}{path}", gw.url()), &all, b"").unwrap_or_else(|e| panic!("GET {path}: {e:#}"))
}

pub fn cookie(sid: &str) -> String {
    format!("theme=dark; sid={sid}")
}

pub fn sid_of(req: &TestRequest) -> String {
    req.header("cookie")
        .and_then(|c| c.split(';').find_map(|p| p.trim().strip_prefix("sid=").map(str::to_string)))
        .unwrap_or_default()
}

pub fn requests_for(upstream: &TestUpstream, path: &str) -> usize {
    upstream.requests().iter().filter(|r| r.path == path).count()
}

pub fn keys(redis: &RedisServer, pattern: &str) -> usize {
    match redis.command(&["KEYS", pattern]).unwrap() {
        RedisValue::Array(items) => items.len(),
        other => panic!("{other:?}"),
    }
}

/// EVALSHA and EVAL calls so far (every cache lookup and store is one script call).
pub fn evalsha_calls(redis: &RedisServer) -> u64 {
    let stats = redis.commandstats().unwrap();
    ["evalsha", "eval"].iter().filter_map(|c| stats.get(*c)).sum()
}

/// The plugin counter `cookie_cache.<name>`, summed over `gateways` (0 when never defined).
pub fn counter(gateways: &[&Gateway], name: &str) -> i64 {
    let full = format!("cookie_cache.{name}");
    gateways.iter().flat_map(|gw| gw.metrics()).filter(|m| m.name == full).map(|m| m.value).sum()
}

pub fn cache_config() -> Value {
    json!({
        "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 500},
        "cache": {"key": {"cookies": ["sid"]}, "ttl_seconds": 60, "stale_ttl_seconds": 600}
    })
}
