//! End to end, the safe defaults: waiters are not made to queue behind an uncacheable page
//! (hit-for-pass), the whole query string is part of the key, and identity headers cannot be
//! smuggled past the session step under another spelling. The compiled plugin runs in
//! `gateway-host` against a real `redis-server` and real upstreams; everything is counted (Redis
//! `INFO commandstats`, the plugin's metrics, the upstream's request log), nothing is timed.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use gateway_host::testing::{HttpResponse, RedisServer, TestRequest, TestResponse, TestUpstream, wait_for};
use serde_json::json;
use support::{DEADLINE, cache_config, counter, evalsha_calls, gateway, get, keys, requests_for, sid_of};

/// Percent-decodes a query component the way a typical application does (`+` is a space).
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi * 16 + lo);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

/// The decoded values of query parameter `name` in a request's path.
fn query_values(req: &TestRequest, name: &str) -> Vec<String> {
    let query = req.path.split_once('?').map(|(_, q)| q).unwrap_or("");
    query
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k) == name).then(|| form_decode(v))
        })
        .collect()
}

/// The site: `/search` reflects its `q` parameter (as a careless search page does), `/page`
/// its `x` parameter, `/visit` answers with `Set-Cookie` and streams its body over 300 ms.
fn site() -> TestUpstream {
    TestUpstream::start(|req| {
        let route = req.path.split('?').next().unwrap_or_default().to_string();
        match route.as_str() {
            "/search" => TestResponse::new(200, format!("results for [{}]", query_values(req, "q").join("|")))
                .header("content-type", "text/html"),
            "/page" => TestResponse::new(200, format!("page x=[{}]", query_values(req, "x").join("|"))),
            "/visit" | "/warm-visit" => {
                TestResponse::chunked(200, vec![b"hello ".to_vec(), b"visitor".to_vec()], Duration::from_millis(300))
                    .header("content-type", "text/plain")
                    .header("set-cookie", "visitor=new; Path=/")
            }
            _ => TestResponse::new(200, format!("page {route}")),
        }
    })
    .unwrap()
}

fn cache_status(r: &HttpResponse) -> String {
    r.header("cache-status").unwrap_or_default().to_string()
}

/// The counters issue 14's first check reads, summed over the gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    evalsha: u64,
    lookups: i64,
    locks: i64,
    waits: i64,
    passes: i64,
}

fn counts(redis: &RedisServer, gateways: &[&gateway_host::Gateway]) -> Counts {
    Counts {
        evalsha: evalsha_calls(redis),
        lookups: counter(gateways, "lookup"),
        locks: counter(gateways, "lock"),
        waits: counter(gateways, "wait"),
        passes: counter(gateways, "pass"),
    }
}

#[test]
fn fifty_concurrent_gets_of_a_set_cookie_page_across_two_gateways_all_go_upstream_after_one_locked_fetch() {
    let redis = RedisServer::start().unwrap();
    let site = site();
    let (a, b) = (
        gateway(cache_config(), &redis.addr(), &site.addr(), None, 2),
        gateway(cache_config(), &redis.addr(), &site.addr(), None, 2),
    );
    // Load every script into Redis first (a stored page, an uncacheable one), so that each call
    // below is exactly one EVALSHA.
    assert_eq!(get(&a, "/warm", &[]).status, 200);
    assert_eq!(get(&a, "/warm-visit", &[]).status, 200);
    wait_for(DEADLINE, || (keys(&redis, "cookie-cache:{*}:e") == 1).then_some(())).expect("the warm page stored");
    let before = counts(&redis, &[&a, &b]);

    let gateways = Arc::new([a, b]);
    let barrier = Arc::new(Barrier::new(50));
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let (gateways, barrier) = (gateways.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                get(&gateways[i % 2], "/visit", &[("cookie", "sid=alice")])
            })
        })
        .collect();
    let responses: Vec<HttpResponse> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let [a, b] = &*gateways;
    let after = counts(&redis, &[a, b]);
    let delta = Counts {
        evalsha: after.evalsha - before.evalsha,
        lookups: after.lookups - before.lookups,
        locks: after.locks - before.locks,
        waits: after.waits - before.waits,
        passes: after.passes - before.passes,
    };
    eprintln!("50 concurrent GETs of an uncacheable page: {delta:?}");

    for r in &responses {
        assert_eq!((r.status, r.text().as_str()), (200, "hello visitor"), "{r:?}");
        assert_eq!(r.header("set-cookie"), Some("visitor=new; Path=/"), "each visitor gets its own answer");
    }
    assert_eq!(requests_for(&site, "/visit"), 50, "every request reached the upstream");
    let statuses: Vec<String> = responses.iter().map(cache_status).collect();
    assert!(statuses.iter().all(|s| !s.contains("lock-wait-exceeded")), "nobody waited out wait_ms: {statuses:#?}");
    let first = statuses.iter().filter(|s| s.ends_with("fwd=miss; fwd-status=200; detail=set-cookie")).count();
    let passed = statuses.iter().filter(|s| s.ends_with("fwd=miss; fwd-status=200; detail=hit-for-pass")).count();
    assert_eq!((first, passed), (1, 49), "{statuses:#?}");
    assert_eq!(delta.locks, 1, "the stampede lock was taken once");
    assert_eq!(delta.passes, 49, "the others went upstream on the hit-for-pass marker");
    // Each of the 50 looked up once; a waiter (it found the lock taken) looks again after
    // poll_interval_ms and must then find the marker: one more lookup per waiter, no more.
    assert!(delta.waits <= 49, "{delta:?}");
    assert_eq!(delta.lookups, 50 + delta.waits, "no waiter looked up more than twice: {delta:?}");
    // Redis saw exactly those lookups plus the one call that turned the lock into the marker.
    assert_eq!(delta.evalsha, u64::try_from(delta.lookups).unwrap() + 1, "{delta:?}");
    assert_eq!(keys(&redis, "cookie-cache:{*}:e"), 1, "nothing but the warm page was stored");
}

#[test]
fn a_reflected_query_value_is_never_served_for_another_query() {
    let redis = RedisServer::start().unwrap();
    let site = site();
    let gw = gateway(cache_config(), &redis.addr(), &site.addr(), None, 1);
    // An anonymous attacker primes the cache with a payload in the query string.
    let attack = "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E&utm_source=mail";
    let primed = get(&gw, attack, &[]);
    assert_eq!(primed.text(), "results for [<script>alert(1)</script>]");
    wait_for(DEADLINE, || (keys(&redis, "cookie-cache:{*}:e") == 1).then_some(())).expect("the attack page stored");
    assert!(cache_status(&get(&gw, attack, &[])).contains("; hit"), "the attacker's own query is a hit");

    // Anonymous visitors (the same shared "no sid" key material otherwise) asking other queries.
    let visitors = [
        ("/search", "results for []"),
        ("/search?q=shoes", "results for [shoes]"),
        ("/search?q=shoes&utm_source=mail", "results for [shoes]"),
        ("/search?utm_source=mail", "results for []"),
        ("/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "results for [<script>alert(1)</script>]"),
        ("/search?q=", "results for []"),
        ("/search?q=shoes&q=%3Cscript%3E", "results for [shoes|<script>]"),
        ("/search?q=%3Cscript%3E&q=shoes", "results for [<script>|shoes]"),
        ("/search?Q=shoes", "results for []"),
    ];
    for round in 0..2 {
        for (path, body) in visitors {
            let r = get(&gw, path, &[]);
            assert_eq!(r.text(), body, "{path} in round {round}: {r:?}");
        }
    }
    for (path, _) in visitors {
        assert_eq!(requests_for(&site, path), 1, "{path}: its own entry, fetched once");
    }
    // The same parameters in another order are the same query.
    let reordered = get(&gw, "/search?utm_source=mail&q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", &[]);
    assert!(cache_status(&reordered).contains("; hit"), "{reordered:?}");

    // The example: `/page?x=1` and `/page?x=2` are two entries.
    for _ in 0..3 {
        assert_eq!(get(&gw, "/page?x=1", &[]).text(), "page x=[1]");
        assert_eq!(get(&gw, "/page?x=2", &[]).text(), "page x=[2]");
    }
    assert_eq!((requests_for(&site, "/page?x=1"), requests_for(&site, "/page?x=2")), (1, 1));
    let entries = wait_for(DEADLINE, || {
        let n = keys(&redis, "cookie-cache:{*}:e");
        (n == visitors.len() + 3).then_some(n)
    });
    assert_eq!(entries, Some(visitors.len() + 3), "one entry per distinct query");
}

#[test]
fn listed_query_params_narrow_the_key_and_ignore_leaves_the_query_out() {
    let redis = RedisServer::start().unwrap();
    let site = site();
    let mut narrow = cache_config();
    narrow["cache"]["key"]["query_params"] = json!(["x"]);
    let narrow = gateway(narrow, &redis.addr(), &site.addr(), None, 1);
    assert_eq!(get(&narrow, "/page?x=1&utm=a", &[]).text(), "page x=[1]");
    let r = get(&narrow, "/page?utm=b&x=1", &[]);
    assert_eq!(r.text(), "page x=[1]");
    assert!(cache_status(&r).contains("; hit"), "unlisted parameters are ignored: {r:?}");
    // An attacker spells the listed parameter as the application may decode it; none of these
    // may be stored under the key of `/page` (no `x`).
    for cloaked in ["/page?%78=evil", "/page?X=evil", "/page?a=1;x=evil"] {
        assert_eq!(get(&narrow, cloaked, &[]).status, 200, "{cloaked}");
    }
    // `%78=evil` and `a=1;x=evil` are both `x=evil` to the key; `X=evil` is one of its own.
    wait_for(DEADLINE, || (keys(&redis, "cookie-cache:{*}:e") == 3).then_some(())).expect("the cloaked pages stored");
    let r = get(&narrow, "/page", &[]);
    assert_eq!(r.text(), "page x=[]", "{r:?}");
    assert_eq!(requests_for(&site, "/page"), 1, "its own fetch");

    let mut ignoring = cache_config();
    ignoring["key_prefix"] = json!("ignoring");
    ignoring["cache"]["key"]["query_params"] = json!("ignore");
    let ignoring = gateway(ignoring, &redis.addr(), &site.addr(), None, 1);
    assert_eq!(get(&ignoring, "/page?x=1", &[]).text(), "page x=[1]");
    wait_for(DEADLINE, || (keys(&redis, "ignoring:{*}:e") == 1).then_some(())).expect("stored");
    let r = get(&ignoring, "/page?x=2", &[]);
    assert_eq!(r.text(), "page x=[1]", "the operator chose to leave the query out of the key");
    assert!(cache_status(&r).contains("; hit"), "{r:?}");
}

/// The auth service: `good-*` sessions are allowed as themselves.
fn auth_service() -> TestUpstream {
    TestUpstream::start(|req| {
        let sid = sid_of(req);
        if sid.starts_with("good-") {
            TestResponse::new(200, "").header("x-user-id", &sid)
        } else {
            TestResponse::new(403, "")
        }
    })
    .unwrap()
}

/// Every spelling of `x-user-id` a backend may fold together (CGI, PHP, Rack, WSGI turn `-` into
/// `_` and ignore case).
const SPELLINGS: [&str; 5] = ["X-User-Id", "x_user_id", "X_USER_ID", "x-User_Id", "X_user-ID"];

fn folded(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

#[test]
fn underscore_and_case_variants_of_identity_headers_never_reach_the_upstream() {
    let redis = RedisServer::start().unwrap();
    let (site, auth) = (site(), auth_service());
    let config = json!({
        "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 500},
        "cache": {"key": {"cookies": ["sid"]}},
        "session": {
            "cookie": "sid",
            "required": false,
            "auth": {"service_name": "auth.static", "path": "/verify", "timeout_ms": 500},
            "identity_headers": ["x-user-id"]
        }
    });
    let gw = gateway(config, &redis.addr(), &site.addr(), Some(&auth.addr()), 1);
    let forged: Vec<(&str, &str)> = SPELLINGS.iter().map(|name| (*name, "admin")).collect();

    // A signed-in user: only the auth service's value arrives.
    let mut headers = forged.clone();
    headers.push(("cookie", "sid=good-1"));
    assert_eq!(get(&gw, "/account", &headers).status, 200);
    // An anonymous visitor (the session is optional): nothing arrives.
    assert_eq!(get(&gw, "/anonymous", &forged).status, 200);
    // A denied session never reaches the upstream at all.
    let mut headers = forged.clone();
    headers.push(("cookie", "sid=stolen"));
    assert_eq!(get(&gw, "/denied", &headers).status, 403);

    let seen = site.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for req in &seen {
        let identity: Vec<&(String, String)> = req.headers.iter().filter(|(k, _)| folded(k) == "x-user-id").collect();
        let expected: Vec<(String, String)> = match req.path.as_str() {
            "/account" => vec![("x-user-id".into(), "good-1".into())],
            _ => vec![],
        };
        assert_eq!(identity.into_iter().cloned().collect::<Vec<_>>(), expected, "{} got {:?}", req.path, req.headers);
    }
    for req in auth.requests() {
        assert!(req.headers.iter().all(|(k, _)| folded(k) != "x-user-id"), "forwarded to auth: {:?}", req.headers);
    }
}
