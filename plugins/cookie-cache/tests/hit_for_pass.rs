//! Hit-for-pass against the native TestHost: a lock holder whose response cannot be stored turns
//! its lock into a marker, and every request that finds the marker goes upstream at once instead
//! of queueing for the lock; a cacheable response clears it. Also: a response that sets cookies is
//! stored only for a request that carried the key's cookies.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cookie_cache::CookieCache;
use gateway_sdk::redis::Reply;
use gateway_sdk::testing::{Action, RedisCall, StreamId, TestHost};

fn config(stampede: &str, cache: &str) -> String {
    format!(
        r#"{{
        "redis": {{"service_name": "redis.static", "service_port": 6379, "timeout": 200}},
        "cache": {{
            "key": {{"cookies": ["sid"]}},
            "stampede": {{"lock_ms": 5000, "wait_ms": 1000{stampede}}}
            {cache}
        }}
    }}"#
    )
}

fn host(stampede: &str) -> TestHost<CookieCache> {
    TestHost::configure(&config(stampede, "")).unwrap_or_else(|e| panic!("{e}"))
}

fn get(h: &mut TestHost<CookieCache>, cookie: &str) -> StreamId {
    h.new_stream(&[(":method", "GET"), (":path", "/page"), (":authority", "shop.example.com"), ("cookie", cookie)])
}

fn one_call(h: &mut TestHost<CookieCache>) -> RedisCall {
    let mut calls = h.take_redis_calls();
    assert_eq!(calls.len(), 1, "{:?}", calls.iter().map(RedisCall::args).collect::<Vec<_>>());
    calls.remove(0)
}

/// The lookup script's reply: state 0 (someone else holds the lock), 1 (we do), 2 (hit-for-pass).
fn lookup_reply(state: i64) -> Reply {
    Reply::Array(vec![Reply::Nil, Reply::Int(state)])
}

/// A miss that takes the lock and gets `headers` from the upstream; returns the stream, the
/// lookup call and the response's `Cache-Status`.
fn locked_fetch(h: &mut TestHost<CookieCache>, headers: &[(&str, &str)]) -> (StreamId, RedisCall, String) {
    let s = get(h, "sid=alice");
    h.request_headers(s, true);
    let lookup = one_call(h);
    h.reply_redis(lookup.token, lookup_reply(1));
    assert_eq!(h.request_resumed(s), 1);
    h.response_headers(s, headers, false);
    (s, lookup, h.response_header(s, "cache-status").unwrap_or_default())
}

#[test]
fn an_uncacheable_fetch_turns_the_lock_into_a_hit_for_pass_marker() {
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[(":status", "200"), ("set-cookie", "sid=new")], "detail=set-cookie"),
        (&[(":status", "200"), ("cache-control", "no-store")], "detail=cache-control"),
        (&[(":status", "200"), ("cache-control", "private, max-age=60")], "detail=cache-control"),
        (&[(":status", "200"), ("vary", "origin")], "detail=vary"),
        (&[(":status", "206"), ("content-range", "bytes 0-1/9")], "detail=status"),
        (&[(":status", "500")], "detail=status"),
    ];
    for (headers, detail) in cases {
        let mut h = host("");
        let (s, lookup, status) = locked_fetch(&mut h, headers);
        assert!(status.ends_with(detail) && !status.contains("stored"), "{status}");
        let mark = one_call(&mut h);
        let args = mark.args();
        assert_eq!(args[0], "EVALSHA");
        assert_eq!(
            args[2..],
            ["1".to_string(), lookup.args()[4].clone(), lookup.args()[6].clone(), "30000".into()],
            "our lock becomes the marker for hit_for_pass_ms (default 30 s)"
        );
        h.reply_redis(mark.token, Reply::Int(1));
        h.response_body(s, b"body", true);
        h.end_stream(s);
        assert!(h.take_redis_calls().is_empty(), "no store, no release: the marker replaced the lock");
        assert_eq!(h.metric("cookie_cache.lock"), Some(1));
    }
}

#[test]
fn a_body_over_the_size_limit_marks_the_key_too() {
    let mut h = TestHost::<CookieCache>::configure(&config("", r#", "max_body_bytes": 8"#)).unwrap();
    let (s, lookup, _) = locked_fetch(&mut h, &[(":status", "200")]);
    h.response_body(s, b"0123456789", false);
    let mark = one_call(&mut h);
    assert_eq!(mark.args()[3..], [lookup.args()[4].clone(), lookup.args()[6].clone(), "30000".into()]);
}

#[test]
fn a_key_marked_hit_for_pass_goes_upstream_at_once_and_leaves_the_marker_alone() {
    let mut h = host("");
    let s = get(&mut h, "sid=alice");
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let lookup = one_call(&mut h);
    h.reply_redis(lookup.token, lookup_reply(2));
    assert_eq!(h.request_resumed(s), 1, "no waiting");
    assert!(h.take_redis_calls().is_empty(), "no second lookup");
    h.response_headers(s, &[(":status", "200"), ("set-cookie", "a=1")], false);
    assert_eq!(
        h.response_header(s, "cache-status").as_deref(),
        Some("cookie-cache; fwd=miss; fwd-status=200; detail=hit-for-pass")
    );
    h.response_body(s, b"x", true);
    h.end_stream(s);
    assert!(h.take_redis_calls().is_empty(), "it held no lock: nothing to release or mark");
    assert_eq!(h.metric("cookie_cache.pass"), Some(1));
    assert_eq!(h.metric("cookie_cache.lock"), Some(0));
}

#[test]
fn a_waiter_goes_upstream_on_its_next_lookup_once_the_key_is_marked() {
    let mut h = host("");
    let s = get(&mut h, "sid=alice");
    h.request_headers(s, true);
    let first = one_call(&mut h);
    h.reply_redis(first.token, lookup_reply(0));
    assert_eq!(h.request_resumed(s), 0, "the lock holder is fetching");
    h.advance(Duration::from_millis(30));
    let second = one_call(&mut h);
    h.reply_redis(second.token, lookup_reply(2));
    assert_eq!(h.request_resumed(s), 1, "the fetch was not cacheable: upstream at once");
    h.advance(Duration::from_millis(100));
    assert!(h.take_redis_calls().is_empty(), "no more lookups");
    assert_eq!(
        (h.metric("cookie_cache.lookup"), h.metric("cookie_cache.wait"), h.metric("cookie_cache.pass")),
        (Some(2), Some(1), Some(1))
    );
}

#[test]
fn a_cacheable_response_on_a_marked_key_is_stored() {
    let mut h = host("");
    let s = get(&mut h, "sid=alice");
    h.request_headers(s, true);
    let lookup = one_call(&mut h);
    h.reply_redis(lookup.token, lookup_reply(2));
    h.response_headers(s, &[(":status", "200"), ("content-length", "3")], false);
    let status = h.response_header(s, "cache-status").unwrap_or_default();
    assert!(status.contains("stored"), "{status}");
    h.response_body(s, b"new", true);
    let store = one_call(&mut h);
    assert_eq!(store.args()[3..5], lookup.args()[3..5], "the store script also clears the marker");
    assert_eq!(store.args()[7], "", "without a lock of its own");
}

#[test]
fn with_hit_for_pass_off_an_uncacheable_fetch_just_releases_the_lock() {
    let mut h = host(r#", "hit_for_pass_ms": 0"#);
    let (_, lookup, _) = locked_fetch(&mut h, &[(":status", "200"), ("set-cookie", "a=1")]);
    let release = one_call(&mut h);
    assert_eq!(release.args()[2..], ["1".to_string(), lookup.args()[4].clone(), lookup.args()[6].clone()]);
}

#[test]
fn a_response_that_sets_cookies_is_stored_only_for_a_request_with_the_key_cookie() {
    let json = config("", r#", "store_set_cookie": true"#);
    let mut h = TestHost::<CookieCache>::configure(&json).unwrap_or_else(|e| panic!("{e}"));
    // Without `sid` the request shares the key of every visitor without one.
    let s = get(&mut h, "theme=dark");
    h.request_headers(s, true);
    let lookup = one_call(&mut h);
    h.reply_redis(lookup.token, lookup_reply(1));
    h.response_headers(s, &[(":status", "200"), ("set-cookie", "sid=fresh-session"), ("content-length", "1")], false);
    let status = h.response_header(s, "cache-status").unwrap_or_default();
    assert!(status.ends_with("detail=set-cookie"), "{status}");
    h.take_redis_calls();
    h.response_body(s, b"x", true);
    assert!(h.take_redis_calls().is_empty(), "a new visitor's session cookie is never stored");

    let s = get(&mut h, "sid=alice");
    h.request_headers(s, true);
    let lookup = one_call(&mut h);
    h.reply_redis(lookup.token, lookup_reply(1));
    h.response_headers(s, &[(":status", "200"), ("set-cookie", "seen=1"), ("content-length", "1")], false);
    assert!(h.response_header(s, "cache-status").unwrap_or_default().ends_with("stored"));
    h.response_body(s, b"x", true);
    assert_eq!(one_call(&mut h).args()[4], lookup.args()[4], "stored under alice's own key");
}
