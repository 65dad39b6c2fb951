//! Decoding: an incremental decoder over a byte buffer (incomplete, a frame and its length,
//! or a protocol error) and the one-reply-exactly variant clients use.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::Frame;

/// How deeply arrays and maps may nest before the bytes are refused (a guard against a
/// stack overflow on hostile input; Redis replies nest a few levels at most).
pub const MAX_DEPTH: usize = 512;

/// Bytes that are not RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// Offset of the offending byte or line in the buffer.
    pub offset: usize,
    /// What is wrong there.
    pub reason: &'static str,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl core::error::Error for ProtocolError {}

/// Why a buffer that should hold exactly one reply does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ends before the reply does.
    Incomplete,
    /// Bytes after the first complete reply.
    TrailingBytes(usize),
    /// The bytes are not RESP.
    Protocol(ProtocolError),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete => f.write_str("incomplete RESP reply"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the RESP reply"),
            DecodeError::Protocol(e) => write!(f, "invalid RESP reply: {e}"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Decodes the frame at the start of `buf`: `Ok(None)` when more bytes are needed (call
/// again with the buffer extended), `Ok(Some((frame, used)))` when `buf[..used]` is one
/// complete frame, `Err` when the bytes are not RESP (the stream cannot be resynchronised).
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let mut reader = Reader { buf, at: 0 };
    match reader.frame(0) {
        Ok(frame) => Ok(Some((frame, reader.at))),
        Err(Stop::Incomplete) => Ok(None),
        Err(Stop::Invalid(e)) => Err(e),
    }
}

/// Decodes a buffer that holds exactly one frame (what a proxy-wasm host hands a plugin).
pub fn decode_exact(buf: &[u8]) -> Result<Frame, DecodeError> {
    match decode(buf) {
        Ok(Some((frame, used))) if used == buf.len() => Ok(frame),
        Ok(Some((_, used))) => Err(DecodeError::TrailingBytes(buf.len() - used)),
        Ok(None) => Err(DecodeError::Incomplete),
        Err(e) => Err(DecodeError::Protocol(e)),
    }
}

enum Stop {
    Incomplete,
    Invalid(ProtocolError),
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn invalid<T>(&self, offset: usize, reason: &'static str) -> Result<T, Stop> {
        Err(Stop::Invalid(ProtocolError { offset, reason }))
    }

    /// The bytes up to the next CRLF (excluded); moves past the CRLF.
    fn line(&mut self) -> Result<&'a [u8], Stop> {
        let rest = self.buf.get(self.at..).unwrap_or_default();
        let Some(len) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Err(Stop::Incomplete);
        };
        self.at += len + 2;
        Ok(&rest[..len])
    }

    fn text(&mut self) -> Result<String, Stop> {
        let start = self.at;
        let line = self.line()?;
        match core::str::from_utf8(line) {
            Ok(s) => Ok(String::from(s)),
            Err(_) => self.invalid(start, "line is not UTF-8"),
        }
    }

    fn int(&mut self) -> Result<i64, Stop> {
        let start = self.at;
        let line = self.line()?;
        let parsed = core::str::from_utf8(line).ok().filter(|s| !s.starts_with('+')).and_then(|s| s.parse().ok());
        match parsed {
            Some(n) => Ok(n),
            None => self.invalid(start, "bad integer"),
        }
    }

    /// A length line: `Ok(None)` for RESP2's null (`-1`).
    fn len(&mut self) -> Result<Option<usize>, Stop> {
        let start = self.at;
        match self.int()? {
            -1 => Ok(None),
            n => match usize::try_from(n) {
                Ok(n) => Ok(Some(n)),
                Err(_) => self.invalid(start, "bad length"),
            },
        }
    }

    /// `n` payload bytes and their CRLF.
    fn payload(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let start = self.at;
        let end = start.checked_add(n).ok_or(Stop::Incomplete)?;
        if self.buf.len() < end.saturating_add(2) {
            return Err(Stop::Incomplete);
        }
        if &self.buf[end..end + 2] != b"\r\n" {
            return self.invalid(end, "bulk string not followed by CRLF");
        }
        self.at = end + 2;
        Ok(&self.buf[start..end])
    }

    /// Room for `n` items without trusting `n` (each item takes at least 3 bytes).
    fn capacity(&self, n: usize) -> usize {
        n.min(self.buf.len().saturating_sub(self.at) / 3)
    }

    fn items(&mut self, n: usize, depth: usize) -> Result<Vec<Frame>, Stop> {
        let mut items = Vec::with_capacity(self.capacity(n));
        for _ in 0..n {
            items.push(self.frame(depth + 1)?);
        }
        Ok(items)
    }

    fn frame(&mut self, depth: usize) -> Result<Frame, Stop> {
        let start = self.at;
        if depth > MAX_DEPTH {
            return self.invalid(start, "nested too deeply");
        }
        let Some(&marker) = self.buf.get(start) else {
            return Err(Stop::Incomplete);
        };
        self.at += 1;
        Ok(match marker {
            b'+' => Frame::Status(self.text()?),
            b'-' => Frame::Error(self.text()?),
            b':' => Frame::Int(self.int()?),
            b'$' => match self.len()? {
                None => Frame::Nil,
                Some(n) => Frame::Bulk(self.payload(n)?.to_vec()),
            },
            b'*' | b'~' | b'>' => match self.len()? {
                None => Frame::Nil,
                Some(n) => Frame::Array(self.items(n, depth)?),
            },
            b'_' => {
                if !self.line()?.is_empty() {
                    return self.invalid(start, "null with a payload");
                }
                Frame::Nil
            }
            b'#' => match self.line()? {
                b"t" => Frame::Boolean(true),
                b"f" => Frame::Boolean(false),
                _ => return self.invalid(start, "bad boolean"),
            },
            b',' => {
                let text = self.text()?;
                let number = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E');
                let named = matches!(text.as_str(), "inf" | "-inf" | "nan");
                if !named && (text.is_empty() || !text.bytes().all(number)) {
                    return self.invalid(start, "bad double");
                }
                Frame::Double(text)
            }
            b'(' => {
                let text = self.text()?;
                let digits = text.strip_prefix('-').unwrap_or(&text);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return self.invalid(start, "bad big number");
                }
                Frame::BigNumber(text)
            }
            b'!' | b'=' => {
                let Some(n) = self.len()? else { return self.invalid(start, "null blob") };
                let bytes = self.payload(n)?;
                if marker == b'!' {
                    Frame::Error(String::from_utf8_lossy(bytes).into_owned())
                } else {
                    // `=15\r\ntxt:Some string`: three bytes of format and a colon.
                    match bytes.get(3) {
                        Some(b':') => Frame::Bulk(bytes[4..].to_vec()),
                        _ => return self.invalid(start, "verbatim string without a format"),
                    }
                }
            }
            b'%' | b'|' => {
                let Some(n) = self.len()? else { return self.invalid(start, "null map") };
                let mut pairs = Vec::with_capacity(self.capacity(n));
                for _ in 0..n {
                    let k = self.frame(depth + 1)?;
                    pairs.push((k, self.frame(depth + 1)?));
                }
                if marker == b'|' {
                    // Attributes annotate the frame that follows: skip them.
                    return self.frame(depth);
                }
                Frame::Map(pairs)
            }
            _ => return self.invalid(start, "unknown RESP type byte"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn ok(buf: &[u8]) -> Frame {
        decode_exact(buf).unwrap()
    }

    #[test]
    fn every_resp2_type_decodes() {
        assert_eq!(ok(b"+OK\r\n"), Frame::Status("OK".to_string()));
        assert_eq!(ok(b"-ERR bad\r\n"), Frame::Error("ERR bad".to_string()));
        assert_eq!(ok(b":-42\r\n"), Frame::Int(-42));
        assert_eq!(ok(b"$3\r\nfoo\r\n"), Frame::Bulk(b"foo".to_vec()));
        assert_eq!(ok(b"$0\r\n\r\n"), Frame::Bulk(Vec::new()));
        assert_eq!(ok(b"$-1\r\n"), Frame::Nil);
        assert_eq!(ok(b"*-1\r\n"), Frame::Nil);
        assert_eq!(ok(b"*0\r\n"), Frame::Array(Vec::new()));
        assert_eq!(
            ok(b"*3\r\n:1\r\n$-1\r\n*1\r\n+x\r\n"),
            Frame::Array(vec![Frame::Int(1), Frame::Nil, Frame::Array(vec![Frame::Status("x".to_string())])])
        );
    }

    #[test]
    fn integer_extremes_decode() {
        assert_eq!(ok(b":9223372036854775807\r\n"), Frame::Int(i64::MAX));
        assert_eq!(ok(b":-9223372036854775808\r\n"), Frame::Int(i64::MIN));
        assert!(decode(b":9223372036854775808\r\n").is_err());
    }

    #[test]
    fn resp3_types_decode() {
        assert_eq!(ok(b"_\r\n"), Frame::Nil);
        assert_eq!(ok(b"#t\r\n"), Frame::Boolean(true));
        assert_eq!(ok(b"#f\r\n"), Frame::Boolean(false));
        assert_eq!(ok(b",-1.25\r\n"), Frame::Double("-1.25".to_string()));
        assert_eq!(ok(b",inf\r\n"), Frame::Double("inf".to_string()));
        assert!(decode(b",1.2x\r\n").is_err());
        assert_eq!(
            ok(b"(3492890328409238509324850943850943825024385\r\n"),
            Frame::BigNumber("3492890328409238509324850943850943825024385".to_string())
        );
        assert_eq!(ok(b"!21\r\nSYNTAX invalid syntax\r\n"), Frame::Error("SYNTAX invalid syntax".to_string()));
        assert_eq!(ok(b"=15\r\ntxt:Some string\r\n"), Frame::Bulk(b"Some string".to_vec()));
        assert_eq!(
            ok(b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"),
            Frame::Map(vec![
                (Frame::Status("first".to_string()), Frame::Int(1)),
                (Frame::Status("second".to_string()), Frame::Int(2)),
            ])
        );
        assert_eq!(ok(b"~2\r\n:1\r\n:2\r\n"), Frame::Array(vec![Frame::Int(1), Frame::Int(2)]));
        assert_eq!(
            ok(b">2\r\n+message\r\n$1\r\nx\r\n"),
            Frame::Array(vec![Frame::Status("message".to_string()), Frame::Bulk(b"x".to_vec())])
        );
        assert_eq!(ok(b"|1\r\n+ttl\r\n:3600\r\n:7\r\n"), Frame::Int(7));
    }

    #[test]
    fn decode_reports_what_it_used() {
        assert_eq!(decode(b"+OK\r\n:1\r\n"), Ok(Some((Frame::Status("OK".to_string()), 5))));
        assert_eq!(
            decode(b"*2\r\n:1\r\n$1\r\nx\r\n"),
            Ok(Some((Frame::Array(vec![Frame::Int(1), Frame::Bulk(b"x".to_vec())]), 15)))
        );
        assert_eq!(decode(b"$3\r\nab"), Ok(None));
        assert_eq!(decode(b"*2\r\n:1\r\n"), Ok(None));
        assert_eq!(decode(b""), Ok(None));
    }

    /// The frame boundaries gateway-host's Redis pool relies on (its old `frame_end` cases).
    /// One case changed on purpose: `%1` is a RESP3 map now, so it is incomplete, not an error.
    #[test]
    fn frame_lengths_as_the_host_pool_needs_them() {
        let used = |b: &[u8]| decode(b).map(|r| r.map(|(_, n)| n));
        assert_eq!(used(b"+OK\r\n:1\r\n"), Ok(Some(5)));
        assert_eq!(used(b"$3\r\nab"), Ok(None));
        assert_eq!(used(b"$3\r\nabc\r\n"), Ok(Some(9)));
        assert_eq!(used(b"$-1\r\n"), Ok(Some(5)));
        assert_eq!(used(b"*2\r\n:1\r\n$1\r\nx\r\n"), Ok(Some(15)));
        assert_eq!(used(b"*2\r\n:1\r\n"), Ok(None));
        assert_eq!(used(b"*-1\r\n"), Ok(Some(5)));
        assert_eq!(used(b"%1\r\n"), Ok(None));
        assert!(used(b"?1\r\n").is_err());
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        assert_eq!(decode(b"?what\r\n"), Err(ProtocolError { offset: 0, reason: "unknown RESP type byte" }));
        assert_eq!(
            decode(b"$3\r\nabcd\r\n"),
            Err(ProtocolError { offset: 7, reason: "bulk string not followed by CRLF" })
        );
        assert!(decode(b"$x\r\n").is_err());
        assert!(decode(b"$-2\r\n").is_err());
        assert!(decode(b"*-5\r\n").is_err());
        assert!(decode(b":+1\r\n").is_err());
        assert!(decode(b"#x\r\n").is_err());
        assert!(decode(b"_x\r\n").is_err());
        assert!(decode(b"*1\r\n?\r\n").is_err());
    }

    #[test]
    fn exact_decoding_refuses_partial_and_trailing_bytes() {
        assert_eq!(decode_exact(b"$3\r\nfo"), Err(DecodeError::Incomplete));
        assert_eq!(decode_exact(b""), Err(DecodeError::Incomplete));
        assert_eq!(decode_exact(b":1\r\n:2\r\n"), Err(DecodeError::TrailingBytes(4)));
        assert!(matches!(decode_exact(b"?what\r\n"), Err(DecodeError::Protocol(_))));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            deep.extend_from_slice(b"*1\r\n");
        }
        deep.extend_from_slice(b":1\r\n");
        assert_eq!(decode(&deep).map_err(|e| e.reason), Err("nested too deeply"));
        let mut fine = Vec::new();
        for _ in 0..MAX_DEPTH {
            fine.extend_from_slice(b"*1\r\n");
        }
        fine.extend_from_slice(b":1\r\n");
        assert!(decode_exact(&fine).is_ok());
    }

    #[test]
    fn a_huge_announced_length_waits_instead_of_allocating() {
        assert_eq!(decode(b"*4000000000\r\n:1\r\n"), Ok(None));
        assert_eq!(decode(b"$4000000000\r\nab"), Ok(None));
    }
}
