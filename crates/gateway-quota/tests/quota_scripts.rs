//! The quota scripts against a real `redis-server` (a child process on a free loopback port):
//! fixed and sliding windows, several windows in one call, rejected requests charging nothing,
//! and settling a reservation. Time is passed to the scripts, so no test waits for a window.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use gateway_host::testing::RedisServer;
use gateway_quota::{Algorithm, QuotaStore, Window};
use gateway_sdk::ConfigPath;
use gateway_sdk::redis::codec::decode_reply;
use gateway_sdk::redis::{RedisClient, RedisConfig, Reply};

/// A real redis-server (gateway-host's test support checks that the server on the port is our
/// child), with replies decoded by the SDK's own codec.
struct Redis {
    server: RedisServer,
}

impl Redis {
    fn start() -> Redis {
        Redis { server: RedisServer::start().expect("redis-server starts") }
    }

    fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_ref()).collect();
        let frame = self.server.command_frame(&args).expect("redis answers");
        decode_reply(&frame).expect("a whole RESP2 reply")
    }

    fn eval(&mut self, source: &str, keys: &[String], args: &[String]) -> Reply {
        let mut cmd = vec!["EVAL".to_string(), source.to_string(), keys.len().to_string()];
        cmd.extend(keys.iter().cloned());
        cmd.extend(args.iter().cloned());
        self.call(&cmd)
    }

    fn get(&mut self, key: &str) -> Option<i64> {
        self.server.get_int(key).expect("GET answers")
    }
}

fn store(algorithm: Algorithm) -> QuotaStore {
    let config: RedisConfig = gateway_sdk::config::read_at(
        &gateway_sdk::config_json!({"service_name": "redis.static"}),
        &gateway_sdk::ConfigPath::root("test"),
    )
    .unwrap();
    let client = RedisClient::new(&config, &ConfigPath::root("t").field("redis")).unwrap();
    QuotaStore::new(client, "test", algorithm)
}

/// A time well inside a minute: 10.5 s after a minute boundary (1.8e12 is a whole minute).
const T0: u64 = 1_800_000_000_000 + 10_500;

#[test]
fn fixed_windows_admit_exactly_the_quota_and_rejections_charge_nothing() {
    let mut redis = Redis::start();
    let s = store(Algorithm::Fixed);
    let windows = [Window::new(1, 3), Window::new(60, 5)];
    let check = |redis: &mut Redis, now: u64| {
        let plan = s.plan("id", &windows, 1, now);
        plan.outcome(redis.eval(s.check_script().source(), &plan.keys, &plan.args)).unwrap()
    };
    let admitted = (0..10).filter(|_| check(&mut redis, T0).admitted).count();
    assert_eq!(admitted, 3, "3 per second");
    let no = check(&mut redis, T0 + 100);
    assert_eq!(no.rejected_by, Some(0));
    assert_eq!((no.windows[0].used, no.windows[0].reset_ms), (3, 400));
    assert_eq!(no.windows[1].used, 3, "the minute window was not charged by rejections");
    let plan = s.plan("id", &windows, 1, T0);
    assert_eq!(redis.get(&plan.keys[1]), Some(3));

    // The next second: two more fit the minute window, then the minute window rejects.
    let admitted = (0..10).filter(|_| check(&mut redis, T0 + 1000).admitted).count();
    assert_eq!(admitted, 2);
    let no = check(&mut redis, T0 + 2000);
    assert_eq!(no.rejected_by, Some(1));
    assert_eq!(no.windows[0].used, 0, "the second window was not charged");
    assert_eq!(no.windows[1].reset_ms, 60_000 - 12_500);
    let plan = s.plan("id", &windows, 1, T0 + 2000);
    assert_eq!(redis.get(&plan.keys[0]), None, "nothing was written for the rejected request");
    assert!(matches!(redis.call(&["PTTL", plan.keys[1].as_str()]), Reply::Int(ms) if ms > 0 && ms <= 61_000));
}

#[test]
fn several_units_and_zero_units() {
    let mut redis = Redis::start();
    let s = store(Algorithm::Fixed);
    let windows = [Window::new(60, 10)];
    let run = |redis: &mut Redis, units: u64| {
        let plan = s.plan("tokens", &windows, units, T0);
        plan.outcome(redis.eval(s.check_script().source(), &plan.keys, &plan.args)).unwrap()
    };
    assert!(run(&mut redis, 7).admitted);
    let no = run(&mut redis, 4);
    assert_eq!((no.admitted, no.windows[0].used), (false, 7));
    assert!(run(&mut redis, 0).admitted, "a zero-unit check passes while something is left");
    assert!(run(&mut redis, 3).admitted);
    assert!(!run(&mut redis, 0).admitted, "and fails once nothing is left");
}

#[test]
fn up_to_checks_reserve_what_fits_and_admit_while_the_least_fits() {
    let mut redis = Redis::start();
    for algorithm in [Algorithm::Fixed, Algorithm::Sliding] {
        let s = store(algorithm);
        let id = format!("upto-{algorithm:?}");
        let windows = [Window::new(60, 200), Window::new(3600, 1000)];
        let run = |redis: &mut Redis, units: u64, least: u64| {
            let plan = s.plan_up_to(&id, &windows, units, least, T0);
            plan.outcome(redis.eval(s.check_script().source(), &plan.keys, &plan.args)).unwrap()
        };
        let first = run(&mut redis, 1030, 6);
        assert_eq!(first.reservation.as_ref().map(|r| r.units), Some(200), "{algorithm:?}: all the minute has");
        assert_eq!((first.windows[0].used, first.windows[1].used), (200, 200));
        let no = run(&mut redis, 1030, 6);
        assert_eq!((no.admitted, no.rejected_by), (false, Some(0)), "{algorithm:?}: nothing left for the least");
        assert_eq!(no.windows[0].used, 200, "a rejection charges nothing");
        // Give back 40: 40 left, 30 reserved of the 30 asked, then the last 10 of another 30.
        let plan = s.plan_up_to(&id, &windows, 1030, 6, T0);
        let (keys, args) = first.reservation.as_ref().unwrap().settle_plan(-40);
        assert!(matches!(redis.eval(s.settle_script().source(), &keys, &args), Reply::Array(_)));
        let some = run(&mut redis, 30, 6);
        assert_eq!(some.reservation.as_ref().map(|r| r.units), Some(30), "{algorithm:?}");
        let rest = run(&mut redis, 30, 6);
        assert_eq!(rest.reservation.as_ref().map(|r| r.units), Some(10), "{algorithm:?}: the last 10");
        assert_eq!(plan.least(), Some(6));
        // Least 0 admits while used <= quota (Higress's check) and charges nothing.
        let zero = run(&mut redis, 0, 0);
        assert!(zero.admitted && zero.reservation.is_none(), "{algorithm:?}: 200 of 200 used still admits");
        assert!(!run(&mut redis, 1, 1).admitted);
    }
}

#[test]
fn sliding_windows_never_admit_more_than_the_quota_in_any_span() {
    let mut redis = Redis::start();
    let s = store(Algorithm::Sliding);
    let windows = [Window::new(10, 10)];
    let base = T0 - T0 % 10_000;
    let check = |redis: &mut Redis, now: u64| {
        let plan = s.plan("sw", &windows, 1, now);
        plan.outcome(redis.eval(s.check_script().source(), &plan.keys, &plan.args)).unwrap()
    };
    // Everything at the end of one bucket; times in 1 s sub-buckets.
    let mut admitted_at = Vec::new();
    for step in 0..400u64 {
        let now = base + 900 + step * 100;
        let o = check(&mut redis, now);
        if o.admitted {
            admitted_at.push(now);
        } else if let Some(w) = o.rejected_by.map(|i| o.windows[i].clone()) {
            assert!(w.reset_ms > 0 && w.reset_ms <= 11_000, "reset {w:?}");
        }
    }
    for (i, &t) in admitted_at.iter().enumerate() {
        let in_span = admitted_at[i..].iter().take_while(|&&u| u < t + 10_000).count();
        assert!(in_span <= 10, "{in_span} admitted within 10 s starting at {t}");
    }
    assert!(admitted_at.len() >= 30, "40 s of traffic admits about 10 per 10 s: {}", admitted_at.len());

    // The reset of a rejection is when the oldest bucket leaves the window.
    let plan = s.plan("sw2", &windows, 10, base + 500);
    assert!(plan.outcome(redis.eval(s.check_script().source(), &plan.keys, &plan.args)).unwrap().admitted);
    let plan = s.plan("sw2", &windows, 1, base + 9_999);
    let no = plan.outcome(redis.eval(s.check_script().source(), &plan.keys, &plan.args)).unwrap();
    assert_eq!(no.windows[0].reset_ms, 11_000 - 9_999);
    let plan = s.plan("sw2", &windows, 1, base + 10_999);
    assert!(!plan.outcome(redis.eval(s.check_script().source(), &plan.keys, &plan.args)).unwrap().admitted);
    let plan = s.plan("sw2", &windows, 1, base + 11_000);
    assert!(plan.outcome(redis.eval(s.check_script().source(), &plan.keys, &plan.args)).unwrap().admitted);
}

#[test]
fn reservations_settle_by_a_signed_delta_on_the_same_counters() {
    let mut redis = Redis::start();
    for algorithm in [Algorithm::Fixed, Algorithm::Sliding] {
        let s = store(algorithm);
        let windows = [Window::new(60, 100), Window::new(3600, 1000)];
        let id = format!("{algorithm:?}");
        let plan = s.plan(&id, &windows, 50, T0);
        let o = plan.outcome(redis.eval(s.check_script().source(), &plan.keys, &plan.args)).unwrap();
        let reservation = o.reservation.unwrap();
        let settle = |redis: &mut Redis, delta: i64| {
            let (keys, args) = reservation.settle_plan(delta);
            match redis.eval(s.settle_script().source(), &keys, &args) {
                Reply::Array(v) => v,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(settle(&mut redis, -20), [Reply::Int(30), Reply::Int(30)], "{algorithm:?}");
        assert_eq!(settle(&mut redis, 5), [Reply::Int(35), Reply::Int(35)]);
        assert_eq!(settle(&mut redis, -500), [Reply::Int(0), Reply::Int(0)], "never below zero");
        // A later check sees the settled counts.
        let plan = s.plan(&id, &windows, 1, T0 + 1);
        let o = plan.outcome(redis.eval(s.check_script().source(), &plan.keys, &plan.args)).unwrap();
        assert_eq!(o.windows[0].used, 1);
        redis.call(&["DEL", plan.keys[0].as_str()]);
        assert_eq!(settle(&mut redis, 1)[0], Reply::Int(-1), "an expired counter is left alone");
        assert_eq!(redis.call(&["EXISTS", plan.keys[0].as_str()]), Reply::Int(0));
    }
}
