//! Pure RESP2 encoding of commands and decoding of replies (no I/O), on the `redis-protocol` crate.

use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::encode::encode;
use redis_protocol::resp2::types::{OwnedFrame, Resp2Frame};

/// One decoded RESP2 reply.
///
/// Redis error replies (`-ERR ...`) are kept as [`Reply::Error`] here; the client turns
/// them into [`crate::redis::RedisError::Reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `$-1` or `*-1`: the key or value does not exist.
    Nil,
    /// `+OK` and other simple strings.
    Status(String),
    /// `-ERR ...`: an error reply, as sent by the server.
    Error(String),
    /// `:42`: a signed 64-bit integer.
    Int(i64),
    /// `$3\r\nfoo`: a binary-safe string.
    Bulk(Vec<u8>),
    /// `*2 ...`: an array of replies.
    Array(Vec<Reply>),
}

impl Reply {
    /// A short name of the reply's type, used in "unexpected reply" errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Nil => "nil",
            Reply::Status(_) => "status",
            Reply::Error(_) => "error",
            Reply::Int(_) => "integer",
            Reply::Bulk(_) => "bulk string",
            Reply::Array(_) => "array",
        }
    }
}

/// Why a reply buffer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ends before the reply does.
    Incomplete,
    /// Bytes after the first complete reply (the host sends exactly one reply).
    TrailingBytes(usize),
    /// The bytes are not RESP2.
    Invalid(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Incomplete => f.write_str("incomplete RESP reply"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the RESP reply"),
            DecodeError::Invalid(why) => write!(f, "invalid RESP reply: {why}"),
        }
    }
}

/// Encodes one command (`["SET", "k", "v"]`) as a RESP2 array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let frame = OwnedFrame::Array(args.iter().map(|a| OwnedFrame::BulkString(a.as_ref().to_vec())).collect());
    let mut buf = vec![0u8; frame.encode_len(false)];
    match encode(&mut buf, &frame, false) {
        Ok(n) => buf.truncate(n),
        // The buffer is sized by `encode_len`, so this cannot fail; fall back to a
        // hand-written encoding rather than panic.
        Err(_) => return encode_command_by_hand(args),
    }
    buf
}

fn encode_command_by_hand<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Decodes exactly one RESP2 reply from `buf`.
pub fn decode_reply(buf: &[u8]) -> Result<Reply, DecodeError> {
    match decode(buf) {
        Ok(Some((frame, used))) => {
            if used != buf.len() {
                return Err(DecodeError::TrailingBytes(buf.len() - used));
            }
            Ok(from_frame(frame))
        }
        Ok(None) => Err(DecodeError::Incomplete),
        Err(e) => Err(DecodeError::Invalid(e.to_string())),
    }
}

fn from_frame(frame: OwnedFrame) -> Reply {
    match frame {
        OwnedFrame::SimpleString(s) => Reply::Status(String::from_utf8_lossy(&s).into_owned()),
        OwnedFrame::Error(e) => Reply::Error(e),
        OwnedFrame::Integer(i) => Reply::Int(i),
        OwnedFrame::BulkString(b) => Reply::Bulk(b),
        OwnedFrame::Array(items) => Reply::Array(items.into_iter().map(from_frame).collect()),
        OwnedFrame::Null => Reply::Nil,
    }
}

/// Encodes a reply as RESP2 (used by tests and the native test host to feed replies).
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut out = Vec::new();
    write_reply(reply, &mut out);
    out
}

fn write_reply(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
        Reply::Status(s) => out.extend_from_slice(format!("+{s}\r\n").as_bytes()),
        Reply::Error(e) => out.extend_from_slice(format!("-{e}\r\n").as_bytes()),
        Reply::Int(i) => out.extend_from_slice(format!(":{i}\r\n").as_bytes()),
        Reply::Bulk(b) => {
            out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Reply::Array(items) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            for item in items {
                write_reply(item, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_command_as_array_of_bulk_strings() {
        assert_eq!(encode_command(&["SET", "k", "v"]), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n".to_vec());
        assert_eq!(encode_command(&["PING"]), b"*1\r\n$4\r\nPING\r\n".to_vec());
    }

    #[test]
    fn encodes_binary_and_empty_arguments() {
        let args: [&[u8]; 2] = [b"GET", b"\x00\r\n"];
        assert_eq!(encode_command(&args), b"*2\r\n$3\r\nGET\r\n$3\r\n\x00\r\n\r\n".to_vec());
        assert_eq!(encode_command(&["", ""]), b"*2\r\n$0\r\n\r\n$0\r\n\r\n".to_vec());
        assert_eq!(encode_command_by_hand(&["SET", "k", "v"]), encode_command(&["SET", "k", "v"]));
    }

    #[test]
    fn decodes_every_reply_type() {
        assert_eq!(decode_reply(b"+OK\r\n"), Ok(Reply::Status("OK".into())));
        assert_eq!(decode_reply(b"-ERR bad\r\n"), Ok(Reply::Error("ERR bad".into())));
        assert_eq!(decode_reply(b":-42\r\n"), Ok(Reply::Int(-42)));
        assert_eq!(decode_reply(b"$3\r\nfoo\r\n"), Ok(Reply::Bulk(b"foo".to_vec())));
        assert_eq!(decode_reply(b"$-1\r\n"), Ok(Reply::Nil));
        assert_eq!(decode_reply(b"*-1\r\n"), Ok(Reply::Nil));
        assert_eq!(
            decode_reply(b"*3\r\n:1\r\n$-1\r\n*1\r\n+x\r\n"),
            Ok(Reply::Array(vec![Reply::Int(1), Reply::Nil, Reply::Array(vec![Reply::Status("x".into())])]))
        );
    }

    #[test]
    fn decodes_i64_extremes() {
        assert_eq!(decode_reply(b":9223372036854775807\r\n"), Ok(Reply::Int(i64::MAX)));
        assert_eq!(decode_reply(b":-9223372036854775808\r\n"), Ok(Reply::Int(i64::MIN)));
    }

    #[test]
    fn rejects_incomplete_trailing_and_garbage() {
        assert_eq!(decode_reply(b"$3\r\nfo"), Err(DecodeError::Incomplete));
        assert_eq!(decode_reply(b""), Err(DecodeError::Incomplete));
        assert_eq!(decode_reply(b":1\r\n:2\r\n"), Err(DecodeError::TrailingBytes(4)));
        assert!(matches!(decode_reply(b"?what\r\n"), Err(DecodeError::Invalid(_))));
    }

    #[test]
    fn reply_encoding_round_trips() {
        let r = Reply::Array(vec![
            Reply::Int(7),
            Reply::Bulk(b"a\r\nb".to_vec()),
            Reply::Nil,
            Reply::Status("OK".into()),
            Reply::Error("NOSCRIPT no".into()),
        ]);
        assert_eq!(decode_reply(&encode_reply(&r)), Ok(r));
    }
}
