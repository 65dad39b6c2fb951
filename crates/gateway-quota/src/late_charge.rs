//! Charges made after the response (the usage of a request nothing was reserved for): one
//! Redis call adding the units to every counter of the request, or, for a counter shared with
//! Higress, `ai-token-ratelimit`'s add (only while not over the threshold). While Redis cannot
//! take them they wait in a bounded per-worker queue (when full the oldest is dropped and
//! counted), merged per counter set, and are sent once Redis answers again; a charge for
//! windows that are all over is not worth making and is dropped.

use std::collections::VecDeque;

use gateway_sdk::WorkerState;
use gateway_sdk::metrics::Counter;
use gateway_sdk::redis::{RedisError, Script};
use gateway_sdk::time::now_millis;

use super::failure::FailurePolicy;
use super::higress::HigressAdd;
use super::window::Window;

const CHARGE_LUA: &str = include_str!("charge.lua");

/// Charges kept while Redis cannot take them.
pub const PENDING_CAPACITY: usize = 1024;

/// Units to add to some counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateCharge {
    /// The counters (one hash tag, or one Higress key).
    pub keys: Vec<String>,
    /// When each counter's window ends (ms since the epoch, grace included).
    pub ends_ms: Vec<u64>,
    /// Units to add.
    pub units: u64,
    /// The one window of a counter shared with Higress (added to as the Go plugin adds).
    pub shared_window: Option<Window>,
}

/// What [`LateCharges::charge`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// One Redis call was made.
    Called,
    /// Nothing needed doing.
    Nothing,
    /// Redis is down: the charge waits in the queue.
    Queued,
}

#[derive(Debug, Default)]
struct Pending {
    queue: VecDeque<LateCharge>,
    flushing: bool,
}

/// The after-the-fact charges of one limiter configuration (per worker).
#[derive(Debug)]
pub struct LateCharges {
    script: Script,
    shared: HigressAdd,
    pending: WorkerState<Pending>,
    dropped: Counter,
    what: &'static str,
}

impl LateCharges {
    /// Charges for limiter `what` (named in logs); drops are counted in `dropped_metric`.
    pub fn new(what: &'static str, dropped_metric: &str) -> Self {
        LateCharges {
            script: Script::new(CHARGE_LUA),
            shared: HigressAdd::default(),
            pending: WorkerState::new(Pending::default()),
            dropped: Counter::new(dropped_metric),
            what,
        }
    }

    /// Adds `charge` now (one call), or queues it while the breaker is open or when Redis is
    /// unavailable. Results are recorded in `failure`'s breaker.
    pub async fn charge(&self, failure: &FailurePolicy, charge: LateCharge) -> Result<Settled, RedisError> {
        if charge.units == 0 || charge.keys.is_empty() {
            return Ok(Settled::Nothing);
        }
        if failure.breaker_open() {
            self.enqueue(charge);
            return Ok(Settled::Queued);
        }
        match self.run(failure, &charge, now_millis()).await {
            Ok(()) => {
                failure.record_success();
                Ok(Settled::Called)
            }
            Err(e) => {
                failure.record_failure(&e);
                if e.unavailable().is_some() {
                    self.enqueue(charge);
                    return Ok(Settled::Queued);
                }
                Err(e)
            }
        }
    }

    async fn run(&self, failure: &FailurePolicy, charge: &LateCharge, now: u64) -> Result<(), RedisError> {
        let client = failure.guarded().client();
        if let (Some(window), [key]) = (&charge.shared_window, charge.keys.as_slice()) {
            return self.shared.add(client, key, window, charge.units).await;
        }
        let mut args = vec![charge.units.to_string()];
        args.extend(charge.ends_ms.iter().map(|end| end.saturating_sub(now).max(1).to_string()));
        self.script.run(client, &charge.keys, &args).await.map(|_| ())
    }

    fn enqueue(&self, charge: LateCharge) {
        let dropped = self.pending.with(|p| {
            if let Some(same) = p.queue.iter_mut().find(|c| c.keys == charge.keys) {
                same.units = same.units.saturating_add(charge.units);
                return None;
            }
            let dropped = (p.queue.len() >= PENDING_CAPACITY).then(|| p.queue.pop_front()).flatten();
            p.queue.push_back(charge);
            dropped
        });
        if let Some(d) = dropped {
            self.dropped.inc();
            gateway_sdk::warn_throttled!(
                "late-charge:dropped",
                "{}: {PENDING_CAPACITY} charges wait for Redis; dropped {} units",
                self.what,
                d.units
            );
        }
    }

    /// Whether charges wait for Redis and nobody is sending them yet (then call
    /// [`LateCharges::flush`] from a detached task).
    pub fn should_flush(&self, failure: &FailurePolicy) -> bool {
        !failure.breaker_open() && self.pending.with(|p| !p.queue.is_empty() && !p.flushing)
    }

    /// Sends the waiting charges, one call each, oldest first; stops at the first failure
    /// (the charge goes back to the front). Charges whose windows are all over are dropped.
    pub async fn flush(&self, failure: &FailurePolicy) {
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
            if let Err(e) = self.run(failure, &charge, now).await {
                failure.record_failure(&e);
                gateway_sdk::debug!("{}: a waiting charge failed again ({e}); kept", self.what);
                self.pending.with(|p| p.queue.push_front(charge));
                break;
            }
            failure.record_success();
        }
        self.pending.with(|p| p.flushing = false);
    }
}
