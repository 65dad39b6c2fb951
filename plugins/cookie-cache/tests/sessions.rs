//! Session scenarios against the native TestHost: cached decisions, one auth call per session,
//! cached denials, redirects, stale decisions while the auth service is down, `failure_mode`
//! while Redis is, and identity headers a client cannot inject.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cookie_cache::CookieCache;
use cookie_cache::key::sha256_hex;
use cookie_cache::session::Decision;
use gateway_sdk::redis::Reply;
use gateway_sdk::testing::{Action, RedisCall, StreamId, TestHost};

fn config(extra: &str) -> String {
    format!(
        r#"{{
        "redis": {{"service_name": "redis.static", "service_port": 6379}},
        "circuit_breaker": {{"failure_threshold": 1, "cooldown_ms": 60000}},
        "cache": {{"enabled": false}},
        "session": {{
            "cookie": "sid",
            "auth": {{"service_name": "auth.static", "path": "/verify", "timeout_ms": 300,
                      "forward_headers": ["cookie", "x-forwarded-for"]}},
            "identity_headers": ["x-user-id", "x-user-roles"],
            "allow_ttl_seconds": 300,
            "deny_ttl_seconds": 20,
            "stale_ttl_seconds": 600
            {extra}
        }}
    }}"#
    )
}

fn host(extra: &str) -> TestHost<CookieCache> {
    TestHost::configure(&config(extra)).unwrap_or_else(|e| panic!("{e}"))
}

fn request(h: &mut TestHost<CookieCache>, cookie: Option<&str>) -> StreamId {
    let mut headers = vec![(":method", "GET"), (":path", "/account"), (":authority", "shop.example.com")];
    headers.push(("x-user-id", "admin"));
    headers.push(("x-forwarded-for", "10.0.0.9"));
    if let Some(c) = cookie {
        headers.push(("cookie", c));
    }
    h.new_stream(&headers)
}

fn one_call(h: &mut TestHost<CookieCache>) -> RedisCall {
    let mut calls = h.take_redis_calls();
    assert_eq!(calls.len(), 1, "{:?}", calls.iter().map(RedisCall::args).collect::<Vec<_>>());
    calls.remove(0)
}

fn now() -> u64 {
    gateway_sdk::time::now_millis()
}

fn allow(age_ms: u64) -> Vec<u8> {
    Decision {
        allow: true,
        headers: vec![("x-user-id".into(), "alice".into()), ("x-user-roles".into(), "buyer".into())],
        decided_at_ms: now() - age_ms,
        fresh_ms: 300_000,
    }
    .encode()
}

#[test]
fn a_cached_allow_adds_identity_headers_without_calling_the_auth_service() {
    let mut h = host("");
    let s = request(&mut h, Some("theme=x; sid=abc123"));
    assert_eq!(h.request_headers(s, true), Action::Pause);
    let get = one_call(&mut h);
    assert_eq!(get.args(), ["GET".to_string(), format!("cookie-cache:s:{{{}}}", sha256_hex(b"abc123"))]);
    h.reply_redis(get.token, Reply::Bulk(allow(1_000)));
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.request_header(s, "x-user-id").as_deref(), Some("alice"), "the client's own copy was replaced");
    assert_eq!(h.request_header(s, "x-user-roles").as_deref(), Some("buyer"));
    assert!(h.http_calls().is_empty());
    assert_eq!(h.metric("cookie_cache.session_hit"), Some(1));
}

#[test]
fn a_miss_asks_the_auth_service_once_and_caches_the_allow() {
    let mut h = host("");
    let s = request(&mut h, Some("sid=abc123"));
    h.request_headers(s, true);
    let get = one_call(&mut h);
    h.reply_redis(get.token, Reply::Nil);
    let calls = h.http_calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.cluster, "outbound|80||auth.static");
    assert_eq!(call.header(":path"), Some("/verify"));
    assert_eq!(call.header(":authority"), Some("auth.static"));
    assert_eq!(call.header("cookie"), Some("sid=abc123"));
    assert_eq!(call.header("x-forwarded-for"), Some("10.0.0.9"));
    assert_eq!(call.header("x-user-id"), None, "client-sent identity headers are not forwarded");
    assert_eq!(call.timeout, Duration::from_millis(300));
    h.reply_http(call.token, 200, &[("x-user-id", "alice"), ("x-internal", "no")], b"");
    assert_eq!(h.request_header(s, "x-user-id").as_deref(), Some("alice"));
    assert_eq!(h.request_header(s, "x-user-roles"), None, "only what the auth service named");
    assert_eq!(h.request_header(s, "x-internal"), None);
    let set = one_call(&mut h);
    let args = set.args();
    assert_eq!(args[0], "SET");
    assert_eq!(args[1], get.args()[1]);
    assert_eq!(args[3..], ["PX".to_string(), "900000".to_string()], "allow TTL plus the stale window");
    let stored = Decision::decode(args[2].as_bytes()).unwrap();
    assert!(stored.allow);
    assert_eq!(stored.fresh_ms, 300_000);
    h.reply_redis(set.token, Reply::Status("OK".into()));
}

#[test]
fn a_denial_is_answered_and_cached_with_its_own_ttl() {
    let mut h = host("");
    let s = request(&mut h, Some("sid=stolen"));
    h.request_headers(s, true);
    let get = one_call(&mut h);
    h.reply_redis(get.token, Reply::Nil);
    let call = h.http_calls().remove(0);
    h.reply_http(call.token, 401, &[], b"");
    let reply = h.local_response(s).expect("denied");
    assert_eq!(reply.status, 403);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let set = one_call(&mut h);
    assert_eq!(set.args()[3..], ["PX".to_string(), "620000".to_string()]);
    assert!(!Decision::decode(set.args()[2].as_bytes()).unwrap().allow);

    // The cached denial answers the next request without the auth service.
    let s = request(&mut h, Some("sid=stolen"));
    h.request_headers(s, true);
    let get = one_call(&mut h);
    h.reply_redis(get.token, Reply::Bulk(set.args()[2].as_bytes().to_vec()));
    assert_eq!(h.local_response(s).map(|r| r.status), Some(403));
    assert_eq!(h.http_calls().len(), 1);
}

#[test]
fn a_denial_can_redirect_to_a_login_page() {
    let mut h = host(r#", "deny": {"redirect": "https://login.example.com/?next=/"}"#);
    let s = request(&mut h, None);
    assert_eq!(h.request_headers(s, true), Action::Pause, "a missing cookie is denied at once");
    let reply = h.local_response(s).expect("redirected");
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some("https://login.example.com/?next=/"));
    assert!(h.take_redis_calls().is_empty());
}

#[test]
fn an_optional_session_lets_anonymous_requests_through_without_identity() {
    let mut h = host(r#", "required": false"#);
    let s = request(&mut h, None);
    assert_eq!(h.request_headers(s, true), Action::Continue);
    assert_eq!(h.request_header(s, "x-user-id"), None, "the injected header was removed");
}

#[test]
fn with_the_auth_service_down_a_stale_decision_is_used_within_its_window() {
    let mut h = host("");
    let s = request(&mut h, Some("sid=abc123"));
    h.request_headers(s, true);
    let get = one_call(&mut h);
    h.reply_redis(get.token, Reply::Bulk(allow(400_000)));
    let call = h.http_calls().remove(0);
    h.fail_http(call.token);
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.request_header(s, "x-user-id").as_deref(), Some("alice"));
    assert!(h.take_redis_calls().is_empty(), "a stale decision is not re-stored");
}

#[test]
fn with_the_auth_service_down_and_no_usable_decision_the_failure_status_is_returned() {
    // No stale window configured: no fallback.
    let mut h = host(r#", "failure_status": 502"#);
    let s = request(&mut h, Some("sid=abc123"));
    h.request_headers(s, true);
    let get = one_call(&mut h);
    h.reply_redis(get.token, Reply::Bulk(allow(1_000_000)));
    let call = h.http_calls().remove(0);
    h.reply_http(call.token, 503, &[], b"");
    assert_eq!(h.local_response(s).map(|r| r.status), Some(502));
}

#[test]
fn redis_down_follows_failure_mode() {
    // auth_service (default): ask the auth service directly, nothing cached.
    let mut h = host("");
    let s = request(&mut h, Some("sid=abc"));
    h.request_headers(s, true);
    let get = one_call(&mut h);
    h.fail_redis(get.token);
    let call = h.http_calls().remove(0);
    h.reply_http(call.token, 200, &[("x-user-id", "alice")], b"");
    assert_eq!(h.request_header(s, "x-user-id").as_deref(), Some("alice"));
    assert!(h.take_redis_calls().is_empty(), "no write to a dead Redis");
    // The breaker is open now: the next request does not touch Redis.
    let s = request(&mut h, Some("sid=abc"));
    h.request_headers(s, true);
    assert!(h.take_redis_calls().is_empty());
    assert_eq!(h.http_calls().len(), 2);

    let mut h = host(r#", "failure_mode": "deny""#);
    let s = request(&mut h, Some("sid=abc"));
    h.request_headers(s, true);
    let get = one_call(&mut h);
    h.fail_redis(get.token);
    assert_eq!(h.local_response(s).map(|r| r.status), Some(503));
    assert!(h.http_calls().is_empty());

    let mut h = host(r#", "failure_mode": "allow""#);
    let s = request(&mut h, Some("sid=abc"));
    h.request_headers(s, true);
    let get = one_call(&mut h);
    h.fail_redis(get.token);
    assert_eq!(h.request_resumed(s), 1);
    assert_eq!(h.request_header(s, "x-user-id"), None, "allowed without identity");
}

#[test]
fn identity_headers_are_stripped_even_when_the_session_is_denied_or_cached() {
    let mut h = host("");
    let s = request(&mut h, Some("sid=abc"));
    h.request_headers(s, true);
    assert_eq!(h.request_header(s, "x-user-id"), None, "removed before any await");
    let get = one_call(&mut h);
    let decision = Decision { allow: true, headers: vec![], decided_at_ms: now(), fresh_ms: 300_000 };
    h.reply_redis(get.token, Reply::Bulk(decision.encode()));
    assert_eq!(h.request_header(s, "x-user-id"), None);
}

#[test]
fn every_spelling_of_an_identity_header_a_backend_folds_together_is_stripped() {
    let mut h = host(r#", "required": false"#);
    let forged = ["X-User-Id", "x_user_id", "X_USER_ID", "x-User_Roles", "X_user-roles"];
    let mut headers = vec![(":method", "GET"), (":path", "/account"), (":authority", "shop.example.com")];
    headers.extend(forged.iter().map(|name| (*name, "admin")));
    headers.push(("x_user_idx", "kept"));
    let s = h.new_stream(&headers);
    assert_eq!(h.request_headers(s, true), Action::Continue, "anonymous: no Redis call");
    for name in forged {
        assert_eq!(h.request_header(s, name), None, "{name}");
    }
    assert_eq!(h.request_header(s, "x_user_idx").as_deref(), Some("kept"), "other headers stay");
}

#[test]
fn the_session_step_runs_before_the_cache_and_a_denied_session_never_reads_the_cache() {
    let json = config("").replace(r#""cache": {"enabled": false}"#, r#""cache": {"key": {"cookies": ["sid"]}}"#);
    let mut h = TestHost::<CookieCache>::configure(&json).unwrap_or_else(|e| panic!("{e}"));
    let s = request(&mut h, Some("sid=abc"));
    h.request_headers(s, true);
    let get = one_call(&mut h);
    assert_eq!(get.command(), "GET");
    h.reply_redis(get.token, Reply::Bulk(allow(0)));
    let lookup = one_call(&mut h);
    assert_eq!(lookup.command(), "EVALSHA", "then the cache lookup");
    h.reply_redis(lookup.token, Reply::Array(vec![Reply::Nil, Reply::Int(1)]));
    assert_eq!(h.request_header(s, "x-user-id").as_deref(), Some("alice"));

    let denied = Decision { allow: false, headers: vec![], decided_at_ms: now(), fresh_ms: 20_000 };
    let s = request(&mut h, Some("sid=bad"));
    h.request_headers(s, true);
    let get = one_call(&mut h);
    h.reply_redis(get.token, Reply::Bulk(denied.encode()));
    assert_eq!(h.local_response(s).map(|r| r.status), Some(403));
    assert!(h.take_redis_calls().is_empty(), "no cache lookup for a denied session");
}
