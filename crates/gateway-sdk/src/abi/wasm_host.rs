//! The real host: safe functions over the proxy-wasm ABI (via the `proxy-wasm` crate) and Higress's Redis calls.

use std::time::{Duration, SystemTime};

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel as PwLevel, MapType, MetricType};

use super::redis_ext;
use super::{BodyKind, LogLevel, MapKind, MetricKind};

fn map_type(map: MapKind) -> MapType {
    match map {
        MapKind::RequestHeaders => MapType::HttpRequestHeaders,
        MapKind::ResponseHeaders => MapType::HttpResponseHeaders,
        MapKind::RequestTrailers => MapType::HttpRequestTrailers,
        MapKind::ResponseTrailers => MapType::HttpResponseTrailers,
    }
}

fn buffer_type(kind: BodyKind) -> BufferType {
    match kind {
        BodyKind::Request => BufferType::HttpRequestBody,
        BodyKind::Response => BufferType::HttpResponseBody,
    }
}

pub(crate) fn log(level: LogLevel, message: &str) {
    let level = match level {
        LogLevel::Trace => PwLevel::Trace,
        LogLevel::Debug => PwLevel::Debug,
        LogLevel::Info => PwLevel::Info,
        LogLevel::Warn => PwLevel::Warn,
        LogLevel::Error => PwLevel::Error,
    };
    let _ = hostcalls::log(level, message);
}

pub(crate) fn header(map: MapKind, name: &str) -> Option<String> {
    hostcalls::get_map_value(map_type(map), name).ok().flatten()
}

pub(crate) fn headers(map: MapKind) -> Vec<(String, String)> {
    hostcalls::get_map(map_type(map)).unwrap_or_default()
}

pub(crate) fn set_header(map: MapKind, name: &str, value: Option<&str>) {
    let _ = hostcalls::set_map_value(map_type(map), name, value);
}

pub(crate) fn add_header(map: MapKind, name: &str, value: &str) {
    let _ = hostcalls::add_map_value(map_type(map), name, value);
}

pub(crate) fn body(kind: BodyKind, start: usize, len: usize) -> Option<Vec<u8>> {
    hostcalls::get_buffer(buffer_type(kind), start, len).ok().flatten()
}

pub(crate) fn set_body(kind: BodyKind, start: usize, len: usize, data: &[u8]) -> bool {
    hostcalls::set_buffer(buffer_type(kind), start, len, data).is_ok()
}

/// `proxy_send_local_response` with response code details (the `proxy-wasm` crate always
/// sends empty ones).
pub(crate) fn send_local_response(status: u32, headers: &[(&str, &str)], body: Option<&[u8]>, details: &str) {
    let map = serialize_pairs(headers);
    let body = body.unwrap_or_default();
    // SAFETY: every pointer/length pair names a live, initialised buffer owned by this frame,
    // which the host only reads during the call.
    let _ = unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            map.as_ptr(),
            map.len(),
            -1,
        )
    };
}

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_send_local_response(
        status_code: u32,
        details_data: *const u8,
        details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
}

/// The proxy-wasm map encoding: the pair count, each key and value length (u32 little endian),
/// then each key and value followed by a NUL.
fn serialize_pairs(pairs: &[(&str, &str)]) -> Vec<u8> {
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    let mut out = Vec::with_capacity(4 + pairs.iter().map(|(k, v)| 10 + k.len() + v.len()).sum::<usize>());
    out.extend_from_slice(&len(pairs.len()));
    for (k, v) in pairs {
        out.extend_from_slice(&len(k.len()));
        out.extend_from_slice(&len(v.len()));
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

pub(crate) fn resume(kind: BodyKind) {
    let _ = match kind {
        BodyKind::Request => hostcalls::resume_http_request(),
        BodyKind::Response => hostcalls::resume_http_response(),
    };
}

pub(crate) fn set_effective_context(context_id: u32) {
    let _ = hostcalls::set_effective_context(context_id);
}

pub(crate) fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

pub(crate) fn set_property(path: &[&str], value: Option<&[u8]>) -> bool {
    hostcalls::set_property(path.to_vec(), value).is_ok()
}

/// Asks the host to call `proxy_on_tick` every `period_ms` milliseconds (0 turns it off).
pub(crate) fn set_tick_period(period_ms: u32) {
    let _ = hostcalls::set_tick_period(Duration::from_millis(u64::from(period_ms)));
}

pub(crate) fn now() -> SystemTime {
    hostcalls::get_current_time().unwrap_or(SystemTime::UNIX_EPOCH)
}

pub(crate) fn define_metric(kind: MetricKind, name: &str) -> Option<u32> {
    let kind = match kind {
        MetricKind::Counter => MetricType::Counter,
        MetricKind::Gauge => MetricType::Gauge,
        MetricKind::Histogram => MetricType::Histogram,
    };
    hostcalls::define_metric(kind, name).ok()
}

pub(crate) fn increment_metric(id: u32, delta: i64) {
    let _ = hostcalls::increment_metric(id, delta);
}

pub(crate) fn record_metric(id: u32, value: u64) {
    let _ = hostcalls::record_metric(id, value);
}

pub(crate) fn redis_init(cluster: &str, username: &str, password: &str, timeout_ms: u32) -> Result<(), u32> {
    redis_ext::init(cluster, username, password, timeout_ms)
}

pub(crate) fn redis_call(cluster: &str, query: &[u8]) -> Result<u32, u32> {
    redis_ext::call(cluster, query)
}

pub(crate) fn http_call(
    cluster: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<u32, u32> {
    hostcalls::dispatch_http_call(cluster, headers.to_vec(), body, Vec::new(), timeout).map_err(|status| status as u32)
}

pub(crate) fn http_call_response_headers() -> Vec<(String, String)> {
    hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default()
}

pub(crate) fn http_call_response_body(size: usize) -> Option<Vec<u8>> {
    hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, size).ok().flatten()
}

pub(crate) fn plugin_configuration() -> Option<Vec<u8>> {
    hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX).ok().flatten()
}
