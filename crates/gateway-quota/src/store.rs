//! The atomic check-and-charge of N units across every window of a request in one Redis call,
//! and the settlement of a reservation by a signed delta (a second script on the same keys).
//!
//! Keys are `<prefix>:{<counter id>}:<seconds>:<period index>` (fixed),
//! `<prefix>:{<counter id>}:<day|month|year>:<local date>` (calendar, e.g. `month:2026-11`) or
//! `<prefix>:{<counter id>}:<seconds>:sw` (sliding): every key of one request shares the
//! `{<counter id>}` hash tag, so the script also runs behind a cluster-aware Redis proxy.
//! Time comes from the gateway's clock ([`gateway_sdk::time::now_millis`]); fixed and calendar keys
//! are named by their period, so a key never changes within a period and gateways whose clocks
//! differ a little still never over-admit one. A reservation settles on the keys it charged,
//! so a request admitted before a boundary is settled in the period that admitted it.

use super::window::{Algorithm, SLIDING_BUCKETS, Span, Window, decimal, signed_decimal};
use gateway_sdk::redis::{RedisClient, RedisError, Reply, Script, hash_tagged};

const CHECK_LUA: &str = include_str!("check.lua");
const SETTLE_LUA: &str = include_str!("settle.lua");

/// Extra lifetime of a fixed window's key after its period ends (milliseconds).
pub const KEY_GRACE_MS: u64 = 1000;

/// Extra lifetime of a calendar period's key after the period ends (milliseconds): requests
/// admitted before the boundary still settle there when they finish within this time.
pub const CALENDAR_GRACE_MS: u64 = 3_600_000;

/// Counts quotas in Redis for one limiter configuration.
#[derive(Debug, Clone)]
pub struct QuotaStore {
    client: RedisClient,
    check: Script,
    settle: Script,
    prefix: String,
    algorithm: Algorithm,
}

/// What one window looked like after a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowStatus {
    /// The window.
    pub window: Window,
    /// The length of the window's current period in milliseconds (a calendar month's real
    /// length; the window's length otherwise): the `w` of the `RateLimit-Policy` field.
    pub period_ms: u64,
    /// Units counted in it (after the charge when admitted).
    pub used: u64,
    /// Milliseconds until the window resets (fixed) or until enough old units leave it
    /// (sliding): for a rejecting window, until the rejected request would fit.
    pub reset_ms: u64,
}

impl WindowStatus {
    /// Units still available.
    pub fn remaining(&self) -> u64 {
        self.window.quota.saturating_sub(self.used)
    }

    /// Seconds until reset, rounded up (the `t` of the `RateLimit` field).
    pub fn reset_seconds(&self) -> u64 {
        self.reset_ms.div_ceil(1000)
    }
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the units were admitted (and charged).
    pub admitted: bool,
    /// The index (into `windows`) of the first window that could not fit the request.
    pub rejected_by: Option<usize>,
    /// Every window, in the order given.
    pub windows: Vec<WindowStatus>,
    /// Where the units were charged, to settle later (admitted requests with N > 0 only).
    pub reservation: Option<Reservation>,
}

impl Outcome {
    /// The window that decides the `X-RateLimit-*` headers: the rejecting window, else the one
    /// with the fewest remaining units (the shorter one on ties).
    pub fn tightest(&self) -> Option<&WindowStatus> {
        if let Some(w) = self.rejected_by.and_then(|i| self.windows.get(i)) {
            return Some(w);
        }
        self.windows.iter().min_by_key(|w| (w.remaining(), w.window.seconds()))
    }
}

/// Where an admitted check charged its units: settle it with [`QuotaStore::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Units charged.
    pub units: u64,
    keys: Vec<String>,
    slots: Vec<(char, i64)>,
}

/// The keys and arguments of one check (built without I/O, so it can be unit-tested).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckPlan {
    /// The script's KEYS.
    pub keys: Vec<String>,
    /// The script's ARGV.
    pub args: Vec<String>,
    /// Per key: the TTL in milliseconds a fixed or calendar counter gets when a charge
    /// creates it (until its period ends, plus a grace); for sliding windows, the window's
    /// length plus a bucket.
    pub ttls_ms: Vec<u64>,
    windows: Vec<Window>,
    /// Per window: the script's kind (`f`, `s`, `h`) and the period's length.
    kinds_periods: Vec<(char, u64)>,
    units: u64,
    least: Option<u64>,
}

impl QuotaStore {
    /// A store on `client` whose keys start with `prefix` (e.g. `cluster-rate-limit:<rule_name>`).
    pub fn new(client: RedisClient, prefix: impl Into<String>, algorithm: Algorithm) -> Self {
        QuotaStore {
            client,
            check: Script::new(CHECK_LUA),
            settle: Script::new(SETTLE_LUA),
            prefix: prefix.into(),
            algorithm,
        }
    }

    /// The counting algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The Redis client.
    pub fn client(&self) -> &RedisClient {
        &self.client
    }

    /// Builds the keys and arguments to charge `units` to every window of `counter_id` at
    /// `now_ms` (the gateway's clock in milliseconds since the epoch).
    pub fn plan(&self, counter_id: &str, windows: &[Window], units: u64, now_ms: u64) -> CheckPlan {
        let mut keys = Vec::with_capacity(windows.len());
        let mut args = Vec::with_capacity(2 + 4 * windows.len());
        let mut ttls_ms = Vec::with_capacity(windows.len());
        let mut kinds_periods = Vec::with_capacity(windows.len());
        args.push(decimal(units));
        args.push(decimal(now_ms));
        for w in windows {
            match (&w.span, self.algorithm) {
                (Span::Seconds(seconds), Algorithm::Sliding) => {
                    let len = w.millis().max(1);
                    let bucket = (len / SLIDING_BUCKETS).max(1);
                    let mut suffix = decimal(*seconds);
                    suffix.push_str(":sw");
                    keys.push(hash_tagged(&self.prefix, counter_id, &suffix));
                    args.extend([
                        "s".to_string(),
                        decimal(w.quota),
                        decimal(bucket * SLIDING_BUCKETS),
                        decimal(bucket),
                    ]);
                    ttls_ms.push(bucket * SLIDING_BUCKETS + bucket);
                    kinds_periods.push(('s', len));
                }
                _ => {
                    let period = w.period(now_ms);
                    let reset = period.end_ms.saturating_sub(now_ms);
                    let grace = if w.is_calendar() { CALENDAR_GRACE_MS } else { KEY_GRACE_MS };
                    let ttl = reset.saturating_add(grace);
                    let mut suffix = w.key_name();
                    suffix.push(':');
                    suffix.push_str(&period.name);
                    keys.push(hash_tagged(&self.prefix, counter_id, &suffix));
                    args.extend(["f".to_string(), decimal(w.quota), decimal(reset), decimal(ttl)]);
                    ttls_ms.push(ttl);
                    kinds_periods.push(('f', period.length_ms()));
                }
            }
        }
        CheckPlan { keys, args, ttls_ms, windows: windows.to_vec(), kinds_periods, units, least: None }
    }

    /// Like [`QuotaStore::plan`], but "reserve what fits": the check admits the request when
    /// every window still has room for `least` units (`least` 0: while no window is over its
    /// quota, `used <= quota`) and charges as much of `units` as every window has room for,
    /// never less than `least`. The charged amount is [`Reservation::units`].
    pub fn plan_up_to(&self, counter_id: &str, windows: &[Window], units: u64, least: u64, now_ms: u64) -> CheckPlan {
        let least = least.min(units);
        let mut plan = self.plan(counter_id, windows, units, now_ms);
        plan.args.push(decimal(least));
        plan.least = Some(least);
        plan
    }

    /// A plan on counters shared with Higress's Go plugins (see [`super::higress`]): window `i`
    /// is counted in `keys[i]`, Higress's own key name, and starts at that key's first charge
    /// (it lasts the window's length from then, as the Go plugins' `EXPIRE` makes it). `least`
    /// as in [`QuotaStore::plan_up_to`]; `None` charges exactly `units`.
    ///
    /// Only windows of seconds make sense here (the Go plugins know nothing else); a calendar
    /// window is counted as its nominal length. Configurations are checked for that with
    /// [`super::higress::check_windows`].
    pub fn plan_shared_with_higress(
        &self,
        keys: Vec<String>,
        windows: &[Window],
        units: u64,
        least: Option<u64>,
        now_ms: u64,
    ) -> CheckPlan {
        let mut args = Vec::with_capacity(3 + 4 * windows.len());
        args.push(decimal(units));
        args.push(decimal(now_ms));
        for w in windows {
            args.extend(["h".to_string(), decimal(w.quota), decimal(w.millis().max(1)), "0".to_string()]);
        }
        let least = least.map(|l| l.min(units));
        if let Some(l) = least {
            args.push(decimal(l));
        }
        CheckPlan {
            keys,
            args,
            ttls_ms: windows.iter().map(|w| w.millis().max(1)).collect(),
            windows: windows.to_vec(),
            kinds_periods: windows.iter().map(|w| ('h', w.millis())).collect(),
            units,
            least,
        }
    }

    /// Checks and charges atomically in one Redis call (EVALSHA; EVAL once if the script is
    /// not cached yet). A rejected request charges nothing.
    pub async fn check(&self, plan: &CheckPlan) -> Result<Outcome, RedisError> {
        let reply = self.check.run(&self.client, &plan.keys, &plan.args).await?;
        plan.outcome(reply)
    }

    /// Adds `delta` (negative to refund) to the counters a reservation charged, in one Redis
    /// call. Counters whose period has ended are left alone; counts never go below zero.
    pub async fn settle(&self, reservation: &Reservation, delta: i64) -> Result<(), RedisError> {
        if delta == 0 || reservation.keys.is_empty() {
            return Ok(());
        }
        let (keys, args) = reservation.settle_plan(delta);
        // The counts after settling (-1 for a counter whose period is over).
        self.settle.query::<Vec<i64>, _, _>(&self.client, &keys, &args).await.map(|_| ())
    }

    /// The check script (KEYS and ARGV as in [`CheckPlan`]).
    pub fn check_script(&self) -> &Script {
        &self.check
    }

    /// The settle script (KEYS and ARGV as from [`Reservation::settle_plan`]).
    pub fn settle_script(&self) -> &Script {
        &self.settle
    }
}

impl Reservation {
    /// The settle script's KEYS and ARGV to add `delta` to the charged counters.
    pub fn settle_plan(&self, delta: i64) -> (Vec<String>, Vec<String>) {
        let mut args = Vec::with_capacity(1 + 2 * self.slots.len());
        args.push(signed_decimal(delta));
        for (kind, field) in &self.slots {
            args.push(kind.to_string());
            args.push(signed_decimal(*field));
        }
        (self.keys.clone(), args)
    }
}

impl CheckPlan {
    /// The units this plan charges (at most, for [`QuotaStore::plan_up_to`]).
    pub fn units(&self) -> u64 {
        self.units
    }

    /// The least units a [`QuotaStore::plan_up_to`] plan charges.
    pub fn least(&self) -> Option<u64> {
        self.least
    }

    /// Interprets the check script's reply.
    pub fn outcome(&self, reply: Reply) -> Result<Outcome, RedisError> {
        let bad = |why: &str| RedisError::Protocol(format!("quota check script: {why}"));
        let ints: Vec<i64> = reply.into_typed().map_err(|e| bad(&format!("expected an array of integers ({e})")))?;
        let mut it = ints.into_iter();
        let rejected = it.next().ok_or_else(|| bad("empty reply"))?;
        let mut windows = Vec::with_capacity(self.windows.len());
        let mut slots = Vec::with_capacity(self.windows.len());
        for (w, (kind, period_ms)) in self.windows.iter().zip(&self.kinds_periods) {
            let (Some(used), Some(reset), Some(field)) = (it.next(), it.next(), it.next()) else {
                return Err(bad("too few values"));
            };
            windows.push(WindowStatus {
                window: w.clone(),
                period_ms: *period_ms,
                used: u64::try_from(used).unwrap_or(0),
                reset_ms: u64::try_from(reset).unwrap_or(0),
            });
            slots.push((*kind, field));
        }
        // The script appends what it charged; a reply without it charged `units`.
        let charged = match it.next() {
            Some(c) => u64::try_from(c).map_err(|_| bad("negative charge"))?,
            None => self.units,
        };
        let rejected_by = usize::try_from(rejected).ok().filter(|&i| i > 0).map(|i| i - 1);
        if rejected_by.is_some_and(|i| i >= windows.len()) {
            return Err(bad("rejected window out of range"));
        }
        let admitted = rejected_by.is_none();
        if admitted && (charged > self.units || charged < self.least.unwrap_or(self.units)) {
            return Err(bad("charged outside the planned range"));
        }
        let reservation =
            (admitted && charged > 0).then(|| Reservation { units: charged, keys: self.keys.clone(), slots });
        Ok(Outcome { admitted, rejected_by, windows, reservation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::redis::RedisConfig;

    fn store(algorithm: Algorithm) -> QuotaStore {
        let config: RedisConfig = gateway_sdk::config::read_at(
            &gateway_sdk::config_json!({"service_name": "r.static"}),
            &gateway_sdk::ConfigPath::root("p"),
        )
        .unwrap();
        let client = RedisClient::new(&config, &gateway_sdk::config::ConfigPath::root("t").field("redis")).unwrap();
        QuotaStore::new(client, "rl:rule", algorithm)
    }

    #[test]
    fn fixed_plans_name_each_period_and_share_one_hash_tag() {
        let s = store(Algorithm::Fixed);
        let now = 1_700_000_000_250;
        let plan = s.plan("limit_by_header:k:v", &[Window::new(1, 10), Window::new(3600, 1000)], 1, now);
        assert_eq!(
            plan.keys,
            ["rl:rule:{limit_by_header:k:v}:1:1700000000", "rl:rule:{limit_by_header:k:v}:3600:472222"]
        );
        let hour_end = 472_223 * 3_600_000;
        assert_eq!(
            plan.args,
            [
                "1".to_string(),
                now.to_string(),
                "f".into(),
                "10".into(),
                "750".into(),
                "1750".into(),
                "f".into(),
                "1000".into(),
                (hour_end - now).to_string(),
                (hour_end - now + 1000).to_string()
            ]
        );
    }

    #[test]
    fn calendar_plans_name_the_local_period_and_live_until_it_ends() {
        use crate::{CalendarUnit, Zone};
        let zone = Zone::parse("Asia/Shanghai", &gateway_sdk::config::ConfigPath::root("t")).unwrap();
        let windows = [Window::new(60, 5), Window::calendar(CalendarUnit::Month, zone, 1000)];
        // 2026-11-30T15:59:59Z is the last second of November in Shanghai.
        let now = 1_796_054_399_000;
        for algorithm in [Algorithm::Fixed, Algorithm::Sliding] {
            let plan = store(algorithm).plan("id", &windows, 1, now);
            assert_eq!(plan.keys[1], "rl:rule:{id}:month:2026-11", "{algorithm:?}");
            assert_eq!(plan.args[6..], ["f", "1000", "1000", "3601000"], "calendar windows are never sliding");
            assert_eq!(plan.ttls_ms[1], 1000 + CALENDAR_GRACE_MS);
        }
        let next = store(Algorithm::Fixed).plan("id", &windows, 1, now + 1000);
        assert_eq!(next.keys[1], "rl:rule:{id}:month:2026-12");
        let ok = next.outcome(Reply::Array([0, 1, 59_000, 0, 1, 1, 0].into_iter().map(Reply::Int).collect())).unwrap();
        assert_eq!(ok.windows[1].period_ms, 31 * 86_400_000, "December's length");
    }

    #[test]
    fn sliding_plans_use_one_hash_per_window() {
        let plan = store(Algorithm::Sliding).plan("id", &[Window::new(60, 5)], 2, 1000);
        assert_eq!(plan.keys, ["rl:rule:{id}:60:sw"]);
        assert_eq!(plan.args, ["2", "1000", "s", "5", "60000", "6000"]);
    }

    #[test]
    fn up_to_plans_pass_the_least_units_last_and_reserve_what_the_script_charged() {
        let s = store(Algorithm::Fixed);
        let plan = s.plan_up_to("id", &[Window::new(60, 200)], 1030, 6, 0);
        assert_eq!(plan.args.last().map(String::as_str), Some("6"));
        assert_eq!(plan.args.len(), 2 + 4 + 1);
        let ok = plan.outcome(Reply::Array([0, 200, 60_000, 0, 154].into_iter().map(Reply::Int).collect())).unwrap();
        assert_eq!(ok.reservation.as_ref().map(|r| r.units), Some(154));
        let none = plan.outcome(Reply::Array([1, 230, 60_000, 0, 0].into_iter().map(Reply::Int).collect())).unwrap();
        assert!(!none.admitted && none.reservation.is_none());
        assert!(plan.outcome(Reply::Array([0, 200, 60_000, 0, 2].into_iter().map(Reply::Int).collect())).is_err());
        let zero = s.plan_up_to("id", &[Window::new(60, 200)], 0, 0, 0);
        let ok = zero.outcome(Reply::Array([0, 200, 60_000, 0, 0].into_iter().map(Reply::Int).collect())).unwrap();
        assert!(ok.admitted && ok.reservation.is_none(), "nothing charged, nothing to settle");
    }

    #[test]
    fn replies_become_outcomes_with_reservations() {
        let plan = store(Algorithm::Fixed).plan("id", &[Window::new(1, 10), Window::new(60, 100)], 3, 0);
        let ok =
            plan.outcome(Reply::Array([0, 3, 1000, 0, 50, 60000, 0].into_iter().map(Reply::Int).collect())).unwrap();
        assert!(ok.admitted);
        assert_eq!(ok.windows[1].remaining(), 50);
        assert_eq!(ok.tightest().unwrap().window.seconds(), 1);
        assert_eq!(ok.reservation.as_ref().unwrap().units, 3);
        let no =
            plan.outcome(Reply::Array([2, 3, 1000, 0, 99, 1500, 0].into_iter().map(Reply::Int).collect())).unwrap();
        assert_eq!((no.admitted, no.rejected_by, no.reservation.is_none()), (false, Some(1), true));
        assert_eq!(no.tightest().unwrap().reset_seconds(), 2);
        assert!(plan.outcome(Reply::Array(vec![Reply::Int(0)])).is_err());
        assert!(plan.outcome(Reply::Int(1)).is_err());
        assert!(plan.outcome(Reply::Array([9, 0, 0, 0, 0, 0, 0].into_iter().map(Reply::Int).collect())).is_err());
    }
}
