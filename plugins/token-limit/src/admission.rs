//! Admission against Redis, one call each way: at request time check every window and reserve
//! what fits of the estimate, at least its lower bound (or, with `reservation: off`, only
//! check, as Higress: admitted while used <= quota); at the end settle the reservation to the
//! real usage (or charge the usage). Redis failures go through `failure_mode` and the circuit
//! breaker, with the SDK's local per-gateway fallback while it is open; usage that cannot be
//! charged then waits in a bounded per-worker queue until Redis answers again.

pub use gateway_quota::late_charge::Settled;
use gateway_quota::late_charge::{LateCharge, LateCharges};
use gateway_quota::limiter::{Ask, QuotaLimiter, Verdict};
use gateway_quota::{FailurePolicy, Outcome, Reservation, Window};
use gateway_sdk::prelude::*;
use gateway_sdk::time::now_millis;

use crate::request::Estimate;

/// Redis access of one compiled configuration.
#[derive(Debug)]
pub struct Admission {
    quota: QuotaLimiter,
    reservation: bool,
    /// `share_counters_with_higress`: counters are Higress's keys, charged afterwards as
    /// `ai-token-ratelimit` charges them.
    shared: bool,
    /// Usage charged after the response (queued while Redis is down; drops counted in
    /// `token_limit.charges_dropped`).
    late: LateCharges,
}

/// What a request was allowed with, and how to settle it.
#[derive(Debug, Default)]
pub struct Ticket {
    /// Tokens reserved in Redis (0 without a reservation).
    pub reserved: u64,
    /// What the request was estimated at.
    pub estimate: Estimate,
    /// The windows as seen at admission (for quota headers).
    pub outcome: Option<Outcome>,
    reservation: Option<Reservation>,
    /// Counters to charge afterwards (`reservation: off`, nothing reserved, or Redis failed
    /// at request time): the keys and when each one's window ends.
    charge_to: Option<(Vec<String>, Vec<u64>)>,
    /// The window of a counter shared with Higress.
    shared_window: Option<Window>,
}

/// The decision at request time.
#[derive(Debug)]
pub enum Decision {
    /// Go on; settle the ticket at the end.
    Admitted(Ticket),
    /// Over quota.
    Rejected(Outcome),
    /// The request needs more than this window's whole quota: waiting never helps.
    TooLarge {
        /// The least the request needs.
        needed: u64,
        /// The window that can never fit it.
        window: Window,
    },
    /// Redis failed and `failure_mode: deny`.
    Unavailable,
}

impl Admission {
    /// Builds it on `failure`'s client, keys under `prefix`; with `shared`, counter ids are Higress's
    /// key names (`share_counters_with_higress`).
    pub fn new(prefix: &str, failure: FailurePolicy, reservation: bool, shared: bool) -> Self {
        Admission {
            quota: QuotaLimiter::new(prefix, gateway_quota::Algorithm::Fixed, failure, false, shared),
            reservation,
            shared,
            late: LateCharges::new("token-limit", "token_limit.charges_dropped"),
        }
    }

    /// Checks and reserves what fits of `estimate` (at least its lower bound) in one Redis
    /// call; with `reservation: off` only checks.
    pub async fn admit(&self, counter_id: &str, windows: &[Window], estimate: Estimate) -> Decision {
        if self.reservation
            && let Some(w) = windows.iter().find(|w| estimate.least > w.quota)
        {
            return Decision::TooLarge { needed: estimate.least, window: w.clone() };
        }
        let (want, least) = if self.reservation { (estimate.want, estimate.least) } else { (0, 0) };
        let now = now_millis();
        let ask = Ask::UpTo { want, least };
        let shared_window = if self.shared { windows.first().cloned() } else { None };
        // The counters to charge afterwards, when nothing is reserved in Redis.
        let charge_to = || {
            let plan = self.quota.plan(counter_id, windows, ask, now);
            let ends = plan.ttls_ms.iter().map(|t| now.saturating_add(*t)).collect();
            Some((plan.keys, ends))
        };
        let (verdict, error) = self.quota.admit(counter_id, windows, ask, now).await;
        if let Some(e) = error {
            gateway_sdk::warn_throttled!(
                "token-limit:check",
                "token-limit: quota check failed ({e}); failure_mode decides"
            );
        }
        match verdict {
            Verdict::Admitted(outcome) => {
                let reservation = outcome.reservation.clone();
                let reserved = reservation.as_ref().map_or(0, |r| r.units);
                // Nothing reserved (reservation off, a request that is not a completion): the
                // usage is added afterwards.
                let charge_to = if reservation.is_none() { charge_to() } else { None };
                Decision::Admitted(Ticket {
                    reserved,
                    estimate,
                    outcome: Some(outcome),
                    reservation,
                    charge_to,
                    shared_window,
                })
            }
            // By the local fallback (with its outcome) or after a failed check in `allow` mode:
            // the usage is charged afterwards.
            Verdict::AdmittedLocally(outcome) => Decision::Admitted(Ticket {
                estimate,
                outcome,
                charge_to: charge_to(),
                shared_window,
                ..Ticket::default()
            }),
            Verdict::Rejected(outcome, _) => Decision::Rejected(outcome),
            Verdict::Unavailable => Decision::Unavailable,
        }
    }

    /// Brings Redis to `total` tokens for this request: settles the reservation by the
    /// difference, or charges `total` after the fact (queued while Redis is down). At most
    /// one Redis call.
    pub async fn settle(&self, ticket: &Ticket, total: u64) -> Result<Settled, RedisError> {
        if let Some(reservation) = &ticket.reservation {
            let delta = i64::try_from(total)
                .unwrap_or(i64::MAX)
                .saturating_sub(i64::try_from(ticket.reserved).unwrap_or(i64::MAX));
            if delta == 0 {
                return Ok(Settled::Nothing);
            }
            return self.quota.settle(reservation, delta).await.map(|()| Settled::Called);
        }
        let Some((keys, ends)) = &ticket.charge_to else { return Ok(Settled::Nothing) };
        let charge = LateCharge {
            keys: keys.clone(),
            ends_ms: ends.clone(),
            units: total,
            shared_window: ticket.shared_window.clone(),
        };
        self.late.charge(self.quota.failure(), charge).await
    }

    /// Whether charges wait for Redis and nobody is sending them yet (then call
    /// [`Admission::flush`] from a detached task).
    pub fn should_flush(&self) -> bool {
        self.late.should_flush(self.quota.failure())
    }

    /// Sends the waiting charges ([`LateCharges::flush`]).
    pub async fn flush(&self) {
        self.late.flush(self.quota.failure()).await;
    }
}
