//! The rest of the proxy-wasm surface with WAT plugins: ticks, shared data with CAS, shared
//! queues with `proxy_on_queue_ready`, foreign functions (NotFound), log level and time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use gateway_host::Gateway;
use gateway_host::testing::{TestUpstream, http_get, wait_for};

fn metric(gw: &Gateway, name: &str) -> i64 {
    gw.metrics().into_iter().find(|m| m.name == name).map_or(0, |m| m.value)
}

/// Each request replies with a body of result codes (one ASCII digit offset from '0' each):
/// set_shared "k"="v" (0), set with a stale CAS (8), get "k" (0), foreign function (1),
/// dequeue before enqueue (7), enqueue (0); then the value read, the log level byte ('1' =
/// debug) and whether the clock is after 2020 ('1').
fn misc_plugin() -> String {
    let body = format!(
        r#"
  {} {} {} {} {}
  (global $ticks (mut i32) (i32.const 0))
  (global $ready (mut i32) (i32.const 0))
  (global $queue (mut i32) (i32.const 0))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $define_metric (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 512)))
    (global.set $ticks (i32.load (i32.const 512)))
    (drop (call $define_metric (i32.const 0) (i32.const 110) (i32.const 5) (i32.const 512)))
    (global.set $ready (i32.load (i32.const 512)))
    (drop (call $register_queue (i32.const 120) (i32.const 1) (i32.const 512)))
    (global.set $queue (i32.load (i32.const 512)))
    (drop (call $set_tick (i32.const 20)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (drop (call $inc_metric (global.get $ticks) (i64.const 1))))
  (func (export "proxy_on_queue_ready") (param i32 i32)
    (if (i32.eqz (call $dequeue (local.get 1) (i32.const 512) (i32.const 516)))
      (then (drop (call $inc_metric (global.get $ready) (i64.const 1))))))
  (func $digit (param $at i32) (param $rc i32)
    (i32.store8 (local.get $at) (i32.add (i32.const 48) (local.get $rc))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $digit (i32.const 8192) (call $set_shared (i32.const 130) (i32.const 1) (i32.const 140) (i32.const 1) (i32.const 0)))
    (call $digit (i32.const 8193) (call $set_shared (i32.const 130) (i32.const 1) (i32.const 140) (i32.const 1) (i32.const 12345)))
    (call $digit (i32.const 8194) (call $get_shared (i32.const 130) (i32.const 1) (i32.const 512) (i32.const 516) (i32.const 524)))
    (i32.store8 (i32.const 8198) (i32.load8_u (i32.load (i32.const 512))))
    (call $digit (i32.const 8195) (call $foreign (i32.const 150) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 600) (i32.const 604)))
    (call $digit (i32.const 8196) (call $dequeue (global.get $queue) (i32.const 600) (i32.const 604)))
    (call $digit (i32.const 8197) (call $enqueue (global.get $queue) (i32.const 140) (i32.const 1)))
    (drop (call $log_level (i32.const 608)))
    (call $digit (i32.const 8199) (i32.load (i32.const 608)))
    (drop (call $now (i32.const 616)))
    (call $digit (i32.const 8200) (i64.gt_u (i64.load (i32.const 616)) (i64.const 1577836800000000000)))
    (call $reply (i32.const 200) (i32.const 8192) (i32.const 9))
    (i32.const 1))
"#,
        data(100, b"ticks"),
        data(110, b"ready"),
        data(120, b"q"),
        data(130, b"k"),
        data(140, b"v"),
    ) + &data(150, b"nope");
    module(&body, &["proxy_on_context_create", "proxy_on_vm_start"])
}

#[test]
fn ticks_shared_data_queues_foreign_functions_log_level_and_time() {
    let upstream = TestUpstream::echo().unwrap();
    let wasm = write_wat("misc", &misc_plugin());
    let gw = one_plugin_gateway("misc", wasm, &upstream);
    let resp = http_get(&format!("{}/", gw.url())).unwrap();
    assert_eq!(resp.status, 200);
    // set ok, stale CAS -> CasMismatch (8), get ok, foreign -> NotFound (1), empty queue ->
    // Empty (7), enqueue ok, the value "v", log level debug (1), clock after 2020.
    assert_eq!(resp.text(), "080170v11");
    let ticked = wait_for(Duration::from_secs(10), || (metric(&gw, "ticks") >= 3).then_some(()));
    assert!(ticked.is_some(), "proxy_on_tick runs at the set period");
    let woke = wait_for(Duration::from_secs(10), || (metric(&gw, "ready") == 1).then_some(()));
    assert!(woke.is_some(), "proxy_on_queue_ready ran for the enqueued item");
}

#[test]
fn grpc_calls_answer_unimplemented() {
    let upstream = TestUpstream::echo().unwrap();
    // Replies 400 + the code of proxy_grpc_call, body = '0' + the code of proxy_grpc_cancel.
    let wat = plugin(
        r#"
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $rc i32)
    (local.set $rc (call $grpc_call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 512)))
    (i32.store8 (i32.const 8192) (i32.add (i32.const 48) (call $grpc_cancel (i32.const 7))))
    (call $reply (i32.add (i32.const 400) (local.get $rc)) (i32.const 8192) (i32.const 1))
    (i32.const 1))
"#,
    );
    let gw = one_plugin_gateway("grpc", write_wat("grpc", &wat), &upstream);
    let resp = http_get(&format!("{}/", gw.url())).unwrap();
    assert_eq!(resp.status, 412, "Unimplemented (12) from proxy_grpc_call");
    assert_eq!(resp.body, [b'0' + 12], "Unimplemented (12) from proxy_grpc_cancel");
}

#[test]
fn properties_set_by_a_filter_metrics_read_back_and_closing_a_stream() {
    let upstream = TestUpstream::echo().unwrap();
    // With header `x-close`: proxy_close_stream(request) and pause; the client gets no response.
    // Otherwise: set property `my.prop` = "v1", read it back, define a gauge, record 7, add 5,
    // read it with proxy_get_metric; reply 200 with body = set code digit, the property, the
    // metric's value as a digit pair.
    let wat = plugin(&format!(
        r#"
  {} {} {}
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $len i32)
    (i32.store (i32.const 516) (i32.const 0))
    (drop (call $get_header (i32.const 0) (i32.const 100) (i32.const 7) (i32.const 512) (i32.const 516)))
    (if (i32.gt_u (i32.load (i32.const 516)) (i32.const 0)) (then
      (drop (call $close_stream (i32.const 0)))
      (return (i32.const 1))))
    (i32.store8 (i32.const 8192) (i32.add (i32.const 48)
      (call $set_property (i32.const 120) (i32.const 7) (i32.const 140) (i32.const 2))))
    (drop (call $get_property (i32.const 120) (i32.const 7) (i32.const 512) (i32.const 516)))
    (local.set $len (i32.load (i32.const 516)))
    (memory.copy (i32.const 8193) (i32.load (i32.const 512)) (local.get $len))
    (drop (call $define_metric (i32.const 1) (i32.const 160) (i32.const 5) (i32.const 600)))
    (drop (call $record_metric (i32.load (i32.const 600)) (i64.const 7)))
    (drop (call $inc_metric (i32.load (i32.const 600)) (i64.const 5)))
    (drop (call $get_metric (i32.load (i32.const 600)) (i32.const 608)))
    (i32.store8 (i32.add (i32.const 8193) (local.get $len))
      (i32.add (i32.const 48) (i32.div_u (i32.wrap_i64 (i64.load (i32.const 608))) (i32.const 10))))
    (i32.store8 (i32.add (i32.const 8194) (local.get $len))
      (i32.add (i32.const 48) (i32.rem_u (i32.wrap_i64 (i64.load (i32.const 608))) (i32.const 10))))
    (call $reply (i32.const 200) (i32.const 8192) (i32.add (i32.const 3) (local.get $len)))
    (i32.const 1))
"#,
        data(100, b"x-close"),
        data(120, b"my\0prop"),
        data(140, b"v1") + &data(160, b"gauge"),
    ));
    let gw = one_plugin_gateway("props", write_wat("props", &wat), &upstream);
    let resp = http_get(&format!("{}/", gw.url())).unwrap_or_else(|e| panic!("{e}: {:?}", gw.logs()));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "0v112", "set_property OK, `my.prop` reads back v1, the gauge is 7 + 5");
    let closed = gateway_host::testing::http_request("GET", &format!("{}/", gw.url()), &[("x-close", "1")], b"");
    assert!(closed.is_err(), "a closed stream sends no response: {:?}", closed.map(|r| r.status));
    let after = http_get(&format!("{}/", gw.url())).unwrap_or_else(|e| panic!("{e}: {:?}", gw.logs()));
    assert_eq!(after.status, 200, "and the host keeps serving");
    assert!(upstream.requests().is_empty(), "no request went upstream");
}
