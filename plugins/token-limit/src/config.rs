//! The configuration: Higress `ai-token-ratelimit` as is (`rule_name`, `rule_items` or
//! `global_threshold` with `token_per_*` windows, `rejected_code`, `rejected_msg`, `redis`) plus
//! our extensions (several windows per key, calendar `token_quota` in a `timezone`,
//! reservations, usage formats and JSONPath, weights, failure handling). The fields both
//! limiters share are declared once in `gateway_quota::limiter_config!`. Read as Higress reads
//! it: each `_rules_` entry on its own, after [`crate::higress::prepare`] (gjson's loose values);
//! unknown keys are dropped with a warning by the SDK (the fields the macro lists are the known
//! ones). Validated and compiled once per worker; errors name the field
//! path.

pub use gateway_quota::config::Limits;
use gateway_quota::config::{LimiterFields, LimiterSettings};
use gateway_quota::{FailurePolicy, Tokens};
use gateway_sdk::prelude::*;

use crate::settlement::AbortCharge;
use crate::usage::{CustomPaths, Extractor, Format, Weights};

gateway_quota::limiter_config! {
    /// The configuration as written: the fields every limiter shares (declared once in
    /// `gateway_quota::limiter_config!`) and token-limit's own.
    pub struct Config<Tokens> {
        /// `on` (reserve the estimate, settle to the usage) or `off` (check, charge afterwards).
        pub reservation: Switch = Default::default(),
        /// Output tokens assumed when the request gives no `max_tokens` (default 1024).
        pub default_max_tokens: i64 = default_max_tokens(),
        /// Characters per token for the prompt estimate (default 4).
        pub chars_per_token: i64 = default_chars_per_token(),
        /// On an upstream error, or a stream that ended before any answer, without usage: refund
        /// the reservation (default true).
        pub refund_on_error: bool = true,
        /// A successful response without usage: `charge_estimate` (default) or `refund`.
        pub on_missing_usage: MissingUsage = Default::default(),
        /// A successful answer that ended early (client closed, upstream reset) without usage:
        /// `charge_streamed` (default), `charge_estimate` or `refund`.
        pub on_abort: AbortCharge = Default::default(),
        /// Tokens per media part (image, audio, file) in the prompt estimate (default 765).
        pub media_tokens: i64 = default_media_tokens(),
        /// Status of the answer to a request that can never fit a window's whole quota (default 413).
        pub request_too_large_code: u16 = default_too_large_code(),
        /// Add `stream_options.include_usage` to streaming OpenAI-style requests (default true).
        pub include_usage: bool = true,
        /// Which built-in usage format to read (default `auto`).
        pub usage_format: Format = Default::default(),
        /// Custom JSONPath expressions instead of a built-in format.
        pub usage_paths: Option<UsagePaths> = None,
        /// Weights per token kind.
        pub token_weights: Option<Weights> = None,
    }
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

impl FromConfig for Switch {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        match node.value() {
            gateway_sdk::config::Value::Bool(true) => Ok(Switch::On),
            gateway_sdk::config::Value::Bool(false) => Ok(Switch::Off),
            gateway_sdk::config::Value::String(t) if t == "on" => Ok(Switch::On),
            gateway_sdk::config::Value::String(t) if t == "off" => Ok(Switch::Off),
            _ => Err(node.error("must be `on` or `off`")),
        }
    }
}

/// What to charge for a successful response that reported no usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingUsage {
    /// Keep the estimate charged.
    #[default]
    ChargeEstimate,
    /// Refund it.
    Refund,
}

impl FromConfig for MissingUsage {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        node.variant(&[("charge_estimate", MissingUsage::ChargeEstimate), ("refund", MissingUsage::Refund)])
    }
}

/// Token windows: Higress's `token_per_second | _minute | _hour | _day`, custom `windows`, and
/// the calendar `token_quota` (`each_day`, `each_month`, `each_year`).
pub type Thresholds = gateway_quota::Thresholds<Tokens>;

/// A `limit_keys` entry: the key and the same window fields.
pub type LimitKey = gateway_quota::LimitKey<Tokens>;

gateway_sdk::config_struct! {
    /// Custom JSONPath expressions per token kind.
    #[derive(Debug, Clone, Default)]
    pub struct UsagePaths {
        /// Input tokens.
        pub input: Option<String> = None,
        /// Output tokens.
        pub output: Option<String> = None,
        /// Total tokens.
        pub total: Option<String> = None,
    }
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

/// Validated settings other than Redis, the failure policy and metrics.
#[derive(Debug)]
pub struct Settings {
    /// Counter prefix in Redis: `token-limit:<rule_name>`.
    pub prefix: String,
    /// `rule_name` as written when counters are shared with Higress (their keys name it).
    pub higress_rule_name: Option<String>,
    /// Limits.
    pub limits: Limits,
    /// Status answered while Redis cannot be asked in `deny` mode.
    pub unavailable_status: u16,
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

fn jsonpath(expr: &Option<String>, at: &ConfigPath) -> Result<Option<gateway_jsonpath::JsonPath>, ConfigError> {
    let Some(expr) = expr else { return Ok(None) };
    gateway_jsonpath::JsonPath::parse(expr)
        .map(Some)
        .map_err(|e| at.error(format!("`{expr}` is not a valid JSONPath: {e}")))
}

fn weight(w: f64, at: &ConfigPath) -> Result<(), ConfigError> {
    if w.is_finite() && (0.0..=1000.0).contains(&w) {
        Ok(())
    } else {
        // serde_json's shortest form, not f64's `Display` (which would add 14 KB to the module).
        let mut message = String::from("must be between 0 and 1000, got ");
        if w.is_finite() {
            crate::shortest::push_f64(&mut message, w);
        } else {
            message.push_str("a non-finite number");
        }
        Err(at.error(message))
    }
}

impl Config {
    /// Validates and compiles the configuration: the shared fields into the failure policy
    /// (with the Redis client) and [`Settings`], then token-limit's own.
    pub fn compile(&self, at: &ConfigPath) -> Result<(Settings, FailurePolicy), ConfigError> {
        let LimiterSettings {
            rule_name,
            limits,
            rejected_code,
            rejected_msg,
            failure,
            show_limit_quota_header,
            share_counters_with_higress,
        } = self.compile_limiter(at)?;
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
        // Higress takes an empty rule_name (config.go 149-153); `prepare` warned about it.
        let name = rule_name.trim();
        let settings = Settings {
            prefix: format!("token-limit:{name}"),
            higress_rule_name: share_counters_with_higress.then(|| rule_name.clone()),
            limits,
            unavailable_status: self.failure_status,
            rejected_code,
            reservation: self.reservation == Switch::On,
            default_max_tokens: positive(self.default_max_tokens, &at.field("default_max_tokens"))?,
            chars_per_token: positive(self.chars_per_token, &at.field("chars_per_token"))?,
            refund_on_error: self.refund_on_error,
            on_missing_usage: self.on_missing_usage,
            on_abort: self.on_abort,
            media_tokens: u64::try_from(self.media_tokens)
                .map_err(|_| at.field("media_tokens").error(format!("must be 0 or more, got {}", self.media_tokens)))?,
            request_too_large_code: status(self.request_too_large_code, &at.field("request_too_large_code"))?,
            rejected_body_is_json: rejected_msg.as_deref().is_some_and(|m| {
                gateway_json::JsonView::parse(m.as_bytes(), gateway_json::Leniency::Strict)
                    .is_some_and(|v| matches!(v.kind(), gateway_json::Kind::Object | gateway_json::Kind::Array))
            }),
            rejected_msg,
            include_usage: self.include_usage,
            extractor,
            weights,
            show_limit_quota_header,
        };
        Ok((settings, failure))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weight_out_of_range_is_shown_as_serde_json_wrote_it() {
        let at = ConfigPath::root("token-limit").field("token_weights").field("input");
        for w in [-1.0, 1000.5, 1e300, -0.1, 1500.0, 1e21, -1e-7] {
            let theirs = serde_json::Number::from_f64(w).map(|n| n.to_string()).unwrap();
            let expected = at.error(format!("must be between 0 and 1000, got {theirs}")).to_string();
            assert_eq!(weight(w, &at).map_err(|e| e.to_string()), Err(expected), "{w}");
        }
        assert!(weight(0.0, &at).is_ok() && weight(1000.0, &at).is_ok());
        assert!(weight(f64::NAN, &at).unwrap_err().to_string().ends_with("got a non-finite number"));
    }
}
