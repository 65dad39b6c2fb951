//! A blocking HTTP/2 client for tests (h2c with prior knowledge, hyper's HTTP/2 client): sends
//! one request whose body is a list of data frames, optionally ending with trailers or on the
//! headers, and reads the response with its trailers. It works against Envoy and gateway-host.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use bytes::Bytes;
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::HostBody;
use crate::http::LocalExec;
use crate::services::upstream::read_frame;

/// What an HTTP/2 request carries after its headers.
#[derive(Debug, Clone, Default)]
pub struct H2Request {
    pub method: String,
    /// `http://host:port/path`.
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Data frames, in order. Empty with no trailers: the request ends on its headers.
    pub data: Vec<Vec<u8>>,
    /// Trailers that end the request (after the data frames).
    pub trailers: Vec<(String, String)>,
}

impl H2Request {
    pub fn new(method: &str, url: &str) -> Self {
        H2Request { method: method.to_string(), url: url.to_string(), ..H2Request::default() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn data(mut self, chunk: impl Into<Vec<u8>>) -> Self {
        self.data.push(chunk.into());
        self
    }

    pub fn trailer(mut self, name: &str, value: &str) -> Self {
        self.trailers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A response read over HTTP/2.
#[derive(Debug, Clone)]
pub struct H2Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
}

impl H2Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

/// Sends `request` over a new h2c connection and reads the whole response. Times out after 30 s.
pub fn h2c_request(request: &H2Request) -> anyhow::Result<H2Response> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        tokio::time::timeout(Duration::from_secs(30), exchange(request))
            .await
            .map_err(|_| anyhow!("h2c request timed out"))?
    })
}

async fn exchange(request: &H2Request) -> anyhow::Result<H2Response> {
    let uri: hyper::Uri = request.url.parse().with_context(|| format!("bad url {}", request.url))?;
    let authority = uri.authority().ok_or_else(|| anyhow!("url without authority"))?.to_string();
    let tcp = TcpStream::connect(&authority).await.with_context(|| format!("connecting {authority}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(LocalExec, TokioIo::new(tcp)).await.context("h2c handshake")?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    let ends_on_headers = request.data.is_empty() && request.trailers.is_empty();
    let body = if ends_on_headers {
        HostBody::Empty
    } else {
        // Built before anything is sent, so a bad trailer is an error rather than a silent drop.
        let mut trailers = hyper::HeaderMap::new();
        for (k, v) in &request.trailers {
            let name = hyper::header::HeaderName::from_bytes(k.as_bytes()).with_context(|| format!("trailer {k}"))?;
            let value = hyper::header::HeaderValue::from_str(v).with_context(|| format!("trailer {k}"))?;
            trailers.append(name, value);
        }
        let (tx, body) = HostBody::channel();
        let data = request.data.clone();
        tokio::task::spawn_local(async move {
            for chunk in data {
                if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                    return;
                }
            }
            if !trailers.is_empty() {
                let _ = tx.send(Ok(Frame::trailers(trailers))).await;
            }
        });
        body
    };
    let mut builder = hyper::Request::builder().method(request.method.as_str()).uri(uri);
    for (k, v) in &request.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let response = sender.send_request(builder.body(body)?).await.context("sending the request")?;
    let (parts, mut incoming) = response.into_parts();
    let mut out = H2Response {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).to_string()))
            .collect(),
        body: Vec::new(),
        trailers: Vec::new(),
    };
    while let Some(frame) = read_frame(&mut incoming).await.context("reading the response body")? {
        match frame.into_data() {
            Ok(d) => out.body.extend_from_slice(&d),
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    out.trailers.extend(
                        t.iter()
                            .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).to_string())),
                    );
                }
            }
        }
    }
    Ok(out)
}
