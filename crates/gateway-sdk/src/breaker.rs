//! A per-worker circuit breaker for Redis: after consecutive transport failures, stop calling
//! Redis for a cool-down so no request waits on a dead server, then probe with one request.

use std::cell::Cell;
use std::time::Duration;

use crate::config::{ConfigError, ConfigPath};
use crate::log::LogLevel;
use crate::metrics::Counter;
use crate::redis::{RedisError, Unavailable};
use crate::time::now_millis;

crate::config_struct! {
    /// The `circuit_breaker` configuration block.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct BreakerConfig {
        /// Consecutive Redis transport failures that open the breaker (default 3).
        pub failure_threshold: u32 = default_threshold(),
        /// How long the breaker stays open before one probe request may try Redis again,
        /// in milliseconds (default 5000).
        pub cooldown_ms: u64 = default_cooldown(),
    }
}

fn default_threshold() -> u32 {
    3
}

fn default_cooldown() -> u64 {
    5000
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failure_threshold: default_threshold(), cooldown_ms: default_cooldown() }
    }
}

impl BreakerConfig {
    /// Checks the values; `at` is the path of the block.
    pub fn validate(&self, at: &ConfigPath) -> Result<(), ConfigError> {
        if self.failure_threshold == 0 {
            return Err(at.field("failure_threshold").error("must be at least 1"));
        }
        if self.cooldown_ms == 0 {
            return Err(at.field("cooldown_ms").error("must be at least 1 (milliseconds)"));
        }
        Ok(())
    }
}

/// What the breaker allows for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerVerdict {
    /// Redis is healthy: call it.
    Closed,
    /// The cool-down is over: this request probes Redis; report its result.
    Probe,
    /// Redis is considered down: do not call it, use the fallback.
    Open,
}

/// A circuit breaker shared by the requests of one worker.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    failures: Cell<u32>,
    open_until: Cell<Option<u64>>,
    probe_started: Cell<Option<u64>>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        CircuitBreaker { config, failures: Cell::new(0), open_until: Cell::new(None), probe_started: Cell::new(None) }
    }

    /// Decides whether this request may call Redis.
    pub fn admit(&self) -> BreakerVerdict {
        let Some(until) = self.open_until.get() else { return BreakerVerdict::Closed };
        let now = now_millis();
        if now < until {
            return BreakerVerdict::Open;
        }
        match self.probe_started.get() {
            // A probe is in flight; if it never reported (its request was dropped), allow
            // another after a further cool-down.
            Some(started) if now < started.saturating_add(self.config.cooldown_ms) => BreakerVerdict::Open,
            _ => {
                self.probe_started.set(Some(now));
                BreakerVerdict::Probe
            }
        }
    }

    /// Reports a call that reached Redis (any reply, error replies included).
    pub fn record_success(&self) {
        self.failures.set(0);
        self.open_until.set(None);
        self.probe_started.set(None);
    }

    /// Reports a transport failure (network error, timeout, dispatch refused).
    pub fn record_failure(&self) {
        let failures = self.failures.get().saturating_add(1);
        self.failures.set(failures);
        let probing = self.probe_started.take().is_some();
        if probing || failures >= self.config.failure_threshold {
            self.open_until.set(Some(now_millis().saturating_add(self.config.cooldown_ms)));
        }
    }

    /// Reports a failed call. A failure that means Redis cannot serve us (unreachable, or an
    /// error reply every call would get again: `NOAUTH`, `READONLY`, `MOVED`, ...) counts
    /// towards opening the breaker, is counted in the metric `redis_unavailable.<cause>` and
    /// logged with what to do about it, at most once per cause every
    /// [`crate::log::THROTTLE_INTERVAL_MS`]. Any other error reply means Redis is up.
    pub fn record_error(&self, error: &RedisError) {
        match error.unavailable() {
            Some(cause) => {
                self.record_failure();
                count_unavailable(cause);
                let state = if self.is_open() { "open" } else { "counting failures" };
                crate::log::throttled(
                    LogLevel::Warn,
                    cause.as_str(),
                    format_args!(
                        "Redis cannot serve this plugin ({error}): {}. Requests follow failure_mode; circuit breaker {state}.",
                        cause.advice()
                    ),
                );
            }
            None => {
                self.record_success();
                crate::log::throttled(LogLevel::Warn, "reply", format_args!("Redis answered an error: {error}"));
            }
        }
    }

    /// Whether the breaker is currently open (Redis is being skipped).
    pub fn is_open(&self) -> bool {
        self.open_until.get().is_some()
    }

    /// The configured cool-down.
    pub fn cooldown(&self) -> Duration {
        Duration::from_millis(self.config.cooldown_ms)
    }
}

thread_local! {
    static UNAVAILABLE_COUNTERS: std::cell::RefCell<crate::vec_map::VecMap<Unavailable, Counter>> =
        const { std::cell::RefCell::new(crate::vec_map::VecMap::new()) };
}

/// Adds one to `redis_unavailable.<cause>` (defined on first use).
fn count_unavailable(cause: Unavailable) {
    let counter = UNAVAILABLE_COUNTERS.with(|c| {
        let mut c = c.borrow_mut();
        match c.get(&cause) {
            Some(counter) => *counter,
            None => {
                let counter = Counter::new(&format!("redis_unavailable.{}", cause.as_str()));
                c.insert(cause, counter);
                counter
            }
        }
    });
    counter.inc();
}

/// A Redis client whose every call feeds a [`CircuitBreaker`]: the one place a plugin's Redis
/// results are recorded (unavailability counted, logged with advice, throttled; any reply
/// closes the breaker again).
#[derive(Debug)]
pub struct GuardedRedis {
    client: crate::redis::RedisClient,
    breaker: CircuitBreaker,
}

impl GuardedRedis {
    /// `client`, guarded by `breaker`.
    pub fn new(client: crate::redis::RedisClient, breaker: CircuitBreaker) -> Self {
        GuardedRedis { client, breaker }
    }

    /// The client, for building calls (whose results go to [`GuardedRedis::record`] or through
    /// [`GuardedRedis::call`]).
    pub fn client(&self) -> &crate::redis::RedisClient {
        &self.client
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Whether Redis may be called now ([`CircuitBreaker::admit`]: a half-open breaker admits
    /// one probe).
    pub fn admit(&self) -> BreakerVerdict {
        self.breaker.admit()
    }

    /// Records a call's result in the breaker.
    pub fn record<T>(&self, result: &Result<T, RedisError>) {
        match result {
            Ok(_) => self.breaker.record_success(),
            Err(e) => self.breaker.record_error(e),
        }
    }

    /// Awaits `call` and records its result.
    pub async fn call<T>(
        &self,
        call: impl core::future::Future<Output = Result<T, RedisError>>,
    ) -> Result<T, RedisError> {
        let result = call.await;
        self.record(&result);
        result
    }
}
