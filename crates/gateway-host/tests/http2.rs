//! HTTP/2 (h2c with prior knowledge) on the same listener as HTTP/1.1, and bodies that end with
//! trailers as Envoy runs them: the body callback never sees end_of_stream, the trailers
//! callback runs with the buffered body readable, and the buffered body then goes on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use gateway_host::testing::{H2Request, TestUpstream, h2c_request, http_request};

/// Buffers the request body until its end; appends `!` when a body callback ends the stream and
/// `#` when the trailers callback does (reading the buffered body's size there).
fn trailer_plugin() -> String {
    plugin(&format!(
        r#"
  {} {} {}
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $remove_header (i32.const 0) (i32.const 100) (i32.const 14)))
    (i32.const 0))
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $set_buffer (i32.const 0) (local.get $size) (i32.const 0) (i32.const 120) (i32.const 1)))
    (i32.const 0))
  (func (export "proxy_on_request_trailers") (param $ctx i32) (param $n i32) (result i32)
    (drop (call $buffer_status (i32.const 0) (i32.const 512) (i32.const 516)))
    (drop (call $set_buffer (i32.const 0) (i32.load (i32.const 512)) (i32.const 0) (i32.const 130) (i32.const 1)))
    (i32.const 0))
"#,
        data(100, b"content-length"),
        data(120, b"!"),
        data(130, b"#"),
    ))
}

#[test]
fn http2_and_http1_share_the_listener() {
    let upstream = TestUpstream::echo().unwrap();
    let gw = one_plugin_gateway("t", write_wat("h2-any", &trailer_plugin()), &upstream);
    let h2 = h2c_request(&H2Request::new("GET", &format!("{}/echo", gw.url()))).unwrap();
    assert_eq!(h2.status, 200);
    let h1 = http_request("GET", &format!("{}/echo", gw.url()), &[], b"").unwrap();
    assert_eq!(h1.status, 200);
    assert_eq!(upstream.requests().len(), 2);
}

#[test]
fn a_body_that_ends_with_trailers_reaches_the_trailers_callback_not_a_last_body_callback() {
    let upstream = TestUpstream::echo().unwrap();
    let gw = one_plugin_gateway("t", write_wat("h2-trailers", &trailer_plugin()), &upstream);
    let request =
        H2Request::new("POST", &format!("{}/echo", gw.url())).data("hel").data("lo").trailer("x-checksum", "1");
    let response = h2c_request(&request).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(upstream.requests()[0].body, b"hello#", "the trailers callback saw the buffered body; no eos body call");
}

#[test]
fn a_body_that_ends_on_a_data_frame_gets_its_last_body_callback() {
    let upstream = TestUpstream::echo().unwrap();
    let gw = one_plugin_gateway("t", write_wat("h2-data", &trailer_plugin()), &upstream);
    let response = h2c_request(&H2Request::new("POST", &format!("{}/echo", gw.url())).data("hello")).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(upstream.requests()[0].body, b"hello!");
}

#[test]
fn a_request_that_ends_on_its_headers_gets_no_body_callback() {
    let upstream = TestUpstream::echo().unwrap();
    let gw = one_plugin_gateway("t", write_wat("h2-headers", &trailer_plugin()), &upstream);
    let response = h2c_request(&H2Request::new("POST", &format!("{}/echo", gw.url()))).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(upstream.requests()[0].body, b"", "like Envoy: headers with end_of_stream, no body callback");
}
