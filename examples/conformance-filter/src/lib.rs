//! conformance-filter: one plugin that exercises headers, bodies, local replies (from request and
//! response hooks), awaited HTTP calls and pause/resume, chosen per request by the `x-t-action`
//! header. The `buffer-body` actions are a token-limit-style buffered request filter: they report
//! in response headers how often the body hook ran, with how many bytes and whether it saw the
//! end of the stream, and which request trailers the trailers hook saw. It makes no Redis calls, so vanilla Envoy loads it: the conformance test runs it in
//! Envoy and in gateway-host and compares what clients see.

use gateway_sdk::prelude::*;
use gateway_sdk::{HttpCall, http_call};

config_struct! {
    /// `{"cluster": "echo"}`: the cluster HTTP calls go to.
    pub struct Config {
        cluster: String,
    }
}

/// The compiled configuration.
pub struct Conformance {
    cluster: String,
}

impl Plugin for Conformance {
    const NAME: &'static str = "conformance-filter";
    type Config = Config;
    type Filter = Exercise;

    fn compile(config: Config, at: &ConfigPath) -> Result<Self, ConfigError> {
        if config.cluster.is_empty() {
            return Err(at.field("cluster").error("must not be empty"));
        }
        Ok(Conformance { cluster: config.cluster })
    }

    fn new_filter(plugin: &Shared<Self>) -> Exercise {
        Exercise { plugin: plugin.clone(), action: String::new(), seen: Seen::default() }
    }
}

/// Per request: the action under test.
pub struct Exercise {
    plugin: Shared<Conformance>,
    action: String,
    seen: Seen,
}

/// What the buffered request hooks saw, reported in the response headers.
#[derive(Default)]
struct Seen {
    /// Body hook runs.
    body_calls: u32,
    /// Bytes and end-of-stream flag of the last body hook run.
    body_len: usize,
    body_eos: bool,
    /// Trailers hook runs and the trailers (`name=value`) it saw.
    trailer_calls: u32,
    trailers: Vec<String>,
}

impl Seen {
    /// `len:eos:calls`, e.g. `11:true:1`.
    fn body(&self) -> String {
        format!("{}:{}:{}", self.body_len, self.body_eos, self.body_calls)
    }

    /// `calls:name=value,...`, e.g. `1:x-one=1,x-two=2` or `0:`.
    fn trailers(&self) -> String {
        format!("{}:{}", self.trailer_calls, self.trailers.join(","))
    }
}

/// The actions whose request body hook runs buffered.
fn buffers_request(action: &str) -> bool {
    matches!(action, "reverse-request-body" | "buffer-body" | "buffer-body-rewrite")
}

impl Exercise {
    fn call(&self, cluster: &str, path: &str) -> HttpCall {
        HttpCall::new(cluster, "GET", "conformance", path).header("x-t-from", "filter")
    }
}

impl HttpFilter for Exercise {
    async fn on_request_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        self.action = ctx.request_header("x-t-action").unwrap_or_default();
        match self.action.as_str() {
            "headers" => {
                ctx.set_request_header("x-t-added", "1");
                ctx.add_request_header("x-t-multi", "b");
                ctx.set_request_header("x-t-replace", "new");
                ctx.remove_request_header("x-t-remove-me");
            }
            "local-request" => {
                return Flow::Respond(Response::new(403).header("x-t-local", "request").body("denied by filter"));
            }
            "local-request-empty" => return Flow::Respond(Response::new(204)),
            // The body hook changes the body's length: the headers leave before it, so the
            // upstream's framing cannot be the client's content-length.
            "buffer-body-rewrite" => ctx.remove_request_header("content-length"),
            "http-then-header" => {
                let cluster = self.plugin.cluster.clone();
                match http_call(self.call(&cluster, "/auth")).await {
                    Ok(resp) => {
                        ctx.set_request_header("x-t-auth-status", &resp.status.to_string());
                        ctx.set_request_header("x-t-auth-body-len", &resp.body.len().to_string());
                    }
                    Err(e) => return Flow::Respond(Response::new(502).body(format!("call failed: {e}"))),
                }
            }
            "http-deny" => {
                let cluster = self.plugin.cluster.clone();
                if let Ok(resp) = http_call(self.call(&cluster, "/status/401")).await {
                    return Flow::Respond(Response::new(resp.status).header("x-t-denied", "yes").body(resp.body));
                }
            }
            "http-unknown" => match http_call(self.call("no-such-cluster", "/")).await {
                Ok(resp) => return Flow::Respond(Response::new(500).body(format!("unexpected {}", resp.status))),
                Err(gateway_sdk::HttpCallError::Dispatch { code, .. }) => {
                    return Flow::Respond(Response::new(502).body(format!("dispatch refused: {code}")));
                }
                Err(_) => return Flow::Respond(Response::new(504).body("call failed")),
            },
            _ => {}
        }
        Flow::Continue
    }

    fn request_body_mode(&self) -> BodyMode {
        if buffers_request(&self.action) { BodyMode::Buffered } else { BodyMode::Skip }
    }

    async fn on_request_body(&mut self, _ctx: &mut HttpContext, body: &mut Body) -> Flow {
        self.seen.body_calls += 1;
        self.seen.body_len = body.len();
        self.seen.body_eos = body.is_end_of_stream();
        match self.action.as_str() {
            "reverse-request-body" => {
                let mut bytes = body.bytes();
                bytes.reverse();
                body.replace(&bytes);
            }
            "buffer-body-rewrite" => {
                let mut bytes = body.bytes().to_ascii_uppercase();
                bytes.extend_from_slice(b" (rewritten)");
                body.replace(&bytes);
            }
            _ => {}
        }
        Flow::Continue
    }

    async fn on_request_trailers(&mut self, ctx: &mut HttpContext) -> Flow {
        self.seen.trailer_calls += 1;
        self.seen.trailers = ctx.request_trailers().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        Flow::Continue
    }

    async fn on_response_headers(&mut self, ctx: &mut HttpContext) -> Flow {
        let status = ctx.response_status().unwrap_or(0);
        match self.action.as_str() {
            "headers" => {
                ctx.add_response_header("x-t-resp-added", "yes");
                ctx.remove_response_header("x-t-upstream-remove");
            }
            // The body changes length: the upstream's content-length must go.
            "buffer-response" => ctx.remove_response_header("content-length"),
            "buffer-body" | "buffer-body-rewrite" => {
                ctx.set_response_header("x-t-body-seen", &self.seen.body());
                ctx.set_response_header("x-t-trailers-seen", &self.seen.trailers());
            }
            "replace-5xx" if status >= 500 => {
                return Flow::Respond(Response::new(200).header("x-t-fallback", status.to_string()).body("fallback"));
            }
            "http-in-response" => {
                let cluster = self.plugin.cluster.clone();
                let called = http_call(self.call(&cluster, "/auth")).await.map(|r| r.status).unwrap_or(0);
                return Flow::Respond(
                    Response::new(200).header("x-t-replaced", "yes").body(format!("replaced {status} after {called}")),
                );
            }
            "http-then-response-header" => {
                let cluster = self.plugin.cluster.clone();
                let called = http_call(self.call(&cluster, "/auth")).await.map(|r| r.status).unwrap_or(0);
                ctx.set_response_header("x-t-after-pause", &called.to_string());
            }
            _ => {}
        }
        Flow::Continue
    }

    fn response_body_mode(&self) -> BodyMode {
        match self.action.as_str() {
            "upper-chunks" => BodyMode::Streamed,
            "buffer-response" => BodyMode::Buffered,
            _ => BodyMode::Skip,
        }
    }

    async fn on_response_body(&mut self, _ctx: &mut HttpContext, body: &mut Body) -> Flow {
        if self.action == "upper-chunks" {
            let upper = body.bytes().to_ascii_uppercase();
            body.replace(&upper);
        } else {
            let len = body.len();
            body.replace(format!("len={len}").as_bytes());
        }
        Flow::Continue
    }
}

export_plugin!(Conformance);
