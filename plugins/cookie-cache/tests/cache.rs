//! Response-cache scenarios against the native TestHost: hits answered from Redis, misses
//! stored in the background, what is never stored, stale serving on upstream failure,
//! stampede locks and bounded waits, and bypassing a dead Redis through the breaker.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use cookie_cache::CookieCache;
use cookie_cache::entry::Entry;
use gateway_sdk::redis::Reply;
use gateway_sdk::testing::{Action, RedisCall, StreamId, TestHost};

const CONFIG: &str = r#"{
    "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 200},
    "circuit_breaker": {"failure_threshold": 2, "cooldown_ms": 5000},
    "cache": {
        "key": {"cookies": ["sid"], "query_params": ["page"]},
        "ttl_seconds": 60,
        "stale_ttl_seconds": 600,
        "max_body_bytes": 64,
        "stampede": {"lock_ms": 5000, "wait_ms": 1000, "max_polls": 3}
    }
}"#;

fn host() -> TestHost<CookieCache> {
    TestHost::configure(CONFIG).unwrap_or_else(|e| panic!("{e}"))
}

fn now_ms(h: &TestHost<CookieCache>) -> u64 {
    let _ = h;
    gateway_sdk::time::now_millis()
}

fn get(h: &mut TestHost<CookieCache>, path: &str, cookie: &str) -> StreamId {
    h.new_stream(&[(":method", "GET"), (":path", path), (":authority", "shop.example.com"), ("cookie", cookie)])
}

fn entry(h: &TestHost<CookieCache>, age_ms: u64, body: &str) -> Vec<u8> {
    Entry {
        status: 200,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: body.as_bytes().to_vec(),
        stored_at_ms: now_ms(h) - age_ms,
        fresh_ms: 60_000,
    }
    .encode()
}

fn one_call(h: &mut TestHost<CookieCache>) -> RedisCall {
    let mut calls = h.take_redis_calls();
    assert_eq!(calls.len(), 1, "{:?}", calls.iter().map(RedisCall::args).collect::<Vec<_>>());
    calls.remove(0)
}

fn lookup_reply(entry: Option<Vec<u8>>, locked: bool) -> Reply {
    Reply::Array(vec![entry.map_or(Reply::Nil, Reply::Bulk), Reply::Int(i64::from(locked))])
}

#[test]
fn a_fresh_entry_is_answered_from_redis_without_the_upstream() {
    let mut h = host();
    h.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let s = get(&mut h, "/cart?page=2&utm=x", "sid=alice-secret");
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let call = one_call(&mut h);
    let args = call.args();
    assert_eq!(args[0], "EVALSHA");
    assert_eq!(args[2], "2");
    assert!(args[3].starts_with("cookie-cache:{") && args[3].ends_with("}:e"), "{}", args[3]);
    assert_eq!(args[4], args[3].replace("}:e", "}:l"));
    assert!(args.iter().all(|a| !a.contains("alice-secret")), "raw cookie values never reach Redis: {args:?}");
    assert_eq!(args[5], now_ms(&h).to_string());
    assert_eq!(args[7], "5000", "lock expiry");
    let stored = entry(&h, 12_500, "alice's cart");
    h.reply_redis(call.token, lookup_reply(Some(stored), false));
    let reply = h.local_response(s).expect("answered from the cache");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"alice's cart");
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    assert_eq!(reply.header("age"), Some("12"));
    assert_eq!(reply.header("cache-status"), Some("cookie-cache; hit; ttl=47"));
    assert_eq!(h.request_resumed(s), 0, "the upstream is never called");
    assert_eq!(h.metric("cookie_cache.hit"), Some(1));
}

#[test]
fn different_cookies_and_unselected_query_parameters_map_to_keys_as_configured() {
    let mut h = host();
    let mut key = |path: &str, cookie: &str| {
        let s = get(&mut h, path, cookie);
        h.request_headers(s, true);
        let call = one_call(&mut h);
        h.reply_redis(call.token, lookup_reply(None, false));
        h.end_stream(s);
        h.take_redis_calls();
        call.args()[3].clone()
    };
    let alice = key("/cart?page=1", "sid=alice");
    assert_eq!(alice, key("/cart?utm=1&page=1", "theme=dark; sid=alice"));
    assert_ne!(alice, key("/cart?page=1", "sid=bob"));
    assert_ne!(alice, key("/cart?page=2", "sid=alice"));
}

#[test]
fn a_miss_takes_the_lock_goes_upstream_and_stores_in_the_background() {
    let mut h = host();
    let s = get(&mut h, "/cart", "sid=alice");
    h.request_headers(s, true);
    let lookup = one_call(&mut h);
    let token = lookup.args()[6].clone();
    h.reply_redis(lookup.token, lookup_reply(None, true));
    assert_eq!(h.request_resumed(s), 1, "the miss goes upstream");
    let headers =
        [(":status", "200"), ("content-type", "text/html"), ("content-length", "10"), ("connection", "close")];
    assert_eq!(h.response_headers(s, &headers, false), Action::Continue);
    assert_eq!(h.response_header(s, "cache-status").as_deref(), Some("cookie-cache; fwd=miss; fwd-status=200; stored"));
    assert_eq!(h.response_body(s, b"hello ", false), Action::Continue);
    assert_eq!(h.take_response_body(s), b"hello ", "chunks stream through, the client is not delayed");
    assert!(h.take_redis_calls().is_empty(), "nothing stored before the body is complete");
    assert_eq!(h.response_body(s, b"cart", true), Action::Continue);
    let store = one_call(&mut h);
    let args = store.args();
    assert_eq!(args[3], lookup.args()[3]);
    assert_eq!(args[4], lookup.args()[4]);
    assert_eq!(args[6], "660000", "kept for the fresh TTL plus the stale window");
    assert_eq!(args[7], token, "the store releases our lock");
    let (decoded, _) = (Entry::decode(&store_entry_bytes(&store)).unwrap(), ());
    assert_eq!(decoded.body, b"hello cart");
    assert_eq!(decoded.headers, vec![("content-type".to_string(), "text/html".to_string())]);
    assert_eq!(decoded.fresh_ms, 60_000);
    h.reply_redis(store.token, Reply::Int(1));
    assert_eq!(h.metric("cookie_cache.stored"), Some(1));
    h.end_stream(s);
    assert!(h.take_redis_calls().is_empty(), "the lock went with the store");
}

/// The entry argument of a store script call, as raw bytes.
fn store_entry_bytes(call: &RedisCall) -> Vec<u8> {
    match gateway_sdk::redis::codec::decode_reply(&call.query).unwrap() {
        Reply::Array(items) => match &items[5] {
            Reply::Bulk(b) => b.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn miss_then_response(h: &mut TestHost<CookieCache>, headers: &[(&str, &str)]) -> (StreamId, String) {
    let s = get(h, "/page", "sid=alice");
    h.request_headers(s, true);
    let lookup = one_call(h);
    h.reply_redis(lookup.token, lookup_reply(None, true));
    h.response_headers(s, headers, false);
    (s, h.response_header(s, "cache-status").unwrap_or_default())
}

#[test]
fn set_cookie_no_store_private_and_other_statuses_are_not_stored_and_mark_the_key_hit_for_pass() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[(":status", "200"), ("set-cookie", "sid=new")], "detail=set-cookie"),
        (&[(":status", "200"), ("cache-control", "no-store")], "detail=cache-control"),
        (&[(":status", "200"), ("cache-control", "private, max-age=60")], "detail=cache-control"),
        (&[(":status", "404")], "detail=status"),
    ];
    for (headers, detail) in cases {
        let mut h = host();
        let (s, status) = miss_then_response(&mut h, headers);
        assert!(status.contains(detail), "{status}");
        assert!(!status.contains("stored"), "{status}");
        let mark = one_call(&mut h);
        assert_eq!(mark.args()[2], "1");
        assert!(mark.args()[3].ends_with("}:l"), "the lock is given up at once: {:?}", mark.args());
        assert_eq!(mark.args()[5], "30000", "as a hit-for-pass marker: {:?}", mark.args());
        h.reply_redis(mark.token, Reply::Int(1));
        assert_eq!(h.response_body(s, b"body", true), Action::Continue);
        assert!(h.take_redis_calls().is_empty(), "nothing stored");
        h.end_stream(s);
        assert!(h.take_redis_calls().is_empty());
    }
}

#[test]
fn a_body_over_the_size_limit_is_not_stored() {
    let mut h = host();
    let (s, _) = miss_then_response(&mut h, &[(":status", "200")]);
    h.response_body(s, &[b'x'; 40], false);
    assert!(h.take_redis_calls().is_empty());
    h.response_body(s, &[b'y'; 40], false);
    let mark = one_call(&mut h);
    assert!(mark.args()[3].ends_with("}:l"), "the lock becomes a hit-for-pass marker");
    h.response_body(s, b"", true);
    assert!(h.take_redis_calls().is_empty(), "no store after giving up");
    assert_eq!(h.take_response_body(s).len(), 80, "the client still gets the whole body");
}

#[test]
fn an_upstream_failure_is_answered_with_the_stale_copy() {
    let mut h = host();
    let s = get(&mut h, "/page", "sid=alice");
    h.request_headers(s, true);
    let lookup = one_call(&mut h);
    // Stale: stored 100 s ago, fresh for 60 s, stale window 600 s.
    h.reply_redis(lookup.token, lookup_reply(Some(entry(&h, 100_000, "old page")), true));
    assert_eq!(h.request_resumed(s), 1, "the holder of the lock refreshes upstream");
    assert_eq!(h.response_headers(s, &[(":status", "503")], false), Action::Pause);
    let reply = h.local_response(s).expect("stale copy served");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"old page");
    assert_eq!(reply.header("age"), Some("100"));
    assert_eq!(
        reply.header("cache-status"),
        Some("cookie-cache; fwd=stale; fwd-status=503; ttl=-40; detail=stale-on-error")
    );
    let release = one_call(&mut h);
    assert!(release.args()[3].ends_with("}:l"), "the lock is released for the next try");
    assert_eq!(h.metric("cookie_cache.stale"), Some(1));
}

#[test]
fn a_copy_past_the_stale_window_is_not_served_and_the_failure_passes_through() {
    let mut h = host();
    let s = get(&mut h, "/page", "sid=alice");
    h.request_headers(s, true);
    let lookup = one_call(&mut h);
    h.reply_redis(lookup.token, lookup_reply(Some(entry(&h, 700_000, "too old")), true));
    assert_eq!(h.response_headers(s, &[(":status", "502")], false), Action::Continue);
    assert_eq!(h.local_response(s), None);
    assert_eq!(
        h.response_header(s, "cache-status").as_deref(),
        Some("cookie-cache; fwd=miss; fwd-status=502; detail=status")
    );
}

#[test]
fn an_upstream_success_refreshes_a_stale_copy() {
    let mut h = host();
    let s = get(&mut h, "/page", "sid=alice");
    h.request_headers(s, true);
    let lookup = one_call(&mut h);
    h.reply_redis(lookup.token, lookup_reply(Some(entry(&h, 100_000, "old")), true));
    h.response_headers(s, &[(":status", "200"), ("content-length", "3")], false);
    assert_eq!(
        h.response_header(s, "cache-status").as_deref(),
        Some("cookie-cache; fwd=stale; fwd-status=200; stored")
    );
    h.response_body(s, b"new", true);
    let store = one_call(&mut h);
    assert_eq!(Entry::decode(&store_entry_bytes(&store)).unwrap().body, b"new");
}

#[test]
fn while_another_request_fetches_a_stale_copy_is_served_at_once() {
    let mut h = host();
    let s = get(&mut h, "/page", "sid=alice");
    h.request_headers(s, true);
    let lookup = one_call(&mut h);
    h.reply_redis(lookup.token, lookup_reply(Some(entry(&h, 90_000, "old")), false));
    let reply = h.local_response(s).expect("stale while the lock holder refreshes");
    assert_eq!(reply.body, b"old");
    assert_eq!(reply.header("cache-status"), Some("cookie-cache; hit; ttl=-30; detail=stale-while-revalidate"));
    assert!(h.take_redis_calls().is_empty());
}

#[test]
fn a_waiter_polls_until_the_lock_holder_has_stored_the_entry() {
    let mut h = host();
    let s = get(&mut h, "/page", "sid=alice");
    h.request_headers(s, true);
    let first = one_call(&mut h);
    h.reply_redis(first.token, lookup_reply(None, false));
    assert!(h.take_redis_calls().is_empty(), "it waits before looking again");
    h.advance(Duration::from_millis(20));
    assert!(h.take_redis_calls().is_empty(), "poll_interval_ms (25) has not passed");
    h.advance(Duration::from_millis(10));
    let second = one_call(&mut h); // woken by the 10 ms tick at 30 ms, the first after 25 ms
    assert_eq!(second.args()[3], first.args()[3]);
    assert_eq!(second.args()[6], first.args()[6], "the same lock token: it may take over a released lock");
    h.reply_redis(second.token, lookup_reply(None, false));
    h.advance(Duration::from_millis(30));
    let third = one_call(&mut h);
    h.reply_redis(third.token, lookup_reply(Some(entry(&h, 5, "fresh")), false));
    let reply = h.local_response(s).expect("collapsed onto the other request's fetch");
    assert_eq!(reply.body, b"fresh");
    assert_eq!(reply.header("cache-status"), Some("cookie-cache; hit; ttl=59; collapsed"));
    assert_eq!(h.request_resumed(s), 0);
    assert_eq!(h.metric("cookie_cache.collapsed"), Some(1));
}

#[test]
fn a_waiter_takes_over_when_the_lock_is_released_without_an_entry() {
    let mut h = host();
    let s = get(&mut h, "/page", "sid=alice");
    h.request_headers(s, true);
    let first = one_call(&mut h);
    h.reply_redis(first.token, lookup_reply(None, false));
    h.advance(Duration::from_millis(30));
    let second = one_call(&mut h);
    h.reply_redis(second.token, lookup_reply(None, true));
    assert_eq!(h.request_resumed(s), 1);
    h.response_headers(s, &[(":status", "200")], false);
    h.response_body(s, b"x", true);
    let store = one_call(&mut h);
    assert_eq!(store.args()[7], first.args()[6], "stores and releases as the new holder");
}

#[test]
fn a_waiter_goes_upstream_after_its_bounded_wait() {
    let mut h = host();
    let s = get(&mut h, "/page", "sid=alice");
    h.request_headers(s, true);
    for _ in 0..4 {
        let call = one_call(&mut h);
        h.reply_redis(call.token, lookup_reply(None, false));
        h.advance(Duration::from_millis(30));
    }
    assert!(h.take_redis_calls().is_empty(), "max_polls bounds the Redis calls");
    assert_eq!(h.request_resumed(s), 1);
    h.response_headers(s, &[(":status", "200")], false);
    assert_eq!(
        h.response_header(s, "cache-status").as_deref(),
        Some("cookie-cache; fwd=miss; fwd-status=200; detail=lock-wait-exceeded")
    );
    h.response_body(s, b"x", true);
    let store = one_call(&mut h);
    assert_eq!(store.args()[7], "", "it stores without a lock to release");
}

#[test]
fn the_wait_is_bounded_by_time_too() {
    let mut h = host();
    let s = get(&mut h, "/page", "sid=alice");
    h.request_headers(s, true);
    let call = one_call(&mut h);
    h.advance(Duration::from_millis(1_500));
    h.reply_redis(call.token, lookup_reply(None, false));
    assert!(h.take_redis_calls().is_empty(), "no poll after wait_ms");
    assert_eq!(h.request_resumed(s), 1);
}

#[test]
fn a_request_that_ends_early_releases_its_lock() {
    let mut h = host();
    let s = get(&mut h, "/page", "sid=alice");
    h.request_headers(s, true);
    let lookup = one_call(&mut h);
    h.reply_redis(lookup.token, lookup_reply(None, true));
    h.response_headers(s, &[(":status", "200")], false);
    h.response_body(s, b"part", false);
    h.end_stream(s);
    let release = one_call(&mut h);
    assert_eq!(release.args()[3], lookup.args()[4]);
    assert_eq!(release.args()[4], lookup.args()[6]);
}

#[test]
fn methods_other_than_get_and_head_skip_the_cache() {
    let mut h = host();
    let s = h.new_stream(&[(":method", "POST"), (":path", "/page"), ("cookie", "sid=a")]);
    assert_eq!(h.request_headers(s, true), Action::Continue);
    assert!(h.take_redis_calls().is_empty());
    h.response_headers(s, &[(":status", "200")], false);
    assert_eq!(h.response_header(s, "cache-status").as_deref(), Some("cookie-cache; fwd=method; fwd-status=200"));
}

#[test]
fn requests_with_credentials_outside_the_key_bypass_the_cache() {
    let mut h = host();
    let s = h.new_stream(&[(":method", "GET"), (":path", "/"), ("authorization", "Bearer x")]);
    assert_eq!(h.request_headers(s, true), Action::Continue);
    assert!(h.take_redis_calls().is_empty());
    h.response_headers(s, &[(":status", "200")], false);
    assert_eq!(
        h.response_header(s, "cache-status").as_deref(),
        Some("cookie-cache; fwd=bypass; fwd-status=200; detail=authorization")
    );
}

#[test]
fn head_responses_are_stored_from_the_headers() {
    let mut h = host();
    let s = h.new_stream(&[(":method", "HEAD"), (":path", "/page"), ("cookie", "sid=a")]);
    h.request_headers(s, true);
    let lookup = one_call(&mut h);
    h.reply_redis(lookup.token, lookup_reply(None, true));
    h.response_headers(s, &[(":status", "200"), ("content-length", "1234")], true);
    let store = one_call(&mut h);
    let stored = Entry::decode(&store_entry_bytes(&store)).unwrap();
    assert!(stored.body.is_empty());
}

#[test]
fn a_dead_redis_is_bypassed_and_the_breaker_stops_calling_it() {
    let mut h = host();
    for _ in 0..2 {
        let s = get(&mut h, "/page", "sid=a");
        assert_eq!(h.request_headers(s, true), Action::Pause);
        let call = one_call(&mut h);
        h.fail_redis(call.token);
        assert_eq!(h.request_resumed(s), 1, "the request goes upstream");
        h.response_headers(s, &[(":status", "200")], false);
        assert_eq!(
            h.response_header(s, "cache-status").as_deref(),
            Some("cookie-cache; fwd=bypass; fwd-status=200; detail=redis-error")
        );
        h.response_body(s, b"x", true);
        assert!(h.take_redis_calls().is_empty(), "nothing is stored after a failed lookup");
    }
    // The breaker is open: no Redis call, no pause.
    let s = get(&mut h, "/page", "sid=a");
    assert_eq!(h.request_headers(s, true), Action::Continue);
    assert!(h.take_redis_calls().is_empty());
    h.response_headers(s, &[(":status", "200")], false);
    assert_eq!(
        h.response_header(s, "cache-status").as_deref(),
        Some("cookie-cache; fwd=bypass; fwd-status=200; detail=redis-unavailable")
    );
    // After the cool-down one probe goes to Redis again.
    h.advance(Duration::from_millis(5_001));
    let s = get(&mut h, "/page", "sid=a");
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let probe = one_call(&mut h);
    h.reply_redis(probe.token, lookup_reply(Some(entry(&h, 1_000, "back")), false));
    assert_eq!(h.local_response(s).map(|r| r.body), Some(b"back".to_vec()));
}

#[test]
fn an_undecodable_entry_is_a_miss() {
    let mut h = host();
    let s = get(&mut h, "/page", "sid=a");
    h.request_headers(s, true);
    let lookup = one_call(&mut h);
    h.reply_redis(lookup.token, lookup_reply(Some(b"cc1 1 99999999999999\ngarbage".to_vec()), true));
    assert_eq!(h.local_response(s), None);
    assert_eq!(h.request_resumed(s), 1);
}
