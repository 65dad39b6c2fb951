//! The host state kept in each VM's `Store`: contexts, per-stream data shared by a filter
//! chain, callback buffers, call tokens and Redis settings.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;
use wasmtime::{Memory, StoreLimits, TypedFunc};

use crate::services::Services;
use crate::services::shared::SharedState;
use crate::values::{Headers, HttpCallResponse, LocalReply, RedisSettings, VmEvent};

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

/// What a callback exposes through buffer/map reads while it runs.
#[derive(Debug, Default)]
pub enum CallbackData {
    #[default]
    None,
    Redis(Vec<u8>),
    Http(HttpCallResponse),
}

/// Static facts about the plugin a VM runs.
#[derive(Debug)]
pub struct PluginInfo {
    pub name: String,
    pub root_id: String,
    pub config: Vec<u8>,
    pub vm_config: Vec<u8>,
}

/// The `T` of `Store<T>`: everything host calls need, behind methods that keep its
/// bookkeeping (context ids, call tokens, the callback data of the running callback) whole.
pub struct HostState {
    plugin: Arc<PluginInfo>,
    shared: Arc<SharedState>,
    services: Rc<Services>,
    events: UnboundedSender<VmEvent>,
    root_context_id: u32,
    effective_context: u32,
    streams: HashMap<u32, Rc<Stream>>,
    next_context_id: u32,
    next_http_token: u32,
    next_redis_token: u32,
    /// HTTP call token -> calling context.
    http_calls: HashMap<u32, u32>,
    /// Redis call token -> context that was effective when it was issued (for fuel accounting).
    redis_calls: HashMap<u32, u32>,
    callback: CallbackData,
    foreign_args: Vec<u8>,
    redis: HashMap<String, RedisSettings>,
    limits: StoreLimits,
    tick_period: Rc<Cell<u32>>,
    /// During `proxy_on_vm_start` / `proxy_on_configure`, which buffer they may read.
    configuring: bool,
    /// Warnings and errors the plugin logged while starting (for start-up error messages).
    start_logs: Vec<String>,
    /// The guest's `memory` export and allocator, looked up once after instantiation (host
    /// calls read and write guest memory on every call).
    guest_memory: Option<Memory>,
    guest_allocator: Option<TypedFunc<i32, i32>>,
}

impl HostState {
    pub fn new(
        plugin: Arc<PluginInfo>,
        shared: Arc<SharedState>,
        services: Rc<Services>,
        events: UnboundedSender<VmEvent>,
        limits: StoreLimits,
    ) -> Self {
        HostState {
            plugin,
            shared,
            services,
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
            guest_memory: None,
            guest_allocator: None,
        }
    }

    /// Records the guest's memory and allocator exports (once, after instantiation).
    pub fn set_guest_exports(&mut self, memory: Option<Memory>, allocator: Option<TypedFunc<i32, i32>>) {
        self.guest_memory = memory;
        self.guest_allocator = allocator;
    }

    /// The guest's `memory` export, if it has one.
    pub fn guest_memory(&self) -> Option<Memory> {
        self.guest_memory
    }

    /// The guest allocator host calls return buffers through (`malloc`, else
    /// `proxy_on_memory_allocate`), if it has one of the right type.
    pub fn guest_allocator(&self) -> Option<TypedFunc<i32, i32>> {
        self.guest_allocator.clone()
    }

    pub fn plugin(&self) -> &PluginInfo {
        &self.plugin
    }

    pub fn shared(&self) -> &Arc<SharedState> {
        &self.shared
    }

    pub fn services(&self) -> &Rc<Services> {
        &self.services
    }

    /// Where callbacks for this VM are queued (Redis replies, HTTP responses, ticks, queues).
    pub fn events(&self) -> &UnboundedSender<VmEvent> {
        &self.events
    }

    pub fn limits_mut(&mut self) -> &mut StoreLimits {
        &mut self.limits
    }

    pub fn root_context_id(&self) -> u32 {
        self.root_context_id
    }

    /// Makes `id` the effective context for the VM call about to run.
    pub fn enter(&mut self, id: u32) {
        self.effective_context = id;
    }

    /// `proxy_set_effective_context`: false for an id that is neither the root nor a live stream.
    pub fn switch_context(&mut self, id: u32) -> bool {
        let known = id == self.root_context_id || self.streams.contains_key(&id);
        if known {
            self.effective_context = id;
        }
        known
    }

    /// The stream of the effective context, if it is an HTTP context.
    pub fn stream(&self) -> Option<Rc<Stream>> {
        self.streams.get(&self.effective_context).cloned()
    }

    /// The stream of context `id`, if it is a live HTTP context.
    pub fn stream_of(&self, id: u32) -> Option<&Rc<Stream>> {
        self.streams.get(&id)
    }

    /// Every live HTTP context's stream.
    pub fn streams(&self) -> impl Iterator<Item = &Rc<Stream>> {
        self.streams.values()
    }

    /// Registers a new HTTP context for `stream` and returns its id (2, 3, ...).
    pub fn add_http_context(&mut self, stream: Rc<Stream>) -> u32 {
        let id = self.next_context_id;
        self.next_context_id += 1;
        self.streams.insert(id, stream);
        id
    }

    /// Forgets context `id` (its Redis calls are then attributed to nobody) and makes the root
    /// context effective again.
    pub fn remove_http_context(&mut self, id: u32) {
        self.streams.remove(&id);
        self.redis_calls.retain(|_, c| *c != id);
        self.effective_context = self.root_context_id;
    }

    /// Redis tokens: 7, 11, 15, ... (3 mod 4), as Higress hands them out.
    pub fn next_redis_token(&mut self) -> u32 {
        self.next_redis_token = self.next_redis_token.wrapping_add(4);
        if self.next_redis_token < 7 {
            self.next_redis_token = 7;
        }
        self.next_redis_token
    }

    /// Remembers that the Redis call `token` was sent from the effective context.
    pub fn register_redis_call(&mut self, token: u32) {
        self.redis_calls.insert(token, self.effective_context);
    }

    /// The context the Redis call `token` came from (`None` once that context ended).
    pub fn take_redis_call(&mut self, token: u32) -> Option<u32> {
        self.redis_calls.remove(&token)
    }

    /// Hands out an HTTP call token (1, 2, 4, 5, 6, 8, ... never 3 mod 4, never 0) and
    /// remembers the effective context as its caller.
    pub fn register_http_call(&mut self) -> u32 {
        let token = loop {
            self.next_http_token = self.next_http_token.wrapping_add(1);
            if self.next_http_token != 0 && self.next_http_token % 4 != 3 {
                break self.next_http_token;
            }
        };
        self.http_calls.insert(token, self.effective_context);
        token
    }

    /// The context that made HTTP call `token`, if the token is known.
    pub fn take_http_call(&mut self, token: u32) -> Option<u32> {
        self.http_calls.remove(&token)
    }

    /// What the running callback exposes through buffer and map reads.
    pub fn callback(&self) -> &CallbackData {
        &self.callback
    }

    pub fn callback_mut(&mut self) -> &mut CallbackData {
        &mut self.callback
    }

    pub fn set_callback(&mut self, data: CallbackData) {
        self.callback = data;
    }

    /// The arguments of a foreign function call (buffer type 8; this host has none).
    pub fn foreign_args(&self) -> &[u8] {
        &self.foreign_args
    }

    /// The `proxy_redis_init` settings of `cluster` (the defaults without an init).
    pub fn redis_settings(&self, cluster: &str) -> RedisSettings {
        self.redis.get(cluster).cloned().unwrap_or_default()
    }

    /// Stores `cluster`'s settings; returns the settings they replace.
    pub fn set_redis_settings(&mut self, cluster: &str, settings: RedisSettings) -> Option<RedisSettings> {
        self.redis.insert(cluster.to_string(), settings)
    }

    /// The tick period's generation counter (a new period ends the old ticker).
    pub fn tick_period(&self) -> &Rc<Cell<u32>> {
        &self.tick_period
    }

    pub fn is_configuring(&self) -> bool {
        self.configuring
    }

    pub fn set_configuring(&mut self, configuring: bool) {
        self.configuring = configuring;
    }

    /// Keeps a warning or error logged while starting, for the start-up error message.
    pub fn note_start_log(&mut self, message: String) {
        self.start_logs.push(message);
    }

    pub fn start_logs(&self) -> &[String] {
        &self.start_logs
    }
}
