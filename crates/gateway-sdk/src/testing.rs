//! A native test host (feature `testing`): drive a plugin's hooks, see every Redis command and
//! HTTP call it sends, answer them (or fail them), and inspect headers, local responses and
//! pause/resume — all in plain `cargo test`, no wasm runtime needed.
//!
//! ```
//! # use gateway_sdk::testing::*;
//! # use gateway_sdk::prelude::*;
//! # struct P; struct F;
//! # gateway_sdk::config_struct! { struct C {} }
//! # impl Plugin for P { const NAME: &'static str = "p"; type Config = C; type Filter = F;
//! #   fn compile(_: C, _: &ConfigPath) -> Result<Self, ConfigError> { Ok(P) }
//! #   fn new_filter(_: &Shared<Self>) -> F { F } }
//! # impl HttpFilter for F {}
//! let mut host = TestHost::<P>::configure("{}").unwrap();
//! let s = host.new_stream(&[(":method", "GET"), (":path", "/")]);
//! assert_eq!(host.request_headers(s, true), Action::Continue);
//! ```

use std::collections::HashMap;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime};

use crate::abi::native_host::{self, FakeHost};
use crate::abi::{BodyKind, LogLevel};
use crate::config::ConfigError;
use crate::driver::{RootState, StreamDriver};
use crate::plugin::Plugin;
use crate::redis::codec::{self, Reply};

pub use crate::config::wasm_plugin::higress_config_from_wasmplugin;

/// A `serde_json::Value` (as tests write them with `json!`) as a configuration
/// [`Value`](crate::config::Value).
pub fn config_value(v: &serde_json::Value) -> crate::config::Value {
    crate::config::Value::parse(v.to_string().as_bytes()).unwrap_or_default()
}

/// serde_json's `json!`, giving a configuration [`Value`](crate::config::Value) (for tests of
/// [`Prepare`](crate::config::Prepare) functions and [`FromConfig`](crate::config::FromConfig)
/// types; the calling crate needs serde_json).
#[macro_export]
macro_rules! config_json {
    ($($json:tt)+) => {
        $crate::testing::config_value(&::serde_json::json!($($json)+))
    };
}
use crate::runtime::{self, CallOutcome};

pub use crate::driver::Action;

/// Identifies a stream started with [`TestHost::new_stream`].
pub type StreamId = u32;

const ROOT_CONTEXT_ID: u32 = 1;

/// A Redis command the plugin sent, with the token to answer it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisCall {
    /// The callback token (3 mod 4, as Higress hands them out).
    pub token: u32,
    /// The cluster the command went to.
    pub cluster: String,
    /// The raw RESP query.
    pub query: Vec<u8>,
}

impl RedisCall {
    /// The command's arguments as text, e.g. `["INCR", "hello:10.0.0.1"]`.
    pub fn args(&self) -> Vec<String> {
        match codec::decode_reply(&self.query) {
            Ok(Reply::Array(items)) => items
                .into_iter()
                .map(|i| match i {
                    Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect(),
            _ => vec![String::from_utf8_lossy(&self.query).into_owned()],
        }
    }

    /// The command name, upper-case.
    pub fn command(&self) -> String {
        self.args().first().map(|c| c.to_ascii_uppercase()).unwrap_or_default()
    }
}

/// An HTTP call the plugin dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCallRecord {
    /// The callback token.
    pub token: u32,
    /// The target cluster.
    pub cluster: String,
    /// Request headers, pseudo-headers included.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Option<Vec<u8>>,
    /// Timeout the plugin asked for.
    pub timeout: Duration,
}

impl HttpCallRecord {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A local response the plugin sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    /// Status code.
    pub status: u32,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Response code details.
    pub details: String,
}

impl LocalResponse {
    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Drives one plugin against the fake host. One per test (state is per thread).
pub struct TestHost<P: Plugin> {
    root: RootState<P>,
    streams: HashMap<StreamId, StreamDriver<P>>,
    passed: HashMap<StreamId, Passed>,
    next_stream: StreamId,
    _plugin: PhantomData<P>,
}

impl<P: Plugin> TestHost<P> {
    /// Resets the fake host and configures the plugin with `json`.
    pub fn configure(json: &str) -> Result<Self, ConfigError> {
        Self::configure_with(json, |_| {})
    }

    /// Like [`TestHost::configure`], with Redis clusters the host does not know (init and calls
    /// to them fail with BadArgument, as Higress does for a misnamed cluster).
    pub fn configure_with_unknown_clusters(json: &str, unknown: &[&str]) -> Result<Self, ConfigError> {
        let unknown: Vec<String> = unknown.iter().map(|c| c.to_string()).collect();
        Self::configure_with(json, move |h| h.unknown_clusters.extend(unknown))
    }

    fn configure_with(json: &str, setup: impl FnOnce(&mut FakeHost)) -> Result<Self, ConfigError> {
        runtime::reset();
        crate::redis::reset_initialized();
        native_host::with(|h| {
            *h = FakeHost::default();
            setup(h);
        });
        runtime::set_root_context(ROOT_CONTEXT_ID);
        native_host::set_effective_context(ROOT_CONTEXT_ID);
        let root = RootState::new();
        root.configure(json.as_bytes())?;
        Ok(TestHost { root, streams: HashMap::new(), passed: HashMap::new(), next_stream: 100, _plugin: PhantomData })
    }

    /// Applies a new configuration to the running plugin (streams already started keep theirs).
    pub fn reconfigure(&mut self, json: &str) -> Result<(), ConfigError> {
        native_host::set_effective_context(ROOT_CONTEXT_ID);
        self.root.configure(json.as_bytes())
    }

    /// Starts a stream with these request headers (lower-case names; pseudo-headers included).
    pub fn new_stream(&mut self, request_headers: &[(&str, &str)]) -> StreamId {
        self.next_stream += 1;
        let id = self.next_stream;
        native_host::with(|h| {
            let s = h.streams.entry(id).or_default();
            s.request_headers = request_headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        });
        self.streams.insert(id, StreamDriver::new(id, &self.root));
        id
    }

    /// Sets a host property of a stream, e.g. `("route_name", "api")` or `("source.address", "10.0.0.1:5000")`.
    pub fn set_property(&mut self, stream: StreamId, path: &str, value: &str) {
        native_host::with(|h| {
            h.streams.entry(stream).or_default().properties.insert(path.to_string(), value.as_bytes().to_vec());
        });
    }

    /// A host property of a stream as the plugin left it (or as the test set it).
    pub fn property(&self, stream: StreamId, path: &str) -> Option<Vec<u8>> {
        native_host::with(|h| h.streams.get(&stream).and_then(|s| s.properties.get(path).cloned()))
    }

    fn drive(&mut self, stream: StreamId, f: impl FnOnce(&mut StreamDriver<P>) -> Action) -> Action {
        native_host::set_effective_context(stream);
        let action = match self.streams.get_mut(&stream) {
            Some(d) => f(d),
            None => Action::Continue,
        };
        if action == Action::Continue {
            self.pass_buffers(stream);
        }
        // A callback may also resume the other direction (a held hook finished).
        self.sync_resumed();
        action
    }

    /// Moves the bytes a stream let through out of the host buffers (as Envoy forwards them).
    fn pass_buffers(&mut self, stream: StreamId) {
        let (req, resp) = native_host::with(|h| {
            let s = h.streams.entry(stream).or_default();
            (std::mem::take(&mut s.request_body), std::mem::take(&mut s.response_body))
        });
        let p = self.passed.entry(stream).or_default();
        p.request.extend(req);
        p.response.extend(resp);
    }

    /// After a callback: streams the SDK resumed let their buffered bytes through.
    fn sync_resumed(&mut self) {
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in ids {
            let (rq, rs) = native_host::with(|h| {
                let s = h.streams.entry(id).or_default();
                (s.resumed_request, s.resumed_response)
            });
            let p = self.passed.entry(id).or_default();
            if (rq, rs) != (p.seen_request_resumes, p.seen_response_resumes) {
                p.seen_request_resumes = rq;
                p.seen_response_resumes = rs;
                self.pass_buffers(id);
            }
        }
    }

    /// Delivers the request headers.
    pub fn request_headers(&mut self, stream: StreamId, end_of_stream: bool) -> Action {
        self.drive(stream, |d| d.on_request_headers(end_of_stream))
    }

    /// Delivers a request body chunk (appended to the host's request buffer).
    pub fn request_body(&mut self, stream: StreamId, chunk: &[u8], end_of_stream: bool) -> Action {
        let size = append(stream, BodyKind::Request, chunk);
        self.drive(stream, |d| d.on_request_body(size, end_of_stream))
    }

    /// Delivers the request trailers (the request ends with them, as over HTTP/2).
    pub fn request_trailers(&mut self, stream: StreamId, trailers: &[(&str, &str)]) -> Action {
        native_host::with(|h| {
            h.streams.entry(stream).or_default().request_trailers =
                trailers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        });
        self.drive(stream, |d| d.on_request_trailers())
    }

    /// Delivers the response trailers (the response ends with them).
    pub fn response_trailers(&mut self, stream: StreamId, trailers: &[(&str, &str)]) -> Action {
        native_host::with(|h| {
            h.streams.entry(stream).or_default().response_trailers =
                trailers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        });
        self.drive(stream, |d| d.on_response_trailers())
    }

    /// Delivers the response headers (`:status` included).
    pub fn response_headers(&mut self, stream: StreamId, headers: &[(&str, &str)], end_of_stream: bool) -> Action {
        native_host::with(|h| {
            h.streams.entry(stream).or_default().response_headers =
                headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        });
        self.drive(stream, |d| d.on_response_headers(end_of_stream))
    }

    /// Delivers a response body chunk. Like Envoy, after a chunk passes (the hook returned
    /// Continue, or a paused hook resumed) the buffer holds only the next chunk; while paused,
    /// chunks accumulate.
    pub fn response_body(&mut self, stream: StreamId, chunk: &[u8], end_of_stream: bool) -> Action {
        let size = append(stream, BodyKind::Response, chunk);
        self.drive(stream, |d| d.on_response_body(size, end_of_stream))
    }

    /// Takes what the client received of the response body so far (the chunks let through).
    pub fn take_response_body(&mut self, stream: StreamId) -> Vec<u8> {
        std::mem::take(&mut self.passed.entry(stream).or_default().response)
    }

    /// The request body the upstream received so far (the chunks let through).
    pub fn upstream_request_body(&self, stream: StreamId) -> Vec<u8> {
        self.passed.get(&stream).map(|p| p.request.clone()).unwrap_or_default()
    }

    /// Ends the stream (`proxy_on_done` then delete).
    pub fn end_stream(&mut self, stream: StreamId) {
        native_host::set_effective_context(stream);
        if let Some(mut d) = self.streams.remove(&stream) {
            d.on_done();
        }
    }

    /// Every Redis command sent so far.
    pub fn redis_calls(&self) -> Vec<RedisCall> {
        native_host::with(|h| {
            h.redis_calls
                .iter()
                .map(|c| RedisCall { token: c.token, cluster: c.cluster.clone(), query: c.query.clone() })
                .collect()
        })
    }

    /// Returns and forgets the Redis commands sent so far.
    pub fn take_redis_calls(&mut self) -> Vec<RedisCall> {
        let calls = self.redis_calls();
        native_host::with(|h| h.redis_calls.clear());
        calls
    }

    /// Answers the Redis call `token` with `reply` (status 0).
    pub fn reply_redis(&mut self, token: u32, reply: Reply) {
        self.reply_redis_raw(token, &codec::encode_reply(&reply));
    }

    /// Answers the Redis call `token` with raw bytes (status 0), e.g. malformed RESP.
    pub fn reply_redis_raw(&mut self, token: u32, bytes: &[u8]) {
        self.redis_callback(token, 0, Some(bytes.to_vec()));
    }

    /// Fails the Redis call `token` as a network error or timeout (status 1).
    pub fn fail_redis(&mut self, token: u32) {
        self.redis_callback(token, 1, None);
    }

    fn redis_callback(&mut self, token: u32, status: u32, bytes: Option<Vec<u8>>) {
        // As in the ABI: the callback runs on the root context, the reply is readable only now.
        native_host::set_effective_context(ROOT_CONTEXT_ID);
        let size = bytes.as_ref().map_or(0, Vec::len);
        native_host::with(|h| h.redis_response = bytes);
        let body = if status == 0 { native_host::redis_response(size) } else { None };
        native_host::with(|h| h.redis_response = None);
        runtime::complete(token, CallOutcome::Redis { status, body });
        self.sync_resumed();
    }

    /// Every HTTP call dispatched so far.
    pub fn http_calls(&self) -> Vec<HttpCallRecord> {
        native_host::with(|h| {
            h.http_calls
                .iter()
                .map(|c| HttpCallRecord {
                    token: c.token,
                    cluster: c.cluster.clone(),
                    headers: c.headers.clone(),
                    body: c.body.clone(),
                    timeout: c.timeout,
                })
                .collect()
        })
    }

    /// Answers the HTTP call `token`.
    pub fn reply_http(&mut self, token: u32, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        let mut all = vec![(":status".to_string(), status.to_string())];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.http_callback(token, all, body.to_vec());
    }

    /// Fails the HTTP call `token` (no response: reset, connection failure or timeout).
    pub fn fail_http(&mut self, token: u32) {
        self.http_callback(token, Vec::new(), Vec::new());
    }

    fn http_callback(&mut self, token: u32, headers: Vec<(String, String)>, body: Vec<u8>) {
        native_host::set_effective_context(ROOT_CONTEXT_ID);
        let size = body.len();
        native_host::with(|h| h.http_response = Some((headers, body)));
        let headers = native_host::http_call_response_headers();
        let body = native_host::http_call_response_body(size).unwrap_or_default();
        native_host::with(|h| h.http_response = None);
        runtime::complete(token, CallOutcome::Http { headers, body });
        self.sync_resumed();
    }

    /// A request header as the upstream would see it.
    pub fn request_header(&self, stream: StreamId, name: &str) -> Option<String> {
        self.stream_state(stream, |s| {
            s.request_headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
        })
    }

    /// A response header as the client would see it.
    pub fn response_header(&self, stream: StreamId, name: &str) -> Option<String> {
        self.stream_state(stream, |s| {
            s.response_headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
        })
    }

    /// The local response the plugin sent on this stream, if any.
    pub fn local_response(&self, stream: StreamId) -> Option<LocalResponse> {
        self.stream_state(stream, |s| {
            s.local_response.as_ref().map(|r| LocalResponse {
                status: r.status,
                headers: r.headers.clone(),
                body: r.body.clone(),
                details: r.details.clone(),
            })
        })
    }

    /// How many times the request was resumed after a pause.
    pub fn request_resumed(&self, stream: StreamId) -> u32 {
        self.stream_state(stream, |s| s.resumed_request)
    }

    /// How many times the response was resumed after a pause.
    pub fn response_resumed(&self, stream: StreamId) -> u32 {
        self.stream_state(stream, |s| s.resumed_response)
    }

    /// Log lines at `level` or above.
    pub fn logs(&self, level: LogLevel) -> Vec<String> {
        native_host::with(|h| h.logs.iter().filter(|(l, _)| *l >= level).map(|(_, m)| m.clone()).collect())
    }

    /// The current value of metric `name`.
    pub fn metric(&self, name: &str) -> Option<i64> {
        native_host::with(|h| h.metrics.iter().find(|m| m.name == name).map(|m| m.value))
    }

    /// The clusters and credentials given to `proxy_redis_init`: (service, user, password, timeout).
    pub fn redis_inits(&self) -> Vec<(String, String, String, u32)> {
        native_host::with(|h| h.redis_inits.clone())
    }

    /// Sets the host clock.
    pub fn set_time(&mut self, now: SystemTime) {
        native_host::with(|h| h.now = now);
    }

    /// Moves the host clock forward, delivering the ticks a real host would on the way (every
    /// tick period while the SDK asks for ticks), so sleeping hooks wake as they would.
    pub fn advance(&mut self, by: Duration) {
        let end = native_host::with(|h| h.now + by);
        loop {
            let due = native_host::with(|h| h.next_tick.filter(|&t| t <= end));
            let Some(tick) = due else {
                native_host::with(|h| h.now = end);
                return;
            };
            native_host::with(|h| {
                h.now = tick;
                h.next_tick = Some(tick + Duration::from_millis(u64::from(h.tick_period_ms)));
            });
            // The tick may turn ticks off (or on again, which schedules the next one itself).
            runtime::on_tick(crate::time::now_millis());
        }
    }

    /// The tick period the plugin asked of the host (0 when ticks are off).
    pub fn tick_period_ms(&self) -> u32 {
        native_host::with(|h| h.tick_period_ms)
    }

    /// Live tasks and pending callbacks in the SDK runtime.
    pub fn runtime_stats(&self) -> (usize, usize) {
        runtime::stats()
    }

    /// The effective-context ids the SDK set, in order (to check callbacks target the right stream).
    pub fn effective_contexts(&self) -> Vec<u32> {
        native_host::with(|h| h.effective_log.clone())
    }

    fn stream_state<R>(&self, stream: StreamId, f: impl FnOnce(&native_host::FakeStream) -> R) -> R {
        native_host::with(|h| f(h.streams.entry(stream).or_default()))
    }
}

#[derive(Default)]
struct Passed {
    request: Vec<u8>,
    response: Vec<u8>,
    seen_request_resumes: u32,
    seen_response_resumes: u32,
}

fn append(stream: StreamId, kind: BodyKind, chunk: &[u8]) -> usize {
    native_host::with(|h| {
        let s = h.streams.entry(stream).or_default();
        let b = match kind {
            BodyKind::Request => &mut s.request_body,
            BodyKind::Response => &mut s.response_body,
        };
        b.extend_from_slice(chunk);
        b.len()
    })
}
