//! The host state kept in each VM's `Store`: contexts, per-stream data shared by a filter
//! chain, callback buffers, call tokens and Redis settings.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;
use wasmtime::StoreLimits;

use crate::shared::SharedState;
use crate::vm::VmEvent;
use crate::worker::WorkerEnv;

/// Header (or trailer) pairs, lowercase names, pseudo-headers first.
pub type Headers = Vec<(Vec<u8>, Vec<u8>)>;

/// A reply produced by the host or by `proxy_send_local_response`.
#[derive(Debug, Clone, Default)]
pub struct LocalReply {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
    pub details: String,
}

/// Facts about a stream that properties expose.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub route_name: String,
    pub cluster_name: String,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub id: u64,
}

/// The mutable state of one HTTP stream, seen by every filter of its chain.
#[derive(Debug)]
pub struct StreamData {
    pub request_headers: Headers,
    pub request_trailers: Headers,
    pub response_headers: Headers,
    pub response_trailers: Headers,
    /// The request body bytes the current body hook sees (what a filter buffered so far).
    pub request_body: Vec<u8>,
    pub response_body: Vec<u8>,
    pub local_reply: Option<LocalReply>,
    pub resume_request: bool,
    pub resume_response: bool,
    pub closed: bool,
    /// Response headers are on their way downstream: a local reply can no longer replace them.
    pub response_sent: bool,
    pub info: StreamInfo,
    pub properties: HashMap<Vec<u8>, Vec<u8>>,
    /// Fuel consumed for this stream so far.
    pub fuel: u64,
    pub ended: bool,
}

/// A stream shared between the stream task and the VMs of its filters.
#[derive(Debug)]
pub struct Stream {
    pub data: RefCell<StreamData>,
    /// Woken when a filter resumes the stream, sends a local reply or closes it.
    pub notify: Notify,
}

impl Stream {
    pub fn new(info: StreamInfo, request_headers: Headers) -> Rc<Stream> {
        Rc::new(Stream {
            data: RefCell::new(StreamData {
                request_headers,
                request_trailers: Vec::new(),
                response_headers: Vec::new(),
                response_trailers: Vec::new(),
                request_body: Vec::new(),
                response_body: Vec::new(),
                local_reply: None,
                resume_request: false,
                resume_response: false,
                closed: false,
                response_sent: false,
                info,
                properties: HashMap::new(),
                fuel: 0,
                ended: false,
            }),
            notify: Notify::new(),
        })
    }
}

/// The response to an HTTP call, exposed during `proxy_on_http_call_response`.
#[derive(Debug, Clone, Default)]
pub struct HttpCallResponse {
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
}

/// What a callback exposes through buffer/map reads while it runs.
#[derive(Debug, Default)]
pub enum CallbackData {
    #[default]
    None,
    Redis(Vec<u8>),
    Http(HttpCallResponse),
}

/// Settings from `proxy_redis_init` for one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedisSettings {
    pub username: String,
    pub password: String,
    pub timeout_ms: u32,
    pub db: u32,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings { username: String::new(), password: String::new(), timeout_ms: 1000, db: 0 }
    }
}

/// Static facts about the plugin a VM runs.
#[derive(Debug)]
pub struct PluginInfo {
    pub name: String,
    pub root_id: String,
    pub config: Vec<u8>,
    pub vm_config: Vec<u8>,
}

/// The `T` of `Store<T>`: everything host calls need.
pub struct HostState {
    pub plugin: Arc<PluginInfo>,
    pub shared: Arc<SharedState>,
    pub worker: Rc<WorkerEnv>,
    pub events: UnboundedSender<VmEvent>,
    pub root_context_id: u32,
    pub effective_context: u32,
    pub streams: HashMap<u32, Rc<Stream>>,
    pub next_context_id: u32,
    next_http_token: u32,
    next_redis_token: u32,
    /// HTTP call token -> calling context.
    pub http_calls: HashMap<u32, u32>,
    /// Redis call token -> context that was effective when it was issued (for fuel accounting).
    pub redis_calls: HashMap<u32, u32>,
    pub callback: CallbackData,
    pub foreign_args: Vec<u8>,
    pub redis: HashMap<String, RedisSettings>,
    pub limits: StoreLimits,
    pub tick_period: Rc<Cell<u32>>,
    /// During `proxy_on_vm_start` / `proxy_on_configure`, which buffer they may read.
    pub configuring: bool,
    /// Warnings and errors the plugin logged while starting (for start-up error messages).
    pub start_logs: Vec<String>,
}

impl HostState {
    pub fn new(
        plugin: Arc<PluginInfo>,
        shared: Arc<SharedState>,
        worker: Rc<WorkerEnv>,
        events: UnboundedSender<VmEvent>,
        limits: StoreLimits,
    ) -> Self {
        HostState {
            plugin,
            shared,
            worker,
            events,
            root_context_id: 1,
            effective_context: 1,
            streams: HashMap::new(),
            next_context_id: 2,
            next_http_token: 0,
            next_redis_token: 3,
            http_calls: HashMap::new(),
            redis_calls: HashMap::new(),
            callback: CallbackData::None,
            foreign_args: Vec::new(),
            redis: HashMap::new(),
            limits,
            tick_period: Rc::new(Cell::new(0)),
            configuring: false,
            start_logs: Vec::new(),
        }
    }

    /// The stream of the effective context, if it is an HTTP context.
    pub fn stream(&self) -> Option<Rc<Stream>> {
        self.streams.get(&self.effective_context).cloned()
    }

    /// Redis tokens: 7, 11, 15, ... (3 mod 4), as Higress hands them out.
    pub fn next_redis_token(&mut self) -> u32 {
        self.next_redis_token = self.next_redis_token.wrapping_add(4);
        if self.next_redis_token < 7 {
            self.next_redis_token = 7;
        }
        self.next_redis_token
    }

    /// HTTP call tokens: 1, 2, 4, 5, 6, 8, ... never 3 mod 4, never 0.
    pub fn next_http_token(&mut self) -> u32 {
        loop {
            self.next_http_token = self.next_http_token.wrapping_add(1);
            if self.next_http_token != 0 && self.next_http_token % 4 != 3 {
                return self.next_http_token;
            }
        }
    }
}
