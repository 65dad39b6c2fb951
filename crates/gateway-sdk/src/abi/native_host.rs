//! An in-process fake host for native builds: what `cargo test` runs plugin code against.
//! [`crate::testing::TestHost`] drives it; without the `testing` feature it still answers
//! every call (empty headers, no Redis), so plugin crates compile and unit-test natively.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use super::{BodyKind, LogLevel, MapKind, MetricKind};

/// A local response the plugin sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentResponse {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub details: String,
}

/// Headers and body of an HTTP-call response being delivered.
pub(crate) type HttpCallReply = (Vec<(String, String)>, Vec<u8>);

/// One fake stream's visible state.
#[derive(Debug, Default, Clone)]
pub(crate) struct FakeStream {
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    pub request_trailers: Vec<(String, String)>,
    pub response_trailers: Vec<(String, String)>,
    pub request_body: Vec<u8>,
    pub response_body: Vec<u8>,
    pub properties: HashMap<String, Vec<u8>>,
    pub local_response: Option<SentResponse>,
    pub resumed_request: u32,
    pub resumed_response: u32,
}

/// A Redis command the plugin sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentRedisCall {
    pub token: u32,
    pub cluster: String,
    pub query: Vec<u8>,
}

/// An HTTP call the plugin dispatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentHttpCall {
    pub token: u32,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
}

/// A metric the plugin defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FakeMetric {
    pub name: String,
    pub kind: MetricKind,
    pub value: i64,
}

#[derive(Debug)]
pub(crate) struct FakeHost {
    pub effective: u32,
    pub streams: HashMap<u32, FakeStream>,
    pub redis_inits: Vec<(String, String, String, u32)>,
    pub unknown_clusters: HashSet<String>,
    pub unreachable_clusters: HashSet<String>,
    pub redis_calls: Vec<SentRedisCall>,
    pub http_calls: Vec<SentHttpCall>,
    pub next_redis_token: u32,
    pub next_http_token: u32,
    pub redis_response: Option<Vec<u8>>,
    pub http_response: Option<HttpCallReply>,
    pub now: SystemTime,
    pub logs: Vec<(LogLevel, String)>,
    pub metrics: Vec<FakeMetric>,
    pub effective_log: Vec<u32>,
    /// The tick period the SDK asked for (0: off).
    pub tick_period_ms: u32,
    /// When the next tick is due (set when ticks are turned on, as a host's timer would be).
    pub next_tick: Option<SystemTime>,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost {
            effective: 0,
            streams: HashMap::new(),
            redis_inits: Vec::new(),
            unknown_clusters: HashSet::new(),
            unreachable_clusters: HashSet::new(),
            redis_calls: Vec::new(),
            http_calls: Vec::new(),
            // Higress hands out 7, 11, 15, ... for Redis calls.
            next_redis_token: 7,
            next_http_token: 1,
            redis_response: None,
            http_response: None,
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            logs: Vec::new(),
            metrics: Vec::new(),
            effective_log: Vec::new(),
            tick_period_ms: 0,
            next_tick: None,
        }
    }
}

thread_local! {
    pub(crate) static HOST: RefCell<FakeHost> = RefCell::new(FakeHost::default());
}

pub(crate) fn with<R>(f: impl FnOnce(&mut FakeHost) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

fn with_stream<R>(f: impl FnOnce(&mut FakeStream) -> R) -> R {
    with(|h| {
        let id = h.effective;
        f(h.streams.entry(id).or_default())
    })
}

fn map(stream: &mut FakeStream, kind: MapKind) -> &mut Vec<(String, String)> {
    match kind {
        MapKind::RequestHeaders => &mut stream.request_headers,
        MapKind::ResponseHeaders => &mut stream.response_headers,
        MapKind::RequestTrailers => &mut stream.request_trailers,
        MapKind::ResponseTrailers => &mut stream.response_trailers,
    }
}

fn buffer(stream: &mut FakeStream, kind: BodyKind) -> &mut Vec<u8> {
    match kind {
        BodyKind::Request => &mut stream.request_body,
        BodyKind::Response => &mut stream.response_body,
    }
}

pub(crate) fn log(level: LogLevel, message: &str) {
    with(|h| h.logs.push((level, message.to_string())));
}

pub(crate) fn header(kind: MapKind, name: &str) -> Option<String> {
    with_stream(|s| map(s, kind).iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()))
}

pub(crate) fn headers(kind: MapKind) -> Vec<(String, String)> {
    with_stream(|s| map(s, kind).clone())
}

pub(crate) fn set_header(kind: MapKind, name: &str, value: Option<&str>) {
    with_stream(|s| {
        let m = map(s, kind);
        m.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            m.push((name.to_ascii_lowercase(), v.to_string()));
        }
    });
}

pub(crate) fn add_header(kind: MapKind, name: &str, value: &str) {
    with_stream(|s| map(s, kind).push((name.to_ascii_lowercase(), value.to_string())));
}

pub(crate) fn body(kind: BodyKind, start: usize, len: usize) -> Option<Vec<u8>> {
    with_stream(|s| {
        let b = buffer(s, kind);
        let end = start.saturating_add(len).min(b.len());
        b.get(start..end).map(<[u8]>::to_vec)
    })
}

pub(crate) fn set_body(kind: BodyKind, start: usize, len: usize, data: &[u8]) -> bool {
    with_stream(|s| {
        let b = buffer(s, kind);
        if start > b.len() {
            return false;
        }
        let end = start.saturating_add(len).min(b.len());
        b.splice(start..end, data.iter().copied());
        true
    })
}

pub(crate) fn send_local_response(status: u32, headers: &[(&str, &str)], body: Option<&[u8]>, details: &str) {
    with_stream(|s| {
        s.local_response = Some(SentResponse {
            status,
            details: details.to_string(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.map(<[u8]>::to_vec).unwrap_or_default(),
        });
    });
}

pub(crate) fn resume(kind: BodyKind) {
    with_stream(|s| match kind {
        BodyKind::Request => s.resumed_request += 1,
        BodyKind::Response => s.resumed_response += 1,
    });
}

pub(crate) fn set_effective_context(context_id: u32) {
    with(|h| {
        h.effective = context_id;
        h.effective_log.push(context_id);
    });
}

pub(crate) fn property(path: &[&str]) -> Option<Vec<u8>> {
    let key = path.join(".");
    with_stream(|s| s.properties.get(&key).cloned())
}

pub(crate) fn set_property(path: &[&str], value: Option<&[u8]>) -> bool {
    let key = path.join(".");
    with_stream(|s| {
        match value {
            Some(v) => s.properties.insert(key, v.to_vec()),
            None => s.properties.remove(&key),
        };
    });
    true
}

pub(crate) fn set_tick_period(period_ms: u32) {
    with(|h| {
        h.tick_period_ms = period_ms;
        h.next_tick = (period_ms > 0).then(|| h.now + Duration::from_millis(u64::from(period_ms)));
    });
}

pub(crate) fn now() -> SystemTime {
    with(|h| h.now)
}

pub(crate) fn define_metric(kind: MetricKind, name: &str) -> Option<u32> {
    with(|h| {
        if let Some(i) = h.metrics.iter().position(|m| m.name == name) {
            return u32::try_from(i).ok();
        }
        h.metrics.push(FakeMetric { name: name.to_string(), kind, value: 0 });
        u32::try_from(h.metrics.len() - 1).ok()
    })
}

pub(crate) fn increment_metric(id: u32, delta: i64) {
    with(|h| {
        if let Some(m) = h.metrics.get_mut(id as usize) {
            m.value = m.value.saturating_add(delta);
        }
    });
}

pub(crate) fn record_metric(id: u32, value: u64) {
    with(|h| {
        if let Some(m) = h.metrics.get_mut(id as usize) {
            m.value = i64::try_from(value).unwrap_or(i64::MAX);
        }
    });
}

fn base_cluster(service: &str) -> &str {
    service.split('?').next().unwrap_or(service)
}

pub(crate) fn redis_init(cluster: &str, username: &str, password: &str, timeout_ms: u32) -> Result<(), u32> {
    with(|h| {
        if h.unknown_clusters.contains(base_cluster(cluster)) {
            return Err(2);
        }
        h.redis_inits.push((cluster.into(), username.into(), password.into(), timeout_ms));
        Ok(())
    })
}

pub(crate) fn redis_call(cluster: &str, query: &[u8]) -> Result<u32, u32> {
    with(|h| {
        let cluster = base_cluster(cluster);
        if h.unknown_clusters.contains(cluster) {
            return Err(2);
        }
        if h.unreachable_clusters.contains(cluster) {
            return Err(10);
        }
        let token = h.next_redis_token;
        h.next_redis_token = h.next_redis_token.wrapping_add(4);
        h.redis_calls.push(SentRedisCall { token, cluster: cluster.to_string(), query: query.to_vec() });
        Ok(token)
    })
}

pub(crate) fn redis_response(size: usize) -> Option<Vec<u8>> {
    with(|h| h.redis_response.as_ref().map(|r| r[..size.min(r.len())].to_vec()))
}

pub(crate) fn http_call(
    cluster: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<u32, u32> {
    with(|h| {
        if h.unknown_clusters.contains(cluster) {
            return Err(2);
        }
        let token = h.next_http_token;
        // 1 mod 4: never 3 mod 4, so they cannot collide with Redis tokens.
        h.next_http_token = h.next_http_token.wrapping_add(4);
        h.http_calls.push(SentHttpCall {
            token,
            cluster: cluster.to_string(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.map(<[u8]>::to_vec),
            timeout,
        });
        Ok(token)
    })
}

pub(crate) fn http_call_response_headers() -> Vec<(String, String)> {
    with(|h| h.http_response.as_ref().map(|r| r.0.clone()).unwrap_or_default())
}

pub(crate) fn http_call_response_body(size: usize) -> Option<Vec<u8>> {
    with(|h| h.http_response.as_ref().map(|r| r.1[..size.min(r.1.len())].to_vec()))
}
