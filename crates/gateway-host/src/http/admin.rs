//! The admin listener: `GET /stats` answers per-request fuel statistics and plugin metrics as
//! JSON, for benchmarks and demos run against the binary.

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::body::HostBody;
use crate::services::shared::SharedState;

/// The `/stats` document.
pub fn stats_json(shared: &SharedState) -> serde_json::Value {
    let fuel = shared.fuel();
    let metrics: serde_json::Map<String, serde_json::Value> =
        shared.metrics().into_iter().map(|m| (m.name, serde_json::Value::from(m.value))).collect();
    serde_json::json!({
        "requests_with_plugins": fuel.requests,
        "fuel_total": fuel.total,
        "fuel_per_request_mean": fuel.mean(),
        "fuel_last": fuel.recent.back().copied().unwrap_or(0),
        "metrics": metrics,
    })
}

pub async fn serve(shared: Arc<SharedState>, listener: TcpListener) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::task::spawn_local(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let shared = shared.clone();
                async move {
                    let (status, body) = if req.uri().path() == "/stats" {
                        (200, stats_json(&shared).to_string())
                    } else {
                        (404, "try /stats\n".to_string())
                    };
                    Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(HostBody::full(body))
                }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}
