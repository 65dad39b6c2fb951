//! The downstream side of the gateway: accepting HTTP/1.1 and HTTP/2 (h2c with prior
//! knowledge) connections, matching routes and running each request through its filter chain
//! (see `stream`).

pub mod admin;
pub mod frontend;
mod pump;
mod reply;
mod stream;

use std::rc::Rc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::http::frontend::Frontend;

/// Accepts connections on one listener of one worker until the worker stops.
pub async fn accept_loop(worker: Rc<Frontend>, listener_index: usize, listener: TcpListener) {
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
            // One builder per connection: it reads the preface and speaks HTTP/1.1 or h2c.
            let mut builder = auto::Builder::new(LocalExec);
            builder.http1().keep_alive(true);
            if let Err(e) = builder.serve_connection(TokioIo::new(tcp), service).await {
                log::debug!("connection from {peer}: {e}");
            }
        });
    }
}

/// Runs HTTP/2 stream tasks on the current thread's local set (streams hold the worker's `Rc`s).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: std::future::Future + 'static,
{
    fn execute(&self, future: F) {
        tokio::task::spawn_local(future);
    }
}
