//! The real host: safe functions over the proxy-wasm ABI imports (`imports`) and Higress's
//! Redis calls (`redis_ext`). Every `unsafe` block of the wasm build that reads host memory is here.

use std::time::{Duration, SystemTime};

use super::imports::{self, OK, buffer, map, stream};
use super::redis_ext;
use super::{BodyKind, LogLevel, MapKind, MetricKind};

fn map_type(kind: MapKind) -> u32 {
    match kind {
        MapKind::RequestHeaders => map::REQUEST_HEADERS,
        MapKind::ResponseHeaders => map::RESPONSE_HEADERS,
        MapKind::RequestTrailers => map::REQUEST_TRAILERS,
        MapKind::ResponseTrailers => map::RESPONSE_TRAILERS,
    }
}

fn buffer_type(kind: BodyKind) -> u32 {
    match kind {
        BodyKind::Request => buffer::REQUEST_BODY,
        BodyKind::Response => buffer::RESPONSE_BODY,
    }
}

/// Takes ownership of a buffer the host allocated for us.
///
/// # Safety
/// `data` must be null, or point to `size` initialised bytes allocated by this module's
/// `proxy_on_memory_allocate` (a `Vec<u8>` with capacity `size`) and owned by no one else.
pub(super) unsafe fn take_host_buffer(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        return None;
    }
    // SAFETY: per this function's contract the allocation is a `Vec<u8>` of capacity `size`
    // whose ownership the host handed to us.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// Runs a host call that returns a buffer through two out-pointers; `None` when the host
/// reports anything but success (`NotFound` included) or hands back no buffer.
fn read_host_buffer(call: impl FnOnce(*mut *mut u8, *mut usize) -> u32) -> Option<Vec<u8>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    let status = call(&mut data, &mut size);
    if status != OK {
        return None;
    }
    // SAFETY: on success the proxy-wasm ABI hands over a buffer allocated through our
    // `proxy_on_memory_allocate` export (or none), of `size` bytes.
    unsafe { take_host_buffer(data, size) }
}

/// Header names and values as text: nearly always ASCII, checked as such (cheaper than UTF-8
/// validation per string); anything else is validated, invalid bytes replaced.
fn text(bytes: Vec<u8>) -> String {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        return unsafe { String::from_utf8_unchecked(bytes) };
    }
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub(crate) fn log(level: LogLevel, message: &str) {
    let level = match level {
        LogLevel::Trace => 0,
        LogLevel::Debug => 1,
        LogLevel::Info => 2,
        LogLevel::Warn => 3,
        LogLevel::Error => 4,
    };
    // SAFETY: `message` is a live slice the host only reads during the call.
    let _ = unsafe { imports::proxy_log(level, message.as_ptr(), message.len()) };
}

pub(crate) fn header(kind: MapKind, name: &str) -> Option<String> {
    read_host_buffer(|data, size| {
        // SAFETY: `name` is a live slice; `data`/`size` are valid out-pointers.
        unsafe { imports::proxy_get_header_map_value(map_type(kind), name.as_ptr(), name.len(), data, size) }
    })
    .map(text)
}

pub(crate) fn headers(kind: MapKind) -> Vec<(String, String)> {
    headers_of(map_type(kind))
}

fn headers_of(map_type: u32) -> Vec<(String, String)> {
    read_host_buffer(|data, size| {
        // SAFETY: `data`/`size` are valid out-pointers.
        unsafe { imports::proxy_get_header_map_pairs(map_type, data, size) }
    })
    .map(|bytes| parse_pairs(&bytes))
    .unwrap_or_default()
}

pub(crate) fn set_header(kind: MapKind, name: &str, value: Option<&str>) {
    // SAFETY: `name` and `value` are live slices the host only reads during the call.
    let _ = unsafe {
        match value {
            Some(v) => {
                imports::proxy_replace_header_map_value(map_type(kind), name.as_ptr(), name.len(), v.as_ptr(), v.len())
            }
            None => imports::proxy_remove_header_map_value(map_type(kind), name.as_ptr(), name.len()),
        }
    };
}

pub(crate) fn add_header(kind: MapKind, name: &str, value: &str) {
    // SAFETY: `name` and `value` are live slices the host only reads during the call.
    let _ = unsafe {
        imports::proxy_add_header_map_value(map_type(kind), name.as_ptr(), name.len(), value.as_ptr(), value.len())
    };
}

pub(super) fn buffer_bytes(buffer_type: u32, start: usize, len: usize) -> Option<Vec<u8>> {
    read_host_buffer(|data, size| {
        // SAFETY: `data`/`size` are valid out-pointers.
        unsafe { imports::proxy_get_buffer_bytes(buffer_type, start, len, data, size) }
    })
}

pub(crate) fn body(kind: BodyKind, start: usize, len: usize) -> Option<Vec<u8>> {
    buffer_bytes(buffer_type(kind), start, len)
}

pub(crate) fn set_body(kind: BodyKind, start: usize, len: usize, data: &[u8]) -> bool {
    // SAFETY: `data` is a live slice the host only reads during the call.
    let status = unsafe { imports::proxy_set_buffer_bytes(buffer_type(kind), start, len, data.as_ptr(), data.len()) };
    status == OK
}

/// `proxy_send_local_response` with response code details.
pub(crate) fn send_local_response(status: u32, headers: &[(&str, &str)], body: Option<&[u8]>, details: &str) {
    let map = serialize_pairs(headers);
    let body = body.unwrap_or_default();
    // SAFETY: every pointer/length pair names a live, initialised buffer owned by this frame,
    // which the host only reads during the call.
    let _ = unsafe {
        imports::proxy_send_local_response(
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

/// Reads the map encoding of [`serialize_pairs`]; a truncated map yields the pairs before the
/// damage.
fn parse_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let word = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let Some(count) = word(0) else { return Vec::new() };
    let mut pairs = Vec::with_capacity(count.min(bytes.len() / 8));
    let mut data = 4 + count.saturating_mul(8);
    for i in 0..count {
        let (Some(k), Some(v)) = (word(4 + i * 8), word(8 + i * 8)) else { break };
        let (Some(key), Some(value)) = (bytes.get(data..data + k), bytes.get(data + k + 1..data + k + 1 + v)) else {
            break;
        };
        pairs.push((text(key.to_vec()), text(value.to_vec())));
        data += k + v + 2;
    }
    pairs
}

pub(crate) fn resume(kind: BodyKind) {
    let stream_type = match kind {
        BodyKind::Request => stream::REQUEST,
        BodyKind::Response => stream::RESPONSE,
    };
    // SAFETY: a plain call without pointers.
    let _ = unsafe { imports::proxy_continue_stream(stream_type) };
}

pub(crate) fn set_effective_context(context_id: u32) {
    // SAFETY: a plain call without pointers.
    let _ = unsafe { imports::proxy_set_effective_context(context_id) };
}

/// A property path as the ABI wants it: the segments joined by NUL.
fn property_path(path: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.iter().map(|p| p.len() + 1).sum());
    for (i, part) in path.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(part.as_bytes());
    }
    out
}

pub(crate) fn property(path: &[&str]) -> Option<Vec<u8>> {
    let path = property_path(path);
    read_host_buffer(|data, size| {
        // SAFETY: `path` is a live slice; `data`/`size` are valid out-pointers.
        unsafe { imports::proxy_get_property(path.as_ptr(), path.len(), data, size) }
    })
}

pub(crate) fn set_property(path: &[&str], value: Option<&[u8]>) -> bool {
    let path = property_path(path);
    let value = value.unwrap_or_default();
    // SAFETY: `path` and `value` are live slices the host only reads during the call.
    let status = unsafe { imports::proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) };
    status == OK
}

/// Asks the host to call `proxy_on_tick` every `period_ms` milliseconds (0 turns it off).
pub(crate) fn set_tick_period(period_ms: u32) {
    // SAFETY: a plain call without pointers.
    let _ = unsafe { imports::proxy_set_tick_period_milliseconds(period_ms) };
}

pub(crate) fn now() -> SystemTime {
    let mut nanos: u64 = 0;
    // SAFETY: `nanos` is a valid, aligned out-pointer the host writes once.
    let status = unsafe { imports::proxy_get_current_time_nanoseconds(&mut nanos) };
    if status == OK { SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos) } else { SystemTime::UNIX_EPOCH }
}

pub(crate) fn define_metric(kind: MetricKind, name: &str) -> Option<u32> {
    let kind = match kind {
        MetricKind::Counter => 0,
        MetricKind::Gauge => 1,
        MetricKind::Histogram => 2,
    };
    let mut id: u32 = 0;
    // SAFETY: `name` is a live slice; `id` is a valid, aligned out-pointer.
    let status = unsafe { imports::proxy_define_metric(kind, name.as_ptr(), name.len(), &mut id) };
    (status == OK).then_some(id)
}

pub(crate) fn increment_metric(id: u32, delta: i64) {
    // SAFETY: a plain call without pointers.
    let _ = unsafe { imports::proxy_increment_metric(id, delta) };
}

pub(crate) fn record_metric(id: u32, value: u64) {
    // SAFETY: a plain call without pointers.
    let _ = unsafe { imports::proxy_record_metric(id, value) };
}

pub(crate) fn redis_init(cluster: &str, username: &str, password: &str, timeout_ms: u32) -> Result<(), u32> {
    redis_ext::init(cluster, username, password, timeout_ms)
}

pub(crate) fn redis_call(cluster: &str, query: &[u8]) -> Result<u32, u32> {
    redis_ext::call(cluster, query)
}

/// Dispatches an HTTP call; the token, or the host's status (`BadArgument` for an unknown
/// cluster, `InternalFailure` when it could not be sent).
pub(crate) fn http_call(
    cluster: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<u32, u32> {
    let headers = serialize_pairs(headers);
    let trailers = serialize_pairs(&[]);
    let body = body.unwrap_or_default();
    let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    let mut token: u32 = 0;
    // SAFETY: every pointer/length pair names a live buffer the host only reads during the
    // call; `token` is a valid, aligned out-pointer.
    let status = unsafe {
        imports::proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            headers.as_ptr(),
            headers.len(),
            body.as_ptr(),
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        )
    };
    if status == OK { Ok(token) } else { Err(status) }
}

pub(crate) fn http_call_response_headers() -> Vec<(String, String)> {
    headers_of(map::HTTP_CALL_RESPONSE_HEADERS)
}

pub(crate) fn http_call_response_body(size: usize) -> Option<Vec<u8>> {
    buffer_bytes(buffer::HTTP_CALL_RESPONSE_BODY, 0, size)
}

pub(crate) fn plugin_configuration() -> Option<Vec<u8>> {
    buffer_bytes(buffer::PLUGIN_CONFIGURATION, 0, usize::MAX)
}
