//! Upstream HTTP/1.1 clients: a keep-alive connection pool per worker, request building from
//! proxy-wasm header lists, and the `proxy_dispatch_http_call` round trip.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util_lite::collect;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::HostBody;
use crate::config::ClusterConfig;
use crate::values::{Headers, HttpCallResponse};

/// A configured cluster and its round-robin position.
pub struct ClusterState {
    pub config: ClusterConfig,
    next: Cell<usize>,
}

impl ClusterState {
    pub fn new(config: ClusterConfig) -> Self {
        ClusterState { config, next: Cell::new(0) }
    }

    fn pick(&self) -> String {
        let i = self.next.get();
        self.next.set(i.wrapping_add(1));
        self.config.endpoints[i % self.config.endpoints.len()].clone()
    }
}

/// Idle keep-alive connections of one worker, per endpoint.
#[derive(Default)]
pub struct UpstreamPool {
    idle: RefCell<HashMap<String, Vec<SendRequest<HostBody>>>>,
}

/// A connection lent out for one exchange; give it back with `release` once the body is read.
pub struct Lease {
    endpoint: String,
    sender: SendRequest<HostBody>,
}

impl UpstreamPool {
    /// Sends `request` to the cluster: reuses an idle connection or connects (bounded by the
    /// cluster's connect timeout). Errors are the reset reason Envoy would report.
    pub async fn send(
        &self,
        cluster: &ClusterState,
        request: Request<HostBody>,
    ) -> Result<(Response<Incoming>, Lease), String> {
        let endpoint = cluster.pick();
        let mut sender = None;
        loop {
            let candidate = self.idle.borrow_mut().get_mut(&endpoint).and_then(Vec::pop);
            let Some(mut s) = candidate else { break };
            if s.ready().await.is_ok() {
                sender = Some(s);
                break;
            }
        }
        let mut sender = match sender {
            Some(s) => s,
            None => connect(&endpoint, cluster.config.connect_timeout_ms).await?,
        };
        let response = sender.send_request(request).await.map_err(|e| format!("connection termination: {e}"))?;
        Ok((response, Lease { endpoint, sender }))
    }

    /// Returns a connection whose exchange finished cleanly.
    pub fn release(&self, lease: Lease) {
        if !lease.sender.is_closed() {
            self.idle.borrow_mut().entry(lease.endpoint).or_default().push(lease.sender);
        }
    }
}

async fn connect(endpoint: &str, timeout_ms: u64) -> Result<SendRequest<HostBody>, String> {
    let tcp = tokio::time::timeout(Duration::from_millis(timeout_ms), TcpStream::connect(endpoint))
        .await
        .map_err(|_| "connection timeout".to_string())?
        .map_err(|e| format!("connection failure, transport failure reason: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("connection failure: {e}"))?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Hop-by-hop headers that never go into a proxy-wasm header map or across the proxy.
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    matches!(name, b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade" | b"te")
}

fn get<'a>(headers: &'a Headers, name: &str) -> Option<&'a [u8]> {
    headers.iter().find(|(k, _)| k.as_slice() == name.as_bytes()).map(|(_, v)| v.as_slice())
}

/// Builds a request from a header list with `:method`, `:path`, `:authority` pseudo-headers.
pub fn build_request(headers: &Headers, body: HostBody) -> Result<Request<HostBody>, String> {
    let method = get(headers, ":method").ok_or(":method missing")?;
    let path = get(headers, ":path").ok_or(":path missing")?;
    let mut builder = Request::builder()
        .method(hyper::Method::from_bytes(method).map_err(|e| e.to_string())?)
        .uri(hyper::Uri::try_from(path).map_err(|e| e.to_string())?);
    if let Some(authority) = get(headers, ":authority") {
        builder = builder.header(hyper::header::HOST, authority);
    }
    for (k, v) in headers {
        if k.first() == Some(&b':') || k.as_slice() == b"host" || is_hop_by_hop(k) {
            continue;
        }
        builder = builder.header(k.as_slice(), v.as_slice());
    }
    builder.body(body).map_err(|e| e.to_string())
}

/// Converts response head fields into a header list starting with `:status`.
pub fn response_headers(parts: &http::response::Parts) -> Headers {
    let mut out: Headers = vec![(b":status".to_vec(), parts.status.as_str().as_bytes().to_vec())];
    for (k, v) in &parts.headers {
        if is_hop_by_hop(k.as_str().as_bytes()) {
            continue;
        }
        out.push((k.as_str().as_bytes().to_vec(), v.as_bytes().to_vec()));
    }
    out
}

/// Performs an HTTP call for `proxy_dispatch_http_call`. `None` on failure or timeout.
pub async fn http_call(
    pool: &UpstreamPool,
    cluster: &ClusterState,
    headers: Headers,
    body: Vec<u8>,
    timeout: Duration,
) -> Option<HttpCallResponse> {
    let exchange = async {
        let has_body = !body.is_empty();
        let mut request = build_request(&headers, HostBody::full(body)).ok()?;
        if !has_body {
            request.headers_mut().remove(hyper::header::TRANSFER_ENCODING);
        }
        let (response, lease) = pool.send(cluster, request).await.ok()?;
        let (parts, incoming) = response.into_parts();
        let (body, trailers) = collect(incoming).await.ok()?;
        pool.release(lease);
        Some(HttpCallResponse { headers: response_headers(&parts), body: body.to_vec(), trailers })
    };
    tokio::time::timeout(timeout, exchange).await.ok().flatten()
}

/// Tiny helpers over `hyper::body::Incoming` (instead of pulling in `http-body-util`).
mod http_body_util_lite {
    use super::*;
    use std::future::poll_fn;
    use std::pin::Pin;

    use http_body::Body;

    /// Reads one frame: `Ok(None)` at the end.
    pub async fn frame(body: &mut Incoming) -> Result<Option<http_body::Frame<Bytes>>, hyper::Error> {
        poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await.transpose()
    }

    /// Reads a whole body and its trailers.
    pub async fn collect(mut body: Incoming) -> Result<(Bytes, Headers), hyper::Error> {
        let mut data = Vec::new();
        let mut trailers = Vec::new();
        while let Some(f) = frame(&mut body).await? {
            match f.into_data() {
                Ok(d) => data.extend_from_slice(&d),
                Err(f) => {
                    if let Ok(t) = f.into_trailers() {
                        for (k, v) in &t {
                            trailers.push((k.as_str().as_bytes().to_vec(), v.as_bytes().to_vec()));
                        }
                    }
                }
            }
        }
        Ok((Bytes::from(data), trailers))
    }
}

pub use http_body_util_lite::frame as read_frame;
