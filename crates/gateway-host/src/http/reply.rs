//! Building replies and header lists: local replies the way Envoy shapes them, responses from
//! proxy-wasm header lists, and the request header list filters see.

use hyper::Response;

use crate::body::HostBody;
use crate::services::upstream::is_hop_by_hop;
use crate::values::{Headers, LocalReply};

pub fn reply(status: u16, body: &str) -> LocalReply {
    LocalReply { status, headers: Vec::new(), body: body.as_bytes().to_vec(), details: String::new() }
}

/// The response header list of a local reply, as Envoy builds it.
pub fn local_reply_headers(r: &LocalReply) -> Headers {
    let mut h: Headers = vec![(b":status".to_vec(), r.status.to_string().into_bytes())];
    if !r.body.is_empty() {
        h.push((b"content-length".to_vec(), r.body.len().to_string().into_bytes()));
        if !r.headers.iter().any(|(k, _)| k.as_slice() == b"content-type") {
            h.push((b"content-type".to_vec(), b"text/plain".to_vec()));
        }
    }
    h.extend(r.headers.iter().cloned());
    h
}

pub fn build_response(headers: &Headers, body: HostBody) -> Response<HostBody> {
    let status = headers
        .iter()
        .find(|(k, _)| k.as_slice() == b":status")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse::<u16>().ok())
        .and_then(|s| hyper::StatusCode::from_u16(s).ok())
        .unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    let mut builder = Response::builder().status(status);
    for (k, v) in headers {
        if k.first() == Some(&b':') || is_hop_by_hop(k) {
            continue;
        }
        builder = builder.header(k.as_slice(), v.as_slice());
    }
    builder.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(HostBody::full("bad response headers"));
        *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
        r
    })
}

/// A local reply that skips the filters (sent from a response hook, or before any filter ran).
pub fn direct(r: LocalReply) -> Response<HostBody> {
    build_response(&local_reply_headers(&r), HostBody::full(r.body))
}

/// The request as filters see it: pseudo-headers, then headers, then what Envoy's connection
/// manager adds (`x-forwarded-proto`, `x-request-id`).
pub fn request_header_list(parts: &http::request::Parts, id: u64) -> Headers {
    let authority = parts
        .headers
        .get(hyper::header::HOST)
        .map(|h| h.as_bytes().to_vec())
        .or_else(|| parts.uri.authority().map(|a| a.as_str().as_bytes().to_vec()))
        .unwrap_or_default();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut h: Headers = vec![
        (b":authority".to_vec(), authority),
        (b":path".to_vec(), path.as_bytes().to_vec()),
        (b":method".to_vec(), parts.method.as_str().as_bytes().to_vec()),
        (b":scheme".to_vec(), b"http".to_vec()),
    ];
    for (k, v) in &parts.headers {
        let k = k.as_str().as_bytes();
        if k == b"host" || is_hop_by_hop(k) {
            continue;
        }
        h.push((k.to_vec(), v.as_bytes().to_vec()));
    }
    if !h.iter().any(|(k, _)| k.as_slice() == b"x-forwarded-proto") {
        h.push((b"x-forwarded-proto".to_vec(), b"http".to_vec()));
    }
    if !h.iter().any(|(k, _)| k.as_slice() == b"x-request-id") {
        h.push((
            b"x-request-id".to_vec(),
            format!("{:016x}-{id:08x}", std::process::id() as u64 ^ 0x5a5a_0000).into_bytes(),
        ));
    }
    h
}
