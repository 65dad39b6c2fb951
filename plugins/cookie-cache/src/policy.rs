//! Which responses may be stored and which stored headers are replayed: statuses, body size,
//! `Cache-Control`, `Set-Cookie`, `Vary`, and the hop-by-hop headers that never are.

/// The storage rules, as configured (`cache.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePolicy {
    /// Statuses that may be stored (default `[200]`).
    pub statuses: Vec<u16>,
    /// Largest body stored, in bytes.
    pub max_body_bytes: usize,
    /// Store responses that carry `Set-Cookie` (default false).
    pub store_set_cookie: bool,
    /// Fresh lifetime in milliseconds (capped by the response's `s-maxage`/`max-age`).
    pub fresh_ms: u64,
    /// Request headers that are part of the key (a `Vary` on anything else is not storable).
    pub key_headers: Vec<String>,
}

/// Why a response is not stored (also shown in `Cache-Status; detail=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// The status is not in the configured list.
    Status,
    /// `Cache-Control: no-store`, `private` or `no-cache`, or `max-age=0`.
    CacheControl,
    /// The response sets a cookie and `store_set_cookie` is off.
    SetCookie,
    /// `Vary: *` or a `Vary` on a header that is not part of the key.
    Vary,
    /// The body is larger than `max_body_bytes`.
    TooLarge,
}

impl NotStored {
    /// A short token for logs and `Cache-Status; detail=`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotStored::Status => "status",
            NotStored::CacheControl => "cache-control",
            NotStored::SetCookie => "set-cookie",
            NotStored::Vary => "vary",
            NotStored::TooLarge => "too-large",
        }
    }
}

/// Headers that describe one connection and are never stored or replayed (RFC 9110 7.6.1),
/// plus those the cache computes itself.
const NEVER_STORED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "content-length",
    "age",
    "cache-status",
];

/// The directives of a `Cache-Control` header value that matter here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `no-store`.
    pub no_store: bool,
    /// `private` (with or without a field list).
    pub private: bool,
    /// `no-cache` (with or without a field list).
    pub no_cache: bool,
    /// `s-maxage=N` in seconds.
    pub s_maxage: Option<u64>,
    /// `max-age=N` in seconds.
    pub max_age: Option<u64>,
}

impl CacheControl {
    /// Parses every `Cache-Control` value (directives are case-insensitive, comma separated).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut cc = CacheControl::default();
        for value in values {
            for directive in split_directives(value) {
                let (name, arg) = match directive.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (directive.trim(), None),
                };
                match name.to_ascii_lowercase().as_str() {
                    "no-store" => cc.no_store = true,
                    "private" => cc.private = true,
                    "no-cache" => cc.no_cache = true,
                    "s-maxage" => cc.s_maxage = arg.and_then(|a| a.parse().ok()).or(Some(0)),
                    "max-age" => cc.max_age = arg.and_then(|a| a.parse().ok()).or(Some(0)),
                    _ => {}
                }
            }
        }
        cc
    }
}

/// Splits on commas outside double quotes (`private="a, b"` is one directive).
fn split_directives(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

fn values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

impl StorePolicy {
    /// Decides from the status and headers (before the body) whether the response may be
    /// stored; on success returns its fresh lifetime in milliseconds.
    pub fn check_headers(&self, status: u16, headers: &[(String, String)]) -> Result<u64, NotStored> {
        if !self.statuses.contains(&status) {
            return Err(NotStored::Status);
        }
        let cc = CacheControl::parse(values(headers, "cache-control"));
        if cc.no_store || cc.private || cc.no_cache {
            return Err(NotStored::CacheControl);
        }
        if !self.store_set_cookie && values(headers, "set-cookie").next().is_some() {
            return Err(NotStored::SetCookie);
        }
        for vary in values(headers, "vary") {
            for field in vary.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                if field == "*" || !self.key_headers.iter().any(|k| k.eq_ignore_ascii_case(field)) {
                    return Err(NotStored::Vary);
                }
            }
        }
        let declared = values(headers, "content-length").next().and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes as u64) {
            return Err(NotStored::TooLarge);
        }
        let fresh = match cc.s_maxage.or(cc.max_age) {
            Some(seconds) => self.fresh_ms.min(seconds.saturating_mul(1000)),
            None => self.fresh_ms,
        };
        if fresh == 0 {
            return Err(NotStored::CacheControl);
        }
        Ok(fresh)
    }

    /// [`StorePolicy::check_headers`] for one request: a response that sets cookies is stored
    /// only for a request that carried every cookie of the key (`identified`), since anyone else
    /// shares the key of everyone lacking them and would be handed those cookies.
    pub fn check_response(
        &self,
        status: u16,
        headers: &[(String, String)],
        identified: bool,
    ) -> Result<u64, NotStored> {
        let fresh = self.check_headers(status, headers)?;
        if !identified && values(headers, "set-cookie").next().is_some() {
            return Err(NotStored::SetCookie);
        }
        Ok(fresh)
    }

    /// Whether a body of `len` bytes may be stored.
    pub fn body_fits(&self, len: usize) -> bool {
        len <= self.max_body_bytes
    }
}

/// The response headers worth storing and replaying: no pseudo-headers, no hop-by-hop
/// headers (nor those named in `Connection`), no `Set-Cookie` unless `keep_set_cookie`.
pub fn replayable_headers(headers: &[(String, String)], keep_set_cookie: bool) -> Vec<(String, String)> {
    let named: Vec<String> = values(headers, "connection")
        .flat_map(|v| v.split(','))
        .map(|f| f.trim().to_ascii_lowercase())
        .filter(|f| !f.is_empty())
        .collect();
    headers
        .iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            !k.starts_with(':')
                && !NEVER_STORED.contains(&k.as_str())
                && !named.contains(&k)
                && !k.starts_with("x-envoy-")
                && (keep_set_cookie || k != "set-cookie")
        })
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn policy() -> StorePolicy {
        StorePolicy {
            statuses: vec![200],
            max_body_bytes: 100,
            store_set_cookie: false,
            fresh_ms: 60_000,
            key_headers: vec!["accept-language".into()],
        }
    }

    #[test]
    fn only_configured_statuses_are_stored() {
        assert_eq!(policy().check_headers(200, &[]), Ok(60_000));
        assert_eq!(policy().check_headers(404, &[]), Err(NotStored::Status));
        assert_eq!(policy().check_headers(500, &[]), Err(NotStored::Status));
    }

    #[test]
    fn no_store_private_and_no_cache_are_honoured() {
        for cc in ["no-store", "private", "Private=\"x, y\"", "public, no-cache", "max-age=0"] {
            assert_eq!(policy().check_headers(200, &h(&[("cache-control", cc)])), Err(NotStored::CacheControl), "{cc}");
        }
        assert_eq!(policy().check_headers(200, &h(&[("cache-control", "public, max-age=10")])), Ok(10_000));
        assert_eq!(policy().check_headers(200, &h(&[("cache-control", "s-maxage=5, max-age=10")])), Ok(5_000));
        assert_eq!(policy().check_headers(200, &h(&[("cache-control", "max-age=999999")])), Ok(60_000));
    }

    #[test]
    fn set_cookie_is_not_stored_unless_configured() {
        let headers = h(&[("set-cookie", "a=1")]);
        assert_eq!(policy().check_headers(200, &headers), Err(NotStored::SetCookie));
        let allowed = StorePolicy { store_set_cookie: true, ..policy() };
        assert_eq!(allowed.check_headers(200, &headers), Ok(60_000));
    }

    #[test]
    fn set_cookie_is_stored_only_for_a_request_that_carried_the_key_cookies() {
        let allowed = StorePolicy { store_set_cookie: true, ..policy() };
        let headers = h(&[("set-cookie", "a=1")]);
        assert_eq!(allowed.check_response(200, &headers, true), Ok(60_000));
        assert_eq!(allowed.check_response(200, &headers, false), Err(NotStored::SetCookie));
        assert_eq!(allowed.check_response(200, &[], false), Ok(60_000), "no cookie set: nothing to hand out");
        assert_eq!(policy().check_response(200, &headers, true), Err(NotStored::SetCookie));
    }

    #[test]
    fn vary_on_headers_outside_the_key_is_not_stored() {
        assert_eq!(policy().check_headers(200, &h(&[("vary", "*")])), Err(NotStored::Vary));
        assert_eq!(policy().check_headers(200, &h(&[("vary", "Accept-Language, Origin")])), Err(NotStored::Vary));
        assert_eq!(policy().check_headers(200, &h(&[("vary", "Accept-Language")])), Ok(60_000));
    }

    #[test]
    fn declared_and_actual_sizes_are_checked() {
        assert_eq!(policy().check_headers(200, &h(&[("content-length", "101")])), Err(NotStored::TooLarge));
        assert!(policy().body_fits(100));
        assert!(!policy().body_fits(101));
    }

    #[test]
    fn hop_by_hop_and_computed_headers_are_not_replayed() {
        let headers = h(&[
            (":status", "200"),
            ("Content-Type", "text/html"),
            ("connection", "keep-alive, x-private-hop"),
            ("x-private-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("content-length", "5"),
            ("set-cookie", "a=1"),
            ("age", "3"),
            ("x-envoy-upstream-service-time", "2"),
            ("etag", "\"v1\""),
        ]);
        let kept = replayable_headers(&headers, false);
        assert_eq!(kept, h(&[("content-type", "text/html"), ("etag", "\"v1\"")]));
        assert!(replayable_headers(&headers, true).iter().any(|(k, _)| k == "set-cookie"));
    }
}
