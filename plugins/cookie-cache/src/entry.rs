//! The stored form of a cached response: a short text line the Lua scripts can read
//! (`cc1 <stored_at_ms> <fresh_ms>`), then status, headers and body in length-prefixed binary.
//! Decoding checks every length, so a truncated or foreign value is a miss, never a panic.

/// A cached response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The response status.
    pub status: u16,
    /// Replayable headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// When it was stored, in milliseconds since the Unix epoch (gateway clock).
    pub stored_at_ms: u64,
    /// How long it is fresh, in milliseconds from `stored_at_ms`.
    pub fresh_ms: u64,
}

/// Why a stored value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// It does not start with the `cc1 ` line.
    Format,
    /// It ends before a declared length.
    Truncated,
    /// Bytes follow the body.
    Trailing,
    /// A header is not UTF-8 or the header count is implausible.
    Header,
}

const MAGIC: &[u8] = b"cc1 ";
const MAX_HEADERS: usize = 512;

impl Entry {
    /// Encodes the entry for Redis.
    pub fn encode(&self) -> Vec<u8> {
        let line = format!("cc1 {} {}\n", self.stored_at_ms, self.fresh_ms);
        let headers_len: usize = self.headers.iter().map(|(k, v)| 6 + k.len() + v.len()).sum();
        let mut out = Vec::with_capacity(line.len() + 8 + headers_len + self.body.len());
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(&self.status.to_be_bytes());
        let headers: Vec<&(String, String)> = self
            .headers
            .iter()
            .filter(|(k, v)| k.len() <= usize::from(u16::MAX) && v.len() <= u32::MAX as usize)
            .take(MAX_HEADERS)
            .collect();
        out.extend_from_slice(&(headers.len() as u16).to_be_bytes());
        for (k, v) in headers {
            out.extend_from_slice(&(k.len() as u16).to_be_bytes());
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&(v.len() as u32).to_be_bytes());
            out.extend_from_slice(v.as_bytes());
        }
        out.extend_from_slice(&u32::try_from(self.body.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Decodes a value written by [`Entry::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(DecodeError::Format)?;
        let newline = rest.iter().position(|&b| b == b'\n').ok_or(DecodeError::Format)?;
        let line = std::str::from_utf8(&rest[..newline]).map_err(|_| DecodeError::Format)?;
        let mut parts = line.split(' ');
        let stored_at_ms = parts.next().and_then(|p| p.parse().ok()).ok_or(DecodeError::Format)?;
        let fresh_ms = parts.next().and_then(|p| p.parse().ok()).ok_or(DecodeError::Format)?;
        if parts.next().is_some() {
            return Err(DecodeError::Format);
        }
        let mut r = Reader { buf: &rest[newline + 1..] };
        let status = u16::from_be_bytes(r.array()?);
        let count = usize::from(u16::from_be_bytes(r.array()?));
        if count > MAX_HEADERS {
            return Err(DecodeError::Header);
        }
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let klen = usize::from(u16::from_be_bytes(r.array()?));
            let k = r.take(klen)?;
            let vlen = u32::from_be_bytes(r.array()?) as usize;
            let v = r.take(vlen)?;
            let k = std::str::from_utf8(k).map_err(|_| DecodeError::Header)?;
            let v = std::str::from_utf8(v).map_err(|_| DecodeError::Header)?;
            headers.push((k.to_string(), v.to_string()));
        }
        let blen = u32::from_be_bytes(r.array()?) as usize;
        let body = r.take(blen)?.to_vec();
        if !r.buf.is_empty() {
            return Err(DecodeError::Trailing);
        }
        Ok(Entry { status, headers, body, stored_at_ms, fresh_ms })
    }

    /// Milliseconds since it was stored (0 if the clock is behind the writer's).
    pub fn age_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.stored_at_ms)
    }

    /// The `Age` header value: whole seconds since it was stored.
    pub fn age_seconds(&self, now_ms: u64) -> u64 {
        self.age_ms(now_ms) / 1000
    }

    /// Whether it is still fresh at `now_ms`.
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        self.age_ms(now_ms) < self.fresh_ms
    }

    /// Whether it may still be served stale at `now_ms`, given a stale window of `stale_ms`
    /// after the fresh lifetime.
    pub fn is_within_stale_window(&self, now_ms: u64, stale_ms: u64) -> bool {
        self.age_ms(now_ms) < self.fresh_ms.saturating_add(stale_ms)
    }

    /// Remaining freshness in whole seconds; negative once stale (RFC 9211 `ttl`).
    pub fn ttl_seconds(&self, now_ms: u64) -> i64 {
        let age = i64::try_from(self.age_ms(now_ms)).unwrap_or(i64::MAX);
        let fresh = i64::try_from(self.fresh_ms).unwrap_or(i64::MAX);
        (fresh - age).div_euclid(1000)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entry {
        Entry {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into()), ("etag".into(), "\"v1\"".into())],
            body: b"<p>hello</p>\n\0binary".to_vec(),
            stored_at_ms: 1_800_000_000_000,
            fresh_ms: 60_000,
        }
    }

    #[test]
    fn round_trips() {
        let e = sample();
        let bytes = e.encode();
        assert!(bytes.starts_with(b"cc1 1800000000000 60000\n"));
        assert_eq!(Entry::decode(&bytes), Ok(e));
        let empty = Entry { headers: vec![], body: vec![], ..sample() };
        assert_eq!(Entry::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(Entry::decode(&bytes[..n]).is_err(), "prefix of {n} bytes decoded");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(Entry::decode(&trailing), Err(DecodeError::Trailing));
        assert_eq!(Entry::decode(b"hello world"), Err(DecodeError::Format));
        assert_eq!(Entry::decode(b"cc1 x 1\n"), Err(DecodeError::Format));
        // A header count or length far beyond the buffer.
        let mut huge = b"cc1 1 1\n".to_vec();
        huge.extend_from_slice(&[0, 200, 0xff, 0xff]);
        assert!(Entry::decode(&huge).is_err());
        // Arbitrary bytes after a valid line.
        for seed in 0u8..=255 {
            let mut junk = b"cc1 1 1\n".to_vec();
            junk.extend((0..40u8).map(|i| i.wrapping_mul(seed).wrapping_add(seed)));
            let _ = Entry::decode(&junk);
        }
    }

    #[test]
    fn freshness_age_and_ttl() {
        let e = sample();
        let t0 = e.stored_at_ms;
        assert!(e.is_fresh(t0 + 59_999));
        assert!(!e.is_fresh(t0 + 60_000));
        assert_eq!(e.age_seconds(t0 + 12_500), 12);
        assert_eq!(e.age_seconds(t0 - 5_000), 0, "a writer clock ahead of ours gives age 0");
        assert_eq!(e.ttl_seconds(t0 + 10_000), 50);
        assert_eq!(e.ttl_seconds(t0 + 70_000), -10);
        assert!(e.is_within_stale_window(t0 + 100_000, 60_000));
        assert!(!e.is_within_stale_window(t0 + 120_000, 60_000));
    }
}
