//! The compiled limiter of one configuration: which counter and windows a request falls
//! under, and the responses it answers with.

use gateway_quota::config::{CounterNaming, LimiterFields, Limits};
use gateway_quota::headers::{self, HeaderOptions};
use gateway_quota::higress::CLUSTER_KEY_RATE_LIMIT_PREFIX;
use gateway_quota::limiter::QuotaLimiter;
use gateway_quota::{RequestKeys, Window};
use gateway_sdk::metrics::Counter;
use gateway_sdk::{ConfigError, ConfigPath, Response};

use crate::config::{Config, DEFAULT_REJECTED_MSG};

/// Prefix of every Redis key this plugin writes.
pub const KEY_PREFIX: &str = "cluster-rate-limit";

/// Counter id used for `global_threshold`.
const GLOBAL_ID: &str = "global_threshold";

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
    /// `rule_name` (trimmed) scopes our counter names.
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
    /// Validates and compiles `config` (read by the SDK, at `at`).
    pub fn compile(config: Config, at: &ConfigPath) -> Result<Self, ConfigError> {
        config.validate_own(at)?;
        let s = config.compile_limiter(at)?;
        Ok(Limiter {
            rule_name: s.rule_name.trim().to_string(),
            higress_rule_name: s.share_counters_with_higress.then(|| s.rule_name.clone()),
            limits: s.limits,
            quota: QuotaLimiter::new(KEY_PREFIX, config.algorithm, s.failure, true, s.share_counters_with_higress),
            shadow: config.shadow_mode,
            rejected_code: s.rejected_code,
            rejected_msg: s.rejected_msg.unwrap_or_else(|| DEFAULT_REJECTED_MSG.to_string()),
            headers: HeaderOptions { ietf: config.ratelimit_headers, higress: s.show_limit_quota_header, unit: None },
            metrics: Metrics::define(),
        })
    }

    /// The counter (`<rule_name>:<item kind>:<name>:<value>`, or Higress's own key name with
    /// `share_counters_with_higress`) and windows limiting a request, or `None` when no rule
    /// item matches it.
    pub fn target(&self, request: &impl RequestKeys) -> Option<(String, &[Window])> {
        let naming = match &self.higress_rule_name {
            None => CounterNaming::Ours { scope: Some(&self.rule_name), global: GLOBAL_ID },
            Some(rule_name) => CounterNaming::Higress { prefix: CLUSTER_KEY_RATE_LIMIT_PREFIX, rule_name },
        };
        self.limits.target(request, naming)
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
