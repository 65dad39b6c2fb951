//! `cargo xtask demo`: a local gateway (gateway-host) running every plugin against a real
//! `redis-server` and a small demo upstream, with curl commands that show each plugin at work.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::build::build;
use crate::flags::Flags;
use crate::workspace::{self, DEFAULT_CONFIG_FILE, Workspace};

pub const ABOUT: &str = "run a local gateway with the plugins, a real Redis and a demo upstream";
pub const USAGE: &str = "\
usage: cargo xtask demo [--port PORT] [--no-opt]

Builds every plugin that has a default-config.yaml, starts redis-server on a free loopback port,
a demo upstream, and gateway-host on 127.0.0.1:PORT (default 10000), then prints curl commands.
Ctrl-C stops everything it started.";

/// The Envoy cluster name the demo's plugins use for Redis (`service_name: redis.static`, port 6379).
const REDIS_CLUSTER: &str = "outbound|6379||redis.static";

pub fn run(mut flags: Flags) -> Result<()> {
    let port: u16 = flags.value("--port")?.map(|p| p.parse()).transpose().context("--port")?.unwrap_or(10000);
    let optimise = !flags.switch("--no-opt");
    flags.finish()?;

    let ws = Workspace::load()?;
    let plugins: Vec<_> = ws.plugins.iter().filter(|p| p.dir.join(DEFAULT_CONFIG_FILE).is_file()).cloned().collect();
    if plugins.is_empty() {
        bail!("no plugin has a {DEFAULT_CONFIG_FILE}");
    }
    let built = build(&ws, &plugins, optimise)?;

    eprintln!("building gateway-host");
    let status = Command::new(workspace::cargo())
        .args(["build", "--profile", "host", "-p", "gateway-host", "--bin", "gateway-host", "--manifest-path"])
        .arg(ws.root.join("Cargo.toml"))
        .status()
        .context("running cargo build for gateway-host")?;
    if !status.success() {
        bail!("building gateway-host failed ({status})");
    }
    let host_binary = ws.target_dir.join("host").join("gateway-host");

    let demo_dir = ws.target_dir.join("demo");
    std::fs::create_dir_all(&demo_dir)?;
    let redis = Service::redis(&demo_dir)?;
    let upstream = start_upstream()?;

    let mut config_plugins = Vec::new();
    let mut routes = Vec::new();
    for (plugin, module) in plugins.iter().zip(&built) {
        let text = std::fs::read_to_string(plugin.dir.join(DEFAULT_CONFIG_FILE))?;
        let mut config: Value = serde_yaml::from_str(&text)
            .with_context(|| format!("{}/{DEFAULT_CONFIG_FILE}", plugin.dir.display()))?;
        demo_overrides(&plugin.name, &mut config);
        config_plugins.push(json!({"name": plugin.name, "wasm": module.wasm, "config": config}));
        routes.push(json!({
            "name": plugin.name, "prefix": route_prefix(&plugin.name), "cluster": "demo-upstream",
            "filters": [plugin.name]
        }));
    }
    let gateway = json!({
        "concurrency": 2,
        "log_level": "info",
        "listeners": [{"address": format!("127.0.0.1:{port}"), "routes": routes}],
        "clusters": [
            {"name": "demo-upstream", "endpoints": [upstream]},
            {"name": REDIS_CLUSTER, "endpoints": [format!("127.0.0.1:{}", redis.port)]}
        ],
        "plugins": config_plugins,
    });
    let config_path = demo_dir.join("gateway.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&gateway)?)?;

    let log = std::fs::File::create(demo_dir.join("gateway.log"))?;
    let child = Command::new(&host_binary)
        .args(["serve", "--config"])
        .arg(&config_path)
        .stderr(log.try_clone()?)
        .stdout(log)
        .spawn()
        .with_context(|| format!("starting {}", host_binary.display()))?;
    let mut gateway_process = Service { child, port, name: "gateway-host" };
    if !wait_for_port(port, Duration::from_secs(30)) {
        bail!("gateway-host did not listen on {port}; see {}", demo_dir.join("gateway.log").display());
    }

    print_usage(port, &plugins.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), &config_path, redis.port);
    let status = gateway_process.child.wait()?;
    eprintln!("gateway-host exited ({status})");
    Ok(())
}

/// Small quotas so the demo shows rejections after a few requests.
fn demo_overrides(plugin: &str, config: &mut Value) {
    if let Some(redis) = config.get_mut("redis") {
        redis["service_name"] = json!("redis.static");
        redis["service_port"] = json!(6379);
    }
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

/// A child process stopped (killed and reaped) when dropped.
struct Service {
    child: Child,
    port: u16,
    name: &'static str,
}

impl Service {
    fn redis(dir: &Path) -> Result<Service> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .spawn()
            .context("starting redis-server (apt-get install redis-server)")?;
        let service = Service { child, port, name: "redis-server" };
        if !wait_for_port(port, Duration::from_secs(10)) {
            bail!("redis-server did not listen on {port}");
        }
        Ok(service)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("stopped {} (port {})", self.name, self.port);
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The demo upstream: pages with a timestamp (to see cache hits), and an OpenAI-style chat
/// completion with a known `usage`. Returns its `host:port`.
fn start_upstream() -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = serve(conn);
            });
        }
    });
    Ok(addr)
}

fn serve(conn: TcpStream) -> Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked") {
                    chunked = true;
                }
            }
        }
        if chunked {
            skip_chunked_body(&mut reader)?;
        } else {
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let (content_type, payload) = if path.starts_with("/v1/") {
            let answer = json!({
                "id": format!("chatcmpl-{now}"), "object": "chat.completion", "model": "demo",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the demo upstream."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}
            });
            ("application/json", answer.to_string())
        } else {
            ("text/plain", format!("page {path} rendered by the demo upstream at {now}\n"))
        };
        write!(
            conn,
            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{payload}",
            payload.len()
        )?;
    }
}

/// Reads and drops a chunked request body (a filter that rewrote the body removed its length).
fn skip_chunked_body(reader: &mut impl BufRead) -> Result<()> {
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        let mut chunk = vec![0; n + 2];
        reader.read_exact(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_configs_point_every_plugin_at_the_local_redis() {
        let mut config = json!({"redis": {"service_name": "redis.prod.svc", "timeout": 200}, "rule_items": []});
        demo_overrides("cluster-rate-limit", &mut config);
        assert_eq!(config["redis"], json!({"service_name": "redis.static", "service_port": 6379, "timeout": 200}));
        assert_eq!(config["global_threshold"], json!({"query_per_minute": 5}));
        assert!(config.get("rule_items").is_none());
        assert_eq!(route_prefix("token-limit"), "/v1/");
        assert_eq!(route_prefix("hello-redis"), "/hello-redis");
    }

    fn read_until(c: &mut TcpStream, needle: &str) -> String {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while !seen.contains(needle) {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed before {needle:?}: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen
    }

    #[test]
    fn the_demo_upstream_answers_pages_and_chat_completions() {
        let addr = start_upstream().unwrap();
        let get = |path: &str, expect: &str| {
            let mut c = TcpStream::connect(&addr).unwrap();
            write!(c, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
            read_until(&mut c, expect)
        };
        get("/cookie-cache/page", "page /cookie-cache/page rendered");
        get("/v1/chat/completions", "\"total_tokens\":42");
        // A chunked request body (a filter removed content-length) is read whole; keep-alive works.
        let mut c = TcpStream::connect(&addr).unwrap();
        write!(c, "POST /v1/x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n").unwrap();
        write!(c, "GET /page HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        read_until(&mut c, "page /page rendered");
    }
}

