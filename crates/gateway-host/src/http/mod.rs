//! The HTTP/1.1 side of the gateway: accepting connections, matching routes and running each
//! request through its filter chain (see `stream`).

pub mod admin;
pub mod body;
pub mod reply;
pub mod stream;
pub mod upstream;

use std::rc::Rc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::worker::Worker;

/// Accepts connections on one listener of one worker until the worker stops.
pub async fn accept_loop(worker: Rc<Worker>, listener_index: usize, listener: TcpListener) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                log::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().unwrap_or(peer);
        let worker = worker.clone();
        tokio::task::spawn_local(async move {
            let service = service_fn(move |req| stream::handle(worker.clone(), listener_index, peer, local, req));
            if let Err(e) = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(tcp), service).await {
                log::debug!("connection from {peer}: {e}");
            }
        });
    }
}
