//! `cargo xtask demo`: a local gateway (gateway-host) running every plugin against a real
//! `redis-server` and a small demo upstream, with curl commands that show each plugin at work.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::build::build;
use crate::flags::Flags;
use crate::local_gateway::{self, GatewaySpec, Service, start_upstream};
use crate::workspace::{DEFAULT_CONFIG_FILE, Workspace};

pub const ABOUT: &str = "run a local gateway with the plugins, a real Redis and a demo upstream";
pub const USAGE: &str = "\
usage: cargo xtask demo [--port PORT] [--no-opt]

Builds every plugin that has a default-config.yaml, starts redis-server on a free loopback port,
a demo upstream, and gateway-host on 127.0.0.1:PORT (default 10000), then prints curl commands.
Ctrl-C stops everything it started.";

pub fn run(mut flags: Flags) -> Result<()> {
    let port: u16 = flags.value("--port")?.map(|p| p.parse()).transpose().context("--port")?.unwrap_or(10000);
    let optimise = !flags.switch("--no-opt");
    flags.finish()?;

    let ws = Workspace::load()?;
    let plugins = local_gateway::configurable_plugins(&ws);
    if plugins.is_empty() {
        bail!("no plugin has a {DEFAULT_CONFIG_FILE}");
    }
    let built = build(&ws, &plugins, optimise)?;
    let host_binary = local_gateway::build_gateway_host(&ws)?;

    let demo_dir = ws.target_dir.join("demo");
    std::fs::create_dir_all(&demo_dir)?;
    let redis = Service::redis(&demo_dir)?;
    let mut gateway = GatewaySpec {
        port,
        admin_port: None,
        concurrency: 2,
        profile_fuel: false,
        upstream: start_upstream()?,
        redis_port: redis.port,
        routes: Vec::new(),
        plugins: Vec::new(),
    };
    for (plugin, module) in plugins.iter().zip(&built) {
        let mut config = local_gateway::default_config(plugin)?;
        demo_overrides(&plugin.name, &mut config);
        gateway.add_plugin(&plugin.name, &module.wasm, config);
        gateway.add_route(&plugin.name, &route_prefix(&plugin.name), &[&plugin.name]);
    }
    let (mut gateway_process, config_path) = gateway.start(&host_binary, &demo_dir)?;

    print_usage(port, &plugins.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), &config_path, redis.port);
    let status = gateway_process.child.wait()?;
    eprintln!("gateway-host exited ({status})");
    Ok(())
}

/// Small quotas so the demo shows rejections after a few requests.
fn demo_overrides(plugin: &str, config: &mut Value) {
    match plugin {
        "cluster-rate-limit" => {
            if let Some(obj) = config.as_object_mut() {
                obj.remove("rule_items");
                obj.insert("global_threshold".into(), json!({"query_per_minute": 5}));
                obj.insert("show_limit_quota_header".into(), json!(true));
            }
        }
        "token-limit" => {
            config["rule_items"] = json!([{
                "limit_by_per_header": "x-api-key",
                "limit_keys": [{"key": "*", "token_per_minute": 100}]
            }]);
        }
        _ => {}
    }
}

fn route_prefix(plugin: &str) -> String {
    match plugin {
        "token-limit" => "/v1/".to_string(),
        other => format!("/{other}"),
    }
}

fn print_usage(port: u16, plugins: &[&str], config: &Path, redis_port: u16) {
    let base = format!("http://127.0.0.1:{port}");
    println!("\ngateway-host is listening on {base} (config: {})", config.display());
    println!("redis-server on 127.0.0.1:{redis_port} (redis-cli -p {redis_port} keys '*')\n");
    for plugin in plugins {
        match *plugin {
            "hello-redis" => {
                println!("# hello-redis: a per-client counter in Redis");
                println!("curl -si {base}/hello-redis | grep -i x-hello-count\n");
            }
            "cluster-rate-limit" => {
                println!("# cluster-rate-limit: 5 requests per minute for everyone; the 6th gets 429");
                println!("for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{{http_code}}\\n' {base}/cluster-rate-limit; done");
                println!("curl -si {base}/cluster-rate-limit | grep -i ratelimit\n");
            }
            "token-limit" => {
                println!("# token-limit: 100 tokens per minute per API key; each answer uses 42");
                println!(
                    "for i in 1 2 3 4; do curl -s -w ' %{{http_code}}\\n' -H 'x-api-key: demo' -H 'content-type: application/json' \\\n  -d '{{\"model\":\"demo\",\"max_tokens\":10,\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}' {base}/v1/chat/completions; done\n"
                );
                println!("# streamed: events pass through as they arrive; the usage event settles the reservation");
                println!(
                    "curl -sN -H 'x-api-key: other' -H 'content-type: application/json' \\\n  -d '{{\"model\":\"demo\",\"stream\":true,\"max_tokens\":10,\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}' {base}/v1/chat/completions\n"
                );
            }
            "cookie-cache" => {
                println!("# cookie-cache: the second request is served from Redis (see cache-status and the unchanged timestamp)");
                println!("curl -si -b sid=alice {base}/cookie-cache/page; curl -si -b sid=alice {base}/cookie-cache/page\n");
            }
            other => println!("# {other}: curl -si {base}/{other}\n"),
        }
    }
    println!("Ctrl-C stops the gateway, Redis and the demo upstream.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_configs_point_every_plugin_at_the_local_redis() {
        let mut config = json!({"redis": {"service_name": "redis.prod.svc", "timeout": 200}, "rule_items": []});
        local_gateway::point_at_local_redis(&mut config);
        demo_overrides("cluster-rate-limit", &mut config);
        assert_eq!(config["redis"], json!({"service_name": "redis.static", "service_port": 6379, "timeout": 200}));
        assert_eq!(config["global_threshold"], json!({"query_per_minute": 5}));
        assert!(config.get("rule_items").is_none());
        assert_eq!(route_prefix("token-limit"), "/v1/");
        assert_eq!(route_prefix("hello-redis"), "/hello-redis");
    }
}
