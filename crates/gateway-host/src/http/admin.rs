//! The admin listener: `GET /stats` answers per-request fuel statistics and plugin metrics as
//! JSON, for benchmarks and demos run against the binary; `GET /profile` the fuel profile (JSON,
//! or a table with `?format=text`; `top=N` keeps each plugin's first N functions) and
//! `POST /profile/reset` zeroes it.

use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::body::HostBody;
use crate::profile;
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
                    let (status, content_type, body) = answer(&shared, &req).await;
                    Response::builder().status(status).header("content-type", content_type).body(HostBody::full(body))
                }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

const JSON: &str = "application/json";

/// Status, content type and body for one admin request.
async fn answer<B>(shared: &SharedState, req: &Request<B>) -> (u16, &'static str, String) {
    let query = req.uri().query().unwrap_or("");
    let param =
        |name: &str| query.split('&').find_map(|kv| kv.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')));
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/stats") => (200, JSON, stats_json(shared).to_string()),
        (&Method::GET, "/profile") => {
            let workers = shared.profile_workers();
            if workers.is_empty() {
                return (200, JSON, profile::off_json().to_string());
            }
            let top = match param("top").map(str::parse::<usize>) {
                None => None,
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => return (400, "text/plain", "top: expected a number\n".to_string()),
            };
            let report = profile::collect(&workers).await;
            if param("format") == Some("text") {
                (200, "text/plain; charset=utf-8", report.to_text(top))
            } else {
                (200, JSON, report.to_json(top).to_string())
            }
        }
        (&Method::POST, "/profile/reset") => {
            let workers = shared.profile_workers();
            if workers.is_empty() {
                return (200, JSON, profile::off_json().to_string());
            }
            profile::reset(&workers).await;
            (200, JSON, serde_json::json!({"profiling": true, "reset": true}).to_string())
        }
        (_, "/stats" | "/profile" | "/profile/reset") => (405, "text/plain", "method not allowed\n".to_string()),
        _ => (404, "text/plain", "try GET /stats, GET /profile[?format=text&top=N], POST /profile/reset\n".to_string()),
    }
}
