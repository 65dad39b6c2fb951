//! 32 concurrent requests, with and without `max_tokens`, through 2 gateways sharing one Redis:
//! with reservations the tokens charged never exceed the budget; without them (Higress's
//! check-then-charge) the overshoot is measured and printed.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gateway_host::Gateway;
use gateway_host::testing::{RedisServer, http_request, wait_for};
use serde_json::json;
use support::mock_llm::MockLlm;
use support::*;

const CLIENTS: usize = 32;
const BUDGET: u64 = 1000;
/// Each response reports 10 + 90 = 100 tokens; each request reserves 100 + ceil(12/4) = 103.
const USAGE: i64 = 100;

struct Run {
    admitted: usize,
    rejected: usize,
    /// The largest minute counter (one per period; normally just one).
    max_counter: i64,
    total: i64,
}

/// Sends `CLIENTS` requests at once through two gateways; the upstream holds every response
/// until each request is either upstream or rejected, so all admissions overlap. Each asks
/// for `max_tokens` (or sends none, as the OpenAI client does).
fn run(rule: &str, reservation: &str, max_tokens: Option<u64>) -> Run {
    run_with_usage(rule, reservation, max_tokens, USAGE)
}

/// [`run`] with answers of `usage` tokens (10 prompt + the rest completion).
fn run_with_usage(rule: &str, reservation: &str, max_tokens: Option<u64>, usage: i64) -> Run {
    let redis = RedisServer::start().unwrap();
    let llm = Arc::new(MockLlm::start());
    let config = plugin_config(rule, BUDGET, json!({"reservation": reservation}));
    let gateways: Vec<Gateway> = (0..2).map(|_| start_gateway(&redis, &llm.addr(), config.clone(), 2)).collect();
    let urls: Vec<String> = gateways.iter().map(Gateway::url).collect();
    let rejected = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let url = format!("{}/openai/v1/chat/completions?in=10&out={}&hold=1", urls[i % 2], usage - 10);
            let rejected = rejected.clone();
            std::thread::spawn(move || {
                let body = match max_tokens {
                    Some(n) => chat(false, n),
                    None => json!({"model": "m", "messages": [{"role": "user", "content": "abcdefgh"}]}).to_string(),
                };
                let headers = [("x-api-key", "shared-key"), ("content-type", "application/json")];
                let resp = http_request("POST", &url, &headers, body.as_bytes()).unwrap();
                if resp.status == 429 {
                    rejected.fetch_add(1, Ordering::SeqCst);
                }
                resp.status
            })
        })
        .collect();
    let all_decided = wait_for(Duration::from_secs(20), || {
        (llm.arrivals() + rejected.load(Ordering::SeqCst) == CLIENTS).then_some(())
    });
    assert!(all_decided.is_some(), "{} upstream + {} rejected", llm.arrivals(), rejected.load(Ordering::SeqCst));
    llm.open_gate();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let admitted = statuses.iter().filter(|&&s| s == 200).count();
    assert_eq!(admitted + rejected.load(Ordering::SeqCst), CLIENTS, "{statuses:?}");
    let expected = admitted as i64 * usage;
    assert_eq!(wait_charged(&redis, rule, expected), expected, "every admitted request settled to its usage");
    let counters = counters(&redis, rule, 60);
    Run {
        admitted,
        rejected: CLIENTS - admitted,
        max_counter: counters.iter().map(|(_, v)| *v).max().unwrap_or(0),
        total: counters.iter().map(|(_, v)| v).sum(),
    }
}

#[test]
fn reservations_keep_concurrent_requests_within_the_budget() {
    let r = run("conc-on", "on", Some(100));
    println!(
        "reservation on: {} admitted, {} rejected, {} tokens charged of a {BUDGET} budget (overshoot {})",
        r.admitted,
        r.rejected,
        r.total,
        (r.max_counter - BUDGET as i64).max(0)
    );
    assert!(r.max_counter <= BUDGET as i64, "charged {} > budget {BUDGET}", r.max_counter);
    assert!(r.admitted >= 9, "103 reserved per request: at least 9 fit in {BUDGET}, got {}", r.admitted);
}

#[test]
fn without_reservations_concurrent_requests_overshoot_and_it_is_measured() {
    let r = run("conc-off", "off", Some(100));
    let overshoot = r.max_counter - BUDGET as i64;
    println!(
        "reservation off: {} admitted, {} rejected, {} tokens charged of a {BUDGET} budget (overshoot {overshoot}, {:.1}x)",
        r.admitted,
        r.rejected,
        r.total,
        r.max_counter as f64 / BUDGET as f64
    );
    assert_eq!(r.admitted, CLIENTS, "check-then-charge admits every overlapping request");
    assert!(overshoot > 0);
}

#[test]
fn without_max_tokens_reservations_serialise_a_small_budget_and_the_overshoot_is_measured() {
    // No max_tokens: each wants 1024 + 3 and needs at least its prompt (3). The first takes
    // the whole 1000; the others find nothing left until it settles.
    let on = run("conc-free-on", "on", None);
    let off = run("conc-free-off", "off", None);
    // Answers of 1500 tokens, longer than anything reserved: the overshoot is one answer's excess.
    let long = run_with_usage("conc-free-long", "on", None, 1500);
    for (name, r) in [("on", &on), ("off", &off), ("on, 1500-token answers", &long)] {
        println!(
            "no max_tokens, reservation {name}: {} admitted, {} rejected, {} tokens charged of a {BUDGET} budget \
             (overshoot {})",
            r.admitted,
            r.rejected,
            r.total,
            (r.max_counter - BUDGET as i64).max(0)
        );
    }
    assert!(on.max_counter <= BUDGET as i64, "charged {} > budget {BUDGET}", on.max_counter);
    assert!(on.admitted >= 1);
    assert_eq!(off.admitted, CLIENTS, "check-then-charge admits every overlapping request");
    assert_eq!(long.admitted, 1, "the first reserved all of the budget");
    assert_eq!(long.max_counter, 1500, "overshoot = what the one admitted answer used beyond its reservation");
}
