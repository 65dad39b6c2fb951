//! token-limit: LLM token quotas per key (header, parameter, consumer, cookie, client IP), exact
//! under concurrency: each request reserves what fits of its estimate in every window
//! atomically (one Redis call), its response streams through untouched while the usage is read
//! out of it, and at the end the reservation is settled to the real usage (one Redis call).
//! Config: see README.md.

pub mod admission;
pub mod config;
mod filter;
pub mod higress;
pub mod higress_signals;
mod json_text;
pub mod lenient;
pub mod request;
pub mod scan;
pub mod settlement;
mod shortest;
pub mod sse;
pub mod streamed;
pub mod usage;

use gateway_sdk::config::ConfigStyle;
use gateway_sdk::metrics::Counter;
use gateway_sdk::prelude::*;

use crate::admission::Admission;
use crate::config::{Config, Settings};
pub use crate::filter::TokenFilter;

/// Counters reported to the host.
#[derive(Debug, Clone, Copy)]
pub struct Metrics {
    /// Tokens finally charged (usage, or the estimate when usage was missing).
    pub charged: Counter,
    /// Tokens reserved at request time.
    pub reserved: Counter,
    /// Tokens given back (reservation minus the final charge).
    pub refunded: Counter,
    /// Requests rejected for quota.
    pub rejected: Counter,
    /// Responses without usable usage.
    pub usage_missing: Counter,
    /// Failed Redis calls.
    pub redis_errors: Counter,
}

impl Metrics {
    fn new() -> Self {
        Metrics {
            charged: Counter::new("token_limit.tokens_charged"),
            reserved: Counter::new("token_limit.tokens_reserved"),
            refunded: Counter::new("token_limit.tokens_refunded"),
            rejected: Counter::new("token_limit.requests_rejected"),
            usage_missing: Counter::new("token_limit.usage_missing"),
            redis_errors: Counter::new("token_limit.redis_errors"),
        }
    }
}

/// One compiled configuration.
#[derive(Debug)]
pub struct TokenLimit {
    /// Validated settings.
    pub settings: Settings,
    /// Redis admission.
    pub admission: Admission,
    /// Metrics.
    pub metrics: Metrics,
    /// Higress's rejection metric and access-log attribute.
    pub signals: higress_signals::RejectionSignals,
}

impl Plugin for TokenLimit {
    const NAME: &'static str = "token-limit";
    type Config = Config;
    type Filter = TokenFilter;
    /// Higress's reading: each `_rules_` entry on its own, unknown keys warned about, values
    /// as ai-token-ratelimit's gjson reads them.
    const CONFIG_STYLE: ConfigStyle = ConfigStyle::HIGRESS.prepared_by(higress::prepare);

    fn compile(config: Config, at: &ConfigPath) -> Result<Self, ConfigError> {
        let (settings, failure) = config.compile(at)?;
        let admission =
            Admission::new(&settings.prefix, failure, settings.reservation, settings.higress_rule_name.is_some());
        Ok(TokenLimit { settings, admission, metrics: Metrics::new(), signals: Default::default() })
    }

    fn new_filter(plugin: &Shared<Self>) -> TokenFilter {
        TokenFilter::new(plugin.clone())
    }
}

export_plugin!(TokenLimit);
