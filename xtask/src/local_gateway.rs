//! A local gateway for `cargo xtask demo` and `cargo xtask bench`: gateway-host built and started
//! with a generated JSON config, a throwaway `redis-server`, and a small demo upstream.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::workspace::{self, DEFAULT_CONFIG_FILE, Plugin, Workspace};

/// The Envoy cluster name the plugins' default configs use for Redis (`service_name: redis.static`,
/// port 6379).
pub(crate) const REDIS_CLUSTER: &str = "outbound|6379||redis.static";

/// The cluster name of the demo upstream in generated configs.
pub(crate) const UPSTREAM_CLUSTER: &str = "demo-upstream";

/// A child process stopped (killed and reaped) when dropped.
pub(crate) struct Service {
    pub(crate) child: Child,
    pub(crate) port: u16,
    name: &'static str,
}

impl Service {
    /// `redis-server` on a free loopback port, without persistence, working in `dir`.
    pub(crate) fn redis(dir: &Path) -> Result<Service> {
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

pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The plugins that have a `default-config.yaml` (the ones a local gateway can run as is).
pub(crate) fn configurable_plugins(ws: &Workspace) -> Vec<Plugin> {
    ws.plugins.iter().filter(|p| p.dir.join(DEFAULT_CONFIG_FILE).is_file()).cloned().collect()
}

/// A plugin's `default-config.yaml` as JSON, its Redis pointed at the local gateway's Redis cluster.
pub(crate) fn default_config(plugin: &Plugin) -> Result<Value> {
    let path = plugin.dir.join(DEFAULT_CONFIG_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut config: Value = serde_yaml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    point_at_local_redis(&mut config);
    Ok(config)
}

/// Points a plugin config's `redis` at [`REDIS_CLUSTER`].
pub(crate) fn point_at_local_redis(config: &mut Value) {
    if let Some(redis) = config.get_mut("redis") {
        redis["service_name"] = json!("redis.static");
        redis["service_port"] = json!(6379);
    }
}

/// Builds gateway-host (`--profile host`) and returns the path of its binary.
pub(crate) fn build_gateway_host(ws: &Workspace) -> Result<PathBuf> {
    eprintln!("building gateway-host");
    let status = Command::new(workspace::cargo())
        .args(["build", "--profile", "host", "-p", "gateway-host", "--bin", "gateway-host", "--manifest-path"])
        .arg(ws.root.join("Cargo.toml"))
        .status()
        .context("running cargo build for gateway-host")?;
    if !status.success() {
        bail!("building gateway-host failed ({status})");
    }
    Ok(ws.target_dir.join("host").join("gateway-host"))
}

/// What a generated gateway-host config holds: one listener, the demo upstream and Redis clusters,
/// and plugin instances (one `plugins[]` entry each; several may share a wasm file).
pub(crate) struct GatewaySpec {
    pub(crate) port: u16,
    /// Port of the admin listener (`GET /stats`), if any.
    pub(crate) admin_port: Option<u16>,
    pub(crate) concurrency: usize,
    pub(crate) upstream: String,
    pub(crate) redis_port: u16,
    pub(crate) routes: Vec<Value>,
    pub(crate) plugins: Vec<Value>,
    /// Instrument the plugins for the fuel profile (`GET /profile` on the admin listener).
    pub(crate) profile_fuel: bool,
}

impl GatewaySpec {
    /// A route to the demo upstream running `filters` (plugin instance names, in order).
    pub(crate) fn add_route(&mut self, name: &str, prefix: &str, filters: &[&str]) {
        self.routes.push(json!({"name": name, "prefix": prefix, "cluster": UPSTREAM_CLUSTER, "filters": filters}));
    }

    /// A plugin instance named `name` running `wasm` with `config`.
    pub(crate) fn add_plugin(&mut self, name: &str, wasm: &Path, config: Value) {
        self.plugins.push(json!({"name": name, "wasm": wasm, "config": config}));
    }

    /// The gateway-host JSON config.
    pub(crate) fn to_json(&self) -> Value {
        let mut gateway = json!({
            "concurrency": self.concurrency,
            "log_level": "info",
            "listeners": [{"address": format!("127.0.0.1:{}", self.port), "routes": self.routes}],
            "clusters": [
                {"name": UPSTREAM_CLUSTER, "endpoints": [self.upstream]},
                {"name": REDIS_CLUSTER, "endpoints": [format!("127.0.0.1:{}", self.redis_port)]}
            ],
            "plugins": self.plugins,
        });
        if let Some(admin) = self.admin_port {
            gateway["admin_address"] = json!(format!("127.0.0.1:{admin}"));
        }
        if self.profile_fuel {
            gateway["profile_fuel"] = json!(true);
        }
        gateway
    }

    /// Writes `dir/gateway.json`, starts `host_binary serve` on it (logging to `dir/gateway.log`)
    /// and waits until its listeners accept connections. Returns the process and the config path.
    pub(crate) fn start(&self, host_binary: &Path, dir: &Path) -> Result<(Service, PathBuf)> {
        let config_path = dir.join("gateway.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&self.to_json())?)
            .with_context(|| format!("writing {}", config_path.display()))?;
        let log_path = dir.join("gateway.log");
        let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(host_binary)
            .args(["serve", "--config"])
            .arg(&config_path)
            .stderr(log.try_clone()?)
            .stdout(log)
            .spawn()
            .with_context(|| format!("starting {}", host_binary.display()))?;
        let service = Service { child, port: self.port, name: "gateway-host" };
        for port in std::iter::once(self.port).chain(self.admin_port) {
            // Compiling a Go-built module (6 MB) takes wasmtime tens of seconds on a busy 2-core machine.
            if !wait_for_port(port, Duration::from_secs(180)) {
                bail!("gateway-host did not listen on {port}; see {}", log_path.display());
            }
        }
        Ok((service, config_path))
    }
}

/// The demo upstream: pages with a timestamp (to see cache hits), and an OpenAI-style chat
/// completion with a known `usage` (42 tokens) for paths under `/v1/`. Returns its `host:port`.
pub(crate) fn start_upstream() -> Result<String> {
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
    conn.set_nodelay(true)?;
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
        let body = if chunked {
            read_chunked_body(&mut reader)?
        } else {
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            body
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let streaming = serde_json::from_slice::<Value>(&body).is_ok_and(|b| b["stream"] == true);
        if path.starts_with("/v1/") && streaming {
            stream_chat_completion(&mut conn, now)?;
            continue;
        }
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
        // One write per response, without Nagle's delay: piecewise writes of a keep-alive answer
        // would wait for the client's delayed ACK (about 40 ms) and cap the timed bench rows.
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{payload}",
            payload.len()
        );
        conn.write_all(response.as_bytes())?;
    }
}

/// An OpenAI-style streamed chat completion: content deltas, then a usage chunk (as OpenAI sends
/// with `stream_options.include_usage`), then `[DONE]`, each event its own HTTP chunk 50 ms apart.
fn stream_chat_completion(conn: &mut TcpStream, now: u128) -> Result<()> {
    write!(conn, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")?;
    let id = format!("chatcmpl-{now}");
    let delta = |text: &str| {
        json!({"id": id, "object": "chat.completion.chunk", "model": "demo",
               "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
    };
    let usage = json!({"id": id, "object": "chat.completion.chunk", "model": "demo", "choices": [],
                       "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}});
    let events = [delta("Hello from "), delta("the demo upstream."), usage];
    let mut frames: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    frames.push("data: [DONE]\n\n".to_string());
    for frame in frames {
        write!(conn, "{:x}\r\n{frame}\r\n", frame.len())?;
        conn.flush()?;
        std::thread::sleep(Duration::from_millis(50));
    }
    write!(conn, "0\r\n\r\n")?;
    Ok(())
}

/// Reads a chunked request body (a filter that rewrote the body removed its length).
fn read_chunked_body(reader: &mut impl BufRead) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        let mut chunk = vec![0; n + 2];
        reader.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk[..n]);
        if n == 0 {
            return Ok(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // `"stream": true` gets server-sent events ending with a usage chunk and [DONE].
        let mut c = TcpStream::connect(&addr).unwrap();
        let body = r#"{"model":"demo","stream":true,"messages":[]}"#;
        write!(c, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}", body.len())
            .unwrap();
        let seen = read_until(&mut c, "data: [DONE]");
        assert!(seen.contains("content-type: text/event-stream"), "{seen}");
        assert!(seen.contains("\"delta\":{\"content\":\"Hello from \"}"), "{seen}");
        assert!(seen.contains("\"total_tokens\":42"), "{seen}");
    }

    #[test]
    fn the_config_has_the_routes_plugins_clusters_and_admin_listener() {
        let mut spec = GatewaySpec {
            port: 10000,
            admin_port: Some(10001),
            concurrency: 1,
            profile_fuel: false,
            upstream: "127.0.0.1:9".into(),
            redis_port: 6380,
            routes: Vec::new(),
            plugins: Vec::new(),
        };
        spec.add_plugin("a", Path::new("/x/plugin.wasm"), json!({"k": 1}));
        spec.add_plugin("b", Path::new("/x/plugin.wasm"), json!({"k": 2}));
        spec.add_route("ra", "/a", &["a"]);
        spec.add_route("none", "/none", &[]);
        let config = spec.to_json();
        assert_eq!(config["admin_address"], "127.0.0.1:10001");
        assert_eq!(config["listeners"][0]["address"], "127.0.0.1:10000");
        assert_eq!(config["listeners"][0]["routes"][1]["filters"], json!([]));
        assert_eq!(config["clusters"][1], json!({"name": REDIS_CLUSTER, "endpoints": ["127.0.0.1:6380"]}));
        assert_eq!(config["plugins"][1], json!({"name": "b", "wasm": "/x/plugin.wasm", "config": {"k": 2}}));
        spec.admin_port = None;
        assert!(spec.to_json().get("admin_address").is_none());
    }
}
