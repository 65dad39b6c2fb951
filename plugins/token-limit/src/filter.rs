//! The per-request hooks: pick the key, read the request body for the estimate (and add
//! `include_usage`), admit, watch the response stream for usage, settle at the end.

use gateway_sdk::prelude::*;
use gateway_sdk::quota::headers::{HeaderOptions, admitted_headers, rejected_headers};
use gateway_sdk::quota::{Outcome, Window};
use serde_json::{Value, json};

use crate::TokenLimit;
use crate::admission::{Decision, Settled, Ticket};
use crate::config::Limits;
use crate::request::{self, RequestInfo};
use crate::scan::Scanner;
use crate::settlement::{Ending, MissingPolicy, decide};
use crate::usage::{Extractor, Format};

/// Per-request state.
pub struct TokenFilter {
    plugin: Shared<TokenLimit>,
    target: Option<(String, Vec<Window>)>,
    request_mode: BodyMode,
    response_mode: BodyMode,
    anthropic: bool,
    request: Option<RequestInfo>,
    ticket: Option<Ticket>,
    scanner: Option<Scanner>,
    status: u16,
    /// The response ended before the request was admitted (the upstream answered early):
    /// settled as soon as the admission gives a ticket.
    ended_early: Option<Ending>,
}

impl TokenFilter {
    pub(crate) fn new(plugin: Shared<TokenLimit>) -> Self {
        TokenFilter {
            plugin,
            target: None,
            request_mode: BodyMode::Skip,
            response_mode: BodyMode::Skip,
            anthropic: false,
            request: None,
            ticket: None,
            scanner: None,
            status: 0,
            ended_early: None,
        }
    }

    fn may_inject(&self) -> bool {
        let s = &self.plugin.settings;
        s.include_usage && !self.anthropic && matches!(s.extractor, Extractor::BuiltIn(Format::Auto | Format::Openai))
    }

    async fn admit(&mut self, estimate: u64) -> Flow {
        let Some((counter_id, windows)) = self.target.take() else { return Flow::Continue };
        let plugin = self.plugin.clone();
        // The reservation completes even if the stream ends while it is in flight; a ticket
        // nobody is left to settle is refunded at once.
        let (reserving, refunding) = (plugin.clone(), plugin.clone());
        let decision = gateway_sdk::task::spawn(async move {
            reserving.admission.admit(&counter_id, &windows, estimate).await
        })
        .on_abandon(move |decision| {
            if let Decision::Admitted(ticket) = decision {
                refunding.metrics.refunded.add(ticket.reserved);
                gateway_sdk::task::spawn(async move {
                    if let Err(e) = refunding.admission.settle(&ticket, 0).await {
                        gateway_sdk::warn!("token-limit: refunding an abandoned reservation failed: {e}");
                    }
                });
            }
        })
        .await;
        match decision {
            Decision::Admitted(ticket) => {
                plugin.metrics.reserved.add(ticket.reserved);
                self.ticket = Some(ticket);
                if let Some(ending) = self.ended_early.take() {
                    self.finish(ending);
                }
                Flow::Continue
            }
            Decision::Rejected(outcome) => {
                plugin.metrics.rejected.inc();
                Flow::Respond(self.rejection(&outcome))
            }
            Decision::Unavailable => {
                plugin.metrics.redis_errors.inc();
                let body = json!({"error": {"message": "token quota unavailable", "type": "service_unavailable",
                    "code": "token_quota_unavailable"}});
                Flow::Respond(Response::new(plugin.settings.failure_status).json(&body))
            }
        }
    }

    fn rejection(&self, outcome: &Outcome) -> Response {
        let s = &self.plugin.settings;
        let body = json!({"error": {"message": s.rejected_msg, "type": "rate_limit_exceeded",
            "code": "token_quota_exceeded"}});
        let options = HeaderOptions { ietf: true, higress: s.show_limit_quota_header, unit: Some("tokens") };
        let mut response = Response::new(s.rejected_code).json(&body);
        for (k, v) in rejected_headers(outcome, options) {
            response = response.header(k, v);
        }
        response
    }

    /// Settles the request: decides the final charge and sends it to Redis from a detached
    /// task (so it survives the stream and never delays the response).
    fn finish(&mut self, ending: Ending) {
        let Some(ticket) = self.ticket.take() else { return };
        let plugin = self.plugin.clone();
        let extractor = &plugin.settings.extractor;
        let scan = self.scanner.take().map(|mut s| s.finish(extractor)).unwrap_or_default();
        let policy = MissingPolicy {
            refund_on_error: plugin.settings.refund_on_error,
            on_success: plugin.settings.on_missing_usage,
        };
        let charge = decide(&scan, &plugin.settings.weights, ending, ticket.estimate, policy);
        let m = &plugin.metrics;
        m.charged.add(charge.total);
        m.refunded.add(ticket.reserved.saturating_sub(charge.total));
        if charge.usage_missing {
            m.usage_missing.inc();
            gateway_sdk::warn!(
                "token-limit: no usable usage in the response ({ending:?}, malformed: {}, invalid counts: {}); \
                 charging {} of the {} reserved",
                scan.malformed,
                scan.invalid,
                charge.total,
                ticket.reserved
            );
        } else if scan.invalid || scan.malformed {
            gateway_sdk::debug!("token-limit: some usage reports were unreadable; charging {}", charge.total);
        }
        gateway_sdk::spawn(async move {
            match plugin.admission.settle(&ticket, charge.total).await {
                Ok(Settled::Called | Settled::Nothing) => {}
                Err(e) => {
                    plugin.metrics.redis_errors.inc();
                    gateway_sdk::warn!("token-limit: settling {} tokens failed: {e}", charge.total);
                }
            }
        });
    }
}

impl HttpFilter for TokenFilter {
    async fn on_request_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        let target = match &self.plugin.settings.limits {
            Limits::Keyed(selector) => selector.select(&*ctx).map(|sel| (sel.counter_id(), sel.limits.clone())),
            Limits::Global(windows) => Some(("global".to_string(), windows.clone())),
        };
        if target.is_none() {
            return Flow::Continue;
        }
        self.target = target;
        let path = ctx.path();
        let path = path.split('?').next().unwrap_or_default();
        self.anthropic = path.ends_with("/messages") || ctx.request_header("anthropic-version").is_some();
        let method = ctx.method();
        let has_body = !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS" | "DELETE")
            && ctx.request_header("content-length").is_none_or(|l| l.trim() != "0");
        if has_body {
            if self.may_inject() {
                // The body may be rewritten: its length is then unknown here.
                ctx.remove_request_header("content-length");
            }
            self.request_mode = BodyMode::Buffered;
            return Flow::Continue;
        }
        let estimate = self.plugin.settings.default_max_tokens;
        self.admit(estimate).await
    }

    fn request_body_mode(&self) -> BodyMode {
        self.request_mode
    }

    async fn on_request_body(&mut self, _ctx: &mut HttpContext, body: &mut Body) -> Flow {
        let s = &self.plugin.settings;
        let (default_max, chars) = (s.default_max_tokens, s.chars_per_token);
        let estimate = match request::parse(&body.bytes()) {
            Some((info, mut doc)) => {
                if info.stream && info.openai_style && self.may_inject() && request::inject_include_usage(&mut doc) {
                    match serde_json::to_vec(&Value::Object(doc)) {
                        Ok(bytes) => {
                            body.replace(&bytes);
                        }
                        Err(e) => gateway_sdk::warn!("token-limit: could not rewrite the request body: {e}"),
                    }
                }
                let estimate = info.estimate(default_max, chars);
                self.request = Some(info);
                estimate
            }
            None => {
                gateway_sdk::debug!("token-limit: request body is not a JSON object; estimating {default_max} tokens");
                default_max
            }
        };
        self.admit(estimate).await
    }

    async fn on_response_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        // Admitted, or still to be admitted: the upstream may answer before the request body
        // reached this filter; the usage is read all the same and settled after admission.
        if self.ticket.is_none() && self.target.is_none() {
            return Flow::Continue;
        }
        self.status = ctx.response_status().unwrap_or(0);
        let content_type = ctx.response_header("content-type").unwrap_or_default().to_ascii_lowercase();
        let sse = content_type.contains("text/event-stream")
            || (content_type.is_empty() && self.request.as_ref().is_some_and(|r| r.stream));
        self.scanner = Some(Scanner::new(sse));
        self.response_mode = BodyMode::Streamed;
        let s = &self.plugin.settings;
        let outcome = self.ticket.as_ref().and_then(|t| t.outcome.as_ref());
        if let Some(outcome) = outcome.filter(|_| s.show_limit_quota_header) {
            let options = HeaderOptions { ietf: true, higress: true, unit: Some("tokens") };
            for (k, v) in admitted_headers(outcome, options) {
                ctx.set_response_header(&k, &v);
            }
        }
        Flow::Continue
    }

    fn response_body_mode(&self) -> BodyMode {
        self.response_mode
    }

    async fn on_response_body(&mut self, _ctx: &mut HttpContext, body: &mut Body) -> Flow {
        if let Some(scanner) = self.scanner.as_mut() {
            scanner.feed(&body.bytes(), &self.plugin.settings.extractor);
        }
        if body.is_end_of_stream() {
            if self.ticket.is_some() {
                self.finish(Ending::Complete(self.status));
            } else {
                self.ended_early = Some(Ending::Complete(self.status));
            }
        }
        Flow::Continue
    }

    fn on_stream_done(&mut self, _ctx: &mut HttpContext) {
        // Still holding the ticket: the body never completed (abort, reset, or no body).
        self.finish(Ending::Aborted);
    }
}
