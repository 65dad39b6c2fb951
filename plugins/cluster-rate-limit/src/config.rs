//! The configuration: Higress `cluster-key-rate-limit` fields unchanged, plus our extensions
//! (several windows per key, `windows`, `algorithm`, `failure_mode`, `failure_status`,
//! `circuit_breaker`, `gateway_count`, `shadow_mode`, `ratelimit_headers`), and its validation.

use gateway_sdk::breaker::BreakerConfig;
use gateway_sdk::quota::window::WindowConfig;
use gateway_sdk::quota::{Algorithm, FailureMode, KeyText, LimitKeyEntry, RuleItemConfig, Window};
use gateway_sdk::redis::RedisConfig;
use gateway_sdk::{ConfigError, ConfigPath};
use serde::Deserialize;

/// The whole configuration (global object or one `_rules_` entry laid over it).
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
}

/// `global_threshold`, or the window fields of a `limit_keys` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Requests per second.
    #[serde(default)]
    pub query_per_second: Option<i64>,
    /// Requests per minute.
    #[serde(default)]
    pub query_per_minute: Option<i64>,
    /// Requests per hour.
    #[serde(default)]
    pub query_per_hour: Option<i64>,
    /// Requests per day.
    #[serde(default)]
    pub query_per_day: Option<i64>,
    /// Windows of any length: `[{"seconds": 10, "quota": 100}]`.
    #[serde(default)]
    pub windows: Vec<WindowConfig>,
}

impl Thresholds {
    /// The windows, validated; `at` is the path of the object holding the fields.
    pub fn compile(&self, at: &ConfigPath) -> Result<Vec<Window>, ConfigError> {
        let extra = WindowConfig::compile_all(&self.windows, &at.field("windows"))?;
        Window::from_fields(
            &[
                ("query_per_second", 1, self.query_per_second),
                ("query_per_minute", 60, self.query_per_minute),
                ("query_per_hour", 3600, self.query_per_hour),
                ("query_per_day", 86_400, self.query_per_day),
            ],
            &extra,
            at,
        )
    }
}

/// A `limit_keys` entry: the key and its windows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitKey {
    /// Exact value, `regexp:<re>`, `*`, or an IP/CIDR for `limit_by_per_ip`.
    pub key: KeyText,
    /// Requests per second.
    #[serde(default)]
    pub query_per_second: Option<i64>,
    /// Requests per minute.
    #[serde(default)]
    pub query_per_minute: Option<i64>,
    /// Requests per hour.
    #[serde(default)]
    pub query_per_hour: Option<i64>,
    /// Requests per day.
    #[serde(default)]
    pub query_per_day: Option<i64>,
    /// Windows of any length.
    #[serde(default)]
    pub windows: Vec<WindowConfig>,
}

impl LimitKey {
    /// The entry's windows.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            query_per_second: self.query_per_second,
            query_per_minute: self.query_per_minute,
            query_per_hour: self.query_per_hour,
            query_per_day: self.query_per_day,
            windows: self.windows.clone(),
        }
    }
}

impl LimitKeyEntry for LimitKey {
    fn key(&self) -> &str {
        &self.key.0
    }
}

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
        if self.rule_name.trim().is_empty() {
            return Err(at.field("rule_name").error("must not be empty"));
        }
        match (&self.global_threshold, &self.rule_items) {
            (None, None) => return Err(at.error("set one of global_threshold or rule_items")),
            (Some(_), Some(_)) => {
                return Err(at.field("rule_items").error("global_threshold and rule_items cannot be set together"));
            }
            _ => {}
        }
        if !(200..=599).contains(&self.rejected_code) {
            return Err(at.field("rejected_code").error("must be an HTTP status between 200 and 599"));
        }
        if !(200..=599).contains(&self.failure_status) {
            return Err(at.field("failure_status").error("must be an HTTP status between 200 and 599"));
        }
        if self.gateway_count < 1 {
            return Err(at.field("gateway_count").error("must be at least 1"));
        }
        self.circuit_breaker.validate(&at.field("circuit_breaker"))?;
        self.redis.validate(&at.field("redis"))
    }
}
