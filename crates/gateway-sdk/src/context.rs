//! Handles a hook uses to read and change its request: headers, bodies, properties, cookies, query.

use std::net::{IpAddr, SocketAddr};

use crate::abi::{BodyKind, MapKind, host};

/// The request (and its response) a hook runs for.
///
/// Methods act on the stream the hook belongs to, also after an `.await`: the SDK makes the
/// stream the host's effective context before resuming the hook.
#[derive(Debug)]
pub struct HttpContext {
    _private: (),
}

impl HttpContext {
    pub(crate) fn new() -> Self {
        HttpContext { _private: () }
    }

    /// A request header (case-insensitive name), e.g. `":path"` or `"authorization"`.
    pub fn request_header(&self, name: &str) -> Option<String> {
        host::header(MapKind::RequestHeaders, name)
    }

    /// All request headers, in order, pseudo-headers included.
    pub fn request_headers(&self) -> Vec<(String, String)> {
        host::headers(MapKind::RequestHeaders)
    }

    /// Sets (replaces) a request header sent upstream.
    pub fn set_request_header(&mut self, name: &str, value: &str) {
        host::set_header(MapKind::RequestHeaders, name, Some(value));
    }

    /// Adds a request header value, keeping existing ones.
    pub fn add_request_header(&mut self, name: &str, value: &str) {
        host::add_header(MapKind::RequestHeaders, name, value);
    }

    /// Removes every value of a request header.
    pub fn remove_request_header(&mut self, name: &str) {
        host::set_header(MapKind::RequestHeaders, name, None);
    }

    /// A response header (valid from the response-headers hook on).
    pub fn response_header(&self, name: &str) -> Option<String> {
        host::header(MapKind::ResponseHeaders, name)
    }

    /// All response headers, `:status` included.
    pub fn response_headers(&self) -> Vec<(String, String)> {
        host::headers(MapKind::ResponseHeaders)
    }

    /// Sets (replaces) a response header sent to the client.
    pub fn set_response_header(&mut self, name: &str, value: &str) {
        host::set_header(MapKind::ResponseHeaders, name, Some(value));
    }

    /// Adds a response header value, keeping existing ones.
    pub fn add_response_header(&mut self, name: &str, value: &str) {
        host::add_header(MapKind::ResponseHeaders, name, value);
    }

    /// Removes every value of a response header.
    pub fn remove_response_header(&mut self, name: &str) {
        host::set_header(MapKind::ResponseHeaders, name, None);
    }

    /// The response status, from the `:status` pseudo-header.
    pub fn response_status(&self) -> Option<u16> {
        self.response_header(":status").and_then(|s| s.trim().parse().ok())
    }

    /// A request trailer (valid from the request-trailers hook on).
    pub fn request_trailer(&self, name: &str) -> Option<String> {
        host::header(MapKind::RequestTrailers, name)
    }

    /// All request trailers (empty when the request has none).
    pub fn request_trailers(&self) -> Vec<(String, String)> {
        host::headers(MapKind::RequestTrailers)
    }

    /// A response trailer (valid from the response-trailers hook on).
    pub fn response_trailer(&self, name: &str) -> Option<String> {
        host::header(MapKind::ResponseTrailers, name)
    }

    /// All response trailers (empty when the response has none).
    pub fn response_trailers(&self) -> Vec<(String, String)> {
        host::headers(MapKind::ResponseTrailers)
    }

    /// Sets (replaces) a response trailer, in the response-trailers hook.
    pub fn set_response_trailer(&mut self, name: &str, value: &str) {
        host::set_header(MapKind::ResponseTrailers, name, Some(value));
    }

    /// The request method (`:method`).
    pub fn method(&self) -> String {
        self.request_header(":method").unwrap_or_default()
    }

    /// The request path with its query string (`:path`).
    pub fn path(&self) -> String {
        self.request_header(":path").unwrap_or_default()
    }

    /// The request host (`:authority`, else `host`), without a port.
    pub fn host(&self) -> String {
        let authority = self.request_header(":authority").or_else(|| self.request_header("host")).unwrap_or_default();
        strip_port(&authority).to_ascii_lowercase()
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(&self.path(), name)
    }

    /// The value of cookie `name` from the `cookie` request header(s).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.request_headers()
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            .find_map(|(_, v)| cookie_value(v, name))
    }

    /// The consumer name set by Higress's authentication plugins (`x-mse-consumer`).
    pub fn consumer(&self) -> Option<String> {
        self.request_header("x-mse-consumer").filter(|c| !c.is_empty())
    }

    /// A host property, e.g. `&["route_name"]` or `&["source", "address"]`.
    pub fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        host::property(path)
    }

    /// A host property as UTF-8 text.
    pub fn property_string(&self, path: &[&str]) -> Option<String> {
        self.property(path).and_then(|b| String::from_utf8(b).ok())
    }

    /// Sets a host property (for later filters or access logs).
    pub fn set_property(&mut self, path: &[&str], value: &[u8]) -> bool {
        host::set_property(path, Some(value))
    }

    /// The route's name (Higress: the Ingress/route that matched).
    pub fn route_name(&self) -> Option<String> {
        self.property_string(&["route_name"])
    }

    /// The upstream cluster's name, e.g. `outbound|80||backend.static`.
    pub fn cluster_name(&self) -> Option<String> {
        self.property_string(&["cluster_name"])
    }

    /// The client's address as the host reports it (`source.address`, usually `ip:port`).
    pub fn client_address(&self) -> Option<String> {
        self.property_string(&["source", "address"])
    }

    /// The client's IP address, parsed from [`HttpContext::client_address`].
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_address().and_then(|a| parse_ip(&a))
    }
}

/// A body chunk (streamed mode) or a whole body (buffered mode), read and replaced in the host.
#[derive(Debug)]
pub struct Body {
    kind: BodyKind,
    /// Where this hook's bytes start in the host's buffer (after bytes an earlier call saw while
    /// the host kept buffering).
    offset: usize,
    size: usize,
    end_of_stream: bool,
}

impl Body {
    pub(crate) fn new(kind: BodyKind, offset: usize, size: usize, end_of_stream: bool) -> Self {
        Body { kind, offset, size, end_of_stream }
    }

    /// Size in bytes of what this hook sees.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether there are no bytes (e.g. the empty last chunk of a stream).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Whether this is the last chunk (always true in buffered mode).
    pub fn is_end_of_stream(&self) -> bool {
        self.end_of_stream
    }

    /// Copies the bytes out of the host.
    pub fn bytes(&self) -> Vec<u8> {
        if self.size == 0 {
            return Vec::new();
        }
        host::body(self.kind, self.offset, self.size).unwrap_or_default()
    }

    /// Replaces the bytes this hook sees with `data`.
    ///
    /// When the length changes, remove `content-length` in the headers hook of the same
    /// direction (the headers are sent before the body): the host then frames the body itself.
    pub fn replace(&mut self, data: &[u8]) -> bool {
        let ok = host::set_body(self.kind, self.offset, self.size, data);
        if ok {
            self.size = data.len();
        }
        ok
    }
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        // [v6]:port
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// Parses `ip`, `ip:port`, `[v6]:port` or `v6` (a peer address or a forwarded-for entry).
pub fn parse_ip(address: &str) -> Option<IpAddr> {
    if let Ok(sa) = address.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    address.trim_matches(|c| c == '[' || c == ']').parse().ok()
}

/// The first value of `name` in the query of `path`, percent-decoded (`+` is a space).
pub(crate) fn query_param(path: &str, name: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of cookie `name` in one `cookie` header value.
pub(crate) fn cookie_value(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ports_from_authorities() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
    }

    #[test]
    fn parses_client_ips() {
        assert_eq!(parse_ip("10.0.0.1:5000"), "10.0.0.1".parse().ok());
        assert_eq!(parse_ip("10.0.0.1"), "10.0.0.1".parse().ok());
        assert_eq!(parse_ip("[::1]:80"), "::1".parse().ok());
        assert_eq!(parse_ip("::1"), "::1".parse().ok());
        assert_eq!(parse_ip("nonsense"), None);
    }

    #[test]
    fn reads_query_parameters() {
        assert_eq!(query_param("/a?x=1&y=hello%20world", "y").as_deref(), Some("hello world"));
        assert_eq!(query_param("/a?x=1&x=2", "x").as_deref(), Some("1"));
        assert_eq!(query_param("/a?flag", "flag").as_deref(), Some(""));
        assert_eq!(query_param("/a?q=a+b%2", "q").as_deref(), Some("a b%2"));
        assert_eq!(query_param("/a", "x"), None);
    }

    #[test]
    fn reads_cookies() {
        assert_eq!(cookie_value("a=1; session=abc; b=2", "session").as_deref(), Some("abc"));
        assert_eq!(cookie_value("a=1", "session"), None);
        assert_eq!(cookie_value("s=\"q\"", "s").as_deref(), Some("q"));
    }
}
