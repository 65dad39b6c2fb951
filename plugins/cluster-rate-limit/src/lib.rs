//! cluster-rate-limit: exact request quotas shared by every gateway through Redis, compatible
//! with Higress's `cluster-key-rate-limit` configuration. Every window of a request is checked
//! and charged in one Redis call; keys over their quota are rejected locally until their window
//! resets; when Redis fails, `failure_mode` and a circuit breaker with a local fallback limit
//! decide. See README.md for the configuration.

pub mod config;
pub mod higress;
pub mod limiter;

use gateway_sdk::config::ConfigStyle;
use gateway_sdk::prelude::*;
use gateway_sdk::quota::{FailureMode, Outcome, Route};
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
        match l.failure.mode {
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
        let now = now_millis();
        if let Some(local) = l.cache.check(&counter, 1, now) {
            l.metrics.local_rejected.inc();
            return self.decide(local);
        }
        match l.failure.route() {
            Route::Local => {
                if l.failure.mode == FailureMode::Deny {
                    return self.redis_failed();
                }
                l.metrics.fallback_decisions.inc();
                let outcome = l.failure.fallback(&counter, windows, 1, now);
                self.decide(outcome)
            }
            Route::Redis { .. } => {
                let plan = l.plan(&counter, windows, now);
                match l.store.check(&plan).await {
                    Ok(outcome) => {
                        l.failure.record_success();
                        if !outcome.admitted {
                            l.cache.record(&counter, &outcome, now);
                        }
                        self.decide(outcome)
                    }
                    Err(e) => {
                        l.failure.record_failure(&e);
                        l.metrics.redis_errors.inc();
                        // The breaker logged the cause (once per interval); this is per request.
                        gateway_sdk::debug!("cluster-rate-limit: quota not checked ({e}); failure_mode decides");
                        self.redis_failed()
                    }
                }
            }
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
