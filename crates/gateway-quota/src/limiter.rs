//! The facade both limiters decide through: [`QuotaLimiter::admit`] takes a request's counter,
//! windows and the units it asks for, and answers admitted (with what Redis charged, to
//! settle later), rejected (and by whom) or unavailable, routing through the local over-limit
//! cache, the circuit breaker, Redis or the local fallback limit; [`QuotaLimiter::settle`]
//! brings a reservation to the real amount. A plugin keeps only its own fields and hooks.

use gateway_sdk::redis::RedisError;

use super::cache::OverLimitCache;
use super::failure::{FailureMode, FailurePolicy, Route};
use super::store::{CheckPlan, Outcome, QuotaStore, Reservation};
use super::window::{Algorithm, Window};

/// How many units a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Exactly `n` (a request: 1); rejected when any window cannot fit them.
    Exactly(u64),
    /// As many of `want` as every window has room for, never fewer than `least`: admitted when
    /// every window still fits `least` (`least` 0: while no window is over its quota).
    UpTo {
        /// Units wanted (an estimate).
        want: u64,
        /// Units the request needs at least.
        least: u64,
    },
}

impl Ask {
    fn bounds(self) -> (u64, u64) {
        match self {
            Ask::Exactly(n) => (n, n),
            Ask::UpTo { want, least } => (want, least.min(want)),
        }
    }
}

/// Who rejected a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectedBy {
    /// Redis: the windows are full.
    Redis,
    /// The local over-limit cache, without a Redis call.
    Cache,
    /// The local fallback limit while the breaker is open.
    Fallback,
}

/// The decision on one request.
#[derive(Debug)]
pub enum Verdict {
    /// Admitted by Redis: the windows after the charge, and where it was charged.
    Admitted(Outcome),
    /// Admitted without Redis: by the local fallback limit while the breaker is open
    /// (`Some`, with its local outcome) or after a failed Redis call in `allow` mode (`None`).
    /// Nothing is reserved in Redis.
    AdmittedLocally(Option<Outcome>),
    /// Over quota.
    Rejected(Outcome, RejectedBy),
    /// Redis cannot be asked and `failure_mode` is `deny`.
    Unavailable,
}

/// One compiled limiter configuration's quota machinery (per worker).
#[derive(Debug)]
pub struct QuotaLimiter {
    store: QuotaStore,
    cache: Option<OverLimitCache>,
    failure: FailurePolicy,
    shared_with_higress: bool,
}

impl QuotaLimiter {
    /// A limiter counting in Redis through the failure policy's client under keys starting
    /// with `prefix`.
    /// `cache`: keep counters known to be over their quota on this worker. With
    /// `shared_with_higress` every counter id is a Higress key name
    /// ([`super::higress::higress_key`]) and windows start at a key's first charge.
    pub fn new(
        prefix: impl Into<String>,
        algorithm: Algorithm,
        failure: FailurePolicy,
        cache: bool,
        shared_with_higress: bool,
    ) -> Self {
        QuotaLimiter {
            store: QuotaStore::new(failure.guarded().client().clone(), prefix, algorithm),
            cache: cache.then(OverLimitCache::default),
            failure,
            shared_with_higress,
        }
    }

    /// The failure policy (mode, deny status, breaker).
    pub fn failure(&self) -> &FailurePolicy {
        &self.failure
    }

    /// The store (its client and scripts).
    pub fn store(&self) -> &QuotaStore {
        &self.store
    }

    /// The Redis check a request on `counter` makes (no I/O).
    pub fn plan(&self, counter: &str, windows: &[Window], ask: Ask, now_ms: u64) -> CheckPlan {
        let (want, least) = ask.bounds();
        let least = matches!(ask, Ask::UpTo { .. }).then_some(least);
        if self.shared_with_higress {
            return self.store.plan_shared_with_higress(vec![counter.to_string()], windows, want, least, now_ms);
        }
        match least {
            Some(least) => self.store.plan_up_to(counter, windows, want, least, now_ms),
            None => self.store.plan(counter, windows, want, now_ms),
        }
    }

    /// Decides one request on `counter` and `windows` at `now_ms`: the over-limit cache first,
    /// then Redis (one call) unless the breaker is open, then the local fallback. A failed
    /// Redis call is recorded in the breaker (which logs its cause, throttled) and returned
    /// with the verdict `failure_mode` gives, so the caller can count it.
    pub async fn admit(
        &self,
        counter: &str,
        windows: &[Window],
        ask: Ask,
        now_ms: u64,
    ) -> (Verdict, Option<RedisError>) {
        let (want, least) = ask.bounds();
        if let Some(local) = self.cache.as_ref().and_then(|c| c.check(counter, least.max(1), now_ms)) {
            return (Verdict::Rejected(local, RejectedBy::Cache), None);
        }
        match self.failure.route() {
            Route::Local => (self.decide_locally(counter, windows, want, least, now_ms), None),
            Route::Redis { .. } => {
                let plan = self.plan(counter, windows, ask, now_ms);
                match self.store.check(&plan).await {
                    Ok(outcome) => {
                        self.failure.record_success();
                        if outcome.admitted {
                            return (Verdict::Admitted(outcome), None);
                        }
                        if let Some(cache) = &self.cache {
                            cache.record(counter, &outcome, now_ms);
                        }
                        (Verdict::Rejected(outcome, RejectedBy::Redis), None)
                    }
                    Err(e) => {
                        self.failure.record_failure(&e);
                        let verdict = match self.failure.mode {
                            FailureMode::Deny => Verdict::Unavailable,
                            FailureMode::Allow => Verdict::AdmittedLocally(None),
                        };
                        (verdict, Some(e))
                    }
                }
            }
        }
    }

    /// The decision while the breaker is open: `deny` refuses; `allow` admits what fits of
    /// `want` (at least `least`) in each window's share of this gateway.
    fn decide_locally(&self, counter: &str, windows: &[Window], want: u64, least: u64, now_ms: u64) -> Verdict {
        if self.failure.mode == FailureMode::Deny {
            return Verdict::Unavailable;
        }
        if want == least {
            let outcome = self.failure.fallback(counter, windows, want, now_ms);
            return if outcome.admitted {
                Verdict::AdmittedLocally(Some(outcome))
            } else {
                Verdict::Rejected(outcome, RejectedBy::Fallback)
            };
        }
        let probe = self.failure.fallback(counter, windows, 0, now_ms);
        let room = probe.windows.iter().map(|w| w.remaining()).min().unwrap_or(0);
        if !probe.admitted || room < least {
            let mut rejected = probe;
            rejected.admitted = false;
            rejected.rejected_by =
                rejected.rejected_by.or_else(|| rejected.windows.iter().position(|w| w.remaining() < least));
            return Verdict::Rejected(rejected, RejectedBy::Fallback);
        }
        let units = want.min(room).max(least);
        if units == 0 {
            return Verdict::AdmittedLocally(Some(probe));
        }
        let outcome = self.failure.fallback(counter, windows, units, now_ms);
        if outcome.admitted {
            Verdict::AdmittedLocally(Some(outcome))
        } else {
            Verdict::Rejected(outcome, RejectedBy::Fallback)
        }
    }

    /// Adds `delta` (negative to refund) to what `reservation` charged, in one Redis call,
    /// recording the result in the breaker.
    pub async fn settle(&self, reservation: &Reservation, delta: i64) -> Result<(), RedisError> {
        let result = self.store.settle(reservation, delta).await;
        match &result {
            Ok(()) => self.failure.record_success(),
            Err(e) => self.failure.record_failure(e),
        }
        result
    }
}
