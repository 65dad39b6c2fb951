//! What a limiter does when Redis cannot answer: `failure_mode: allow | deny`, a circuit
//! breaker that stops calling a dead Redis, and a local per-gateway fallback limit (each
//! window's quota divided by the configured gateway count) while the breaker is open.

use std::collections::HashMap;

use super::store::{Outcome, WindowStatus};
use super::window::Window;
use gateway_sdk::WorkerState;
use gateway_sdk::breaker::{BreakerConfig, BreakerVerdict, CircuitBreaker, GuardedRedis};
use gateway_sdk::redis::{RedisClient, RedisError};

/// What to do with a request whose quota cannot be checked in Redis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailureMode {
    /// Let it through (while the breaker is open, within the local fallback limit).
    #[default]
    Allow,
    /// Answer with the configured failure status.
    Deny,
}

impl gateway_sdk::config::FromConfig for FailureMode {
    fn from_config(node: gateway_sdk::config::ConfigNode<'_>) -> Result<Self, gateway_sdk::ConfigError> {
        node.variant(&[("allow", FailureMode::Allow), ("deny", FailureMode::Deny)])
    }
}

/// How one request should be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Ask Redis (`probe`: the breaker is half-open and this request tests Redis).
    Redis {
        /// Whether this request is the breaker's probe.
        probe: bool,
    },
    /// Redis is considered down: decide locally ([`FailurePolicy::fallback`]).
    Local,
}

/// The failure policy of one limiter configuration (per worker).
#[derive(Debug)]
pub struct FailurePolicy {
    /// Allow or deny when Redis fails.
    pub mode: FailureMode,
    /// Status answered in deny mode.
    pub status: u16,
    guarded: GuardedRedis,
    fallback: FallbackLimiter,
}

impl FailurePolicy {
    /// A policy for calls through `client`, guarded by a breaker built from `breaker`;
    /// `gateway_count` (at least 1) divides each window's quota for the fallback.
    pub fn new(
        client: RedisClient,
        mode: FailureMode,
        status: u16,
        breaker: BreakerConfig,
        gateway_count: u64,
    ) -> Self {
        FailurePolicy {
            mode,
            status,
            guarded: GuardedRedis::new(client, CircuitBreaker::new(breaker)),
            fallback: FallbackLimiter::new(gateway_count),
        }
    }

    /// The client and its breaker.
    pub fn guarded(&self) -> &GuardedRedis {
        &self.guarded
    }

    /// Whether to ask Redis for this request.
    pub fn route(&self) -> Route {
        match self.guarded.admit() {
            BreakerVerdict::Closed => Route::Redis { probe: false },
            BreakerVerdict::Probe => Route::Redis { probe: true },
            BreakerVerdict::Open => Route::Local,
        }
    }

    /// Reports that Redis answered (error replies included: Redis is up).
    pub fn record_success(&self) {
        self.guarded.record::<()>(&Ok(()));
    }

    /// Reports a failed call: failures that mean Redis cannot serve us (unreachable, `NOAUTH`,
    /// `READONLY`, `MOVED`, ...) count towards opening the breaker and are logged once per
    /// cause and interval (see [`gateway_sdk::breaker::CircuitBreaker::record_error`]).
    pub fn record_failure(&self, error: &RedisError) {
        self.guarded.breaker().record_error(error);
    }

    /// Whether the breaker is open.
    pub fn breaker_open(&self) -> bool {
        self.guarded.breaker().is_open()
    }

    /// Decides locally while Redis is down: each window's quota divided by the gateway count,
    /// counted on this worker in epoch-aligned windows.
    pub fn fallback(&self, counter_id: &str, windows: &[Window], units: u64, now_ms: u64) -> Outcome {
        self.fallback.check(counter_id, windows, units, now_ms)
    }
}

/// Local per-period counters used while Redis is unreachable.
#[derive(Debug)]
pub struct FallbackLimiter {
    gateway_count: u64,
    /// (counter id, window key name) -> (period end in ms, units used in that period).
    counters: WorkerState<HashMap<(String, String), (u64, u64)>>,
}

/// Counters kept at most; when full, counters of past periods are dropped first.
const FALLBACK_CAPACITY: usize = 10_000;

impl FallbackLimiter {
    /// A limiter dividing quotas by `gateway_count` (at least 1).
    pub fn new(gateway_count: u64) -> Self {
        FallbackLimiter { gateway_count: gateway_count.max(1), counters: WorkerState::new(HashMap::new()) }
    }

    /// The local quota of a window: `quota / gateway_count`, at least 1.
    pub fn local_quota(&self, window: &Window) -> u64 {
        (window.quota / self.gateway_count).max(1)
    }

    /// Checks and charges `units` locally, in each window's fixed or calendar periods (sliding
    /// windows are counted as fixed ones here). The outcome reports the local quotas.
    pub fn check(&self, counter_id: &str, windows: &[Window], units: u64, now_ms: u64) -> Outcome {
        self.counters.with(|m| {
            let mut statuses = Vec::with_capacity(windows.len());
            let mut ends = Vec::with_capacity(windows.len());
            let mut rejected_by = None;
            for (i, w) in windows.iter().enumerate() {
                let local = Window { span: w.span.clone(), quota: self.local_quota(w) };
                let period = w.period(now_ms);
                let used = match m.get(&(counter_id.to_string(), w.key_name())) {
                    Some(&(end, used)) if end == period.end_ms => used,
                    _ => 0,
                };
                let fits = if units == 0 { used < local.quota } else { used.saturating_add(units) <= local.quota };
                if !fits && rejected_by.is_none() {
                    rejected_by = Some(i);
                }
                ends.push(period.end_ms);
                statuses.push(WindowStatus {
                    window: local,
                    period_ms: period.length_ms(),
                    used,
                    reset_ms: period.end_ms.saturating_sub(now_ms),
                });
            }
            if rejected_by.is_none() && units > 0 {
                if m.len() >= FALLBACK_CAPACITY {
                    m.retain(|_, (end, _)| *end > now_ms);
                    if m.len() >= FALLBACK_CAPACITY {
                        m.clear();
                    }
                }
                for (s, end) in statuses.iter_mut().zip(ends) {
                    s.used = s.used.saturating_add(units);
                    m.insert((counter_id.to_string(), s.window.key_name()), (end, s.used));
                }
            }
            Outcome { admitted: rejected_by.is_none(), rejected_by, windows: statuses, reservation: None }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_divides_the_quota_per_gateway_and_resets_per_window() {
        let f = FallbackLimiter::new(4);
        let w = [Window::new(1, 50)];
        let admitted = (0..20).filter(|_| f.check("k", &w, 1, 10_000).admitted).count();
        assert_eq!(admitted, 12, "50 / 4 gateways");
        let no = f.check("k", &w, 1, 10_500);
        assert_eq!((no.rejected_by, no.windows[0].reset_ms, no.windows[0].window.quota), (Some(0), 500, 12));
        assert!(f.check("k", &w, 1, 11_000).admitted, "next window");
        assert!(f.check("other", &w, 1, 10_500).admitted, "counters are per key");
        assert_eq!(FallbackLimiter::new(100).local_quota(&w[0]), 1);
    }

    #[test]
    fn fallback_counts_calendar_windows_per_local_period() {
        use crate::{CalendarUnit, Zone};
        let f = FallbackLimiter::new(2);
        let zone = Zone::parse("Asia/Shanghai", &gateway_sdk::ConfigPath::root("t")).unwrap();
        let w = [Window::calendar(CalendarUnit::Day, zone, 6)];
        // 2026-11-27T15:59:00Z is 23:59 in Shanghai; the local day ends 60 s later.
        let before = 1_795_795_140_000;
        assert_eq!((0..5).filter(|_| f.check("k", &w, 1, before).admitted).count(), 3);
        let no = f.check("k", &w, 1, before);
        assert_eq!((no.windows[0].reset_ms, no.windows[0].period_ms), (60_000, 86_400_000));
        assert!(f.check("k", &w, 1, before + 60_000).admitted, "a new local day");
    }

    #[test]
    fn breaker_opens_after_transport_failures_only() {
        let redis: gateway_sdk::redis::RedisConfig = gateway_sdk::config::read_at(
            &gateway_sdk::config_json!({"service_name": "r.static"}),
            &gateway_sdk::ConfigPath::root("p"),
        )
        .unwrap();
        let client = RedisClient::new(&redis, &gateway_sdk::ConfigPath::root("t").field("redis")).unwrap();
        let breaker = BreakerConfig { failure_threshold: 2, cooldown_ms: 1000 };
        let p = FailurePolicy::new(client, FailureMode::Allow, 503, breaker, 1);
        assert_eq!(p.route(), Route::Redis { probe: false });
        p.record_failure(&RedisError::Reply("ERR".into()));
        p.record_failure(&RedisError::Reply("ERR".into()));
        assert!(!p.breaker_open());
        p.record_failure(&RedisError::Transport { cluster: "c".into() });
        p.record_failure(&RedisError::Transport { cluster: "c".into() });
        assert!(p.breaker_open());
    }
}
