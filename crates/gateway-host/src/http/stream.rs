//! One HTTP stream through its filter chain, with Envoy's semantics: request hooks in order,
//! response hooks in reverse, pauses until `proxy_continue_stream`, bodies chunk by chunk
//! (buffered only while a filter asks), local replies from request hooks going through the
//! response hooks of the filters that saw the request, local replies from response hooks
//! replacing the response, and `on_done`/`on_log`/`on_delete` when the stream ends.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::abi::{data_action, header_action, trailers_action};
use crate::body::HostBody;
use crate::http::frontend::Frontend;
use crate::http::pump::{Carry, hold_headers, pump_request, pump_response};
use crate::http::reply::{build_response, direct, local_reply_headers, reply, request_header_list};
use crate::services::shared::SharedState;
use crate::services::upstream::{self, Lease};
use crate::state::{Stream, StreamInfo};
use crate::values::{Headers, LocalReply};
use crate::vm::PluginVm;
use crate::vm::VmRef;

static NEXT_STREAM_ID: AtomicU64 = AtomicU64::new(1);

/// The downstream connection is reset instead of answered (`proxy_close_stream`, broken body).
#[derive(Debug)]
pub struct StreamReset(String);

impl std::fmt::Display for StreamReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stream reset: {}", self.0)
    }
}

impl std::error::Error for StreamReset {}

/// Why a stream stopped flowing normally.
pub(crate) enum Interrupt {
    Reply(LocalReply),
    Reset(String),
}

struct Filter {
    vm: VmRef,
    ctx: u32,
}

/// The filters of one stream; ends their contexts when the last reference goes.
pub(crate) struct Chain {
    pub(crate) stream: Rc<Stream>,
    filters: Vec<Filter>,
    shared: Arc<SharedState>,
}

impl Drop for Chain {
    fn drop(&mut self) {
        self.stream.data.borrow_mut().ended = true;
        for f in &self.filters {
            match f.vm.try_borrow_mut() {
                Ok(mut vm) => vm.end_http_context(f.ctx),
                Err(_) => {
                    let (vm, ctx) = (f.vm.clone(), f.ctx);
                    tokio::task::spawn_local(async move { vm.borrow_mut().end_http_context(ctx) });
                }
            }
        }
        let d = self.stream.data.borrow();
        log::debug!("stream {} route {:?}: {} wasm instructions (fuel)", d.info.id, d.info.route_name, d.fuel);
        if !self.filters.is_empty() {
            self.shared.record_request_fuel(d.fuel);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Dir {
    Request,
    Response,
}

impl Chain {
    /// Number of filters.
    pub(crate) fn len(&self) -> usize {
        self.filters.len()
    }

    /// A pending interrupt (local reply or close), if any.
    fn interrupted(&self) -> Option<Interrupt> {
        let mut d = self.stream.data.borrow_mut();
        if d.closed {
            if let Some(r) = d.local_reply.take() {
                return Some(Interrupt::Reply(r));
            }
            return Some(Interrupt::Reset("closed by a filter".into()));
        }
        d.local_reply.take().map(Interrupt::Reply)
    }

    fn clear_resume(&self, dir: Dir) {
        let mut d = self.stream.data.borrow_mut();
        match dir {
            Dir::Request => d.resume_request = false,
            Dir::Response => d.resume_response = false,
        }
    }

    /// Calls a hook of filter `i`; a VM failure becomes the 503 `wasm_fail_stream` local reply.
    fn call(
        &self,
        i: usize,
        dir: Dir,
        hook: impl FnOnce(&mut PluginVm, u32) -> Result<i32, crate::vm::VmError>,
    ) -> Result<i32, Interrupt> {
        self.clear_resume(dir);
        let f = &self.filters[i];
        let result = match f.vm.try_borrow_mut() {
            Ok(mut vm) => hook(&mut vm, f.ctx),
            Err(_) => Err(crate::vm::VmError("VM re-entered".into())),
        };
        match result {
            Ok(action) => match self.interrupted() {
                Some(i) => Err(i),
                None => Ok(action),
            },
            Err(e) => {
                log::error!("stream {}: {e}", self.stream.data.borrow().info.id);
                Err(Interrupt::Reply(LocalReply::wasm_fail_stream()))
            }
        }
    }

    /// Waits for `proxy_continue_stream(dir)`, a local reply or a close.
    pub(crate) async fn wait_resume(&self, dir: Dir) -> Result<(), Interrupt> {
        loop {
            let notified = self.stream.notify.notified();
            if let Some(i) = self.interrupted() {
                return Err(i);
            }
            {
                let mut d = self.stream.data.borrow_mut();
                let flag = match dir {
                    Dir::Request => &mut d.resume_request,
                    Dir::Response => &mut d.resume_response,
                };
                if *flag {
                    *flag = false;
                    return Ok(());
                }
            }
            notified.await;
        }
    }

    /// Waits until a filter sends a local reply or closes the stream.
    pub(crate) async fn wait_interrupt(&self) -> Interrupt {
        loop {
            let notified = self.stream.notify.notified();
            if let Some(i) = self.interrupted() {
                return i;
            }
            notified.await;
        }
    }

    /// Runs the request header hooks of filters `from..`. `Ok(Some(i))`: filter `i` (ABI
    /// 0_2_100) holds the headers with StopIteration while the body flows into it.
    pub(crate) async fn request_headers(&self, from: usize, eos: bool) -> Result<Option<usize>, (usize, Interrupt)> {
        for i in from..self.filters.len() {
            let n = self.stream.data.borrow().request_headers.len();
            let action =
                self.call(i, Dir::Request, |vm, ctx| vm.on_request_headers(ctx, n, eos)).map_err(|e| (i + 1, e))?;
            if is_continue_headers(action) {
                continue;
            }
            if action == header_action::STOP_ITERATION && !eos && self.holds_headers_on_stop(i) {
                return Ok(Some(i));
            }
            self.wait_resume(Dir::Request).await.map_err(|e| (i + 1, e))?;
        }
        Ok(None)
    }

    fn holds_headers_on_stop(&self, i: usize) -> bool {
        self.filters[i].vm.try_borrow().is_ok_and(|vm| vm.holds_headers_on_stop())
    }

    /// Runs one body chunk through filters `order`; `Ok(None)` while a filter buffers.
    pub(crate) async fn body_chunk(
        &self,
        dir: Dir,
        order: &[usize],
        buffers: &mut [Vec<u8>],
        chunk: Vec<u8>,
        eos: bool,
    ) -> Result<Option<Vec<u8>>, Interrupt> {
        let mut data = chunk;
        for &i in order {
            let mut view = std::mem::take(&mut buffers[i]);
            view.extend_from_slice(&data);
            let len = view.len();
            self.set_body(dir, view);
            let action = self.call(i, dir, |vm, ctx| match dir {
                Dir::Request => vm.on_request_body(ctx, len, eos),
                Dir::Response => vm.on_response_body(ctx, len, eos),
            })?;
            if action == data_action::CONTINUE {
                data = self.take_body(dir);
            } else if !eos {
                buffers[i] = self.take_body(dir);
                return Ok(None);
            } else {
                self.wait_resume(dir).await?;
                data = self.take_body(dir);
            }
        }
        Ok(Some(data))
    }

    fn set_body(&self, dir: Dir, body: Vec<u8>) {
        let mut d = self.stream.data.borrow_mut();
        match dir {
            Dir::Request => d.request_body = body,
            Dir::Response => d.response_body = body,
        }
    }

    fn take_body(&self, dir: Dir) -> Vec<u8> {
        let mut d = self.stream.data.borrow_mut();
        match dir {
            Dir::Request => std::mem::take(&mut d.request_body),
            Dir::Response => std::mem::take(&mut d.response_body),
        }
    }

    fn set_trailers(&self, dir: Dir, trailers: Headers) {
        let mut d = self.stream.data.borrow_mut();
        match dir {
            Dir::Request => d.request_trailers = trailers,
            Dir::Response => d.response_trailers = trailers,
        }
    }

    fn trailers(&self, dir: Dir) -> Headers {
        let d = self.stream.data.borrow();
        match dir {
            Dir::Request => d.request_trailers.clone(),
            Dir::Response => d.response_trailers.clone(),
        }
    }

    /// Ends a body with trailers through filters `order`, as Envoy does: no filter gets a body
    /// callback with end_of_stream; each gets its trailers callback (the body it held stays
    /// readable there, and it may pause), and data a filter held reaches the next filter as a
    /// body chunk before that filter's trailers. Returns the data and trailers to send on.
    pub(crate) async fn end_with_trailers(
        &self,
        dir: Dir,
        order: &[usize],
        buffers: &mut [Vec<u8>],
        trailers: Headers,
    ) -> Result<(Vec<u8>, Headers), Interrupt> {
        self.set_trailers(dir, trailers);
        let mut carried: Vec<u8> = Vec::new();
        for &i in order {
            if !carried.is_empty() {
                let mut view = std::mem::take(&mut buffers[i]);
                view.extend_from_slice(&carried);
                let len = view.len();
                self.set_body(dir, view);
                let action = self.call(i, dir, |vm, ctx| match dir {
                    Dir::Request => vm.on_request_body(ctx, len, false),
                    Dir::Response => vm.on_response_body(ctx, len, false),
                })?;
                if action == data_action::CONTINUE {
                    carried = self.take_body(dir);
                } else {
                    buffers[i] = self.take_body(dir);
                    carried = Vec::new();
                }
            }
            self.set_body(dir, std::mem::take(&mut buffers[i]));
            let n = self.trailers(dir).len();
            let action = self.call(i, dir, |vm, ctx| match dir {
                Dir::Request => vm.on_request_trailers(ctx, n),
                Dir::Response => vm.on_response_trailers(ctx, n),
            })?;
            if action != trailers_action::CONTINUE {
                self.wait_resume(dir).await?;
            }
            let mut next = self.take_body(dir);
            next.extend_from_slice(&carried);
            carried = next;
        }
        Ok((carried, self.trailers(dir)))
    }
}

fn is_continue_headers(action: i32) -> bool {
    action == header_action::CONTINUE || action == header_action::CONTINUE_AND_END_STREAM
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Serves one request: the entry point from the HTTP server.
pub async fn handle(
    worker: Rc<Frontend>,
    listener: usize,
    peer: SocketAddr,
    local: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<HostBody>, StreamReset> {
    let id = NEXT_STREAM_ID.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let headers = request_header_list(&parts, id);
    let host = String::from_utf8_lossy(&headers[0].1).to_string();
    let host = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(h, p)| if p.chars().all(|c| c.is_ascii_digit()) { h } else { host.as_str() })
        .to_string();
    let listener_config = &worker.config.listeners[listener];
    let Some(route) = listener_config.routes.iter().find(|r| r.matches(&host, parts.uri.path())) else {
        return Ok(direct(reply(404, "")));
    };
    let info = StreamInfo {
        route_name: route.name.clone(),
        cluster_name: route.cluster.clone().unwrap_or_default(),
        source: peer,
        destination: local,
        id,
    };
    let stream = Stream::new(info, headers);
    let names = route.filters.as_ref().unwrap_or(&listener_config.filters);
    let mut filters = Vec::with_capacity(names.len());
    for name in names {
        let Some(slot) = worker.plugins.get(name) else {
            continue;
        };
        let created = slot.vm().and_then(|vm| {
            let ctx = vm.borrow_mut().create_http_context(stream.clone()).map_err(anyhow::Error::new)?;
            Ok(Filter { vm, ctx })
        });
        match created {
            Ok(f) => filters.push(f),
            Err(e) => {
                log::error!("stream {id}: plugin {name}: {e:#}");
                let chain = Chain { stream, filters, shared: worker.shared.clone() };
                drop(chain);
                return Ok(direct(LocalReply::wasm_fail_stream()));
            }
        }
    }
    let chain = Rc::new(Chain { stream: stream.clone(), filters, shared: worker.shared.clone() });
    let all = chain.filters.len();
    let eos = hyper::body::Body::is_end_stream(&body);

    // Header hooks; a 0_2_100 filter may hold the headers while the body flows into it.
    let mut body = body;
    let mut carry = Carry::default();
    let mut from = 0;
    loop {
        match chain.request_headers(from, eos).await {
            Ok(None) => break,
            Ok(Some(held)) => {
                if let Err(interrupt) = hold_headers(&chain, held, &mut body, &mut carry).await {
                    return finish_interrupted(chain, held + 1, interrupt).await;
                }
                from = held + 1;
            }
            Err((seen, interrupt)) => return finish_interrupted(chain, seen, interrupt).await,
        }
    }

    // The request body flows through the request hooks into `body_tx`.
    let (body_tx, upstream_body) = if eos {
        (None, HostBody::Empty)
    } else {
        let (tx, b) = HostBody::channel();
        (Some(tx), b)
    };
    let mut pump: Option<LocalFuture<Result<(), Interrupt>>> =
        body_tx.map(|tx| Box::pin(pump_request(chain.clone(), body, tx, carry)) as LocalFuture<_>);

    if let Some(dr) = &route.direct_response {
        drop(upstream_body);
        if let Some(p) = pump.take()
            && let Err(i) = p.await
        {
            return finish_interrupted(chain, all, i).await;
        }
        let r = reply(dr.status, &dr.body);
        return respond(chain, all, local_reply_headers(&r), Source::Fixed(r.body), &worker).await;
    }

    let Some(cluster) = route.cluster.as_ref().and_then(|c| worker.services.clusters.get(c)) else {
        return Ok(direct(reply(503, "no cluster")));
    };
    let request_headers = stream.data.borrow().request_headers.clone();
    let request = match upstream::build_request(&request_headers, upstream_body) {
        Ok(r) => r,
        Err(e) => {
            let r = reply(400, &format!("bad request headers after filters: {e}"));
            return respond(chain, all, local_reply_headers(&r), Source::Fixed(r.body), &worker).await;
        }
    };
    let timeout = Duration::from_millis(cluster.config.timeout_ms);
    let send = tokio::time::timeout(timeout, worker.services.upstream.send(cluster, request));
    tokio::pin!(send);
    let outcome = loop {
        tokio::select! {
            r = async {
                match pump.as_mut() {
                    Some(p) => p.await,
                    None => std::future::pending().await,
                }
            }, if pump.is_some() => {
                pump = None;
                if let Err(i) = r {
                    return finish_interrupted(chain, all, i).await;
                }
            }
            i = chain.wait_interrupt(), if pump.is_none() => {
                return finish_interrupted(chain, all, i).await;
            }
            r = &mut send => break r,
        }
    };
    if let Some(p) = pump {
        // The response came first: keep feeding the request body in the background.
        tokio::task::spawn_local(async move {
            let _ = p.await;
        });
    }
    match outcome {
        Ok(Ok((response, lease))) => {
            let (parts, incoming) = response.into_parts();
            let head = upstream::response_headers(&parts);
            respond(chain, all, head, Source::Upstream(incoming, Some(lease)), &worker).await
        }
        Ok(Err(reason)) => {
            let r = reply(
                503,
                &format!("upstream connect error or disconnect/reset before headers. reset reason: {reason}"),
            );
            respond(chain, all, local_reply_headers(&r), Source::Fixed(r.body), &worker).await
        }
        Err(_) => {
            let r = reply(504, "upstream request timeout");
            respond(chain, all, local_reply_headers(&r), Source::Fixed(r.body), &worker).await
        }
    }
}

async fn finish_interrupted(
    chain: Rc<Chain>,
    seen: usize,
    interrupt: Interrupt,
) -> Result<Response<HostBody>, StreamReset> {
    match interrupt {
        Interrupt::Reset(why) => Err(StreamReset(why)),
        Interrupt::Reply(r) => {
            let head = local_reply_headers(&r);
            let body = r.body;
            respond_inner(chain, seen, head, Source::Fixed(body), None).await
        }
    }
}

/// Where response body bytes come from.
pub(crate) enum Source {
    Fixed(Vec<u8>),
    Upstream(Incoming, Option<Lease>),
}

impl Source {
    fn is_empty(&self) -> bool {
        match self {
            Source::Fixed(b) => b.is_empty(),
            Source::Upstream(i, _) => hyper::body::Body::is_end_stream(i),
        }
    }
}

async fn respond(
    chain: Rc<Chain>,
    seen: usize,
    head: Headers,
    source: Source,
    worker: &Rc<Frontend>,
) -> Result<Response<HostBody>, StreamReset> {
    respond_inner(chain, seen, head, source, Some(worker.clone())).await
}

/// Runs the response header hooks of filters `seen-1 ..= 0`, then streams the body through
/// their body hooks in a background task.
async fn respond_inner(
    chain: Rc<Chain>,
    seen: usize,
    head: Headers,
    source: Source,
    worker: Option<Rc<Frontend>>,
) -> Result<Response<HostBody>, StreamReset> {
    chain.stream.data.borrow_mut().response_headers = head;
    let eos = source.is_empty();
    let order: Vec<usize> = (0..seen).rev().collect();
    for &i in &order {
        let n = chain.stream.data.borrow().response_headers.len();
        let mut result = chain.call(i, Dir::Response, |vm, ctx| vm.on_response_headers(ctx, n, eos));
        if let Ok(action) = result
            && !is_continue_headers(action)
        {
            result = chain.wait_resume(Dir::Response).await.map(|_| 0);
        }
        match result {
            Ok(_) => {}
            Err(Interrupt::Reply(r)) => return Ok(direct(r)),
            Err(Interrupt::Reset(why)) => return Err(StreamReset(why)),
        }
    }
    let head = {
        let mut d = chain.stream.data.borrow_mut();
        d.response_sent = true;
        d.response_headers.clone()
    };
    if eos {
        return Ok(build_response(&head, HostBody::Empty));
    }
    let (tx, body) = HostBody::channel();
    tokio::task::spawn_local(pump_response(chain, order, source, tx, worker));
    Ok(build_response(&head, body))
}
