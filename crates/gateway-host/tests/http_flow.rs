//! HTTP behaviour of the host with hand-written WAT plugins against a real upstream:
//! header edits, properties, pauses and HTTP calls, body buffering and streaming, local
//! replies from request and response hooks, and the 503 for an unreachable upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use gateway_host::Gateway;
use gateway_host::testing::encode_pairs;
use gateway_host::testing::{TestResponse, TestUpstream, http_get, http_request};

/// Adds `x-wat: req` to requests; adds `x-wat-resp: 1`, `x-route: <route_name>` and
/// `x-saw: <:status>` to responses.
fn header_plugin() -> String {
    plugin(&format!(
        r#"
  {} {} {} {} {} {} {} {}
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $add_header (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 110) (i32.const 3)))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $add_header (i32.const 2) (i32.const 120) (i32.const 10) (i32.const 140) (i32.const 1)))
    (if (i32.eqz (call $get_property (i32.const 150) (i32.const 10) (i32.const 512) (i32.const 516)))
      (then (drop (call $replace_header (i32.const 2) (i32.const 170) (i32.const 7) (i32.load (i32.const 512)) (i32.load (i32.const 516))))))
    (if (i32.eqz (call $get_header (i32.const 2) (i32.const 180) (i32.const 7) (i32.const 512) (i32.const 516)))
      (then (drop (call $add_header (i32.const 2) (i32.const 190) (i32.const 5) (i32.load (i32.const 512)) (i32.load (i32.const 516))))))
    (i32.const 0))
"#,
        data(100, b"x-wat"),
        data(110, b"req"),
        data(120, b"x-wat-resp"),
        data(140, b"1"),
        data(150, b"route_name"),
        data(170, b"x-route"),
        data(180, b":status"),
        data(190, b"x-saw"),
    ))
}

#[test]
fn filters_edit_headers_both_ways_and_read_properties() {
    let upstream = TestUpstream::echo().unwrap();
    let wasm = write_wat("headers", &header_plugin());
    let gw = one_plugin_gateway("headers", wasm, &upstream);
    let resp = http_get(&format!("{}/hello?q=1", gw.url())).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-wat-resp"), Some("1"));
    assert_eq!(resp.header("x-route"), Some("main"));
    assert_eq!(resp.header("x-saw"), Some("200"));
    assert_eq!(resp.header("x-echo-path"), Some("/hello?q=1"));
    let seen = upstream.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-wat"), Some("req"));
    let fuel = gw.fuel();
    assert_eq!(fuel.requests, 1);
    assert!(fuel.mean() > 0.0, "fuel per request is recorded");
}

#[test]
fn unreachable_upstream_gives_503_that_response_hooks_see() {
    let wasm = write_wat("headers", &header_plugin());
    let gw = Gateway::start(config(
        vec![route("main", "/", "backend", &["headers"])],
        vec![cluster("backend", &closed_port_addr())],
        vec![plugin_config("headers", wasm)],
    ))
    .unwrap();
    let resp = http_get(&format!("{}/", gw.url())).unwrap();
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("x-saw"), Some("503"));
    assert!(resp.text().contains("upstream connect error"), "{}", resp.text());
}

/// On request headers: HTTP call to `cluster` (`/side`), pause; on its response, copy the
/// body into request header `x-side` and resume. A failed dispatch replies 200 + code.
fn http_call_plugin(cluster: &str) -> String {
    let headers = encode_pairs(&[
        (b":method".to_vec(), b"GET".to_vec()),
        (b":path".to_vec(), b"/side".to_vec()),
        (b":authority".to_vec(), b"backend".to_vec()),
    ]);
    plugin(&format!(
        r#"
  {} {} {}
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (local $rc i32)
    ;; The response arrives on the root context (proxy-wasm-cpp-host: HTTP calls belong to
    ;; the root): remember which stream to resume, as every SDK does.
    (i32.store (i32.const 600) (local.get $ctx))
    (local.set $rc (call $http_call (i32.const 300) (i32.const {}) (i32.const 1024) (i32.const {})
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 520)))
    (if (local.get $rc) (then (call $reply (i32.add (i32.const 200) (local.get $rc)) (i32.const 0) (i32.const 0))))
    (i32.const 1))
  (func (export "proxy_on_http_call_response") (param $ctx i32) (param $token i32) (param $nh i32) (param $len i32) (param $nt i32)
    (drop (call $set_ctx (i32.load (i32.const 600))))
    (drop (call $get_buffer (i32.const 4) (i32.const 0) (local.get $len) (i32.const 512) (i32.const 516)))
    (drop (call $add_header (i32.const 0) (i32.const 400) (i32.const 6) (i32.load (i32.const 512)) (i32.load (i32.const 516))))
    (drop (call $continue (i32.const 0))))
"#,
        data(300, cluster.as_bytes()),
        data(1024, &headers),
        data(400, b"x-side"),
        cluster.len(),
        headers.len(),
    ))
}

#[test]
fn http_call_pauses_the_request_until_its_response_resumes_it() {
    let upstream = TestUpstream::start(|req| {
        if req.path == "/side" { TestResponse::new(200, "side-ok") } else { TestResponse::new(200, "main") }
    })
    .unwrap();
    let wasm = write_wat("call", &http_call_plugin("backend"));
    let gw = one_plugin_gateway("call", wasm, &upstream);
    let resp = http_get(&format!("{}/main", gw.url())).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "main");
    let seen = upstream.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/side");
    assert_eq!(seen[1].path, "/main");
    assert_eq!(seen[1].header("x-side"), Some("side-ok"));
}

#[test]
fn http_call_to_an_unknown_cluster_is_a_bad_argument() {
    let upstream = TestUpstream::echo().unwrap();
    let wasm = write_wat("call", &http_call_plugin("no-such-cluster"));
    let gw = one_plugin_gateway("call", wasm, &upstream);
    let resp = http_get(&format!("{}/", gw.url())).unwrap();
    assert_eq!(resp.status, 202, "BadArgument (2) from proxy_http_call");
    assert!(upstream.requests().is_empty());
}

#[test]
fn request_body_is_buffered_when_asked_and_can_be_extended() {
    let upstream = TestUpstream::echo().unwrap();
    let wasm = write_wat(
        "body",
        &plugin(&format!(
            r#"
  {} {}
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $remove_header (i32.const 0) (i32.const 100) (i32.const 14)))
    (i32.const 0))
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $set_buffer (i32.const 0) (local.get $size) (i32.const 0) (i32.const 120) (i32.const 1)))
    (i32.const 0))
"#,
            data(100, b"content-length"),
            data(120, b"!"),
        )),
    );
    let gw = one_plugin_gateway("body", wasm, &upstream);
    let resp = http_request("POST", &format!("{}/echo", gw.url()), &[], b"hello").unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello!");
    assert_eq!(upstream.requests()[0].body, b"hello!");
}

#[test]
fn response_body_flows_chunk_by_chunk_through_the_body_hook() {
    let upstream = TestUpstream::start(|_| {
        TestResponse::chunked(200, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()], Duration::from_millis(30))
    })
    .unwrap();
    let wasm = write_wat(
        "chunks",
        &plugin(&format!(
            r#"
  {}
  (global $metric (mut i32) (i32.const 0))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $define_metric (i32.const 0) (i32.const 100) (i32.const 6) (i32.const 512)))
    (global.set $metric (i32.load (i32.const 512)))
    (i32.const 1))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32)
    (drop (call $inc_metric (global.get $metric) (i64.const 1)))
    (i32.const 0))
"#,
            data(100, b"chunks"),
        )),
    );
    let gw = one_plugin_gateway("chunks", wasm, &upstream);
    let resp = http_get(&format!("{}/", gw.url())).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "abc");
    let calls = gw.metrics().into_iter().find(|m| m.name == "chunks").map(|m| m.value).unwrap_or(0);
    assert!(calls >= 3, "one body hook call per chunk, got {calls}");
}

#[test]
fn local_reply_from_a_response_hook_replaces_the_upstream_response() {
    let upstream = TestUpstream::echo().unwrap();
    let wasm = write_wat(
        "teapot",
        &plugin(&format!(
            r#"
  {}
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (call $reply (i32.const 418) (i32.const 100) (i32.const 6))
    (i32.const 1))
"#,
            data(100, b"teapot"),
        )),
    );
    let gw = one_plugin_gateway("teapot", wasm, &upstream);
    let resp = http_get(&format!("{}/", gw.url())).unwrap();
    assert_eq!(resp.status, 418);
    assert_eq!(resp.text(), "teapot");
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn local_reply_from_a_request_hook_skips_the_upstream_and_earlier_filters_see_it() {
    let upstream = TestUpstream::echo().unwrap();
    let deny = write_wat(
        "deny",
        &plugin(&format!(
            r#"
  {}
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $reply (i32.const 403) (i32.const 100) (i32.const 6))
    (i32.const 1))
"#,
            data(100, b"denied"),
        )),
    );
    let headers = write_wat("headers", &header_plugin());
    let gw = Gateway::start(config(
        vec![route("main", "/", "backend", &["headers", "deny"])],
        vec![cluster("backend", &upstream.addr())],
        vec![plugin_config("headers", headers), plugin_config("deny", deny)],
    ))
    .unwrap();
    let resp = http_get(&format!("{}/", gw.url())).unwrap();
    assert_eq!(resp.status, 403);
    assert_eq!(resp.text(), "denied");
    assert_eq!(resp.header("x-saw"), Some("403"), "the first filter's response hook ran");
    assert!(upstream.requests().is_empty());
}

#[test]
fn routes_match_by_prefix_and_unmatched_paths_get_404() {
    let upstream = TestUpstream::echo().unwrap();
    let mut c = config(vec![route("api", "/api", "backend", &[])], vec![cluster("backend", &upstream.addr())], vec![]);
    c.concurrency = 2;
    let gw = Gateway::start(c).unwrap();
    for _ in 0..4 {
        assert_eq!(http_get(&format!("{}/api/x", gw.url())).unwrap().status, 200);
    }
    assert_eq!(http_get(&format!("{}/other", gw.url())).unwrap().status, 404);
    assert_eq!(upstream.requests().len(), 4);
}

#[test]
fn the_admin_listener_reports_fuel_per_request() {
    let upstream = TestUpstream::echo().unwrap();
    let wasm = write_wat("headers", &header_plugin());
    let mut c = config(
        vec![route("main", "/", "backend", &["headers"])],
        vec![cluster("backend", &upstream.addr())],
        vec![plugin_config("headers", wasm)],
    );
    c.admin_address = Some("127.0.0.1:0".to_string());
    let gw = Gateway::start(c).unwrap();
    assert_eq!(http_get(&format!("{}/", gw.url())).unwrap().status, 200);
    let admin = gw.admin_addr().expect("admin listener bound");
    let stats = http_get(&format!("http://{admin}/stats")).unwrap();
    assert_eq!(stats.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&stats.body).unwrap();
    assert_eq!(v["requests_with_plugins"], 1);
    assert!(v["fuel_last"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn a_failed_http_call_calls_back_with_zero_headers() {
    let upstream = TestUpstream::echo().unwrap();
    let headers = encode_pairs(&[
        (b":method".to_vec(), b"GET".to_vec()),
        (b":path".to_vec(), b"/side".to_vec()),
        (b":authority".to_vec(), b"dead".to_vec()),
    ]);
    // The callback replies 200 + the number of response headers it was given.
    let wat = plugin(&format!(
        r#"
  {} {}
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (i32.store (i32.const 600) (local.get $ctx))
    (drop (call $http_call (i32.const 300) (i32.const 4) (i32.const 1024) (i32.const {})
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 520)))
    (i32.const 1))
  (func (export "proxy_on_http_call_response") (param $ctx i32) (param $token i32) (param $nh i32) (param $len i32) (param $nt i32)
    (drop (call $set_ctx (i32.load (i32.const 600))))
    (call $reply (i32.add (i32.const 200) (local.get $nh)) (i32.const 0) (i32.const 0)))
"#,
        data(300, b"dead"),
        data(1024, &headers),
        headers.len(),
    ));
    let wasm = write_wat("dead-call", &wat);
    let gw = Gateway::start(config(
        vec![route("main", "/", "backend", &["call"])],
        vec![cluster("backend", &upstream.addr()), cluster("dead", &closed_port_addr())],
        vec![plugin_config("call", wasm)],
    ))
    .unwrap();
    let resp = http_get(&format!("{}/", gw.url())).unwrap();
    assert_eq!(resp.status, 200, "the callback ran with 0 headers");
    assert!(upstream.requests().is_empty());
}

/// Reads one HTTP/1.1 response with a `content-length` body from `reader`; returns the head.
fn read_response(reader: &mut impl std::io::BufRead) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "connection closed after: {head}");
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no content-length in {head}"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    head
}

#[test]
fn keep_alive_connections_carry_several_requests_each_through_the_filters() {
    use std::io::Write;
    let upstream = TestUpstream::echo().unwrap();
    let wasm = write_wat("headers", &header_plugin());
    let gw = one_plugin_gateway("headers", wasm, &upstream);
    let conn = std::net::TcpStream::connect(gw.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    for i in 0..3 {
        write!(writer, "GET /k{i} HTTP/1.1\r\nhost: example.com\r\n\r\n").unwrap();
        let head = read_response(&mut reader);
        assert!(head.starts_with("HTTP/1.1 200"), "request {i} on the same connection: {head}");
        assert!(head.to_ascii_lowercase().contains("x-wat-resp: 1"), "the filter ran for request {i}: {head}");
    }
    let paths: Vec<String> = upstream.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/k0", "/k1", "/k2"]);
}
