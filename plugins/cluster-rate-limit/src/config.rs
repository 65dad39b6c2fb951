//! The configuration: Higress `cluster-key-rate-limit` fields unchanged, plus our extensions
//! (several windows per key, `windows`, calendar `query_quota` in a `timezone`, `algorithm`,
//! `failure_mode`, `failure_status`, `circuit_breaker`, `gateway_count`, `shadow_mode`,
//! `ratelimit_headers`), and its validation.

use gateway_quota::{Algorithm, FailureMode, Requests, RuleItemConfig};
use gateway_sdk::breaker::BreakerConfig;
use gateway_sdk::redis::RedisConfig;
use gateway_sdk::{ConfigError, ConfigPath};
use serde::Deserialize;

/// The whole configuration: the global object, or one `_rules_` entry on its own (as Higress
/// reads it: a rule inherits nothing from the global object). Read after
/// [`crate::higress::prepare`]; unknown keys are dropped with a warning by the SDK (the
/// `deny_unknown_fields` here is what names the known ones).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Names the counters in Redis (`cluster-rate-limit:{<rule_name>:...}:...`).
    pub rule_name: String,
    /// One limit for every request of the route.
    #[serde(default)]
    pub global_threshold: Option<Thresholds>,
    /// Limits per key, tried in order.
    #[serde(default)]
    pub rule_items: Option<Vec<RuleItemConfig<LimitKey>>>,
    /// Send `X-RateLimit-Limit` and `X-RateLimit-Remaining`.
    #[serde(default)]
    pub show_limit_quota_header: bool,
    /// Send the IETF `RateLimit-Policy` and `RateLimit` fields (default true).
    #[serde(default = "yes")]
    pub ratelimit_headers: bool,
    /// Status of a rejection (default 429).
    #[serde(default = "default_rejected_code")]
    pub rejected_code: u16,
    /// Body of a rejection (default `Too many requests`).
    #[serde(default = "default_rejected_msg")]
    pub rejected_msg: String,
    /// The Redis service.
    pub redis: RedisConfig,
    /// `fixed` (default) or `sliding`.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// `allow` (default) or `deny` when Redis cannot be asked.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// Status answered in deny mode (default 503).
    #[serde(default = "default_failure_status")]
    pub failure_status: u16,
    /// When to stop calling a failing Redis.
    #[serde(default)]
    pub circuit_breaker: BreakerConfig,
    /// Limiter instances sharing the quota; the fallback limit is quota / gateway_count.
    #[serde(default = "default_gateway_count")]
    pub gateway_count: i64,
    /// Decide and count, but never reject.
    #[serde(default)]
    pub shadow_mode: bool,
    /// IANA time zone of the calendar quotas (`query_quota`); default `UTC`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Count in the Redis keys of Higress's `cluster-key-rate-limit`, with its windows (one per
    /// key, starting at the key's first request), so Go and Rust gateways of one fleet share
    /// the counters during a migration (default false).
    #[serde(default)]
    pub share_counters_with_higress: bool,
}

/// `global_threshold`: `query_per_second | _minute | _hour | _day`, `windows` and the calendar
/// `query_quota` (`each_day`, `each_month`, `each_year`).
pub type Thresholds = gateway_quota::Thresholds<Requests>;

/// A `limit_keys` entry: the key and the same window fields.
pub type LimitKey = gateway_quota::LimitKey<Requests>;

fn yes() -> bool {
    true
}

fn default_rejected_code() -> u16 {
    429
}

fn default_rejected_msg() -> String {
    "Too many requests".to_string()
}

fn default_failure_status() -> u16 {
    503
}

fn default_gateway_count() -> i64 {
    1
}

impl Config {
    /// Checks what serde cannot: exactly one of `global_threshold` / `rule_items`, statuses,
    /// the gateway count, the breaker and the Redis block. Windows and keys are checked while
    /// they compile.
    pub fn validate(&self, at: &ConfigPath) -> Result<(), ConfigError> {
        match (&self.global_threshold, &self.rule_items) {
            (None, None) => return Err(at.error("set one of global_threshold or rule_items")),
            (Some(_), Some(_)) => {
                return Err(at.field("rule_items").error("global_threshold and rule_items cannot be set together"));
            }
            _ => {}
        }
        if !(200..=999).contains(&self.rejected_code) {
            return Err(at.field("rejected_code").error("must be an HTTP status between 200 and 999"));
        }
        if !(200..=599).contains(&self.failure_status) {
            return Err(at.field("failure_status").error("must be an HTTP status between 200 and 599"));
        }
        if self.gateway_count < 1 {
            return Err(at.field("gateway_count").error("must be at least 1"));
        }
        if self.share_counters_with_higress && self.algorithm != Algorithm::Fixed {
            return Err(at.field("algorithm").error(
                "must be `fixed` with share_counters_with_higress: the Go plugin counts fixed windows from each key's first request",
            ));
        }
        self.circuit_breaker.validate(&at.field("circuit_breaker"))?;
        self.redis.validate(&at.field("redis"))
    }
}
