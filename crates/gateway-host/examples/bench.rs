//! Benchmark (not a test): requests/s and p50/p99 latency through gateway-host with no plugin
//! and with hello-redis, in the same run, plus wasm instructions (fuel) per request.
//!
//! `cargo run --release -p gateway-host --features testing --example bench -- [SECONDS] [CONNECTIONS]`
//! Prints a Markdown table on stdout.

use std::time::Duration;

use gateway_host::testing::{RedisServer, TestUpstream, load, plugin_wasm};
use gateway_host::{ClusterConfig, Gateway, GatewayConfig, PluginConfig, RouteConfig};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    let connections: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(8);
    let redis = RedisServer::start()?;
    let upstream = TestUpstream::start(|_| gateway_host::testing::TestResponse::new(200, "ok"))?;
    let wasm = plugin_wasm("hello-redis");

    let mut config = GatewayConfig::new();
    config.log_level = "warn".into();
    config.clusters = vec![cluster("backend", &upstream.addr()), cluster("outbound|6379||redis.static", &redis.addr())];
    config.plugins = vec![PluginConfig {
        name: "hello-redis".into(),
        wasm,
        root_id: String::new(),
        config: serde_json::json!({
            "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 1000},
            "ttl_seconds": 60
        }),
        vm_config: String::new(),
    }];
    config.listeners[0].routes = vec![route("plain", "/plain", &[]), route("hello", "/hello", &["hello-redis"])];
    let gateway = Gateway::start(config)?;
    let duration = Duration::from_secs(seconds);

    // Warm up both paths (connections, VMs, Redis).
    load::run(gateway.addr(), "/plain", 2, Duration::from_millis(300), 200)?;
    load::run(gateway.addr(), "/hello", 2, Duration::from_millis(300), 200)?;
    let fuel_before = gateway.fuel();
    let plain = load::run(gateway.addr(), "/plain", connections, duration, 200)?;
    let hello = load::run(gateway.addr(), "/hello", connections, duration, 200)?;
    let fuel_after = gateway.fuel();
    let hello_requests = fuel_after.requests - fuel_before.requests;
    let fuel_per_request = (fuel_after.total - fuel_before.total) as f64 / hello_requests.max(1) as f64;

    println!("| path | requests/s | p50 | p99 | errors | wasm instructions/request |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, r, fuel) in [("no plugin", &plain, None), ("hello-redis", &hello, Some(fuel_per_request))] {
        println!(
            "| {name} | {:.0} | {:.3} ms | {:.3} ms | {} | {} |",
            r.requests_per_second(),
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.errors,
            fuel.map_or("-".to_string(), |f| format!("{f:.0}")),
        );
    }
    println!();
    println!(
        "{connections} keep-alive connections, {seconds} s per path, concurrency 1, redis-server {} on loopback.",
        redis.addr()
    );
    gateway.stop();
    Ok(())
}

fn cluster(name: &str, endpoint: &str) -> ClusterConfig {
    ClusterConfig { name: name.into(), endpoints: vec![endpoint.into()], connect_timeout_ms: 1000, timeout_ms: 15_000 }
}

fn route(name: &str, prefix: &str, filters: &[&str]) -> RouteConfig {
    RouteConfig {
        name: name.into(),
        domains: Vec::new(),
        prefix: prefix.into(),
        cluster: Some("backend".into()),
        direct_response: None,
        filters: Some(filters.iter().map(|s| s.to_string()).collect()),
    }
}
