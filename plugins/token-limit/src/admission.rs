//! Admission against Redis, one call each way: at request time check every window and reserve
//! the estimate (or, with `reservation: off`, only check); at the end settle the reservation to
//! the real usage (or charge the usage). Redis failures go through `failure_mode` and the
//! circuit breaker, with the SDK's local per-gateway fallback while it is open.

use gateway_sdk::prelude::*;
use gateway_sdk::quota::{FailureMode, FailurePolicy, Outcome, QuotaStore, Reservation, Route, Window};
use gateway_sdk::time::now_millis;

const CHARGE_LUA: &str = include_str!("charge.lua");

/// Redis access of one compiled configuration.
#[derive(Debug)]
pub struct Admission {
    store: QuotaStore,
    charge: Script,
    failure: FailurePolicy,
    reservation: bool,
}

/// What a request was allowed with, and how to settle it.
#[derive(Debug, Default)]
pub struct Ticket {
    /// Tokens reserved in Redis (0 without a reservation).
    pub reserved: u64,
    /// The estimate (charged when usage is missing and the config says so).
    pub estimate: u64,
    /// The windows as seen at admission (for quota headers).
    pub outcome: Option<Outcome>,
    reservation: Option<Reservation>,
    /// Counters to charge afterwards (`reservation: off`, or Redis failed at request time):
    /// the keys and the TTL each gets if the charge creates it.
    charge_to: Option<(Vec<String>, Vec<u64>)>,
}

/// The decision at request time.
#[derive(Debug)]
pub enum Decision {
    /// Go on; settle the ticket at the end.
    Admitted(Ticket),
    /// Over quota.
    Rejected(Outcome),
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
}

impl Admission {
    /// Builds it for `client`, keys under `prefix`.
    pub fn new(client: RedisClient, prefix: &str, failure: FailurePolicy, reservation: bool) -> Self {
        Admission {
            store: QuotaStore::new(client, prefix, gateway_sdk::quota::Algorithm::Fixed),
            charge: Script::new(CHARGE_LUA),
            failure,
            reservation,
        }
    }

    /// Checks (and with reservations, reserves `estimate`) in one Redis call.
    pub async fn admit(&self, counter_id: &str, windows: &[Window], estimate: u64) -> Decision {
        let units = if self.reservation { estimate } else { 0 };
        let now = now_millis();
        let plan = self.store.plan(counter_id, windows, units, now);
        let charge_to = (plan.keys.clone(), plan.ttls_ms.clone());
        match self.failure.route() {
            Route::Local => {
                if self.failure.mode == FailureMode::Deny {
                    return Decision::Unavailable;
                }
                let outcome = self.failure.fallback(counter_id, windows, estimate, now);
                if !outcome.admitted {
                    return Decision::Rejected(outcome);
                }
                Decision::Admitted(Ticket { estimate, outcome: Some(outcome), ..Ticket::default() })
            }
            Route::Redis { .. } => match self.store.check(&plan).await {
                Ok(outcome) => {
                    self.failure.record_success();
                    if !outcome.admitted {
                        return Decision::Rejected(outcome);
                    }
                    let reservation = outcome.reservation.clone();
                    let reserved = reservation.as_ref().map_or(0, |r| r.units);
                    let charge_to = (!self.reservation).then_some(charge_to);
                    Decision::Admitted(Ticket { reserved, estimate, outcome: Some(outcome), reservation, charge_to })
                }
                Err(e) => {
                    self.failure.record_failure(&e);
                    gateway_sdk::warn!("token-limit: quota check failed ({e}); failure_mode decides");
                    if self.failure.mode == FailureMode::Deny {
                        return Decision::Unavailable;
                    }
                    // Let it through and try to charge the usage afterwards.
                    Decision::Admitted(Ticket { estimate, charge_to: Some(charge_to), ..Ticket::default() })
                }
            },
        }
    }

    /// Brings Redis to `total` tokens for this request: settles the reservation by the
    /// difference, or charges `total` after the fact. At most one Redis call.
    pub async fn settle(&self, ticket: &Ticket, total: u64) -> Result<Settled, RedisError> {
        let result = if let Some(reservation) = &ticket.reservation {
            let delta = i64::try_from(total)
                .unwrap_or(i64::MAX)
                .saturating_sub(i64::try_from(ticket.reserved).unwrap_or(i64::MAX));
            if delta == 0 {
                return Ok(Settled::Nothing);
            }
            self.store.settle(reservation, delta).await
        } else if let Some((keys, ttls)) = &ticket.charge_to {
            if total == 0 {
                return Ok(Settled::Nothing);
            }
            let mut args = vec![total.to_string()];
            args.extend(ttls.iter().map(u64::to_string));
            self.charge.run(self.store.client(), keys, &args).await.map(|_| ())
        } else {
            return Ok(Settled::Nothing);
        };
        match &result {
            Ok(()) => self.failure.record_success(),
            Err(e) => self.failure.record_failure(e),
        }
        result.map(|()| Settled::Called)
    }
}
