//! The compiled limiter of one configuration: which counter and windows a request falls
//! under, and the responses it answers with.

use gateway_quota::headers::{self, HeaderOptions};
use gateway_quota::higress::{self as shared, CLUSTER_KEY_RATE_LIMIT_PREFIX, HigressCounter};
use gateway_quota::limiter::QuotaLimiter;
use gateway_quota::{FailurePolicy, KeySelector, RequestKeys, Window, Zone};
use gateway_sdk::metrics::Counter;
use gateway_sdk::redis::RedisClient;
use gateway_sdk::{ConfigError, ConfigPath, Response};

use crate::config::Config;

/// Prefix of every Redis key this plugin writes.
pub const KEY_PREFIX: &str = "cluster-rate-limit";

/// Counter id used for `global_threshold`.
const GLOBAL_ID: &str = "global_threshold";

/// Where a request's windows come from.
#[derive(Debug)]
enum Limits {
    Global(Vec<Window>),
    Items(KeySelector<Vec<Window>>),
}

/// The plugin's metrics (shared by every rule).
#[derive(Debug)]
pub struct Metrics {
    /// Requests admitted.
    pub allowed: Counter,
    /// Requests rejected (by Redis, by the local over-limit cache, or by the fallback limit).
    pub rejected: Counter,
    /// Requests that would have been rejected in shadow mode.
    pub shadow_rejected: Counter,
    /// Requests rejected by the local over-limit cache without a Redis call.
    pub local_rejected: Counter,
    /// Redis calls that failed.
    pub redis_errors: Counter,
    /// Decisions made without Redis (failure mode or breaker fallback).
    pub fallback_decisions: Counter,
}

impl Metrics {
    fn define() -> Self {
        Metrics {
            allowed: Counter::new("cluster_rate_limit.allowed"),
            rejected: Counter::new("cluster_rate_limit.rejected"),
            shadow_rejected: Counter::new("cluster_rate_limit.shadow_rejected"),
            local_rejected: Counter::new("cluster_rate_limit.local_rejected"),
            redis_errors: Counter::new("cluster_rate_limit.redis_errors"),
            fallback_decisions: Counter::new("cluster_rate_limit.fallback_decisions"),
        }
    }
}

/// One compiled configuration.
#[derive(Debug)]
pub struct Limiter {
    rule_name: String,
    /// `rule_name` as written, for Higress's key names (`share_counters_with_higress`).
    higress_rule_name: Option<String>,
    limits: Limits,
    /// Redis, the over-limit cache, the breaker and the fallback.
    pub quota: QuotaLimiter,
    /// Decide but never reject.
    pub shadow: bool,
    rejected_code: u16,
    rejected_msg: String,
    headers: HeaderOptions,
    /// Metrics.
    pub metrics: Metrics,
}

impl Limiter {
    /// Validates and compiles `config` (at `at`).
    pub fn compile(config: Config, at: &ConfigPath) -> Result<Self, ConfigError> {
        config.validate(at)?;
        let zone = Zone::from_config(config.timezone.as_deref(), &at.field("timezone"))?;
        let limits = match (&config.global_threshold, config.rule_items) {
            (Some(t), _) => Limits::Global(t.compile(&zone, &at.field("global_threshold"))?),
            (None, Some(items)) => {
                Limits::Items(KeySelector::compile(items, &at.field("rule_items"), |entry, here| {
                    entry.thresholds.compile(&zone, here)
                })?)
            }
            (None, None) => return Err(at.error("set one of global_threshold or rule_items")),
        };
        if config.share_counters_with_higress {
            shared_windows(&limits, at)?;
        }
        let client = RedisClient::new(&config.redis, &at.field("redis"))?;
        let gateway_count = u64::try_from(config.gateway_count).unwrap_or(1);
        Ok(Limiter {
            rule_name: config.rule_name.trim().to_string(),
            higress_rule_name: config.share_counters_with_higress.then(|| config.rule_name.clone()),
            limits,
            quota: QuotaLimiter::new(
                client,
                KEY_PREFIX,
                config.algorithm,
                FailurePolicy::new(config.failure_mode, config.failure_status, config.circuit_breaker, gateway_count),
                true,
                config.share_counters_with_higress,
            ),
            shadow: config.shadow_mode,
            rejected_code: config.rejected_code,
            rejected_msg: config.rejected_msg,
            headers: HeaderOptions {
                ietf: config.ratelimit_headers,
                higress: config.show_limit_quota_header,
                unit: None,
            },
            metrics: Metrics::define(),
        })
    }

    /// The counter (`<rule_name>:<item kind>:<name>:<value>`) and windows limiting a request,
    /// or `None` when no rule item matches it.
    /// With `share_counters_with_higress` the counter is Higress's own key name.
    pub fn target(&self, request: &impl RequestKeys) -> Option<(String, &[Window])> {
        let higress = |counter: HigressCounter<'_>, windows: &[Window], rule: &str| {
            let seconds = windows.first().map_or(0, Window::seconds);
            shared::higress_key(CLUSTER_KEY_RATE_LIMIT_PREFIX, rule, counter, seconds)
        };
        match (&self.limits, &self.higress_rule_name) {
            (Limits::Global(windows), None) => Some((format!("{}:{GLOBAL_ID}", self.rule_name), windows)),
            (Limits::Global(windows), Some(rule)) => Some((higress(HigressCounter::Global, windows, rule), windows)),
            (Limits::Items(selector), rule) => {
                let s = selector.select(request)?;
                let counter = match rule {
                    None => format!("{}:{}", self.rule_name, s.counter_id()),
                    Some(rule) => higress(HigressCounter::from(&s), s.limits, rule),
                };
                Some((counter, s.limits.as_slice()))
            }
        }
    }

    /// Response headers for an admitted request.
    pub fn admitted_headers(&self, outcome: &gateway_quota::Outcome) -> Vec<(String, String)> {
        headers::admitted_headers(outcome, self.headers)
    }

    /// The rejection response: `rejected_code`, `rejected_msg`, and the quota headers.
    pub fn rejection(&self, outcome: &gateway_quota::Outcome) -> Response {
        // The response code details Higress's Go plugin sets (main.go `rejected`).
        let mut response = Response::new(self.rejected_code)
            .body(self.rejected_msg.clone())
            .details("cluster-key-rate-limit.rejected");
        let content_type = if self.rejected_msg.trim_start().starts_with('{') {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        response = response.header("content-type", content_type);
        for (k, v) in headers::rejected_headers(outcome, self.headers) {
            response = response.header(k, v);
        }
        response
    }

    /// The deny-mode response when Redis cannot be asked.
    pub fn failure_response(&self) -> Response {
        Response::new(self.quota.failure().status)
            .header("content-type", "text/plain; charset=utf-8")
            .body("rate limit service unavailable")
    }
}

/// `share_counters_with_higress`: every limit must be one window of seconds, as the Go plugin
/// counts it.
fn shared_windows(limits: &Limits, at: &ConfigPath) -> Result<(), ConfigError> {
    const SWITCH: &str = "share_counters_with_higress";
    match limits {
        Limits::Global(windows) => shared::check_windows(windows, &at.field("global_threshold"), SWITCH),
        Limits::Items(selector) => selector.entries().try_for_each(|(item, key, windows)| {
            let here = at.field("rule_items").index(item).field("limit_keys").index(key);
            shared::check_windows(windows, &here, SWITCH)
        }),
    }
}
