//! What the end-to-end test files share: a gateway-host gateway whose routes all run the real
//! cluster-rate-limit module in front of one upstream, with its Redis cluster at a real server.
#![allow(dead_code, clippy::panic)]

use gateway_host::testing::plugin_wasm;
use gateway_host::{ClusterConfig, Gateway, GatewayConfig, PluginConfig, RouteConfig};

/// The cluster name `redis: {service_name: redis.static}` resolves to (port 6379).
pub const REDIS_CLUSTER: &str = "outbound|6379||redis.static";

/// Starts a gateway: routes (name, path prefix; tried in order) to `upstream_addr` through the
/// plugin with `config`, the Envoy cluster `redis_cluster` at `redis_addr`.
pub fn start_gateway(
    redis_cluster: &str,
    redis_addr: &str,
    upstream_addr: &str,
    config: serde_json::Value,
    routes: &[(&str, &str)],
) -> Gateway {
    let mut c = GatewayConfig::new();
    c.log_level = "info".to_string();
    c.listeners[0].routes = routes
        .iter()
        .map(|(name, prefix)| RouteConfig {
            name: name.to_string(),
            domains: Vec::new(),
            prefix: prefix.to_string(),
            cluster: Some("backend".to_string()),
            direct_response: None,
            filters: Some(vec!["cluster-rate-limit".to_string()]),
        })
        .collect();
    let cluster = |name: &str, endpoint: &str| ClusterConfig {
        name: name.to_string(),
        endpoints: vec![endpoint.to_string()],
        connect_timeout_ms: 1000,
        timeout_ms: 15_000,
    };
    c.clusters = vec![cluster("backend", upstream_addr), cluster(redis_cluster, redis_addr)];
    c.plugins = vec![PluginConfig {
        name: "cluster-rate-limit".to_string(),
        wasm: plugin_wasm("cluster-rate-limit"),
        root_id: String::new(),
        config,
        vm_config: String::new(),
    }];
    Gateway::start(c).unwrap_or_else(|e| panic!("gateway: {e:#}"))
}
