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

pub(crate) fn send_local_response(status: u32, headers: &[(&str, &str)], body: Option<&[u8]>) {
    let _ = hostcalls::send_http_response(status, headers.to_vec(), body);
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
