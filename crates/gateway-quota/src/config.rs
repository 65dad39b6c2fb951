//! The configuration fields every limiter shares, declared once: [`limiter_config!`] writes them
//! into a plugin's own flat `Config` struct (so unknown keys and field paths are reported as for
//! any other struct), and [`LimiterFields::compile_limiter`] validates and compiles them, with one
//! wording for every limiter, into [`LimiterSettings`].
//!
//! The shared fields: `rule_name`, `rule_items` / `global_threshold`, `rejected_code`,
//! `rejected_msg`, `redis`, `failure_mode`, `failure_status`, `circuit_breaker`, `gateway_count`,
//! `show_limit_quota_header`, `timezone`, `share_counters_with_higress`.

use gateway_sdk::breaker::BreakerConfig;
use gateway_sdk::redis::{RedisClient, RedisConfig};
use gateway_sdk::{ConfigError, ConfigPath};

use super::calendar::Zone;
use super::failure::{FailureMode, FailurePolicy};
use super::higress::{self, HigressCounter};
use super::keys::{KeySelector, RequestKeys, RuleItemConfig};
use super::thresholds::{LimitKey, QuotaUnit, Thresholds};
use super::window::Window;

/// What the macro's expansion names from the SDK.
#[doc(hidden)]
pub mod reexport {
    pub use gateway_sdk::breaker::BreakerConfig;
    pub use gateway_sdk::config::{ConfigError, ConfigNode, FromConfig};
    pub use gateway_sdk::redis::RedisConfig;
}

/// Defaults of the shared fields (the macro's expansion calls these).
pub mod defaults {
    /// `rejected_code`: 429.
    pub fn rejected_code() -> u16 {
        429
    }
    /// `failure_status`: 503.
    pub fn failure_status() -> u16 {
        503
    }
    /// `gateway_count`: 1.
    pub fn gateway_count() -> i64 {
        1
    }
}

/// Declares a limiter's `Config`: the shared fields plus the plugin's own, in one flat struct,
/// and its [`FromConfig`](gateway_sdk::config::FromConfig). Each own field names its default
/// (`= expr`), used when the key is absent; keys the struct does not list are unknown.
///
/// ```
/// use gateway_sdk::config::{ConfigPath, Value, read_at};
/// gateway_quota::limiter_config! {
///     /// My limiter's configuration.
///     pub struct Config<gateway_quota::Requests> {
///         /// Something only this limiter has.
///         pub burst: bool = false,
///     }
/// }
/// let v = Value::parse(br#"{"rule_name": "r", "redis": {"service_name": "r.static"},
///     "global_threshold": {"query_per_second": 1}, "burst": true}"#).unwrap();
/// let c: Config = read_at(&v, &ConfigPath::root("p")).unwrap();
/// assert!(c.burst && c.rejected_code == 429);
/// ```
#[macro_export]
macro_rules! limiter_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident<$unit:ty> {
            $( $(#[$fmeta:meta])* pub $field:ident : $fty:ty = $default:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name {
            /// Names the counters in Redis (Higress: required, may be empty).
            pub rule_name: String,
            /// Limits per key, tried in order (Higress `rule_items`).
            pub rule_items: Option<Vec<$crate::RuleItemConfig<$crate::LimitKey<$unit>>>>,
            /// One limit shared by every request (Higress `global_threshold`).
            pub global_threshold: Option<$crate::Thresholds<$unit>>,
            /// Status of a rejection (default 429).
            pub rejected_code: u16,
            /// Body of a rejection, sent as written (each limiter has its default).
            pub rejected_msg: Option<String>,
            /// The Redis service.
            pub redis: $crate::config::reexport::RedisConfig,
            /// `allow` (default) or `deny` when Redis cannot be asked.
            pub failure_mode: $crate::FailureMode,
            /// Status answered in `deny` mode (default 503).
            pub failure_status: u16,
            /// When to stop calling a failing Redis.
            pub circuit_breaker: $crate::config::reexport::BreakerConfig,
            /// Gateways sharing the quota: the local fallback limit is quota / gateway_count.
            pub gateway_count: i64,
            /// Send `X-RateLimit-Limit` and `X-RateLimit-Remaining`.
            pub show_limit_quota_header: bool,
            /// IANA time zone of the calendar quotas; default `UTC`.
            pub timezone: Option<String>,
            /// Count in the Redis keys of the Higress Go plugin this limiter replaces, with its
            /// windows, so Go and Rust gateways share counters during a migration.
            pub share_counters_with_higress: bool,
            $( $(#[$fmeta])* pub $field : $fty, )*
        }

        impl $crate::config::reexport::FromConfig for $name {
            fn from_config(
                node: $crate::config::reexport::ConfigNode<'_>,
            ) -> ::core::result::Result<Self, $crate::config::reexport::ConfigError> {
                let f = node.fields(
                    concat!("struct ", stringify!($name)),
                    &[
                        "rule_name",
                        "rule_items",
                        "global_threshold",
                        "rejected_code",
                        "rejected_msg",
                        "redis",
                        "failure_mode",
                        "failure_status",
                        "circuit_breaker",
                        "gateway_count",
                        "show_limit_quota_header",
                        "timezone",
                        "share_counters_with_higress",
                        $(stringify!($field),)*
                    ],
                )?;
                use $crate::config::defaults;
                ::core::result::Result::Ok($name {
                    rule_name: f.required("rule_name")?,
                    rule_items: f.optional("rule_items")?,
                    global_threshold: f.optional("global_threshold")?,
                    rejected_code: f.or_else("rejected_code", defaults::rejected_code)?,
                    rejected_msg: f.optional("rejected_msg")?,
                    redis: f.required("redis")?,
                    failure_mode: f.or_default("failure_mode")?,
                    failure_status: f.or_else("failure_status", defaults::failure_status)?,
                    circuit_breaker: f.or_default("circuit_breaker")?,
                    gateway_count: f.or_else("gateway_count", defaults::gateway_count)?,
                    show_limit_quota_header: f.or_default("show_limit_quota_header")?,
                    timezone: f.optional("timezone")?,
                    share_counters_with_higress: f.or_default("share_counters_with_higress")?,
                    $( $field: f.or_else(stringify!($field), || $default)?, )*
                })
            }
        }

        impl $crate::config::LimiterFields<$unit> for $name {
            fn shared(&self) -> $crate::config::SharedFields<'_, $unit> {
                $crate::config::SharedFields {
                    rule_name: &self.rule_name,
                    rule_items: self.rule_items.as_deref(),
                    global_threshold: self.global_threshold.as_ref(),
                    rejected_code: self.rejected_code,
                    rejected_msg: self.rejected_msg.as_deref(),
                    redis: &self.redis,
                    failure_mode: self.failure_mode,
                    failure_status: self.failure_status,
                    circuit_breaker: self.circuit_breaker,
                    gateway_count: self.gateway_count,
                    show_limit_quota_header: self.show_limit_quota_header,
                    timezone: self.timezone.as_deref(),
                    share_counters_with_higress: self.share_counters_with_higress,
                }
            }
        }
    };
}

/// The shared fields of a `Config` declared with [`limiter_config!`], borrowed.
#[derive(Debug)]
pub struct SharedFields<'a, U: QuotaUnit> {
    /// `rule_name`.
    pub rule_name: &'a str,
    /// `rule_items`.
    pub rule_items: Option<&'a [RuleItemConfig<LimitKey<U>>]>,
    /// `global_threshold`.
    pub global_threshold: Option<&'a Thresholds<U>>,
    /// `rejected_code`.
    pub rejected_code: u16,
    /// `rejected_msg`.
    pub rejected_msg: Option<&'a str>,
    /// `redis`.
    pub redis: &'a RedisConfig,
    /// `failure_mode`.
    pub failure_mode: FailureMode,
    /// `failure_status`.
    pub failure_status: u16,
    /// `circuit_breaker`.
    pub circuit_breaker: BreakerConfig,
    /// `gateway_count`.
    pub gateway_count: i64,
    /// `show_limit_quota_header`.
    pub show_limit_quota_header: bool,
    /// `timezone`.
    pub timezone: Option<&'a str>,
    /// `share_counters_with_higress`.
    pub share_counters_with_higress: bool,
}

/// Where a request's windows come from.
#[derive(Debug)]
pub enum Limits {
    /// One `global_threshold` for every request.
    Global(Vec<Window>),
    /// `rule_items`, resolved per request.
    Keyed(KeySelector<Vec<Window>>),
}

/// How a limiter names its counters in Redis.
#[derive(Debug, Clone, Copy)]
pub enum CounterNaming<'a> {
    /// Our scheme: `<scope>:<id>` (just `<id>` without a scope), where the id is `global` for a
    /// `global_threshold` and `<limit type>:<item key>:<value>` for a rule item (long values
    /// hashed).
    Ours {
        /// What the ids are put under (e.g. the rule name), if anything.
        scope: Option<&'a str>,
        /// The id of the `global_threshold` counter.
        global: &'a str,
    },
    /// The Higress Go plugin's own key names ([`higress::higress_key`]).
    Higress {
        /// The Go plugin's key prefix.
        prefix: &'a str,
        /// `rule_name` as written.
        rule_name: &'a str,
    },
}

impl Limits {
    /// The counter and windows limiting `request`, or `None` when no rule item matches it.
    pub fn target(&self, request: &impl RequestKeys, naming: CounterNaming<'_>) -> Option<(String, &[Window])> {
        let (counter, windows) = match self {
            Limits::Global(windows) => (HigressCounter::Global, windows),
            Limits::Keyed(selector) => {
                let s = selector.select(request)?;
                let windows = s.limits;
                let name = match naming {
                    CounterNaming::Ours { scope, .. } => scoped(scope, &s.counter_id()),
                    CounterNaming::Higress { prefix, rule_name } => {
                        higress::higress_key(prefix, rule_name, HigressCounter::from(&s), first_seconds(windows))
                    }
                };
                return Some((name, windows.as_slice()));
            }
        };
        let name = match naming {
            CounterNaming::Ours { scope, global } => scoped(scope, global),
            CounterNaming::Higress { prefix, rule_name } => {
                higress::higress_key(prefix, rule_name, counter, first_seconds(windows))
            }
        };
        Some((name, windows.as_slice()))
    }
}

fn scoped(scope: Option<&str>, id: &str) -> String {
    match scope {
        Some(scope) => {
            let mut name = String::with_capacity(scope.len() + id.len() + 1);
            name.push_str(scope);
            name.push(':');
            name.push_str(id);
            name
        }
        None => id.to_string(),
    }
}

fn first_seconds(windows: &[Window]) -> u64 {
    windows.first().map_or(0, Window::seconds)
}

/// The shared fields, validated and compiled.
#[derive(Debug)]
pub struct LimiterSettings {
    /// `rule_name` as written (Higress's key names use it so).
    pub rule_name: String,
    /// The limits.
    pub limits: Limits,
    /// Status of a rejection.
    pub rejected_code: u16,
    /// The configured rejection body, if any.
    pub rejected_msg: Option<String>,
    /// What to do when Redis fails, with the Redis client and its breaker.
    pub failure: FailurePolicy,
    /// Send `X-RateLimit-Limit` / `X-RateLimit-Remaining`.
    pub show_limit_quota_header: bool,
    /// Counters shared with the Higress Go plugin.
    pub share_counters_with_higress: bool,
}

/// A `Config` declared with [`limiter_config!`].
pub trait LimiterFields<U: QuotaUnit> {
    /// Its shared fields.
    fn shared(&self) -> SharedFields<'_, U>;

    /// Validates and compiles the shared fields (errors name the field path under `at`).
    fn compile_limiter(&self, at: &ConfigPath) -> Result<LimiterSettings, ConfigError> {
        compile(&self.shared(), at)
    }
}

fn compile<U: QuotaUnit>(f: &SharedFields<'_, U>, at: &ConfigPath) -> Result<LimiterSettings, ConfigError> {
    let zone = Zone::from_config(f.timezone, &at.field("timezone"))?;
    let limits = match (f.global_threshold, f.rule_items) {
        (Some(_), Some(_)) => {
            return Err(at.field("rule_items").error("set either global_threshold or rule_items, not both"));
        }
        (Some(t), None) => Limits::Global(t.compile(&zone, &at.field("global_threshold"))?),
        (None, Some(items)) => {
            Limits::Keyed(KeySelector::compile(items.to_vec(), &at.field("rule_items"), |entry, here| {
                entry.thresholds.compile(&zone, here)
            })?)
        }
        (None, None) => return Err(at.error("set one of global_threshold or rule_items")),
    };
    if f.share_counters_with_higress {
        const SWITCH: &str = "share_counters_with_higress";
        match &limits {
            Limits::Global(windows) => higress::check_windows(windows, &at.field("global_threshold"), SWITCH)?,
            Limits::Keyed(selector) => selector.entries().try_for_each(|(item, key, windows)| {
                let here = at.field("rule_items").index(item).field("limit_keys").index(key);
                higress::check_windows(windows, &here, SWITCH)
            })?,
        }
    }
    status(f.rejected_code, 200..=999, &at.field("rejected_code"))?;
    status(f.failure_status, 200..=599, &at.field("failure_status"))?;
    let gateway_count = u64::try_from(f.gateway_count)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| at.field("gateway_count").error(format!("must be at least 1, got {}", f.gateway_count)))?;
    f.circuit_breaker.validate(&at.field("circuit_breaker"))?;
    f.redis.validate(&at.field("redis"))?;
    let client = RedisClient::new(f.redis, &at.field("redis"))?;
    let failure = FailurePolicy::new(client, f.failure_mode, f.failure_status, f.circuit_breaker, gateway_count);
    Ok(LimiterSettings {
        rule_name: f.rule_name.to_string(),
        limits,
        rejected_code: f.rejected_code,
        rejected_msg: f.rejected_msg.map(str::to_string),
        failure,
        show_limit_quota_header: f.show_limit_quota_header,
        share_counters_with_higress: f.share_counters_with_higress,
    })
}

fn status(code: u16, range: std::ops::RangeInclusive<u16>, at: &ConfigPath) -> Result<(), ConfigError> {
    if range.contains(&code) {
        Ok(())
    } else {
        Err(at.error(format!("must be an HTTP status between {} and {}, got {code}", range.start(), range.end())))
    }
}
