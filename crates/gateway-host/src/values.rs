//! Plain values every layer passes around (leaf of the module stack: it imports nothing of
//! the crate): header lists, replies, HTTP call responses, Redis settings, the events a VM
//! receives, and the log/metric/fuel records a gateway reports.

use std::collections::VecDeque;

/// Header (or trailer) pairs, lowercase names, pseudo-headers first.
pub type Headers = Vec<(Vec<u8>, Vec<u8>)>;

/// A reply produced by the host or by `proxy_send_local_response`.
#[derive(Debug, Clone, Default)]
pub struct LocalReply {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// Envoy's response code details (`wasm_fail_stream`); shown in `Debug` output only.
    #[allow(dead_code)]
    pub details: String,
}

impl LocalReply {
    /// What a stream gets when a plugin VM fails under it: like Envoy 1.40, 503 with an empty
    /// body (details `wasm_fail_stream`).
    pub fn wasm_fail_stream() -> LocalReply {
        LocalReply { status: 503, headers: Vec::new(), body: Vec::new(), details: "wasm_fail_stream".into() }
    }
}

/// The response to an HTTP call, exposed during `proxy_on_http_call_response`.
#[derive(Debug, Clone, Default)]
pub struct HttpCallResponse {
    pub headers: Headers,
    pub body: Vec<u8>,
    pub trailers: Headers,
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

/// Work delivered to a VM outside any other VM call.
#[derive(Debug)]
pub enum VmEvent {
    RedisReply {
        token: u32,
        status: u32,
        data: Vec<u8>,
    },
    /// `None`: the call failed or timed out (delivered with 0 headers, as Envoy does).
    HttpCallResponse {
        token: u32,
        response: Option<HttpCallResponse>,
    },
    QueueReady {
        root_id: u32,
        queue_id: u32,
    },
    Tick,
}

/// A log line written by a plugin (`proxy_log`, or WASI stdout/stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub plugin: String,
    pub level: log::Level,
    pub message: String,
}

/// Fuel consumed per request, summed over every plugin VM call made for it
/// (hooks and the callbacks of calls it issued).
#[derive(Debug, Clone, Default)]
pub struct FuelStats {
    pub requests: u64,
    pub total: u64,
    /// The most recent per-request samples (oldest first).
    pub recent: VecDeque<u64>,
}

impl FuelStats {
    /// Mean fuel per request over the kept samples.
    pub fn mean(&self) -> f64 {
        if self.recent.is_empty() { 0.0 } else { self.recent.iter().sum::<u64>() as f64 / self.recent.len() as f64 }
    }
}

/// A metric defined by `proxy_define_metric`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    pub name: String,
    /// 0 counter, 1 gauge, 2 histogram.
    pub kind: u32,
    pub value: i64,
}

/// `proc_exit` from the guest, carried as a trap.
#[derive(Debug)]
pub struct ProcExit(pub i32);

impl std::fmt::Display for ProcExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "guest called proc_exit({})", self.0)
    }
}

impl std::error::Error for ProcExit {}
