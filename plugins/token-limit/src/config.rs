//! The configuration: Higress `ai-token-ratelimit` as is (`rule_name`, `rule_items` or
//! `global_threshold` with `token_per_*` windows, `rejected_code`, `rejected_msg`, `redis`) plus
//! our extensions (several windows per key, calendar `token_quota` in a `timezone`,
//! reservations, usage formats and JSONPath, weights, failure handling). Read as Higress reads
//! it: each `_rules_` entry on its own, after [`crate::higress::prepare`] (gjson's loose values);
//! unknown keys are dropped with a warning by the SDK (the `deny_unknown_fields` here is what
//! names the known ones). Validated and compiled once per worker; errors name the field path.

use gateway_quota::{FailureMode, KeySelector, RuleItemConfig, Tokens, Window, Zone};
use gateway_sdk::breaker::BreakerConfig;
use gateway_sdk::prelude::*;
use serde::{Deserialize, Deserializer};

use crate::settlement::AbortCharge;
use crate::usage::{CustomPaths, Extractor, Format, Weights};

/// The configuration as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Names the rule's counters in Redis.
    pub rule_name: String,
    /// Keyed limits (Higress `rule_items`).
    #[serde(default)]
    pub rule_items: Option<Vec<RuleItemConfig<LimitKey>>>,
    /// One limit shared by every request (Higress `global_threshold`).
    #[serde(default)]
    pub global_threshold: Option<Thresholds>,
    /// Status of a rejection (default 429).
    #[serde(default = "default_rejected_code")]
    pub rejected_code: u16,
    /// The body of a rejection, sent as written (as Higress sends it). Without it the body is
    /// an OpenAI-style error object.
    #[serde(default)]
    pub rejected_msg: Option<String>,
    /// The Redis service.
    pub redis: RedisConfig,
    /// `on` (reserve the estimate, settle to the usage) or `off` (check, charge afterwards).
    #[serde(default)]
    pub reservation: Switch,
    /// Output tokens assumed when the request gives no `max_tokens` (default 1024).
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: i64,
    /// Characters per token for the prompt estimate (default 4).
    #[serde(default = "default_chars_per_token")]
    pub chars_per_token: i64,
    /// On an upstream error, or a stream that ended before any answer, without usage: refund
    /// the reservation (default true).
    #[serde(default = "yes")]
    pub refund_on_error: bool,
    /// A successful response without usage: `charge_estimate` (default) or `refund`.
    #[serde(default)]
    pub on_missing_usage: MissingUsage,
    /// A successful answer that ended early (client closed, upstream reset) without usage:
    /// `charge_streamed` (default), `charge_estimate` or `refund`.
    #[serde(default)]
    pub on_abort: AbortCharge,
    /// Tokens per media part (image, audio, file) in the prompt estimate (default 765).
    #[serde(default = "default_media_tokens")]
    pub media_tokens: i64,
    /// Status of the answer to a request that can never fit a window's whole quota (default 413).
    #[serde(default = "default_too_large_code")]
    pub request_too_large_code: u16,
    /// Add `stream_options.include_usage` to streaming OpenAI-style requests (default true).
    #[serde(default = "yes")]
    pub include_usage: bool,
    /// Which built-in usage format to read (default `auto`).
    #[serde(default)]
    pub usage_format: Format,
    /// Custom JSONPath expressions instead of a built-in format.
    #[serde(default)]
    pub usage_paths: Option<UsagePaths>,
    /// Weights per token kind.
    #[serde(default)]
    pub token_weights: Option<Weights>,
    /// `allow` (default) or `deny` when Redis cannot be reached.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// Status answered in `deny` mode (default 503).
    #[serde(default = "default_failure_status")]
    pub failure_status: u16,
    /// Circuit breaker for Redis.
    #[serde(default)]
    pub circuit_breaker: BreakerConfig,
    /// Gateways sharing the quota; divides it for the local fallback while the breaker is open.
    #[serde(default = "default_gateway_count")]
    pub gateway_count: i64,
    /// Add `RateLimit-Policy`/`RateLimit` (and `X-RateLimit-*`) to admitted responses.
    #[serde(default)]
    pub show_limit_quota_header: bool,
    /// IANA time zone of the calendar quotas (`token_quota`); default `UTC`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Count in the Redis keys of Higress's `ai-token-ratelimit`, with its windows (one per key,
    /// starting at the key's first charge) and its after-the-fact charge, so Go and Rust
    /// gateways of one fleet share the counters during a migration (default false).
    #[serde(default)]
    pub share_counters_with_higress: bool,
}

/// `on`/`off` (YAML 1.1 turns those into booleans, so both spellings are accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Switch {
    /// Enabled.
    #[default]
    On,
    /// Disabled.
    Off,
}

impl<'de> Deserialize<'de> for Switch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Bool(true)) => Ok(Switch::On),
            Ok(Raw::Bool(false)) => Ok(Switch::Off),
            Ok(Raw::Text(t)) if t == "on" => Ok(Switch::On),
            Ok(Raw::Text(t)) if t == "off" => Ok(Switch::Off),
            _ => Err(serde::de::Error::custom("must be `on` or `off`")),
        }
    }
}

/// What to charge for a successful response that reported no usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingUsage {
    /// Keep the estimate charged.
    #[default]
    ChargeEstimate,
    /// Refund it.
    Refund,
}

/// Token windows: Higress's `token_per_second | _minute | _hour | _day`, custom `windows`, and
/// the calendar `token_quota` (`each_day`, `each_month`, `each_year`).
pub type Thresholds = gateway_quota::Thresholds<Tokens>;

/// A `limit_keys` entry: the key and the same window fields.
pub type LimitKey = gateway_quota::LimitKey<Tokens>;

/// Custom JSONPath expressions per token kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsagePaths {
    /// Input tokens.
    #[serde(default)]
    pub input: Option<String>,
    /// Output tokens.
    #[serde(default)]
    pub output: Option<String>,
    /// Total tokens.
    #[serde(default)]
    pub total: Option<String>,
}

fn default_rejected_code() -> u16 {
    429
}
/// The `error.message` of the default rejection body.
pub const DEFAULT_REJECTED_MESSAGE: &str = "Too many requests: token quota exceeded";
fn default_max_tokens() -> i64 {
    1024
}
fn default_chars_per_token() -> i64 {
    4
}
/// What OpenAI charges for one 1024×1024 image at high detail.
fn default_media_tokens() -> i64 {
    765
}
fn default_too_large_code() -> u16 {
    413
}
fn yes() -> bool {
    true
}
fn default_failure_status() -> u16 {
    503
}
fn default_gateway_count() -> i64 {
    1
}

/// Where a request's limits come from.
#[derive(Debug)]
pub enum Limits {
    /// Keyed by `rule_items`.
    Keyed(KeySelector<Vec<Window>>),
    /// One `global_threshold`.
    Global(Vec<Window>),
}

/// Validated settings other than Redis and metrics.
#[derive(Debug)]
pub struct Settings {
    /// Counter prefix in Redis: `token-limit:<rule_name>`.
    pub prefix: String,
    /// `rule_name` as written when counters are shared with Higress (their keys name it).
    pub higress_rule_name: Option<String>,
    /// Limits.
    pub limits: Limits,
    /// Rejection status.
    pub rejected_code: u16,
    /// The configured rejection body (else an OpenAI-style error object is sent).
    pub rejected_msg: Option<String>,
    /// Reservation on/off.
    pub reservation: bool,
    /// Output estimate without `max_tokens`.
    pub default_max_tokens: u64,
    /// Characters per token.
    pub chars_per_token: u64,
    /// Refund on error/abort without usage.
    pub refund_on_error: bool,
    /// Missing usage on success.
    pub on_missing_usage: MissingUsage,
    /// Missing usage after an early end of a successful answer.
    pub on_abort: AbortCharge,
    /// Tokens per media part.
    pub media_tokens: u64,
    /// Status for a request larger than a whole quota.
    pub request_too_large_code: u16,
    /// `rejected_msg` is itself a JSON document (labelled `application/json`, else `text/plain`).
    pub rejected_body_is_json: bool,
    /// Inject `include_usage`.
    pub include_usage: bool,
    /// Usage reader.
    pub extractor: Extractor,
    /// Weights.
    pub weights: Weights,
    /// Failure mode.
    pub failure_mode: FailureMode,
    /// Deny status.
    pub failure_status: u16,
    /// Breaker.
    pub breaker: BreakerConfig,
    /// Gateway count for the fallback.
    pub gateway_count: u64,
    /// Quota headers on admitted responses.
    pub show_limit_quota_header: bool,
}

fn positive(v: i64, at: &ConfigPath) -> Result<u64, ConfigError> {
    u64::try_from(v).ok().filter(|&n| n > 0).ok_or_else(|| at.error(format!("must be a positive integer, got {v}")))
}

fn status(code: u16, at: &ConfigPath) -> Result<u16, ConfigError> {
    if (200..=599).contains(&code) {
        Ok(code)
    } else {
        Err(at.error(format!("must be an HTTP status 200-599, got {code}")))
    }
}

/// Higress sends any `rejected_code` (`uint32`); one a client can read is 200-999 (`prepare`
/// turned the others into 429 with a warning).
fn rejected_status(code: u16, at: &ConfigPath) -> Result<u16, ConfigError> {
    if (200..=999).contains(&code) {
        Ok(code)
    } else {
        Err(at.error(format!("must be an HTTP status 200-999, got {code}")))
    }
}

fn jsonpath(
    expr: &Option<String>,
    at: &ConfigPath,
) -> Result<Option<jsonpath_rust::parser::model::JpQuery>, ConfigError> {
    let Some(expr) = expr else { return Ok(None) };
    jsonpath_rust::parser::parse_json_path(expr)
        .map(Some)
        .map_err(|e| at.error(format!("`{expr}` is not a valid JSONPath: {e}")))
}

fn weight(w: f64, at: &ConfigPath) -> Result<(), ConfigError> {
    if w.is_finite() && (0.0..=1000.0).contains(&w) {
        Ok(())
    } else {
        Err(at.error(format!("must be between 0 and 1000, got {w}")))
    }
}

impl Config {
    /// Validates and compiles everything but the Redis client.
    pub fn settings(&self, at: &ConfigPath) -> Result<Settings, ConfigError> {
        // Higress takes an empty rule_name (config.go 149-153); `prepare` warned about it.
        let name = self.rule_name.trim();
        let zone = Zone::from_config(self.timezone.as_deref(), &at.field("timezone"))?;
        let limits = match (&self.rule_items, &self.global_threshold) {
            (Some(items), None) => {
                let items_at = at.field("rule_items");
                Limits::Keyed(KeySelector::compile(items.clone(), &items_at, |entry: &LimitKey, key_at| {
                    entry.thresholds.compile(&zone, key_at)
                })?)
            }
            (None, Some(global)) => Limits::Global(global.compile(&zone, &at.field("global_threshold"))?),
            (Some(_), Some(_)) => {
                return Err(at.field("global_threshold").error("set either rule_items or global_threshold, not both"));
            }
            (None, None) => return Err(at.error("no limits: set rule_items or global_threshold")),
        };
        if self.share_counters_with_higress {
            shared_windows(&limits, at)?;
        }
        let extractor = match &self.usage_paths {
            Some(p) => {
                let here = at.field("usage_paths");
                let paths = CustomPaths {
                    input: jsonpath(&p.input, &here.field("input"))?,
                    output: jsonpath(&p.output, &here.field("output"))?,
                    total: jsonpath(&p.total, &here.field("total"))?,
                };
                if paths.input.is_none() && paths.output.is_none() && paths.total.is_none() {
                    return Err(here.error("give at least one of input, output, total"));
                }
                Extractor::Custom(Box::new(paths))
            }
            None => Extractor::BuiltIn(self.usage_format),
        };
        let weights = self.token_weights.unwrap_or_default();
        let w_at = at.field("token_weights");
        weight(weights.input, &w_at.field("input"))?;
        weight(weights.output, &w_at.field("output"))?;
        weight(weights.total, &w_at.field("total"))?;
        self.circuit_breaker.validate(&at.field("circuit_breaker"))?;
        Ok(Settings {
            prefix: format!("token-limit:{name}"),
            higress_rule_name: self.share_counters_with_higress.then(|| self.rule_name.clone()),
            limits,
            rejected_code: rejected_status(self.rejected_code, &at.field("rejected_code"))?,
            rejected_msg: self.rejected_msg.clone(),
            reservation: self.reservation == Switch::On,
            default_max_tokens: positive(self.default_max_tokens, &at.field("default_max_tokens"))?,
            chars_per_token: positive(self.chars_per_token, &at.field("chars_per_token"))?,
            refund_on_error: self.refund_on_error,
            on_missing_usage: self.on_missing_usage,
            on_abort: self.on_abort,
            media_tokens: u64::try_from(self.media_tokens)
                .map_err(|_| at.field("media_tokens").error(format!("must be 0 or more, got {}", self.media_tokens)))?,
            request_too_large_code: status(self.request_too_large_code, &at.field("request_too_large_code"))?,
            rejected_body_is_json: self.rejected_msg.as_deref().is_some_and(|m| {
                serde_json::from_str::<serde_json::Value>(m).is_ok_and(|v| v.is_object() || v.is_array())
            }),
            include_usage: self.include_usage,
            extractor,
            weights,
            failure_mode: self.failure_mode,
            failure_status: status(self.failure_status, &at.field("failure_status"))?,
            breaker: self.circuit_breaker,
            gateway_count: positive(self.gateway_count, &at.field("gateway_count"))?,
            show_limit_quota_header: self.show_limit_quota_header,
        })
    }
}

/// `share_counters_with_higress`: every limit must be one window of seconds, as the Go plugin
/// counts it.
fn shared_windows(limits: &Limits, at: &ConfigPath) -> Result<(), ConfigError> {
    use gateway_quota::higress::check_windows;
    const SWITCH: &str = "share_counters_with_higress";
    match limits {
        Limits::Global(windows) => check_windows(windows, &at.field("global_threshold"), SWITCH),
        Limits::Keyed(selector) => selector.entries().try_for_each(|(item, key, windows)| {
            check_windows(windows, &at.field("rule_items").index(item).field("limit_keys").index(key), SWITCH)
        }),
    }
}
