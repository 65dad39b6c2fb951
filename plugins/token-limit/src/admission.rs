//! Admission against Redis, one call each way: at request time check every window and reserve
//! what fits of the estimate, at least its lower bound (or, with `reservation: off`, only
//! check, as Higress: admitted while used <= quota); at the end settle the reservation to the
//! real usage (or charge the usage). Redis failures go through `failure_mode` and the circuit
//! breaker, with the SDK's local per-gateway fallback while it is open; usage that cannot be
//! charged then waits in a bounded per-worker queue until Redis answers again.

use std::collections::VecDeque;

use gateway_quota::higress::HigressAdd;
use gateway_quota::limiter::{Ask, QuotaLimiter, Verdict};
use gateway_quota::{FailurePolicy, Outcome, Reservation, Window};
use gateway_sdk::WorkerState;
use gateway_sdk::metrics::Counter;
use gateway_sdk::prelude::*;
use gateway_sdk::time::now_millis;

use crate::request::Estimate;

const CHARGE_LUA: &str = include_str!("charge.lua");

/// Charges kept while Redis cannot take them; when full, the oldest is dropped (and counted
/// in `token_limit.charges_dropped`).
pub const PENDING_CAPACITY: usize = 1024;

/// Redis access of one compiled configuration.
#[derive(Debug)]
pub struct Admission {
    quota: QuotaLimiter,
    charge: Script,
    reservation: bool,
    /// `share_counters_with_higress`: counters are Higress's keys, charged afterwards as
    /// `ai-token-ratelimit` charges them.
    shared: Option<HigressAdd>,
    pending: WorkerState<Pending>,
    dropped: Counter,
}

/// Charges waiting for Redis, per worker.
#[derive(Debug, Default)]
struct Pending {
    queue: VecDeque<PendingCharge>,
    flushing: bool,
}

/// Usage to add to some counters once Redis answers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingCharge {
    keys: Vec<String>,
    /// When each counter's window ends (ms since the epoch, grace included): a charge for a
    /// window that is over is not worth making.
    ends_ms: Vec<u64>,
    tokens: u64,
    /// The one window of a counter shared with Higress (added to as the Go plugin adds).
    shared_window: Option<Window>,
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

/// What the settle call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// One Redis call was made.
    Called,
    /// Nothing needed doing (no change, or nothing tracked in Redis).
    Nothing,
    /// Redis is down: the charge waits in the queue.
    Queued,
}

impl Admission {
    /// Builds it for `client`, keys under `prefix`; with `shared`, counter ids are Higress's
    /// key names (`share_counters_with_higress`).
    pub fn new(client: RedisClient, prefix: &str, failure: FailurePolicy, reservation: bool, shared: bool) -> Self {
        Admission {
            quota: QuotaLimiter::new(client, prefix, gateway_quota::Algorithm::Fixed, failure, false, shared),
            charge: Script::new(CHARGE_LUA),
            reservation,
            shared: shared.then(HigressAdd::default),
            pending: WorkerState::new(Pending::default()),
            dropped: Counter::new("token_limit.charges_dropped"),
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
        let shared_window = self.shared.as_ref().and_then(|_| windows.first().cloned());
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
        if total == 0 {
            return Ok(Settled::Nothing);
        }
        let charge = PendingCharge {
            keys: keys.clone(),
            ends_ms: ends.clone(),
            tokens: total,
            shared_window: ticket.shared_window.clone(),
        };
        if self.quota.failure().breaker_open() {
            self.enqueue(charge);
            return Ok(Settled::Queued);
        }
        match self.run_charge(&charge, now_millis()).await {
            Ok(()) => {
                self.quota.failure().record_success();
                Ok(Settled::Called)
            }
            Err(e) => {
                self.quota.failure().record_failure(&e);
                if e.unavailable().is_some() {
                    self.enqueue(charge);
                    return Ok(Settled::Queued);
                }
                Err(e)
            }
        }
    }

    async fn run_charge(&self, charge: &PendingCharge, now: u64) -> Result<(), RedisError> {
        if let (Some(add), Some(window), [key]) = (&self.shared, &charge.shared_window, charge.keys.as_slice()) {
            return add.add(self.quota.store().client(), key, window, charge.tokens).await;
        }
        let mut args = vec![charge.tokens.to_string()];
        args.extend(charge.ends_ms.iter().map(|end| end.saturating_sub(now).max(1).to_string()));
        self.charge.run(self.quota.store().client(), &charge.keys, &args).await.map(|_| ())
    }

    fn enqueue(&self, charge: PendingCharge) {
        let dropped = self.pending.with(|p| {
            if let Some(same) = p.queue.iter_mut().find(|c| c.keys == charge.keys) {
                same.tokens = same.tokens.saturating_add(charge.tokens);
                return None;
            }
            let dropped = (p.queue.len() >= PENDING_CAPACITY).then(|| p.queue.pop_front()).flatten();
            p.queue.push_back(charge);
            dropped
        });
        if let Some(d) = dropped {
            self.dropped.inc();
            gateway_sdk::warn_throttled!(
                "token-limit:dropped",
                "token-limit: {PENDING_CAPACITY} charges wait for Redis; dropped {} tokens",
                d.tokens
            );
        }
    }

    /// Whether charges wait for Redis and nobody is sending them yet (then call
    /// [`Admission::flush`] from a detached task).
    pub fn should_flush(&self) -> bool {
        !self.quota.failure().breaker_open() && self.pending.with(|p| !p.queue.is_empty() && !p.flushing)
    }

    /// Sends the waiting charges, one call each, oldest first; stops at the first failure
    /// (the charge goes back to the front). Charges whose windows are over are dropped.
    pub async fn flush(&self) {
        if !self.pending.with(|p| !std::mem::replace(&mut p.flushing, true)) {
            return;
        }
        loop {
            let now = now_millis();
            let next = self.pending.with(|p| {
                while let Some(c) = p.queue.pop_front() {
                    if c.ends_ms.iter().any(|end| *end > now) {
                        return Some(c);
                    }
                }
                None
            });
            let Some(charge) = next else { break };
            if let Err(e) = self.run_charge(&charge, now).await {
                self.quota.failure().record_failure(&e);
                gateway_sdk::debug!("token-limit: a waiting charge failed again ({e}); kept");
                self.pending.with(|p| p.queue.push_front(charge));
                break;
            }
            self.quota.failure().record_success();
        }
        self.pending.with(|p| p.flushing = false);
    }
}
