//! cluster-rate-limit: exact request quotas shared by every gateway through Redis, compatible
//! with Higress's `cluster-key-rate-limit` configuration. Every window of a request is checked
//! and charged in one Redis call; keys over their quota are rejected locally until their window
//! resets; when Redis fails, `failure_mode` and a circuit breaker with a local fallback limit
//! decide. See README.md for the configuration.

pub mod config;
pub mod higress;
pub mod limiter;

use gateway_quota::limiter::{Ask, RejectedBy, Verdict};
use gateway_quota::{FailureMode, Outcome};
use gateway_sdk::config::ConfigStyle;
use gateway_sdk::prelude::*;
use gateway_sdk::time::now_millis;

use crate::config::Config;
use crate::limiter::Limiter;

/// The plugin: one compiled [`Limiter`] per configuration.
#[derive(Debug)]
pub struct ClusterRateLimit(Limiter);

impl Plugin for ClusterRateLimit {
    const NAME: &'static str = "cluster-rate-limit";
    type Config = Config;
    type Filter = RateLimitFilter;
    /// Higress's reading: each `_rules_` entry on its own, unknown keys warned about, values
    /// as the Go plugin's gjson reads them.
    const CONFIG_STYLE: ConfigStyle = ConfigStyle::HIGRESS.prepared_by(higress::prepare);

    fn compile(config: Config, at: &ConfigPath) -> Result<Self, ConfigError> {
        Limiter::compile(config, at).map(ClusterRateLimit)
    }

    fn new_filter(plugin: &Shared<Self>) -> RateLimitFilter {
        RateLimitFilter { plugin: plugin.clone(), admitted: None }
    }
}

/// Per-request state: the admitted outcome, for the response headers.
pub struct RateLimitFilter {
    plugin: Shared<ClusterRateLimit>,
    admitted: Option<Outcome>,
}

impl RateLimitFilter {
    fn decide(&mut self, outcome: Outcome) -> Flow {
        let l = &self.plugin.0;
        if outcome.admitted {
            l.metrics.allowed.inc();
            self.admitted = Some(outcome);
            return Flow::Continue;
        }
        if l.shadow {
            l.metrics.shadow_rejected.inc();
            return Flow::Continue;
        }
        l.metrics.rejected.inc();
        Flow::Respond(l.rejection(&outcome))
    }

    fn redis_failed(&self) -> Flow {
        let l = &self.plugin.0;
        l.metrics.fallback_decisions.inc();
        match l.quota.failure().mode {
            FailureMode::Allow => {
                l.metrics.allowed.inc();
                Flow::Continue
            }
            FailureMode::Deny if l.shadow => {
                l.metrics.shadow_rejected.inc();
                Flow::Continue
            }
            FailureMode::Deny => {
                l.metrics.rejected.inc();
                Flow::Respond(l.failure_response())
            }
        }
    }
}

impl HttpFilter for RateLimitFilter {
    async fn on_request_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        let plugin = self.plugin.clone();
        let l = &plugin.0;
        let Some((counter, windows)) = l.target(ctx) else { return Flow::Continue };
        let (verdict, error) = l.quota.admit(&counter, windows, Ask::Exactly(1), now_millis()).await;
        if let Some(e) = error {
            l.metrics.redis_errors.inc();
            // The breaker logged the cause (once per interval); this is per request.
            gateway_sdk::debug!("cluster-rate-limit: quota not checked ({e}); failure_mode decides");
        }
        match verdict {
            Verdict::Admitted(outcome) => self.decide(outcome),
            Verdict::Rejected(outcome, RejectedBy::Redis) => self.decide(outcome),
            Verdict::Rejected(outcome, RejectedBy::Cache) => {
                l.metrics.local_rejected.inc();
                self.decide(outcome)
            }
            Verdict::Rejected(outcome, RejectedBy::Fallback) | Verdict::AdmittedLocally(Some(outcome)) => {
                l.metrics.fallback_decisions.inc();
                self.decide(outcome)
            }
            Verdict::AdmittedLocally(None) | Verdict::Unavailable => self.redis_failed(),
        }
    }

    async fn on_response_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        if let Some(outcome) = &self.admitted {
            for (name, value) in self.plugin.0.admitted_headers(outcome) {
                ctx.set_response_header(&name, &value);
            }
        }
        Flow::Continue
    }
}

export_plugin!(ClusterRateLimit);
