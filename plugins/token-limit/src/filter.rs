//! The per-request hooks: pick the key, read the request body for the estimate (and add
//! `include_usage`), admit, watch the response stream for usage, settle at the end.

use gateway_quota::config::CounterNaming;
use gateway_quota::headers::{HeaderOptions, admitted_headers, higress_reset_seconds, rejected_headers};
use gateway_quota::higress::AI_TOKEN_RATELIMIT_PREFIX;
use gateway_quota::{Outcome, Window};
use gateway_sdk::prelude::*;

use crate::TokenLimit;
use crate::admission::{Decision, Settled, Ticket};
use crate::config::DEFAULT_REJECTED_MESSAGE;
use crate::json_text::push_string;
use crate::request::{self, Estimate, EstimateRules, RequestInfo};
use crate::scan::Scanner;
use crate::settlement::{Costs, Ending, MissingPolicy, decide};
use crate::usage::{Extractor, Format};

/// Higress ai-token-ratelimit's reset header on rejections (seconds).
const X_TOKEN_RATELIMIT_RESET: &str = "x-tokenratelimit-reset";

/// `{"error":{"code":..,"message":..,"type":..}}`, as serde_json wrote the `json!` of it
/// (keys sorted).
fn error_body(message: &str, kind: &str, code: &str) -> String {
    let mut out = String::with_capacity(message.len() + kind.len() + code.len() + 48);
    out.push_str(r#"{"error":{"code":"#);
    push_string(&mut out, code);
    out.push_str(r#","message":"#);
    push_string(&mut out, message);
    out.push_str(r#","type":"#);
    push_string(&mut out, kind);
    out.push_str("}}");
    out
}

/// A response with a JSON body, as `Response::json` labels it.
fn json_response(status: u16, body: String) -> Response {
    Response::new(status).header("content-type", "application/json").body(body)
}

/// Per-request state.
pub struct TokenFilter {
    plugin: Shared<TokenLimit>,
    target: Option<(String, Vec<Window>)>,
    request_mode: BodyMode,
    response_mode: BodyMode,
    /// The route is Anthropic's Messages API (`.../messages`): no `include_usage`.
    anthropic_route: bool,
    /// The route is an embeddings API: no output tokens are generated.
    embeddings: bool,
    request: Option<RequestInfo>,
    ticket: Option<Ticket>,
    scanner: Option<Scanner>,
    status: u16,
    body_seen: bool,
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
            anthropic_route: false,
            embeddings: false,
            request: None,
            ticket: None,
            scanner: None,
            status: 0,
            body_seen: false,
            ended_early: None,
        }
    }

    /// Whether `include_usage` may be added on this route (the body decides the rest).
    fn may_inject(&self) -> bool {
        let s = &self.plugin.settings;
        s.include_usage
            && !self.anthropic_route
            && matches!(s.extractor, Extractor::BuiltIn(Format::Auto | Format::Openai))
    }

    async fn admit(&mut self, ctx: &mut HttpContext, estimate: Estimate) -> Flow {
        let Some((counter_id, windows)) = self.target.take() else { return Flow::Continue };
        let plugin = self.plugin.clone();
        // The reservation completes even if the stream ends while it is in flight; a ticket
        // nobody is left to settle is refunded at once.
        let (reserving, refunding) = (plugin.clone(), plugin.clone());
        let decision =
            gateway_sdk::task::spawn(async move { reserving.admission.admit(&counter_id, &windows, estimate).await })
                .on_abandon(move |decision| {
                    if let Decision::Admitted(ticket) = decision {
                        refunding.metrics.refunded.add(ticket.reserved);
                        gateway_sdk::task::spawn(async move {
                            if let Err(e) = refunding.admission.settle(&ticket, 0).await {
                                gateway_sdk::warn_throttled!(
                                    "token-limit:refund",
                                    "token-limit: refunding an abandoned reservation failed: {e}"
                                );
                            }
                        });
                    }
                })
                .await;
        flush_if_due(&plugin);
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
                plugin.signals.record(ctx);
                Flow::Respond(self.rejection(&outcome))
            }
            Decision::TooLarge { needed, window } => {
                plugin.metrics.rejected.inc();
                Flow::Respond(self.too_large(needed, &window))
            }
            Decision::Unavailable => {
                plugin.metrics.redis_errors.inc();
                let body = error_body("token quota unavailable", "service_unavailable", "token_quota_unavailable");
                Flow::Respond(json_response(plugin.settings.unavailable_status, body))
            }
        }
    }

    fn rejection(&self, outcome: &Outcome) -> Response {
        let s = &self.plugin.settings;
        let mut response = match &s.rejected_msg {
            // Higress sends `rejected_msg` as the body, as written (main.go 345-349); Envoy
            // labels a local reply's body `text/plain`, and a JSON one is labelled as JSON.
            Some(msg) => {
                let content_type = if s.rejected_body_is_json { "application/json" } else { "text/plain" };
                let response = Response::new(s.rejected_code);
                if msg.is_empty() {
                    response
                } else {
                    response.header("content-type", content_type).body(msg.as_bytes())
                }
            }
            None => {
                let body = error_body(DEFAULT_REJECTED_MESSAGE, "rate_limit_exceeded", "token_quota_exceeded");
                json_response(s.rejected_code, body)
            }
        };
        let options = HeaderOptions { ietf: true, higress: s.show_limit_quota_header, unit: Some("tokens") };
        for (k, v) in rejected_headers(outcome, options) {
            response = response.header(k, v);
        }
        // The rejecting counter's TTL, as ai-token-ratelimit sends it; with the details it sets.
        response = response.header(X_TOKEN_RATELIMIT_RESET, higress_reset_seconds(outcome).to_string());
        response.details("ai-token-ratelimit.rejected")
    }

    /// The answer to a request that can never fit: no `Retry-After`, since waiting never helps.
    fn too_large(&self, needed: u64, window: &Window) -> Response {
        let s = &self.plugin.settings;
        let message = format!(
            "This request needs at least {needed} tokens (its prompt estimate plus max_tokens), more than the whole \
             quota of {} tokens per {}: it can never be admitted. Lower max_tokens or shorten the prompt.",
            window.quota,
            window.name()
        );
        let body = error_body(&message, "invalid_request_error", "token_quota_too_small");
        json_response(s.request_too_large_code, body)
    }

    /// Settles the request: decides the final charge and sends it to Redis from a detached
    /// task (so it survives the stream and never delays the response).
    fn finish(&mut self, ending: Ending) {
        let Some(ticket) = self.ticket.take() else { return };
        let plugin = self.plugin.clone();
        let s = &plugin.settings;
        let scan = self.scanner.take().map(|mut sc| sc.finish(&s.extractor)).unwrap_or_default();
        let policy = MissingPolicy {
            refund_on_error: s.refund_on_error,
            on_success: s.on_missing_usage,
            on_abort: s.on_abort,
            usage_only: !s.reservation,
            chars_per_token: s.chars_per_token,
        };
        let kept = if ticket.reserved > 0 { ticket.reserved } else { ticket.estimate.want };
        let costs = Costs { estimate: kept, prompt: ticket.estimate.prompt, completion: ticket.estimate.completion };
        let charge = decide(&scan, &s.weights, ending, costs, policy);
        let m = &plugin.metrics;
        m.charged.add(charge.total);
        m.refunded.add(ticket.reserved.saturating_sub(charge.total));
        if charge.usage_missing {
            m.usage_missing.inc();
            gateway_sdk::warn_throttled!(
                "token-limit:usage-missing",
                "token-limit: no usable usage in the response ({ending:?}, malformed: {}, invalid counts: {}, \
                 streamed characters: {}); charging {} of the {} reserved",
                scan.malformed,
                scan.invalid,
                scan.streamed_chars,
                charge.total,
                ticket.reserved
            );
        } else if scan.invalid || scan.malformed {
            gateway_sdk::debug!("token-limit: some usage reports were unreadable; charging {}", charge.total);
        }
        gateway_sdk::spawn(async move {
            match plugin.admission.settle(&ticket, charge.total).await {
                Ok(Settled::Called) => flush_if_due(&plugin),
                Ok(Settled::Nothing | Settled::Queued) => {}
                Err(e) => {
                    plugin.metrics.redis_errors.inc();
                    gateway_sdk::warn_throttled!(
                        "token-limit:settle",
                        "token-limit: settling {} tokens failed: {e}",
                        charge.total
                    );
                }
            }
        });
    }
}

/// Sends the charges that waited for Redis, once it answers again.
fn flush_if_due(plugin: &Shared<TokenLimit>) {
    if plugin.admission.should_flush() {
        let plugin = plugin.clone();
        gateway_sdk::spawn(async move { plugin.admission.flush().await });
    }
}

impl HttpFilter for TokenFilter {
    async fn on_request_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        let settings = &self.plugin.settings;
        let naming = match &settings.higress_rule_name {
            None => CounterNaming::Ours { scope: None, global: "global" },
            Some(rule_name) => CounterNaming::Higress { prefix: AI_TOKEN_RATELIMIT_PREFIX, rule_name },
        };
        let target = settings.limits.target(&*ctx, naming).map(|(id, windows)| (id, windows.to_vec()));
        if target.is_none() {
            return Flow::Continue;
        }
        self.target = target;
        // A compressed answer could not be scanned for usage (Higress's AI plugins do the same).
        ctx.remove_request_header("accept-encoding");
        let path = ctx.path();
        let path = path.split('?').next().unwrap_or_default();
        self.anthropic_route = path.ends_with("/messages");
        self.embeddings = path.ends_with("/embeddings");
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
        // No body: not a completion; only reported usage is charged.
        self.admit(ctx, Estimate::default()).await
    }

    fn request_body_mode(&self) -> BodyMode {
        self.request_mode
    }

    async fn on_request_body(&mut self, ctx: &mut HttpContext, body: &mut Body) -> Flow {
        let s = &self.plugin.settings;
        let rules = EstimateRules {
            default_output: s.default_max_tokens,
            chars_per_token: s.chars_per_token,
            media_tokens: s.media_tokens,
        };
        let bytes = body.bytes();
        let estimate = match request::parse(&bytes) {
            Some(info) => {
                // Decided by the body's shape and the route, never by a client header.
                if info.stream
                    && info.openai_style
                    && !info.anthropic_body
                    && self.may_inject()
                    && let Some(rewritten) = request::with_include_usage(&bytes, &info)
                {
                    body.replace(&rewritten);
                }
                let estimate = info.estimate(&rules, self.embeddings);
                self.request = Some(info);
                estimate
            }
            None => {
                gateway_sdk::debug!("token-limit: request body is not a JSON object: not a completion");
                Estimate::default()
            }
        };
        self.admit(ctx, estimate).await
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
        if !body.is_empty() {
            self.body_seen = true;
        }
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
        self.finish(Ending::Aborted { status: self.status, body_seen: self.body_seen });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_what_serde_jsons_json_wrote() {
        for message in [DEFAULT_REJECTED_MESSAGE, "token quota unavailable", "a \"quoted\" \\ name\n\u{1}é"] {
            let theirs = serde_json::json!({"error": {"message": message, "type": "t", "code": "c"}}).to_string();
            assert_eq!(error_body(message, "t", "c"), theirs);
            let ours = json_response(429, error_body(message, "t", "c"));
            assert_eq!(ours, Response::new(429).json(&serde_json::from_str(&theirs).unwrap()));
        }
    }
}
