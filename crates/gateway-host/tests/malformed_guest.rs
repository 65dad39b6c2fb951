//! Malformed guest behaviour fails only the request or the VM, with a logged error, while the
//! host keeps serving: out-of-bounds pointers, traps, huge allocations, runaway loops, and
//! modules that import something the host lacks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use gateway_host::Gateway;
use gateway_host::testing::{TestUpstream, http_get};

/// A gateway with route `/bad` through `plugin_wat` and route `/ok` without plugins.
fn gateway_with(plugin_wat: &str, upstream: &TestUpstream) -> Gateway {
    let wasm = write_wat("bad", plugin_wat);
    Gateway::start(config(
        vec![route("bad", "/bad", "backend", &["bad"]), route("ok", "/ok", "backend", &[])],
        vec![cluster("backend", &upstream.addr())],
        vec![plugin_config("bad", wasm)],
    ))
    .unwrap()
}

fn assert_keeps_serving(gw: &Gateway) {
    let ok = http_get(&format!("{}/ok", gw.url())).unwrap();
    assert_eq!(ok.status, 200, "the host still serves other routes");
}

#[test]
fn out_of_bounds_pointers_return_invalid_memory_access() {
    let upstream = TestUpstream::echo().unwrap();
    // proxy_log with a message past the end of memory; then a header read whose out-pointers
    // are past the end. Replies 200 + first code, header `x-rc2` = 0x30 + second code.
    let wat = plugin(&format!(
        r#"
  {} {}
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $rc i32) (local $rc2 i32)
    (local.set $rc (call $log (i32.const 2) (i32.const -16) (i32.const 100)))
    (local.set $rc2 (call $get_header (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 2000000) (i32.const 2000004)))
    (i32.store8 (i32.const 120) (i32.add (i32.const 48) (local.get $rc2)))
    (drop (call $local (i32.add (i32.const 200) (local.get $rc)) (i32.const 0) (i32.const 0)
      (i32.const 120) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const -1)))
    (i32.const 1))
"#,
        data(100, b":path"),
        data(120, b"?"),
    ));
    let gw = gateway_with(&wat, &upstream);
    let resp = http_get(&format!("{}/bad", gw.url())).unwrap();
    assert_eq!(resp.status, 206, "InvalidMemoryAccess (6) from proxy_log");
    assert_eq!(resp.text(), "6", "InvalidMemoryAccess (6) for out-of-bounds return pointers");
    assert_keeps_serving(&gw);
}

#[test]
fn a_trap_fails_the_request_with_503_and_the_vm_is_recreated() {
    let upstream = TestUpstream::echo().unwrap();
    let wat = plugin(
        r#"
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    unreachable)
"#,
    );
    let gw = gateway_with(&wat, &upstream);
    for _ in 0..2 {
        let resp = http_get(&format!("{}/bad", gw.url())).unwrap();
        assert_eq!(resp.status, 503, "Envoy answers a failed VM with 503");
    }
    assert_keeps_serving(&gw);
    assert!(gw.logs().iter().any(|l| l.message.contains("wasm trap")), "the trap is logged: {:?}", gw.logs());
    assert!(upstream.requests().iter().all(|r| r.path == "/ok"));
}

#[test]
fn a_huge_allocation_fails_the_request_not_the_host() {
    let upstream = TestUpstream::echo().unwrap();
    // Ask for ~4 GiB more memory; memory.grow fails (-1) under the VM's limit and the guest
    // aborts the way a Rust allocator does.
    let wat = plugin(
        r#"
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (i32.eq (memory.grow (i32.const 65000)) (i32.const -1)) (then unreachable))
    (i32.const 0))
"#,
    );
    let gw = gateway_with(&wat, &upstream);
    let resp = http_get(&format!("{}/bad", gw.url())).unwrap();
    assert_eq!(resp.status, 503, "Envoy answers a failed VM with 503");
    assert_keeps_serving(&gw);
}

#[test]
fn a_runaway_loop_runs_out_of_fuel_and_fails_the_request() {
    let upstream = TestUpstream::echo().unwrap();
    let wat = plugin(
        r#"
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0))
"#,
    );
    let wasm = write_wat("loop", &wat);
    let mut c = config(
        vec![route("bad", "/bad", "backend", &["bad"]), route("ok", "/ok", "backend", &[])],
        vec![cluster("backend", &upstream.addr())],
        vec![plugin_config("bad", wasm)],
    );
    c.fuel_per_call = 5_000_000;
    let gw = Gateway::start(c).unwrap();
    let resp = http_get(&format!("{}/bad", gw.url())).unwrap();
    assert_eq!(resp.status, 503, "Envoy answers a failed VM with 503");
    assert_keeps_serving(&gw);
}

#[test]
fn a_module_importing_an_unknown_host_function_fails_to_load_naming_it() {
    let wat = r#"(module
  (import "env" "proxy_does_not_exist" (func (param i32)))
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1")))"#;
    let wasm = write_wat("unknown-import", wat);
    let err = Gateway::start(config(vec![], vec![], vec![plugin_config("odd", wasm)])).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("proxy_does_not_exist"), "{msg}");
    assert!(msg.contains("odd"), "names the plugin: {msg}");
}

#[test]
fn a_module_without_a_proxy_wasm_abi_version_is_rejected() {
    let wasm = write_wat("no-abi", r#"(module (memory (export "memory") 1))"#);
    let err = Gateway::start(config(vec![], vec![], vec![plugin_config("noabi", wasm)])).unwrap_err();
    assert!(format!("{err:#}").contains("ABI version"), "{err:#}");
}

#[test]
fn abi_0_2_100_modules_and_rejected_configurations() {
    // Higress's Go SDK exports 0_2_100: accepted. A configure that returns false stops start-up
    // with the plugin's own logged reason.
    let wat = format!(
        r#"(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  {}
  (func (export "proxy_abi_version_0_2_100"))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $log (i32.const 4) (i32.const 100) (i32.const 21)))
    (i32.const 0)))"#,
        data(100, b"bad field: ttl_seconds")
    );
    let wasm = write_wat("reject", &wat);
    let err = Gateway::start(config(vec![], vec![], vec![plugin_config("rej", wasm)])).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("bad field: ttl_second"), "{msg}");
}

#[test]
fn a_trap_also_fails_streams_paused_on_the_same_vm() {
    // The side call answers slowly (second chunk after 5 s), so the first request stays paused
    // until the trap of the second request fails the VM.
    let upstream = gateway_host::testing::TestUpstream::start(|req| {
        if req.path == "/side" {
            gateway_host::testing::TestResponse::chunked(
                200,
                vec![b"a".to_vec(), b"b".to_vec()],
                std::time::Duration::from_secs(5),
            )
        } else {
            gateway_host::testing::TestResponse::new(200, "main")
        }
    })
    .unwrap();
    let headers = gateway_host::testing::encode_pairs(&[
        (b":method".to_vec(), b"GET".to_vec()),
        (b":path".to_vec(), b"/side".to_vec()),
        (b":authority".to_vec(), b"backend".to_vec()),
    ]);
    let wat = plugin(&format!(
        r#"
  {} {} {}
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (if (i32.eqz (call $get_header (i32.const 0) (i32.const 100) (i32.const 6) (i32.const 512) (i32.const 516)))
      (then unreachable))
    (drop (call $http_call (i32.const 300) (i32.const 7) (i32.const 1024) (i32.const {})
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 30000) (i32.const 520)))
    (i32.const 1))
"#,
        data(100, b"x-trap"),
        data(300, b"backend"),
        data(1024, &headers),
        headers.len(),
    ));
    let gw = gateway_with(&wat, &upstream);
    let url = format!("{}/bad", gw.url());
    let started = std::time::Instant::now();
    let paused = std::thread::spawn(move || http_get(&url).unwrap());
    let side_sent = gateway_host::testing::wait_for(std::time::Duration::from_secs(10), || {
        upstream.requests().iter().any(|r| r.path == "/side").then_some(())
    });
    assert!(side_sent.is_some());
    let trapped =
        gateway_host::testing::http_request("GET", &format!("{}/bad", gw.url()), &[("x-trap", "1")], b"").unwrap();
    assert_eq!(trapped.status, 503);
    let first = paused.join().unwrap();
    assert_eq!(first.status, 503, "the paused stream is failed too");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "before the side call could answer");
    assert_keeps_serving(&gw);
}
