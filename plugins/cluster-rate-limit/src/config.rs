//! The configuration: the fields every limiter shares (Higress `cluster-key-rate-limit`'s, plus
//! our `failure_mode`, `circuit_breaker`, `gateway_count`, `timezone`,
//! `share_counters_with_higress`; declared once in `gateway_quota::limiter_config!`) and this
//! plugin's own: `ratelimit_headers`, `algorithm`, `shadow_mode`.

use gateway_quota::{Algorithm, Requests};
use gateway_sdk::{ConfigError, ConfigPath};

gateway_quota::limiter_config! {
    /// The whole configuration: the global object, or one `_rules_` entry on its own (as Higress
    /// reads it: a rule inherits nothing from the global object). Read after
    /// [`crate::higress::prepare`]; unknown keys are dropped with a warning by the SDK (the
    /// fields the macro lists are the known ones).
    pub struct Config<Requests> {
        /// Send the IETF `RateLimit-Policy` and `RateLimit` fields (default true).
        pub ratelimit_headers: bool = true,
        /// `fixed` (default) or `sliding`.
        pub algorithm: Algorithm = Algorithm::Fixed,
        /// Decide and count, but never reject.
        pub shadow_mode: bool = false,
    }
}

/// `global_threshold`: `query_per_second | _minute | _hour | _day`, `windows` and the calendar
/// `query_quota` (`each_day`, `each_month`, `each_year`).
pub type Thresholds = gateway_quota::Thresholds<Requests>;

/// A `limit_keys` entry: the key and the same window fields.
pub type LimitKey = gateway_quota::LimitKey<Requests>;

/// The default rejection body (Higress's).
pub const DEFAULT_REJECTED_MSG: &str = "Too many requests";

impl Config {
    /// Checks this plugin's own fields (the shared ones are checked by
    /// [`gateway_quota::config::LimiterFields::compile_limiter`]).
    pub fn validate_own(&self, at: &ConfigPath) -> Result<(), ConfigError> {
        if self.share_counters_with_higress && self.algorithm != Algorithm::Fixed {
            return Err(at.field("algorithm").error(
                "must be `fixed` with share_counters_with_higress: the Go plugin counts fixed windows from each key's first request",
            ));
        }
        Ok(())
    }
}
