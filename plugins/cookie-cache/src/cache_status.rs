//! The RFC 9211 `Cache-Status` header value this cache adds to every response it handled:
//! `cookie-cache; hit; ttl=42`, `cookie-cache; fwd=miss; fwd-status=200; stored`,
//! `cookie-cache; fwd=stale; fwd-status=503; ttl=-20; detail=stale-on-error`, ...

use std::fmt;

/// Why the request was forwarded (RFC 9211 `fwd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Nothing was stored for the key.
    Miss,
    /// Only a stale copy was stored.
    Stale,
    /// The cache did not handle the request (Redis unavailable, `Authorization` outside the key).
    Bypass,
    /// The method is not cached.
    Method,
}

impl Forward {
    fn as_str(self) -> &'static str {
        match self {
            Forward::Miss => "miss",
            Forward::Stale => "stale",
            Forward::Bypass => "bypass",
            Forward::Method => "method",
        }
    }
}

/// One `Cache-Status` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStatus {
    /// The cache's name (the first member of the entry).
    pub name: String,
    /// Answered from the cache without going upstream.
    pub hit: bool,
    /// Why it went upstream.
    pub fwd: Option<Forward>,
    /// The status the upstream answered.
    pub fwd_status: Option<u16>,
    /// Remaining freshness in seconds (negative when stale).
    pub ttl: Option<i64>,
    /// The upstream response was stored.
    pub stored: bool,
    /// The request waited for another request's upstream fetch.
    pub collapsed: bool,
    /// Extra detail (`stale-on-error`, `stale-while-revalidate`, `set-cookie`, ...).
    pub detail: Option<&'static str>,
}

impl CacheStatus {
    /// An entry with nothing set yet.
    pub fn new(name: &str) -> Self {
        CacheStatus {
            name: name.to_string(),
            hit: false,
            fwd: None,
            fwd_status: None,
            ttl: None,
            stored: false,
            collapsed: false,
            detail: None,
        }
    }

    /// A hit with `ttl` seconds of freshness left.
    pub fn hit(name: &str, ttl: i64) -> Self {
        CacheStatus { hit: true, ttl: Some(ttl), ..CacheStatus::new(name) }
    }

    /// A forwarded request.
    pub fn forwarded(name: &str, fwd: Forward) -> Self {
        CacheStatus { fwd: Some(fwd), ..CacheStatus::new(name) }
    }
}

impl fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.hit {
            f.write_str("; hit")?;
        }
        if let Some(fwd) = self.fwd {
            write!(f, "; fwd={}", fwd.as_str())?;
        }
        if let Some(status) = self.fwd_status {
            write!(f, "; fwd-status={status}")?;
        }
        if let Some(ttl) = self.ttl {
            write!(f, "; ttl={ttl}")?;
        }
        if self.stored {
            f.write_str("; stored")?;
        }
        if self.collapsed {
            f.write_str("; collapsed")?;
        }
        if let Some(detail) = self.detail {
            write!(f, "; detail={detail}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_rfc_9211() {
        assert_eq!(CacheStatus::hit("cookie-cache", 42).to_string(), "cookie-cache; hit; ttl=42");
        let miss = CacheStatus { fwd_status: Some(200), stored: true, ..CacheStatus::forwarded("c", Forward::Miss) };
        assert_eq!(miss.to_string(), "c; fwd=miss; fwd-status=200; stored");
        let stale = CacheStatus {
            fwd_status: Some(503),
            ttl: Some(-20),
            detail: Some("stale-on-error"),
            ..CacheStatus::forwarded("c", Forward::Stale)
        };
        assert_eq!(stale.to_string(), "c; fwd=stale; fwd-status=503; ttl=-20; detail=stale-on-error");
        let collapsed = CacheStatus { collapsed: true, ..CacheStatus::hit("c", 9) };
        assert_eq!(collapsed.to_string(), "c; hit; ttl=9; collapsed");
        assert_eq!(CacheStatus::forwarded("c", Forward::Method).to_string(), "c; fwd=method");
        assert_eq!(
            CacheStatus { detail: Some("redis-unavailable"), ..CacheStatus::forwarded("c", Forward::Bypass) }
                .to_string(),
            "c; fwd=bypass; detail=redis-unavailable"
        );
    }
}
