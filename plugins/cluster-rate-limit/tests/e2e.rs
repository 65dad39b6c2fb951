//! End to end: the compiled plugin in `gateway-host` gateways against a real `redis-server`.
//! Accuracy across 4 gateways and 64 clients (fixed: exactly the quota per window; sliding: the
//! worst case measured), Redis commands per request from `INFO commandstats`, and Redis stopped
//! under load (timeouts, breaker, fallback limit, deny mode, recovery).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use gateway_host::Gateway;
use gateway_host::testing::{RedisServer, RedisValue, TestUpstream, http_get, wait_for};
use serde_json::json;

mod support;

use support::{REDIS_CLUSTER, start_gateway};

fn gateway(redis: &RedisServer, upstream: &TestUpstream, config: serde_json::Value) -> Gateway {
    gateway_with_routes(redis, upstream, config, &[("main", "/")])
}

/// A gateway whose routes (name, path prefix; tried in order) all run the plugin.
fn gateway_with_routes(
    redis: &RedisServer,
    upstream: &TestUpstream,
    config: serde_json::Value,
    routes: &[(&str, &str)],
) -> Gateway {
    start_gateway(REDIS_CLUSTER, &redis.addr(), &upstream.addr(), config, routes)
}

fn plugin_config(rule: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = json!({
        "rule_name": rule,
        "redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 1000,
                  "buffer_flush_timeout": 0, "max_buffer_size_before_flush": 0},
    });
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Every key matching `pattern`, with its value (integers) or hash (field -> integer).
fn snapshot(redis: &RedisServer, pattern: &str) -> BTreeMap<String, BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    let Ok(RedisValue::Array(keys)) = redis.command(&["KEYS", pattern]) else { return out };
    for key in keys {
        let RedisValue::Bulk(key) = key else { continue };
        let mut fields = BTreeMap::new();
        match redis.command(&["TYPE", &key]) {
            Ok(RedisValue::Status(t)) if t == "hash" => {
                if let Ok(RedisValue::Array(items)) = redis.command(&["HGETALL", &key]) {
                    for pair in items.chunks(2) {
                        if let [RedisValue::Bulk(f), RedisValue::Bulk(v)] = pair {
                            fields.insert(f.clone(), v.parse().unwrap_or(0));
                        }
                    }
                }
            }
            _ => {
                if let Ok(Some(v)) = redis.get_int(&key) {
                    fields.insert(String::new(), v);
                }
            }
        }
        out.insert(key, fields);
    }
    out
}

/// Polls the counters while `running`, keeping the largest value seen per key and field (counts
/// only grow within a period; a key lives one second past its period, a sliding bucket one
/// window), so every period's final count is seen.
fn monitor(
    redis: Arc<RedisServer>,
    pattern: String,
    running: Arc<AtomicBool>,
) -> std::thread::JoinHandle<BTreeMap<String, BTreeMap<String, i64>>> {
    std::thread::spawn(move || {
        let mut seen: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        loop {
            let last = !running.load(Ordering::SeqCst);
            for (key, fields) in snapshot(&redis, &pattern) {
                let entry = seen.entry(key).or_default();
                for (f, v) in fields {
                    let e = entry.entry(f).or_insert(0);
                    *e = (*e).max(v);
                }
            }
            if last {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// 64 clients spread over `gateways` for `run`; returns the admission times (epoch ms).
fn load(gateways: &[Gateway], clients: usize, run: Duration) -> (Vec<u64>, usize) {
    let urls: Vec<String> = gateways.iter().map(|g| format!("{}/", g.url())).collect();
    let admitted = Arc::new(Mutex::new(Vec::new()));
    let rejected = Arc::new(Mutex::new(0usize));
    let deadline = Instant::now() + run;
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let url = urls[i % urls.len()].clone();
            let (admitted, rejected) = (admitted.clone(), rejected.clone());
            std::thread::spawn(move || {
                while Instant::now() < deadline {
                    let resp = http_get(&url).unwrap();
                    match resp.status {
                        200 => admitted.lock().unwrap().push(epoch_ms()),
                        429 => *rejected.lock().unwrap() += 1,
                        other => panic!("unexpected status {other}: {}", resp.text()),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let admitted = std::mem::take(&mut *admitted.lock().unwrap());
    let rejected = *rejected.lock().unwrap();
    (admitted, rejected)
}

/// Waits until the next whole second plus 50 ms (window boundaries are computed, not guessed).
fn align_to_next_second() -> u64 {
    let now = epoch_ms();
    let start = (now / 1000 + 1) * 1000 + 50;
    std::thread::sleep(Duration::from_millis(start - now));
    start
}

#[test]
fn four_gateways_and_64_clients_admit_exactly_the_quota_in_each_fixed_window() {
    let redis = Arc::new(RedisServer::start().unwrap());
    let upstream = TestUpstream::echo().unwrap();
    let config = plugin_config("acc-fixed", json!({"global_threshold": {"query_per_second": 50}}));
    let gateways: Vec<Gateway> = (0..4).map(|_| gateway(&redis, &upstream, config.clone())).collect();

    let running = Arc::new(AtomicBool::new(true));
    let watcher = monitor(redis.clone(), "cluster-rate-limit:{acc-fixed:*".to_string(), running.clone());
    let start = align_to_next_second();
    let (admitted, rejected) = load(&gateways, 64, Duration::from_millis(3900));
    let end = epoch_ms();
    running.store(false, Ordering::SeqCst);
    let counts = watcher.join().unwrap();

    // Counter per period: `cluster-rate-limit:{acc-fixed:global_threshold}:1:<second>`.
    let per_period: BTreeMap<u64, i64> =
        counts.iter().filter_map(|(k, f)| Some((k.rsplit(':').next()?.parse().ok()?, *f.get("")?))).collect();
    let full: Vec<u64> =
        (start / 1000..end / 1000).filter(|p| p * 1000 >= start - 50 && (p + 1) * 1000 <= end).collect();
    assert!(full.len() >= 3, "at least 3 whole windows under load: {full:?}");
    for p in &full {
        assert_eq!(per_period.get(p), Some(&50), "window {p}: {per_period:?}");
    }
    assert!(per_period.values().all(|&c| c <= 50), "no window over its quota: {per_period:?}");
    let total: i64 = per_period.values().sum();
    assert_eq!(admitted.len() as i64, total, "every 200 was counted once");
    assert!(rejected > admitted.len(), "the clients pushed well past the quota: {rejected} rejected");
    eprintln!(
        "fixed accuracy: windows {:?}, admitted {} / rejected {} in {} ms",
        full.iter().map(|p| per_period[p]).collect::<Vec<_>>(),
        admitted.len(),
        rejected,
        end - start
    );
}

#[test]
fn sliding_windows_never_exceed_the_quota_in_any_span_across_four_gateways() {
    let redis = Arc::new(RedisServer::start().unwrap());
    let upstream = TestUpstream::echo().unwrap();
    let config =
        plugin_config("acc-sliding", json!({"algorithm": "sliding", "global_threshold": {"query_per_second": 50}}));
    let gateways: Vec<Gateway> = (0..4).map(|_| gateway(&redis, &upstream, config.clone())).collect();

    let running = Arc::new(AtomicBool::new(true));
    let watcher = monitor(redis.clone(), "cluster-rate-limit:{acc-sliding:*".to_string(), running.clone());
    let start = align_to_next_second();
    let (admitted, rejected) = load(&gateways, 64, Duration::from_millis(3900));
    running.store(false, Ordering::SeqCst);
    let counts = watcher.join().unwrap();

    // Sub-buckets of 100 ms: bucket index -> requests admitted in it.
    let buckets: BTreeMap<u64, i64> =
        counts.values().flat_map(|f| f.iter().filter_map(|(b, c)| Some((b.parse().ok()?, *c)))).collect();
    let (first, last) = (*buckets.keys().next().unwrap(), *buckets.keys().last().unwrap());
    let span = |n: u64| {
        (first..=last)
            .map(|b| (b..b + n).map(|i| buckets.get(&i).copied().unwrap_or(0)).sum::<i64>())
            .max()
            .unwrap_or(0)
    };
    // The algorithm's bound: any 11 consecutive buckets (a window plus the partly counted one).
    let worst_11 = span(11);
    let worst_10 = span(10);
    let total: i64 = buckets.values().sum();
    assert_eq!(total, admitted.len() as i64, "every 200 was counted once");
    assert!(worst_11 <= 50, "no span of the window's length admits more than 50: {worst_11}");
    // Client-side view: the most 200s that arrived within any 1000 ms.
    let mut times = admitted.clone();
    times.sort_unstable();
    let client_worst =
        (0..times.len()).map(|i| times[i..].iter().take_while(|&&t| t < times[i] + 1000).count()).max().unwrap_or(0);
    let seconds = (last + 1 - first) as f64 / 10.0;
    assert!(total as f64 >= 40.0 * (seconds - 1.0), "sliding still admits close to the quota: {total} in {seconds} s");
    eprintln!(
        "sliding accuracy: worst 1.1 s span {worst_11}, worst 1.0 s bucket span {worst_10}, worst 1 s span seen by clients {client_worst}, \
         admitted {total} in {seconds:.1} s ({:.1}/s), rejected {rejected}, started {start}",
        total as f64 / seconds
    );
}

/// The value of the plugin's metric `cluster_rate_limit.<name>` in a gateway.
fn metric(gw: &Gateway, name: &str) -> i64 {
    let full = format!("cluster_rate_limit.{name}");
    gw.metrics().iter().filter(|m| m.name.ends_with(&full)).map(|m| m.value).sum()
}

/// Total calls per command from `INFO commandstats`.
fn commandstats(redis: &RedisServer) -> BTreeMap<String, u64> {
    redis.commandstats().unwrap()
}

/// Calls made between two snapshots, without the INFO calls themselves.
fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(k, _)| k.as_str() != "info")
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// The calls a client sent: `INFO commandstats` also counts the commands a script runs, so
/// those (the ones the quota script uses) are set aside; anything else would be a client call.
fn client_calls(d: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    const IN_SCRIPT: [&str; 7] = ["get", "incrby", "pexpire", "hgetall", "hincrby", "hdel", "exists"];
    d.iter().filter(|(k, _)| !IN_SCRIPT.contains(&k.as_str())).map(|(k, v)| (k.clone(), *v)).collect()
}

#[test]
fn one_redis_call_per_checked_request_with_three_windows_and_none_when_rejected_locally() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let three = json!({"query_per_second": 1000, "query_per_minute": 10000, "query_per_hour": 100000});
    let gw = gateway(&redis, &upstream, plugin_config("calls", json!({"global_threshold": three})));
    let url = format!("{}/", gw.url());
    assert_eq!(http_get(&url).unwrap().status, 200, "warm-up loads the script");

    let before = commandstats(&redis);
    for _ in 0..20 {
        let resp = http_get(&url).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("ratelimit-policy").map(|p| p.split(", ").count()), Some(3));
    }
    let d = delta(&before, &commandstats(&redis));
    assert_eq!(
        client_calls(&d),
        BTreeMap::from([("evalsha".to_string(), 20)]),
        "one EVALSHA per request, three windows included: {d:?}"
    );

    // A small quota: 5 admitted, the 6th rejected by Redis, the rest rejected locally.
    let small = json!({"query_per_minute": 5, "query_per_hour": 1000, "query_per_day": 10000});
    let gw = gateway(&redis, &upstream, plugin_config("calls-small", json!({"global_threshold": small})));
    let url = format!("{}/", gw.url());
    // Stay inside one minute window so the limit does not reset during the test.
    let now = epoch_ms();
    if now % 60_000 > 50_000 {
        std::thread::sleep(Duration::from_millis(60_000 - now % 60_000 + 50));
    }
    assert_eq!(http_get(&url).unwrap().status, 200, "warm-up (1 of 5)");
    let before = commandstats(&redis);
    let statuses: Vec<u16> = (0..20).map(|_| http_get(&url).unwrap().status).collect();
    let d = delta(&before, &commandstats(&redis));
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 4);
    assert!(statuses[4..].iter().all(|&s| s == 429), "{statuses:?}");
    assert_eq!(
        client_calls(&d),
        BTreeMap::from([("evalsha".to_string(), 5)]),
        "4 admitted + 1 rejected by Redis; 15 rejected locally: {d:?}"
    );
    eprintln!("commandstats: 20 requests with 3 windows -> 20 EVALSHA; 4 admitted + 16 rejected -> {d:?}");
}

#[test]
fn redis_stopped_under_load_fails_fast_behind_the_breaker_and_recovers() {
    let mut redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let timeout_ms = 300u64;
    let config = |rule: &str, extra: serde_json::Value| {
        let mut c = plugin_config(
            rule,
            json!({"global_threshold": {"query_per_second": 40}, "gateway_count": 4,
            "circuit_breaker": {"failure_threshold": 3, "cooldown_ms": 5000}}),
        );
        c["redis"]["timeout"] = json!(timeout_ms);
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let allow = gateway(&redis, &upstream, config("outage", json!({})));
    let deny =
        gateway(&redis, &upstream, config("outage-deny", json!({"failure_mode": "deny", "failure_status": 503})));
    let (allow_url, deny_url) = (format!("{}/", allow.url()), format!("{}/", deny.url()));
    assert_eq!(http_get(&allow_url).unwrap().status, 200);
    assert_eq!(http_get(&deny_url).unwrap().status, 200);

    redis.stop();
    let limit = Duration::from_millis(timeout_ms) + Duration::from_secs(2);
    // Under load from 8 clients: every request completes within the Redis timeout (plus slack).
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (url, statuses) = (allow_url.clone(), statuses.clone());
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let started = Instant::now();
                    let status = http_get(&url).unwrap().status;
                    let took = started.elapsed();
                    assert!(took < limit, "a request took {took:?} with Redis down");
                    statuses.lock().unwrap().push((status, took));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(statuses.lock().unwrap().iter().all(|(s, _)| *s == 200 || *s == 429));

    // The breaker is open now: no Redis call (so no Redis wait), and the fallback limit
    // (40 / 4 = 10 per second on this gateway).
    let errors_before = metric(&allow, "redis_errors");
    let fallback_before = metric(&allow, "fallback_decisions");
    let align = align_to_next_second();
    let mut fallback = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let resp = http_get(&allow_url).unwrap();
        assert!(started.elapsed() < limit, "{:?}", started.elapsed());
        fallback.push((epoch_ms() / 1000, resp.status));
    }
    assert_eq!(metric(&allow, "redis_errors"), errors_before, "no Redis call while the breaker is open");
    assert_eq!(metric(&allow, "fallback_decisions"), fallback_before + 30);
    let mut per_second: BTreeMap<u64, usize> = BTreeMap::new();
    for (second, status) in &fallback {
        if *status == 200 {
            *per_second.entry(*second).or_default() += 1;
        }
    }
    assert!(per_second.values().all(|&n| n <= 10), "fallback limit 10/s per gateway: {per_second:?} (from {align})");
    assert!(fallback.iter().any(|(_, s)| *s == 429), "the fallback limit rejected some: {fallback:?}");

    // Deny mode answers the configured status, at once behind its breaker.
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(http_get(&deny_url).unwrap().status, 503);
        assert!(started.elapsed() < limit);
    }

    // Redis back: after the cool-down a probe reaches Redis and requests go back to it.
    redis.restart().unwrap();
    let key_prefix = "cluster-rate-limit:{outage:global_threshold}:1:";
    let back = wait_for(Duration::from_secs(15), || {
        let _ = http_get(&allow_url);
        let keys = snapshot(&redis, &format!("{key_prefix}*"));
        (!keys.is_empty()).then_some(keys)
    });
    assert!(back.is_some(), "the plugin returned to Redis after the restart");
    let deny_back = wait_for(Duration::from_secs(15), || (http_get(&deny_url).unwrap().status == 200).then_some(()));
    assert!(deny_back.is_some(), "deny mode admits again once Redis is back");
}

/// 2026-11-30T16:00:00Z: midnight of December 1st in Asia/Shanghai (UTC+8, no DST).
const SHANGHAI_DECEMBER: u64 = 1_796_054_400;

#[test]
fn a_monthly_quota_used_up_on_the_last_day_is_back_one_second_after_local_midnight() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    let limits = json!({"query_per_minute": 1000, "query_quota": {"each_month": 3}});
    let config = json!({"timezone": "Asia/Shanghai", "global_threshold": limits, "show_limit_quota_header": true});
    let gw = gateway(&redis, &upstream, plugin_config("monthly", config));
    let url = format!("{}/", gw.url());

    // 23:59:30 on November 30th in Shanghai: the month has 30 s left (and UTC is at 15:59:30).
    gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(SHANGHAI_DECEMBER - 30));
    assert_eq!(http_get(&url).unwrap().status, 200, "1 of 3 (loads the script)");
    let before = commandstats(&redis);
    let statuses: Vec<u16> = (0..4).map(|_| http_get(&url).unwrap().status).collect();
    assert_eq!(statuses, [200, 200, 429, 429], "3 per month");
    let d = delta(&before, &commandstats(&redis));
    assert_eq!(
        client_calls(&d),
        BTreeMap::from([("evalsha".to_string(), 3)]),
        "one EVALSHA per checked request for the minute window and the month together; the second rejection is local: {d:?}"
    );
    let november = redis.get_int("cluster-rate-limit:{monthly:global_threshold}:month:2026-11").unwrap();
    assert_eq!(november, Some(3), "the key is named by the local month");
    let no = http_get(&url).unwrap();
    assert_eq!(no.status, 429);
    // `t` is the time left in the local month, not in a 30-day bin or the UTC month.
    let field = no.header("ratelimit").unwrap().to_string();
    let t: u64 = field
        .split(", ")
        .find_map(|item| item.strip_prefix("\"month\";r=0;t="))
        .unwrap_or_else(|| panic!("no month item in {field}"))
        .parse()
        .unwrap();
    assert!((1..=30).contains(&t), "t={t}: seconds until local midnight");
    let retry: u64 = no.header("retry-after").unwrap().parse().unwrap();
    assert!((t..=30).contains(&retry), "Retry-After {retry} is not before t={t}");
    assert!(no.header("ratelimit-policy").unwrap().contains("\"month\";q=3;w=2592000"), "November has 30 days");
    let RedisValue::Int(pttl) =
        redis.command(&["PTTL", "cluster-rate-limit:{monthly:global_threshold}:month:2026-11"]).unwrap()
    else {
        panic!("PTTL")
    };
    assert!(pttl > 30_000 && pttl <= 30_000 + 3_600_000, "lives until the month ends plus the grace: {pttl}");

    // One second after midnight in Shanghai: a new month, though UTC is still in November.
    gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(SHANGHAI_DECEMBER + 1));
    let yes = http_get(&url).unwrap();
    assert_eq!(yes.status, 200, "the over-limit cache let go at the boundary too");
    assert!(yes.header("ratelimit").unwrap().contains("\"month\";r=2;"), "{:?}", yes.header("ratelimit"));
    assert!(yes.header("ratelimit-policy").unwrap().contains("\"month\";q=3;w=2678400"), "December has 31 days");
    assert_eq!(redis.get_int("cluster-rate-limit:{monthly:global_threshold}:month:2026-12").unwrap(), Some(1));
    assert_eq!(
        redis.get_int("cluster-rate-limit:{monthly:global_threshold}:month:2026-11").unwrap(),
        Some(3),
        "November's counter is left as it was"
    );
}

#[test]
fn per_route_rules_through_the_host_pick_their_own_limits_and_counters() {
    let redis = RedisServer::start().unwrap();
    let upstream = TestUpstream::echo().unwrap();
    // The global config allows 2 per day; the rule for route `vip` allows 4 under its own name.
    let config = plugin_config(
        "routes",
        json!({
            "global_threshold": {"query_per_day": 2},
            "_rules_": [{"_match_route_": ["vip"], "rule_name": "routes-vip", "global_threshold": {"query_per_day": 4}}]
        }),
    );
    // A rule inherits nothing (as Higress reads it): it names its own Redis.
    let mut config = config;
    config["_rules_"][0]["redis"] = config["redis"].clone();
    let gw = gateway_with_routes(&redis, &upstream, config, &[("vip", "/vip"), ("main", "/")]);
    // Noon UTC: the day window cannot roll over during the test.
    gw.set_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_040_000));

    let statuses =
        |path: &str| -> Vec<u16> { (0..5).map(|_| http_get(&format!("{}{path}", gw.url())).unwrap().status).collect() };
    assert_eq!(statuses("/vip/x"), [200, 200, 200, 200, 429], "route vip: its rule's 4 per day");
    assert_eq!(statuses("/other"), [200, 200, 429, 429, 429], "every other route: the global 2 per day");
    let day = 1_796_040_000 / 86_400;
    assert_eq!(
        redis.get_int(&format!("cluster-rate-limit:{{routes-vip:global_threshold}}:86400:{day}")).unwrap(),
        Some(4)
    );
    assert_eq!(redis.get_int(&format!("cluster-rate-limit:{{routes:global_threshold}}:86400:{day}")).unwrap(), Some(2));
}
