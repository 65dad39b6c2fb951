//! A real HTTP/1.1 upstream for tests: records every request and answers from a script
//! (echo by default), optionally streaming the body in chunks with pauses between them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use crate::body::HostBody;
use crate::services::upstream::read_frame;

/// A request the upstream received.
#[derive(Debug, Clone, Default)]
pub struct TestRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl TestRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the upstream answers.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Sent as separate chunks (chunked encoding when more than one).
    pub chunks: Vec<Vec<u8>>,
    /// Pause before each chunk after the first.
    pub chunk_pause: Duration,
}

impl TestResponse {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        TestResponse { status, headers: Vec::new(), chunks: vec![body.into()], chunk_pause: Duration::ZERO }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Streams `chunks` with `pause` between them.
    pub fn chunked(status: u16, chunks: Vec<Vec<u8>>, pause: Duration) -> Self {
        TestResponse { status, headers: Vec::new(), chunks, chunk_pause: pause }
    }
}

type Handler = Arc<dyn Fn(&TestRequest) -> TestResponse + Send + Sync>;

/// A running test upstream; stops on drop.
pub struct TestUpstream {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<TestRequest>>>,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TestUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestUpstream").field("addr", &self.addr).finish()
    }
}

impl TestUpstream {
    /// Echoes: status 200, the request body back, and `x-echo-method` / `x-echo-path` headers.
    pub fn echo() -> anyhow::Result<TestUpstream> {
        Self::start(|req| {
            TestResponse::new(200, req.body.clone())
                .header("x-echo-method", &req.method)
                .header("x-echo-path", &req.path)
        })
    }

    /// Answers every request with `handler(request)`.
    pub fn start(
        handler: impl Fn(&TestRequest) -> TestResponse + Send + Sync + 'static,
    ) -> anyhow::Result<TestUpstream> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (shutdown, mut shutdown_rx) = watch::channel(false);
        let handler: Handler = Arc::new(handler);
        let recorded = requests.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = shutdown_rx.changed() => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            let (handler, recorded) = (handler.clone(), recorded.clone());
                            tokio::spawn(async move {
                                let service = service_fn(move |req| {
                                    serve(req, handler.clone(), recorded.clone())
                                });
                                let _ = http1::Builder::new()
                                    .serve_connection(TokioIo::new(tcp), service)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        Ok(TestUpstream { addr, requests, shutdown, thread: Some(thread) })
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<TestRequest> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    req: Request<Incoming>,
    handler: Handler,
    recorded: Arc<Mutex<Vec<TestRequest>>>,
) -> Result<Response<HostBody>, std::io::Error> {
    let (parts, mut body) = req.into_parts();
    let mut data = Vec::new();
    while let Ok(Some(frame)) = read_frame(&mut body).await {
        if let Ok(d) = frame.into_data() {
            data.extend_from_slice(&d);
        }
    }
    let request = TestRequest {
        method: parts.method.to_string(),
        path: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).to_string()))
            .collect(),
        body: data,
    };
    let response = handler(&request);
    recorded.lock().unwrap_or_else(|e| e.into_inner()).push(request);
    let mut builder = Response::builder().status(response.status);
    for (k, v) in &response.headers {
        builder = builder.header(k, v);
    }
    let body = if response.chunks.len() <= 1 {
        HostBody::full(response.chunks.into_iter().next().unwrap_or_default())
    } else {
        let (tx, body) = HostBody::channel();
        let pause = response.chunk_pause;
        tokio::spawn(async move {
            for (i, chunk) in response.chunks.into_iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(pause).await;
                }
                if tx.send(Ok(hyper::body::Frame::data(Bytes::from(chunk)))).await.is_err() {
                    break;
                }
            }
        });
        body
    };
    builder.body(body).map_err(std::io::Error::other)
}
