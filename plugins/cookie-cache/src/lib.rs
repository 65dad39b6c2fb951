//! cookie-cache: a per-user response cache in Redis that serves stale copies when the upstream
//! fails, lets only one request per key go upstream on a miss (across all gateways), and keeps
//! session/auth decisions in Redis so the auth service is asked once per session.
//!
//! Modules: [`key`] (cache keys, hashed cookies), [`query`] (the query string's share of the
//! key), [`policy`] (what may be stored),
//! [`entry`] (the stored form), [`cache_status`] (RFC 9211 header), [`session`] (auth decisions),
//! [`config`] (configuration and validation), [`storage`] (Redis scripts), `gate` (the session
//! step) and `filter` (the hooks).

pub mod cache_status;
pub mod config;
pub mod entry;
mod filter;
mod gate;
pub mod key;
pub mod policy;
pub mod query;
pub mod session;
mod sha256;
pub mod storage;

use gateway_sdk::breaker::CircuitBreaker;
use gateway_sdk::metrics::Counter;
use gateway_sdk::prelude::*;

use crate::config::{CacheSettings, Config, SessionSettings};
use crate::filter::CacheFilter;
use crate::storage::Storage;

/// Counters the plugin reports (Envoy stats).
#[derive(Debug)]
pub struct Metrics {
    pub hits: Counter,
    pub misses: Counter,
    pub stale: Counter,
    pub stored: Counter,
    pub bypass: Counter,
    pub collapsed: Counter,
    /// Lookup script calls (one Redis round trip each, waiters' repeated lookups included).
    pub lookups: Counter,
    /// Stampede locks taken.
    pub locks: Counter,
    /// Requests that found another request's lock and waited for its fetch.
    pub waits: Counter,
    /// Requests sent upstream at once because the key is marked hit-for-pass.
    pub passes: Counter,
    pub auth_calls: Counter,
    pub session_hits: Counter,
}

impl Metrics {
    fn new() -> Self {
        let c = |name: &str| Counter::new(&format!("cookie_cache.{name}"));
        Metrics {
            hits: c("hit"),
            misses: c("miss"),
            stale: c("stale"),
            stored: c("stored"),
            bypass: c("bypass"),
            collapsed: c("collapsed"),
            lookups: c("lookup"),
            locks: c("lock"),
            waits: c("wait"),
            passes: c("pass"),
            auth_calls: c("auth_call"),
            session_hits: c("session_hit"),
        }
    }
}

/// One compiled configuration (per worker, per rule).
#[derive(Debug)]
pub struct CookieCache {
    prefix: String,
    cache: Option<CacheSettings>,
    session: Option<SessionSettings>,
    storage: Storage,
    metrics: Metrics,
}

impl Plugin for CookieCache {
    const NAME: &'static str = "cookie-cache";
    type Config = Config;
    type Filter = CacheFilter;
    /// Our own plugin, with no Higress counterpart: a rule names only what it changes (e.g. a
    /// route's `cache.ttl_seconds`) over the global configuration, and a misspelt key (a
    /// security setting among them) is refused rather than ignored.
    const CONFIG_STYLE: gateway_sdk::config::ConfigStyle = gateway_sdk::config::ConfigStyle::LAYERED;

    fn compile(config: Config, at: &ConfigPath) -> Result<Self, ConfigError> {
        let settings = config.compile(at)?;
        let redis = RedisClient::new(&config.redis, &at.field("redis"))?;
        Ok(CookieCache {
            prefix: settings.prefix,
            cache: settings.cache,
            session: settings.session,
            storage: Storage::new(redis, CircuitBreaker::new(config.circuit_breaker)),
            metrics: Metrics::new(),
        })
    }

    fn new_filter(plugin: &Shared<Self>) -> CacheFilter {
        CacheFilter::new(plugin.clone())
    }
}

export_plugin!(CookieCache);
