//! Higress's Redis host calls against a real `redis-server`: tokens, root context id, buffer 9
//! only during the callback, unknown cluster (2), unreachable host (10), AUTH, `?db=`, the op
//! timeout failing pending calls with status 1, reconnecting after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use gateway_host::Gateway;
use gateway_host::testing::{HttpResponse, RedisServer, RedisValue, TestUpstream, http_get};

const CLUSTER: &str = "outbound|6379||redis.static";

struct Init<'a> {
    service: &'a str,
    user: &'a str,
    pass: &'a str,
    timeout_ms: u32,
}

/// Inits Redis at configure; on each request checks buffer 9 is unreadable (else 299), sends
/// `query` (a failed call replies 200 + code) and pauses; the callback replies 200 with body
/// `token u32 | status u32 | root id u32 | raw reply`.
fn redis_plugin(init: &Init<'_>, call_service: &str, query: &[u8]) -> String {
    plugin(&format!(
        r#"
  {} {} {} {} {}
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $redis_init (i32.const 1024) (i32.const {}) (i32.const 3072) (i32.const {})
      (i32.const 3328) (i32.const {}) (i32.const {})))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (local $rc i32)
    (if (i32.ne (call $get_buffer (i32.const 9) (i32.const 0) (i32.const 100) (i32.const 512) (i32.const 516)) (i32.const 1))
      (then (call $reply (i32.const 299) (i32.const 0) (i32.const 0)) (return (i32.const 1))))
    (local.set $rc (call $redis_call (i32.const 1280) (i32.const {}) (i32.const 2048) (i32.const {}) (i32.const 520)))
    (if (local.get $rc) (then
      (call $reply (i32.add (i32.const 200) (local.get $rc)) (i32.const 0) (i32.const 0))
      (return (i32.const 1))))
    (i32.store (i32.add (i32.const 32768) (i32.mul (i32.load (i32.const 520)) (i32.const 4))) (local.get $ctx))
    (i32.const 1))
  (func (export "proxy_on_redis_call_response") (param $root i32) (param $token i32) (param $status i32) (param $size i32)
    (local $ctx i32)
    (local.set $ctx (i32.load (i32.add (i32.const 32768) (i32.mul (local.get $token) (i32.const 4)))))
    (i32.store (i32.const 8192) (local.get $token))
    (i32.store (i32.const 8196) (local.get $status))
    (i32.store (i32.const 8200) (local.get $root))
    (if (local.get $size) (then
      (drop (call $get_buffer (i32.const 9) (i32.const 0) (local.get $size) (i32.const 512) (i32.const 516)))
      (memory.copy (i32.const 8204) (i32.load (i32.const 512)) (i32.load (i32.const 516)))))
    (if (i32.eqz (call $set_ctx (local.get $ctx))) (then
      (call $reply (i32.const 200) (i32.const 8192) (i32.add (i32.const 12) (local.get $size))))))
"#,
        data(1024, init.service.as_bytes()),
        data(1280, call_service.as_bytes()),
        data(2048, query),
        data(3072, init.user.as_bytes()),
        data(3328, init.pass.as_bytes()),
        init.service.len(),
        init.user.len(),
        init.pass.len(),
        init.timeout_ms,
        call_service.len(),
        query.len(),
    ))
}

fn resp_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

struct Reply {
    token: u32,
    status: u32,
    root: u32,
    raw: String,
}

fn decode(resp: &HttpResponse) -> Reply {
    assert_eq!(resp.status, 200, "callback reply expected, got {} {}", resp.status, resp.text());
    let b = &resp.body;
    let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Reply { token: u(0), status: u(4), root: u(8), raw: String::from_utf8_lossy(&b[12..]).to_string() }
}

fn start(wat: String, redis_endpoint: &str, upstream: &TestUpstream) -> Gateway {
    let wasm = write_wat("redis", &wat);
    Gateway::start(config(
        vec![route("main", "/", "backend", &["redis"])],
        vec![cluster("backend", &upstream.addr()), cluster(CLUSTER, redis_endpoint)],
        vec![plugin_config("redis", wasm)],
    ))
    .unwrap()
}

fn init(timeout_ms: u32) -> Init<'static> {
    Init { service: CLUSTER, user: "", pass: "", timeout_ms }
}

#[test]
fn calls_get_tokens_3_mod_4_and_replies_reach_the_root_context_during_the_callback() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let gw = start(redis_plugin(&init(1000), CLUSTER, &resp_command(&["INCR", "hits"])), &redis.addr(), &upstream);
    let first = decode(&http_get(&format!("{}/", gw.url())).unwrap());
    let second = decode(&http_get(&format!("{}/", gw.url())).unwrap());
    assert_eq!((first.token, second.token), (7, 11));
    assert_eq!((first.status, second.status), (0, 0));
    assert_eq!(first.root, 1, "the callback names the root context");
    assert_eq!(first.raw, ":1\r\n");
    assert_eq!(second.raw, ":2\r\n");
    assert_eq!(redis.get_int("hits").unwrap(), Some(2));
}

#[test]
fn error_replies_arrive_with_status_0() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let gw = start(redis_plugin(&init(1000), CLUSTER, &resp_command(&["NOSUCHCOMMAND"])), &redis.addr(), &upstream);
    let r = decode(&http_get(&format!("{}/", gw.url())).unwrap());
    assert_eq!(r.status, 0);
    assert!(r.raw.starts_with("-ERR"), "{}", r.raw);
}

#[test]
fn an_unknown_cluster_returns_bad_argument() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let gw = start(
        redis_plugin(&init(1000), "outbound|6379||nope.static", &resp_command(&["PING"])),
        &redis.addr(),
        &upstream,
    );
    let resp = http_get(&format!("{}/", gw.url())).unwrap();
    assert_eq!(resp.status, 202);
    assert!(
        gw.logs().iter().any(|l| l.message.contains("outbound|6379||nope.static")),
        "the cluster name tried is logged"
    );
}

#[test]
fn an_unreachable_host_returns_internal_failure() {
    let upstream = TestUpstream::echo().unwrap();
    let gw = start(redis_plugin(&init(1000), CLUSTER, &resp_command(&["PING"])), &closed_port_addr(), &upstream);
    let resp = http_get(&format!("{}/", gw.url())).unwrap();
    assert_eq!(resp.status, 210);
}

#[test]
fn the_op_timeout_closes_the_connection_and_fails_the_call_with_status_1() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let gw =
        start(redis_plugin(&init(300), CLUSTER, &resp_command(&["BLPOP", "never", "20"])), &redis.addr(), &upstream);
    let started = Instant::now();
    let r = decode(&http_get(&format!("{}/", gw.url())).unwrap());
    assert_eq!((r.status, r.raw.as_str()), (1, ""), "a timeout arrives as status 1, size 0");
    assert!(started.elapsed() < Duration::from_secs(10), "within the op timeout (with slack)");
    // The connection was closed: the blocked client is gone from the server soon.
    let gone =
        gateway_host::testing::wait_for(Duration::from_secs(10), || match redis.command(&["CLIENT", "LIST"]).ok()? {
            RedisValue::Bulk(list) if !list.contains("cmd=blpop") => Some(()),
            _ => None,
        });
    assert!(gone.is_some(), "the timed-out connection is closed");
}

#[test]
fn auth_with_a_password_is_sent_on_connect() {
    let redis = RedisServer::start_with_password("s3cret").unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let with = Init { pass: "s3cret", ..init(1000) };
    let gw = start(redis_plugin(&with, CLUSTER, &resp_command(&["PING"])), &redis.addr(), &upstream);
    assert_eq!(decode(&http_get(&format!("{}/", gw.url())).unwrap()).raw, "+PONG\r\n");
    drop(gw);
    let gw = start(redis_plugin(&init(1000), CLUSTER, &resp_command(&["PING"])), &redis.addr(), &upstream);
    let raw = decode(&http_get(&format!("{}/", gw.url())).unwrap()).raw;
    assert!(raw.starts_with("-NOAUTH"), "{raw}");
    drop(gw);
    let acl = Init { user: "default", pass: "s3cret", ..init(1000) };
    let gw = start(redis_plugin(&acl, CLUSTER, &resp_command(&["PING"])), &redis.addr(), &upstream);
    assert_eq!(decode(&http_get(&format!("{}/", gw.url())).unwrap()).raw, "+PONG\r\n");
}

#[test]
fn db_parameter_selects_the_database_on_connect() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let service = format!("{CLUSTER}?db=3");
    let with_db = Init { service: &service, ..init(1000) };
    let gw =
        start(redis_plugin(&with_db, &service, &resp_command(&["SET", "dbkey", "here"])), &redis.addr(), &upstream);
    assert_eq!(decode(&http_get(&format!("{}/", gw.url())).unwrap()).raw, "+OK\r\n");
    assert_eq!(redis.command(&["GET", "dbkey"]).unwrap(), RedisValue::Nil, "not in db 0");
    let keys = redis.command(&["INFO", "keyspace"]).unwrap();
    match keys {
        RedisValue::Bulk(info) => assert!(info.contains("db3:keys=1"), "{info}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn calls_fail_with_status_1_or_10_while_redis_is_down_and_work_after_a_restart() {
    let mut redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let gw = start(redis_plugin(&init(500), CLUSTER, &resp_command(&["INCR", "n"])), &redis.addr(), &upstream);
    assert_eq!(decode(&http_get(&format!("{}/", gw.url())).unwrap()).raw, ":1\r\n");
    redis.stop();
    let down = http_get(&format!("{}/", gw.url())).unwrap();
    // Either the send fails at once (10) or the broken connection fails the call (status 1).
    let failed_fast = down.status == 210 || (down.status == 200 && decode(&down).status == 1);
    assert!(failed_fast, "{} {:?}", down.status, down.body);
    redis.restart().unwrap();
    let back = gateway_host::testing::wait_for(Duration::from_secs(10), || {
        let r = http_get(&format!("{}/", gw.url())).ok()?;
        (r.status == 200 && decode(&r).status == 0).then(|| decode(&r).raw)
    });
    assert_eq!(back.as_deref(), Some(":1\r\n"), "a fresh server counts from 1");
}

#[test]
fn a_stream_that_ends_while_a_call_is_pending_is_deleted_and_the_late_reply_still_arrives() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    // The call blocks for 2 s in Redis; the client hangs up long before. on_delete counts
    // "deleted"; the callback counts "late" when the stream's context is already gone
    // (proxy_set_effective_context refuses it).
    let query = resp_command(&["BLPOP", "nothing-here", "2"]);
    let wat = plugin(&format!(
        r#"
  {} {} {} {}
  (global $deleted (mut i32) (i32.const 0))
  (global $late (mut i32) (i32.const 0))
  (global $ctx (mut i32) (i32.const 0))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $define_metric (i32.const 0) (i32.const 3000) (i32.const 7) (i32.const 512)))
    (global.set $deleted (i32.load (i32.const 512)))
    (drop (call $define_metric (i32.const 0) (i32.const 3100) (i32.const 4) (i32.const 512)))
    (global.set $late (i32.load (i32.const 512)))
    (drop (call $redis_init (i32.const 1024) (i32.const {}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000)))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (global.set $ctx (local.get $ctx))
    (drop (call $redis_call (i32.const 1024) (i32.const {}) (i32.const 2048) (i32.const {}) (i32.const 520)))
    (i32.const 1))
  (func (export "proxy_on_delete") (param i32)
    (drop (call $inc_metric (global.get $deleted) (i64.const 1))))
  (func (export "proxy_on_redis_call_response") (param i32 i32 i32 i32)
    (if (i32.ne (call $set_ctx (global.get $ctx)) (i32.const 0))
      (then (drop (call $inc_metric (global.get $late) (i64.const 1))))))
"#,
        data(1024, CLUSTER.as_bytes()),
        data(2048, &query),
        data(3000, b"deleted"),
        data(3100, b"late"),
        CLUSTER.len(),
        CLUSTER.len(),
        query.len(),
    ));
    let gw = start(wat, &redis.addr(), &upstream);
    {
        use std::io::Write;
        let mut conn = std::net::TcpStream::connect(gw.addr()).unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        // Hang up once the call is in Redis.
        let blocked = gateway_host::testing::wait_for(Duration::from_secs(10), || {
            match redis.command(&["CLIENT", "LIST"]).ok()? {
                RedisValue::Bulk(list) if list.contains("cmd=blpop") => Some(()),
                _ => None,
            }
        });
        assert!(blocked.is_some());
    }
    let metric = |name: &str| gw.metrics().into_iter().find(|m| m.name == name).map_or(0, |m| m.value);
    let deleted = gateway_host::testing::wait_for(Duration::from_secs(10), || (metric("deleted") == 1).then_some(()));
    assert!(deleted.is_some(), "the ended stream's context is deleted");
    let late = gateway_host::testing::wait_for(Duration::from_secs(10), || (metric("late") == 1).then_some(()));
    assert!(late.is_some(), "the reply still reaches the root context after the stream ended");
    assert!(upstream.requests().is_empty());
}

#[test]
fn a_second_init_with_another_config_tears_the_old_connection_down() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    // Each request first re-inits the cluster, alternating `?db=1` and `?db=2`, then sends PING.
    let db1 = format!("{CLUSTER}?db=1");
    let db2 = format!("{CLUSTER}?db=2");
    let wat = redis_plugin(&init(1000), CLUSTER, &resp_command(&["PING"])).replacen(
        "    (local $rc i32)\n",
        &format!(
            "    (local $rc i32)\n    (global.set $n (i32.add (global.get $n) (i32.const 1)))\n    \
             (drop (call $redis_init (select (i32.const 4096) (i32.const 4352) (i32.and (global.get $n) (i32.const 1))) \
             (i32.const {}) (i32.const 3072) (i32.const 0) (i32.const 3328) (i32.const 0) (i32.const 1000)))\n",
            db1.len()
        ),
        1,
    );
    // Extra module fields: a request counter and the two service strings.
    let wat = format!(
        "{}\n  (global $n (mut i32) (i32.const 0)) {} {}\n)",
        wat.trim_end().strip_suffix(')').unwrap(),
        data(4096, db1.as_bytes()),
        data(4352, db2.as_bytes())
    );
    let gw = start(wat, &redis.addr(), &upstream);
    let gateway_connections = || match redis.command(&["CLIENT", "LIST"]).unwrap() {
        RedisValue::Bulk(list) => {
            list.lines().filter(|l| !l.contains("cmd=client|list") && !l.contains("cmd=client ")).count()
        }
        other => panic!("{other:?}"),
    };
    for i in 0..4 {
        let r = decode(&http_get(&format!("{}/", gw.url())).unwrap());
        assert_eq!((r.status, r.raw.as_str()), (0, "+PONG\r\n"), "request {i}");
        let n = gateway_host::testing::wait_for(Duration::from_secs(5), || (gateway_connections() == 1).then_some(1));
        assert_eq!(n, Some(1), "request {i}: one connection, the old one was closed ({} open)", gateway_connections());
    }
}
