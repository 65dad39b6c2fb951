//! The local over-limit cache: once a counter is over its quota, requests for it are rejected
//! on this worker, without calling Redis, until the window that rejected it resets.

use std::collections::HashMap;

use super::store::{Outcome, WindowStatus};
use gateway_sdk::WorkerState;

/// Entries kept at most per worker; when full, expired entries are dropped, and if none has
/// expired the cache starts over (which costs Redis calls, never wrong decisions).
pub const DEFAULT_CAPACITY: usize = 10_000;

#[derive(Debug, Clone)]
struct Entry {
    until_ms: u64,
    available: u64,
    outcome: Outcome,
}

/// Worker-local cache of counters known to be over their quota.
#[derive(Debug)]
pub struct OverLimitCache {
    entries: WorkerState<HashMap<String, Entry>>,
    capacity: usize,
}

impl Default for OverLimitCache {
    fn default() -> Self {
        OverLimitCache::new(DEFAULT_CAPACITY)
    }
}

impl OverLimitCache {
    /// An empty cache holding at most `capacity` counters.
    pub fn new(capacity: usize) -> Self {
        OverLimitCache { entries: WorkerState::new(HashMap::new()), capacity: capacity.max(1) }
    }

    /// If `counter_id` is known to be unable to fit `units` at `now_ms`, the rejection to
    /// answer with (its windows' reset times counted from now). Expired entries are dropped.
    pub fn check(&self, counter_id: &str, units: u64, now_ms: u64) -> Option<Outcome> {
        self.entries.with(|m| {
            let entry = m.get(counter_id)?;
            if now_ms >= entry.until_ms {
                m.remove(counter_id);
                return None;
            }
            let fits = if units == 0 { entry.available > 0 } else { units <= entry.available };
            if fits {
                return None;
            }
            let mut outcome = entry.outcome.clone();
            let elapsed = now_ms.saturating_sub(entry.until_ms.saturating_sub(reset_of(&outcome)));
            for w in &mut outcome.windows {
                w.reset_ms = w.reset_ms.saturating_sub(elapsed);
            }
            Some(outcome)
        })
    }

    /// Remembers a rejection from Redis: until the rejecting window resets, requests needing
    /// more than what was left are rejected locally.
    pub fn record(&self, counter_id: &str, outcome: &Outcome, now_ms: u64) {
        let Some(rejecting) = outcome.rejected_by.and_then(|i| outcome.windows.get(i)) else { return };
        let entry = Entry {
            until_ms: now_ms.saturating_add(rejecting.reset_ms),
            available: rejecting.remaining(),
            outcome: outcome.clone(),
        };
        let capacity = self.capacity;
        self.entries.with(|m| {
            if m.len() >= capacity && !m.contains_key(counter_id) {
                m.retain(|_, e| e.until_ms > now_ms);
                if m.len() >= capacity {
                    m.clear();
                }
            }
            m.insert(counter_id.to_string(), entry);
        });
    }

    /// Number of cached counters.
    pub fn len(&self) -> usize {
        self.entries.with(|m| m.len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn reset_of(outcome: &Outcome) -> u64 {
    outcome.rejected_by.and_then(|i| outcome.windows.get(i)).map_or(0, |w: &WindowStatus| w.reset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Window;

    fn rejection(reset_ms: u64, used: u64) -> Outcome {
        Outcome {
            admitted: false,
            rejected_by: Some(0),
            windows: vec![WindowStatus { window: Window::new(10, 5), period_ms: 10_000, used, reset_ms }],
            reservation: None,
        }
    }

    #[test]
    fn rejects_locally_until_the_window_resets() {
        let cache = OverLimitCache::new(10);
        assert!(cache.check("k", 1, 1000).is_none());
        cache.record("k", &rejection(4000, 5), 1000);
        let local = cache.check("k", 1, 3000).unwrap();
        assert_eq!(local.windows[0].reset_ms, 2000, "reset counts down");
        assert!(cache.check("other", 1, 3000).is_none());
        assert!(cache.check("k", 1, 5000).is_none(), "the window reset");
        assert!(cache.is_empty());
    }

    #[test]
    fn smaller_requests_that_fit_what_was_left_still_go_to_redis() {
        let cache = OverLimitCache::new(10);
        cache.record("k", &rejection(4000, 3), 0);
        assert!(cache.check("k", 2, 10).is_none());
        assert!(cache.check("k", 3, 10).is_some());
    }

    #[test]
    fn admitted_outcomes_are_not_cached_and_capacity_is_bounded() {
        let cache = OverLimitCache::new(2);
        let mut ok = rejection(1000, 1);
        ok.admitted = true;
        ok.rejected_by = None;
        cache.record("k", &ok, 0);
        assert!(cache.is_empty());
        for i in 0..5 {
            cache.record(&format!("k{i}"), &rejection(1000, 5), 0);
        }
        assert!(cache.len() <= 2);
    }
}
