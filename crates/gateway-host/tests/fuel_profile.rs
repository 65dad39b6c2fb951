//! Acceptance: the fuel profile (`profile_fuel: true`) on the compiled `examples/hello-redis`
//! module against a real `redis-server`, read from the admin listener: its total equals the
//! fuel `/stats` reports for the same requests, exactly; named functions appear; reset zeroes
//! it; the same requests without profiling cost the same fuel; with profiling off `/profile`
//! says so (that the module is then compiled as it is, without the counters, is
//! checked in `vm.rs`' unit tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use gateway_host::testing::{RedisServer, TestUpstream, http_get, http_request, plugin_wasm, wait_for};
use gateway_host::{Gateway, GatewayConfig, PluginConfig};
use serde_json::{Value, json};

const CLUSTER: &str = "outbound|6379||redis.static";
const REQUESTS: u64 = 20;

fn hello_config(redis: &RedisServer, upstream: &TestUpstream, profile: bool, workers: usize) -> GatewayConfig {
    let plugin = PluginConfig {
        config: json!({"redis": {"service_name": "redis.static", "service_port": 6379, "timeout": 1000}, "ttl_seconds": 60}),
        ..plugin_config("hello-redis", plugin_wasm("hello-redis"))
    };
    let mut c = config(
        vec![route("main", "/", "backend", &["hello-redis"])],
        vec![cluster("backend", &upstream.addr()), cluster(CLUSTER, &redis.addr())],
        vec![plugin],
    );
    c.log_level = "info".to_string();
    c.admin_address = Some("127.0.0.1:0".to_string());
    c.profile_fuel = profile;
    c.concurrency = workers;
    c
}

fn admin_json(gw: &Gateway, method: &str, path: &str) -> Value {
    let url = format!("http://{}{path}", gw.admin_addr().unwrap());
    let resp = http_request(method, &url, &[], b"").unwrap();
    assert_eq!(resp.status, 200, "{method} {path}: {}", resp.text());
    serde_json::from_slice(&resp.body).unwrap()
}

/// Sends `REQUESTS` requests and waits until every stream's fuel is recorded; answers the
/// `/stats` fuel total.
fn send_requests(gw: &Gateway) -> u64 {
    for i in 1..=REQUESTS {
        let resp = http_get(&format!("{}/", gw.url())).unwrap();
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.header("x-hello-count"), Some(i.to_string().as_str()), "counted in Redis");
    }
    wait_for(Duration::from_secs(10), || {
        let stats = admin_json(gw, "GET", "/stats");
        (stats["requests_with_plugins"] == REQUESTS).then(|| stats["fuel_total"].as_u64().unwrap())
    })
    .expect("every stream's fuel recorded")
}

#[test]
fn the_profile_accounts_for_every_instruction_that_stats_counts() {
    let upstream = TestUpstream::echo().unwrap();
    let redis = RedisServer::start().unwrap();
    let gw = Gateway::start(hello_config(&redis, &upstream, true, 2)).unwrap();

    // Start-up (`_initialize`, `proxy_on_vm_start`, `proxy_on_configure`) ran on both workers.
    let started = admin_json(&gw, "GET", "/profile");
    assert_eq!(started["profiling"], true, "{started}");
    let plugin = &started["plugins"][0];
    assert_eq!(plugin["plugin"], "hello-redis");
    assert_eq!(plugin["vms"], 2, "one VM per worker");
    assert!(plugin["fuel"].as_u64().unwrap() > 0, "{plugin}");

    // Reset zeroes every counter (start-up is not in `/stats`, so the comparison starts here).
    assert_eq!(admin_json(&gw, "POST", "/profile/reset")["reset"], true);
    let zero = admin_json(&gw, "GET", "/profile");
    assert_eq!(zero["fuel_total"], 0, "{zero}");
    assert_eq!(zero["plugins"][0]["calls"], 0);
    assert_eq!(zero["plugins"][0]["functions"], json!([]));

    let stats_total = send_requests(&gw);
    let profile = admin_json(&gw, "GET", "/profile");
    let plugin = &profile["plugins"][0];
    assert_eq!(profile["fuel_total"].as_u64(), Some(stats_total), "the profile's total is /stats' total, exactly");
    assert_eq!(plugin["fuel"].as_u64(), Some(stats_total));
    assert_eq!(plugin["metered_fuel"].as_u64(), Some(stats_total), "what the host metered, net of the probes");
    assert!(plugin["instrumentation_fuel"].as_u64().unwrap() > 0);
    assert_eq!(plugin["names"], true, "cargo's release wasm keeps the name section");

    let functions = plugin["functions"].as_array().unwrap();
    let fuel: Vec<u64> = functions.iter().map(|f| f["fuel"].as_u64().unwrap()).collect();
    assert!(fuel.windows(2).all(|w| w[0] >= w[1]), "sorted by fuel, most first");
    assert_eq!(fuel.iter().sum::<u64>(), stats_total);
    let named = |needle: &str| functions.iter().find(|f| f["name"].as_str().unwrap().contains(needle));
    let headers = named("on_request_headers").expect("a function named after the hook");
    assert!(headers["calls"].as_u64().unwrap() >= REQUESTS, "{headers}");
    assert!(named("hello_redis").is_some(), "the plugin crate's own functions are named");
    assert!(functions.iter().all(|f| f["calls"].as_u64().unwrap() > 0), "only functions that ran");

    // `top` cuts the list; the text form is a table headed by the plugin's totals.
    let top = admin_json(&gw, "GET", "/profile?top=5");
    assert_eq!(top["plugins"][0]["functions"].as_array().unwrap().len(), 5);
    assert_eq!(top["fuel_total"].as_u64(), Some(stats_total), "totals are not cut");
    let text = http_get(&format!("http://{}/profile?format=text&top=5", gw.admin_addr().unwrap())).unwrap();
    let text = text.text();
    assert!(text.starts_with(&format!("plugin hello-redis: {stats_total} fuel")), "{text}");
    let first = format!("{:>6}  {}", functions[0]["index"], functions[0]["name"].as_str().unwrap());
    assert_eq!(text.lines().filter(|l| l.ends_with(&first)).count(), 1, "{text}");
    assert!(text.contains("more functions)"), "{text}");

    // The library API reads the same counters.
    let api = gw.profile().expect("profiling is on");
    assert_eq!(api.total_fuel(), stats_total);
    gw.reset_profile();
    assert_eq!(gw.profile().unwrap().total_fuel(), 0);
}

#[test]
fn profiling_leaves_the_fuel_per_request_as_it_is() {
    // The same requests on one worker (one VM, so the same lazy start-up work in the first
    // request) against a fresh Redis (the same counts), profiled and not: the same fuel, so the
    // probes' own cost (about as much again) is all left out of `/stats` and of the profile.
    // Not to the instruction: each VM seeds its hash maps from `random_get`, and probe
    // sequences differ by a few dozen instructions between VMs (the profile shows them in
    // hashbrown's `insert` and `remove_entry`), whether profiled or not.
    let upstream = TestUpstream::echo().unwrap();
    let mut totals = Vec::new();
    for profile in [true, false] {
        let redis = RedisServer::start().unwrap();
        let gw = Gateway::start(hello_config(&redis, &upstream, profile, 1)).unwrap();
        gw.reset_profile();
        let total = send_requests(&gw);
        if profile {
            assert_eq!(gw.profile().unwrap().total_fuel(), total);
        }
        totals.push(total);
    }
    let (profiled, plain) = (totals[0], totals[1]);
    assert!(profiled.abs_diff(plain) <= plain / 1000, "profiled {profiled}, then not {plain}: within 0.1%");
}

#[test]
fn with_profiling_off_profile_says_so() {
    let upstream = TestUpstream::echo().unwrap();
    let redis = RedisServer::start().unwrap();
    let gw = Gateway::start(hello_config(&redis, &upstream, false, 1)).unwrap();
    assert!(gw.profile().is_none());
    let off = admin_json(&gw, "GET", "/profile");
    assert_eq!(off["profiling"], false, "{off}");
    assert_eq!(off["plugins"], json!([]));
    assert_eq!(admin_json(&gw, "POST", "/profile/reset")["profiling"], false);
    let wrong = http_request("GET", &format!("http://{}/profile/reset", gw.admin_addr().unwrap()), &[], b"").unwrap();
    assert_eq!(wrong.status, 405);
}
