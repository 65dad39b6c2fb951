//! End to end: the compiled plugin (wasm32-wasip1, release) in `gateway-host`, against a real
//! `redis-server`, a real HTTP upstream and a real auth service. Several gateways sharing one
//! Redis stand in for a fleet.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::TcpListener;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use gateway_host::testing::{HttpResponse, RedisServer, RedisValue, TestResponse, TestUpstream, wait_for};
use serde_json::{Value, json};
use support::{DEADLINE, cache_config, cookie, evalsha_calls, gateway, get, keys, requests_for, sid_of, try_gateway};

/// The shop: pages that name the user, and pages that must not be cached.
fn shop() -> TestUpstream {
    TestUpstream::start(|req| {
        let body = format!("page {} for {} as {}", req.path, sid_of(req), req.header("x-user-id").unwrap_or("-"));
        let page = TestResponse::new(200, body.clone()).header("content-type", "text/plain");
        match req.path.as_str() {
            "/set-cookie" => page.header("set-cookie", "visited=1"),
            "/no-store" => page.header("cache-control", "no-store"),
            "/slow" => {
                TestResponse::chunked(200, vec![b"slow ".to_vec(), body.into_bytes()], Duration::from_millis(300))
                    .header("content-type", "text/plain")
            }
            _ => page,
        }
    })
    .unwrap()
}

#[test]
fn one_user_reaches_the_upstream_once_per_page_within_the_ttl() {
    let redis = RedisServer::start().unwrap();
    let shop = shop();
    let gw = gateway(cache_config(), &redis.addr(), &shop.addr(), None, 1);
    let alice = cookie("alice");
    let first = get(&gw, "/home", &[("cookie", alice.as_str())]);
    assert_eq!(first.status, 200);
    assert_eq!(first.text(), "page /home for alice as -");
    assert!(first.header("cache-status").unwrap().starts_with("cookie-cache; fwd=miss; fwd-status=200"), "{first:?}");
    for _ in 0..20 {
        let r = get(&gw, "/home", &[("cookie", alice.as_str())]);
        assert_eq!((r.status, r.text()), (200, first.text()));
        let status = r.header("cache-status").unwrap();
        assert!(status.starts_with("cookie-cache; hit; ttl="), "{status}");
        assert!(r.header("age").is_some());
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }
    assert_eq!(requests_for(&shop, "/home"), 1, "21 requests, one upstream fetch");
    assert_eq!(keys(&redis, "*alice*"), 0, "raw cookie values never become Redis keys");
}

#[test]
fn a_hundred_users_never_receive_each_others_pages() {
    let redis = RedisServer::start().unwrap();
    let shop = shop();
    let gw = gateway(cache_config(), &redis.addr(), &shop.addr(), None, 2);
    for round in 0..2 {
        for user in 0..100 {
            let sid = format!("user-{user}");
            let r = get(&gw, "/account", &[("cookie", cookie(&sid).as_str())]);
            assert_eq!(r.text(), format!("page /account for {sid} as -"), "round {round}");
        }
    }
    assert_eq!(requests_for(&shop, "/account"), 100, "one fetch per user; the second round came from Redis");
    assert_eq!(keys(&redis, "cookie-cache:{*}:e"), 100);
}

#[test]
fn set_cookie_and_no_store_responses_are_not_cached_and_their_keys_turn_hit_for_pass() {
    let redis = RedisServer::start().unwrap();
    let shop = shop();
    let gw = gateway(cache_config(), &redis.addr(), &shop.addr(), None, 1);
    for round in 0..3 {
        // The first fetch says why it was not stored; later ones go upstream on the marker.
        let (set_cookie, no_store) = if round == 0 {
            ("detail=set-cookie", "detail=cache-control")
        } else {
            ("detail=hit-for-pass", "detail=hit-for-pass")
        };
        let r = get(&gw, "/set-cookie", &[("cookie", "sid=a")]);
        assert_eq!(r.header("set-cookie"), Some("visited=1"));
        assert!(r.header("cache-status").unwrap().ends_with(set_cookie), "{r:?}");
        let r = get(&gw, "/no-store", &[("cookie", "sid=a")]);
        assert!(r.header("cache-status").unwrap().ends_with(no_store), "{r:?}");
    }
    assert_eq!(requests_for(&shop, "/set-cookie"), 3);
    assert_eq!(requests_for(&shop, "/no-store"), 3);
    assert_eq!(keys(&redis, "cookie-cache:{*}:e"), 0);
    let RedisValue::Array(locks) = redis.command(&["KEYS", "cookie-cache:{*}:l"]).unwrap() else { panic!() };
    assert_eq!(locks.len(), 2, "one hit-for-pass marker per page, no lock left behind");
    for lock in locks {
        let RedisValue::Bulk(name) = lock else { panic!("{lock:?}") };
        assert_eq!(redis.command(&["GET", &name]).unwrap(), RedisValue::Bulk("!pass".into()), "{name}");
    }
}

#[test]
fn a_stopped_upstream_is_covered_by_stale_copies_within_the_stale_window_only() {
    let redis = RedisServer::start().unwrap();
    let shop = shop();
    let mut config = cache_config();
    config["cache"]["ttl_seconds"] = json!(1);
    config["cache"]["stale_ttl_seconds"] = json!(2);
    let gw = gateway(config, &redis.addr(), &shop.addr(), None, 1);
    let page = get(&gw, "/home", &[("cookie", "sid=alice")]);
    assert_eq!(page.status, 200);
    wait_for(DEADLINE, || (keys(&redis, "cookie-cache:{*}:e") == 1).then_some(())).expect("stored");
    drop(shop);

    // Once the copy is no longer fresh, the unreachable upstream's 503 is replaced by it.
    let stale = wait_for(DEADLINE, || {
        let r = get(&gw, "/home", &[("cookie", "sid=alice")]);
        r.header("cache-status").is_some_and(|s| s.contains("fwd=stale")).then_some(r)
    })
    .expect("a stale answer");
    assert_eq!((stale.status, stale.text()), (200, page.text()));
    let status = stale.header("cache-status").unwrap();
    assert!(status.starts_with("cookie-cache; fwd=stale; fwd-status=503; ttl=-"), "{status}");
    assert!(status.ends_with("detail=stale-on-error"), "{status}");
    let age: u64 = stale.header("age").unwrap().parse().unwrap();
    assert!(age < 3, "served within the stale window: age {age}");

    // After the window the failure passes through.
    let failed = wait_for(DEADLINE, || {
        let r = get(&gw, "/home", &[("cookie", "sid=alice")]);
        match r.status {
            200 => {
                let s = r.header("cache-status").unwrap_or_default().to_string();
                assert!(s.contains("fwd=stale") || s.contains("hit"), "only cached answers while down: {s}");
                None
            }
            _ => Some(r),
        }
    })
    .expect("the failure passes through after the stale window");
    assert_eq!(failed.status, 503);
    // Not served from the cache. (`fwd=stale` may still appear: a copy that was inside the window
    // when the request was forwarded can leave it before the upstream's failure comes back.)
    let status = failed.header("cache-status").unwrap_or_default();
    assert!(!status.contains("stale-on-error") && !status.contains("; hit"), "{status}");
    assert_ne!(failed.text(), page.text(), "the failure, not the old page");
}

#[test]
fn fifty_concurrent_misses_across_two_gateways_reach_the_upstream_once() {
    let redis = RedisServer::start().unwrap();
    let shop = shop();
    let gateways = Arc::new([
        gateway(cache_config(), &redis.addr(), &shop.addr(), None, 2),
        gateway(cache_config(), &redis.addr(), &shop.addr(), None, 2),
    ]);
    let barrier = Arc::new(Barrier::new(50));
    let lookups_before = evalsha_calls(&redis);
    let started = Instant::now();
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let (gateways, barrier) = (gateways.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                get(&gateways[i % 2], "/slow", &[("cookie", "sid=alice")])
            })
        })
        .collect();
    let responses: Vec<HttpResponse> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap();
    assert_eq!(requests_for(&shop, "/slow"), 1, "one upstream fetch for 50 concurrent misses");
    // Waiters back off 25 ms (poll_interval_ms) between lookups instead of polling Redis back
    // to back: at most one lookup per waiter per interval, plus the first lookup and the store.
    let scripts = evalsha_calls(&redis) - lookups_before;
    let bound = 50 * (elapsed_ms / 25 + 2);
    eprintln!("50 concurrent misses over {elapsed_ms} ms: {scripts} script calls (bound {bound})");
    assert!(scripts <= bound, "{scripts} script calls in {elapsed_ms} ms: waiters are not backing off");
    for r in &responses {
        assert_eq!((r.status, r.text().as_str()), (200, "slow page /slow for alice as -"), "{r:?}");
    }
    let misses = responses.iter().filter(|r| r.header("cache-status").is_some_and(|s| s.contains("fwd=miss"))).count();
    let hits = responses.iter().filter(|r| r.header("cache-status").is_some_and(|s| s.contains("; hit"))).count();
    assert_eq!((misses, hits), (1, 49), "the others were answered from the first one's fetch");
}

fn auth_service() -> TestUpstream {
    TestUpstream::start(|req| {
        let sid = sid_of(req);
        if sid.starts_with("good-") {
            TestResponse::new(200, "").header("x-user-id", &sid).header("x-secret", "not-forwarded")
        } else {
            TestResponse::new(403, "")
        }
    })
    .unwrap()
}

fn session_config(stale_ttl_seconds: u64, allow_ttl_seconds: u64) -> Value {
    json!({
        "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 500},
        "cache": {"enabled": false},
        "session": {
            "cookie": "sid",
            "auth": {"service_name": "auth.static", "path": "/verify", "timeout_ms": 500},
            "identity_headers": ["x-user-id"],
            "allow_ttl_seconds": allow_ttl_seconds,
            "deny_ttl_seconds": 60,
            "stale_ttl_seconds": stale_ttl_seconds
        }
    })
}

#[test]
fn the_auth_service_is_asked_once_per_session_and_denials_are_cached() {
    let redis = RedisServer::start().unwrap();
    let (shop, auth) = (shop(), auth_service());
    let gw = gateway(session_config(0, 300), &redis.addr(), &shop.addr(), Some(&auth.addr()), 1);
    let good = cookie("good-1");
    let first = get(&gw, "/home", &[("cookie", good.as_str()), ("x-user-id", "admin")]);
    assert_eq!(first.text(), "page /home for good-1 as good-1", "identity from the auth service, not the client");
    wait_for(DEADLINE, || (keys(&redis, "cookie-cache:s:*") == 1).then_some(())).expect("decision cached");
    for _ in 0..5 {
        let r = get(&gw, "/home", &[("cookie", good.as_str()), ("x-user-id", "admin")]);
        assert_eq!(r.text(), "page /home for good-1 as good-1");
    }
    assert_eq!(auth.requests().len(), 1, "one auth call for six requests");
    assert_eq!(auth.requests()[0].path, "/verify");
    assert_eq!(auth.requests()[0].header("x-user-id"), None, "the client's identity header is not forwarded");

    let bad = cookie("stolen");
    assert_eq!(get(&gw, "/home", &[("cookie", bad.as_str())]).status, 403);
    wait_for(DEADLINE, || (keys(&redis, "cookie-cache:s:*") == 2).then_some(())).expect("denial cached");
    for _ in 0..3 {
        assert_eq!(get(&gw, "/home", &[("cookie", bad.as_str()), ("x-user-id", "admin")]).status, 403);
    }
    assert_eq!(auth.requests().len(), 2, "the denial was cached");
    assert!(shop.requests().iter().all(|r| r.header("x-user-id") != Some("admin")), "never injected");
}

#[test]
fn with_the_auth_service_stopped_a_stale_decision_is_used_when_configured_else_the_failure_status() {
    let redis = RedisServer::start().unwrap();
    let (shop, auth) = (shop(), auth_service());
    let auth_addr = auth.addr();
    let with_stale = gateway(session_config(600, 1), &redis.addr(), &shop.addr(), Some(&auth_addr), 1);
    let mut strict_config = session_config(0, 1);
    strict_config["key_prefix"] = json!("strict");
    let strict = gateway(strict_config, &redis.addr(), &shop.addr(), Some(&auth_addr), 1);
    for gw in [&with_stale, &strict] {
        assert_eq!(get(gw, "/home", &[("cookie", "sid=good-2")]).status, 200);
    }
    wait_for(DEADLINE, || (keys(&redis, "*:s:*") == 2).then_some(())).expect("decisions cached");
    drop(auth);

    // Once the 1 s allow TTL has passed, the strict gateway cannot verify the session any more.
    let failed = wait_for(DEADLINE, || {
        let r = get(&strict, "/home", &[("cookie", "sid=good-2")]);
        (r.status != 200).then_some(r)
    })
    .expect("the strict gateway fails once its decision expired");
    assert_eq!(failed.status, 503);
    // The other uses its stale decision, identity headers included.
    let r = get(&with_stale, "/home", &[("cookie", "sid=good-2"), ("x-user-id", "admin")]);
    assert_eq!((r.status, r.text().as_str()), (200, "page /home for good-2 as good-2"));
    assert!(with_stale.logs().iter().any(|l| l.message.contains("using a stale decision")), "the stale path was taken");
}

/// A TCP server that accepts connections and never answers: a hung Redis.
fn black_hole() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

#[test]
fn pages_are_served_when_redis_is_stopped() {
    let mut redis = RedisServer::start().unwrap();
    let shop = shop();
    let gw = gateway(cache_config(), &redis.addr(), &shop.addr(), None, 1);
    assert_eq!(get(&gw, "/home", &[("cookie", "sid=a")]).status, 200);
    redis.stop();
    for _ in 0..5 {
        let r = get(&gw, "/home", &[("cookie", "sid=a")]);
        assert_eq!((r.status, r.text().as_str()), (200, "page /home for a as -"));
        assert!(r.header("cache-status").unwrap().contains("fwd=bypass"), "{r:?}");
    }
}

#[test]
fn with_redis_hung_no_request_waits_beyond_the_redis_timeout_once_the_breaker_is_open() {
    let (_hole, hole_addr) = black_hole();
    let shop = shop();
    let mut config = cache_config();
    config["redis"]["timeout"] = json!(300);
    config["circuit_breaker"] = json!({"failure_threshold": 2, "cooldown_ms": 60000});
    let gw = gateway(config, &hole_addr, &shop.addr(), None, 1);
    // The first two requests wait for the Redis timeout, then open the breaker.
    for _ in 0..2 {
        let r = get(&gw, "/home", &[("cookie", "sid=a")]);
        assert_eq!(r.status, 200);
    }
    for _ in 0..10 {
        let started = Instant::now();
        let r = get(&gw, "/home", &[("cookie", "sid=a")]);
        let took = started.elapsed();
        assert_eq!((r.status, r.text().as_str()), (200, "page /home for a as -"));
        assert!(r.header("cache-status").unwrap().ends_with("detail=redis-unavailable"), "{r:?}");
        assert!(took < Duration::from_millis(300), "took {took:?}, beyond the Redis timeout");
    }
}

#[test]
fn a_bad_config_is_rejected_naming_the_field_path() {
    let redis = RedisServer::start().unwrap();
    let shop = shop();
    let mut config = cache_config();
    config["cache"]["key"]["cookies"] = json!(["sid", "bad name"]);
    let err = try_gateway(config, &redis.addr(), &shop.addr(), None, 1).expect_err("rejected");
    assert!(err.contains("cache.key.cookies[1]"), "{err}");
    let mut config = cache_config();
    config["session"] = json!({"cookie": "sid", "auth": {"service_name": "auth.static"}, "failure_mode": "sometimes"});
    let err = try_gateway(config, &redis.addr(), &shop.addr(), None, 1).expect_err("rejected");
    assert!(err.contains("session.failure_mode"), "{err}");
}

#[test]
fn a_stream_that_ends_while_its_lookup_takes_the_stampede_lock_releases_it_at_once() {
    use std::io::Write;
    let redis = RedisServer::start().unwrap();
    let shop = shop();
    // The Redis timeout must outlast the pause below: with the default 500 ms the host gives the
    // lookup up (and closes the connection) before Redis runs it, and no lock is ever taken.
    let mut config = cache_config();
    config["redis"]["timeout"] = json!(3000);
    let gw = gateway(config, &redis.addr(), &shop.addr(), None, 1);
    // Load the scripts (and their SHA) first, so the lookup below is one EVALSHA.
    let warm = get(&gw, "/warm", &[("cookie", "sid=w")]);
    assert_eq!(warm.status, 200);
    let scripts_before = evalsha_calls(&redis);
    // Redis holds every command for 350 ms (within the 500 ms Redis timeout): the lookup (which
    // takes the lock) is in flight when the client leaves.
    redis.command(&["CLIENT", "PAUSE", "350", "ALL"]).unwrap();
    let mut client = std::net::TcpStream::connect(gw.addr()).unwrap();
    client.write_all(b"GET /home HTTP/1.1\r\nhost: shop.example.com\r\ncookie: sid=leaver\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(150));
    drop(client);
    // The lookup lands and takes the lock; nobody is left to fetch, so the lock is released
    // right away instead of blocking everyone for lock_ms (10 s).
    let released = wait_for(Duration::from_secs(5), || {
        (evalsha_calls(&redis) >= scripts_before + 2 && keys(&redis, "cookie-cache:{*}:l") == 0).then_some(())
    });
    assert!(
        released.is_some(),
        "lock keys: {}, script calls since: {}",
        keys(&redis, "cookie-cache:{*}:l"),
        evalsha_calls(&redis) - scripts_before
    );
    assert_eq!(requests_for(&shop, "/home"), 0, "the abandoned request never went upstream");
    // The next visitor is not made to wait for a lock nobody holds.
    let next = get(&gw, "/home", &[("cookie", "sid=leaver")]);
    assert!(next.header("cache-status").unwrap().contains("fwd=miss"), "{next:?}");
    assert!(!next.header("cache-status").unwrap().contains("lock-wait-exceeded"), "{next:?}");
}
