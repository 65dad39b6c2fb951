//! The traits a plugin implements: [`Plugin`] (compiled configuration, built once per worker)
//! and [`HttpFilter`] (per-request state with `async` hooks).

use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use crate::config::{ConfigError, ConfigPath, ConfigStyle, FromConfig};
use crate::context::{Body, HttpContext};
use crate::response::Response;

/// A plugin: its configuration shape, how it compiles, and the filter it runs per request.
///
/// The SDK parses the JSON configuration Higress delivers (the global object and each
/// `_rules_` entry), deserializes each into [`Plugin::Config`] and calls [`Plugin::compile`] once
/// per worker at configure time. The compiled value is the plugin itself: hold regexes, key
/// templates, [`crate::redis::RedisClient`]s and [`crate::redis::Script`]s there.
pub trait Plugin: Sized + 'static {
    /// Name used in logs and configuration errors, e.g. `"cluster-rate-limit"`.
    const NAME: &'static str;
    /// The configuration as written by the user (snake_case keys), usually declared with
    /// [`config_struct!`](crate::config_struct).
    type Config: FromConfig;
    /// Per-request state and hooks.
    type Filter: HttpFilter;
    /// How the SDK reads the configuration: [`ConfigStyle::HIGRESS`] (the default: each
    /// `_rules_` entry on its own, a bad global configuration tolerated next to rules, unknown
    /// keys warned about, as Higress's Go plugins read theirs) or, as an explicit opt-in,
    /// [`ConfigStyle::LAYERED`] (rules laid over the global configuration, unknown keys
    /// rejected).
    const CONFIG_STYLE: ConfigStyle = ConfigStyle::HIGRESS;

    /// Validates and compiles one configuration. `at` names where it came from
    /// (the root, or `_rules_[i]`); build errors with [`ConfigPath::error`] so they name the field.
    fn compile(config: Self::Config, at: &ConfigPath) -> Result<Self, ConfigError>;

    /// Creates the filter for one request that matched this configuration.
    fn new_filter(plugin: &Shared<Self>) -> Self::Filter;
}

/// What a hook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Let the request or response continue.
    Continue,
    /// Stop here and answer the client with this response. From a response hook it replaces
    /// the upstream's response.
    Respond(Response),
}

/// How a filter wants to see a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyMode {
    /// Do not call the body hook; the body streams through untouched.
    #[default]
    Skip,
    /// Buffer the whole body in the host and call the body hook once, at the end of the stream:
    /// with the last chunk, when the trailers arrive, or (empty) right after the headers hook
    /// when the message has no body.
    Buffered,
    /// Call the body hook for every chunk as it arrives; chunks pass on when the hook returns.
    /// The hook sees the end of the stream exactly once: on the last chunk, when the trailers
    /// arrive (an empty chunk), or right after the headers hook when there is no body.
    Streamed,
}

/// Per-request hooks. All are optional; each `async` hook may await Redis or HTTP calls, and
/// while it is pending the request (or response) is paused.
///
/// The body hooks run only when the matching `*_body_mode` returns something other than
/// [`BodyMode::Skip`]; the mode is read after the headers hook of the same direction finished.
///
/// Hooks of one stream never overlap: a host callback that arrives while a hook is pending
/// (response headers while the request body hook awaits Redis, say) is held and its hook runs
/// when the pending one completes.
#[allow(async_fn_in_trait)]
pub trait HttpFilter: 'static {
    /// Request headers arrived.
    async fn on_request_headers(&mut self, _ctx: &mut HttpContext) -> Flow {
        Flow::Continue
    }

    /// How [`HttpFilter::on_request_body`] wants the request body.
    fn request_body_mode(&self) -> BodyMode {
        BodyMode::Skip
    }

    /// A request body chunk (streamed) or the whole request body (buffered).
    async fn on_request_body(&mut self, _ctx: &mut HttpContext, _body: &mut Body) -> Flow {
        Flow::Continue
    }

    /// Request trailers arrived (HTTP/2, gRPC). Runs after the body hook saw the end of the
    /// stream. Read them with [`HttpContext::request_trailers`].
    async fn on_request_trailers(&mut self, _ctx: &mut HttpContext) -> Flow {
        Flow::Continue
    }

    /// Response headers arrived (from the upstream, or the host's own 503 when it was unreachable).
    async fn on_response_headers(&mut self, _ctx: &mut HttpContext) -> Flow {
        Flow::Continue
    }

    /// How [`HttpFilter::on_response_body`] wants the response body.
    fn response_body_mode(&self) -> BodyMode {
        BodyMode::Skip
    }

    /// A response body chunk (streamed) or the whole response body (buffered).
    async fn on_response_body(&mut self, _ctx: &mut HttpContext, _body: &mut Body) -> Flow {
        Flow::Continue
    }

    /// Response trailers arrived (gRPC status, for example). Runs after the body hook saw the
    /// end of the stream. Read them with [`HttpContext::response_trailers`].
    async fn on_response_trailers(&mut self, _ctx: &mut HttpContext) -> Flow {
        Flow::Continue
    }

    /// The stream ended (completed or aborted). Not called while a hook is still pending:
    /// that hook's future (and this filter) is dropped instead. Run calls that must complete
    /// anyway with [`crate::task::spawn`] and undo them with [`crate::task::JoinHandle::on_abandon`].
    fn on_stream_done(&mut self, _ctx: &mut HttpContext) {}
}

/// A shared, read-only handle to a compiled plugin configuration (cheap to clone).
pub struct Shared<T>(Rc<T>);

impl<T> Shared<T> {
    pub(crate) fn new(value: T) -> Self {
        Shared(Rc::new(value))
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
