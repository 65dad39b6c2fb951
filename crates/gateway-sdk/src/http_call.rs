//! Awaited HTTP calls to another cluster (an auth service, a webhook), as `proxy_dispatch_http_call`.

use std::fmt;
use std::time::Duration;

use crate::abi::host;
use crate::runtime::{CallOutcome, PendingCall};

/// A request to send to another cluster with [`http_call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    /// The Envoy cluster name, e.g. `outbound|80||auth.static`.
    pub cluster: String,
    /// Headers, pseudo-headers (`:method`, `:path`, `:authority`) included.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Option<Vec<u8>>,
    /// How long the host waits for the response.
    pub timeout: Duration,
}

impl HttpCall {
    /// A `method` request for `path` on `cluster`, with `:authority` set to `authority`
    /// and a 1 second timeout.
    pub fn new(cluster: &str, method: &str, authority: &str, path: &str) -> Self {
        HttpCall {
            cluster: cluster.to_string(),
            headers: vec![
                (":method".into(), method.into()),
                (":path".into(), path.into()),
                (":authority".into(), authority.into()),
            ],
            body: None,
            timeout: Duration::from_secs(1),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// The response to an [`HttpCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCallResponse {
    /// The status code.
    pub status: u16,
    /// Response headers (`:status` included).
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

impl HttpCallResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why an [`HttpCall`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpCallError {
    /// The host refused the call (2 = unknown cluster, 10 = internal failure).
    Dispatch {
        /// The cluster name that was tried.
        cluster: String,
        /// The host's WasmResult code.
        code: u32,
    },
    /// The call was sent but no response came back (connection failure, reset or timeout).
    Failed {
        /// The cluster name the call was sent to.
        cluster: String,
    },
}

impl fmt::Display for HttpCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpCallError::Dispatch { cluster, code: 2 } => {
                write!(f, "http call: cluster `{cluster}` is not known to the gateway (BadArgument)")
            }
            HttpCallError::Dispatch { cluster, code } => {
                write!(f, "http call to `{cluster}` could not be sent (WasmResult {code})")
            }
            HttpCallError::Failed { cluster } => {
                write!(f, "http call to `{cluster}` failed: connection error, reset or timeout")
            }
        }
    }
}

impl std::error::Error for HttpCallError {}

/// Sends `call` and waits for its response. The hook awaiting it keeps its stream paused.
pub async fn http_call(call: HttpCall) -> Result<HttpCallResponse, HttpCallError> {
    let headers: Vec<(&str, &str)> = call.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let token = host::http_call(&call.cluster, &headers, call.body.as_deref(), call.timeout)
        .map_err(|code| HttpCallError::Dispatch { cluster: call.cluster.clone(), code })?;
    match PendingCall::new(token).await {
        CallOutcome::Http { headers, body } => {
            let status = headers.iter().find(|(k, _)| k == ":status").and_then(|(_, v)| v.parse::<u16>().ok());
            match status {
                Some(status) => Ok(HttpCallResponse { status, headers, body }),
                None => Err(HttpCallError::Failed { cluster: call.cluster }),
            }
        }
        CallOutcome::Redis { .. } => Err(HttpCallError::Failed { cluster: call.cluster }),
    }
}
