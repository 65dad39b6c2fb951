//! The workspace's one RESP codec: the [`Frame`] type, command encoding, an incremental
//! decoder and typed reply decoding ([`FromFrame`]). `no_std` + `alloc`, no dependencies: it
//! is compiled into every plugin module, so it stays small.
//!
//! - Encoding: [`encode_command`] (an array of bulk strings, what a client sends) and
//!   [`encode`] (any frame, what a server or a test double answers).
//! - Decoding: [`decode`] looks at the start of a buffer and answers "incomplete" (`Ok(None)`),
//!   a frame and the bytes it used, or a [`ProtocolError`]; call it again when more bytes
//!   arrive. [`decode_exact`] decodes a buffer that holds exactly one reply.
//! - Typed replies: `frame.into_typed::<Option<Vec<u8>>>()` and friends ([`FromFrame`]).
//!
//! RESP2 is covered fully (`+ - : $ *`, null bulk strings and null arrays). Of RESP3, what a
//! server sends after `HELLO 3` decodes too: null `_`, booleans `#`, doubles `,`, big
//! numbers `(`, blob errors `!` (as [`Frame::Error`]), verbatim strings `=` (as
//! [`Frame::Bulk`], format prefix dropped), maps `%`, sets `~` and pushes `>` (as
//! [`Frame::Array`]); attributes `|` are skipped.

#![no_std]

extern crate alloc;

mod decode;
mod encode;
mod typed;

pub use decode::{DecodeError, MAX_DEPTH, ProtocolError, decode, decode_exact};
pub use encode::{encode, encode_command, encode_command_into};
pub use typed::{FromFrame, Pairs, Unexpected};

use alloc::string::String;
use alloc::vec::Vec;

/// One RESP value.
///
/// Redis error replies (`-ERR ...`) are a frame like any other ([`Frame::Error`]); a client
/// turns them into its own error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `$-1`, `*-1` (RESP2) or `_` (RESP3): the key or value does not exist.
    Nil,
    /// `+OK` and other simple strings.
    Status(String),
    /// `-ERR ...` (or RESP3 `!`): an error reply, as sent by the server.
    Error(String),
    /// `:42`: a signed 64-bit integer.
    Int(i64),
    /// `$3\r\nfoo`: a binary-safe string (also RESP3 verbatim strings).
    Bulk(Vec<u8>),
    /// `*2 ...`: an array of frames (also RESP3 sets and pushes).
    Array(Vec<Frame>),
    /// RESP3 `#t` / `#f`.
    Boolean(bool),
    /// RESP3 `,3.14`, as the server wrote it (`inf`, `-inf`, `nan` included): kept as text so
    /// nothing is lost and no float parsing is linked into modules that never see one.
    Double(String),
    /// RESP3 `(1234...`: an integer beyond 64 bits, as its decimal text.
    BigNumber(String),
    /// RESP3 `%2 ...`: key/value pairs in the server's order.
    Map(Vec<(Frame, Frame)>),
}

impl Frame {
    /// A short name of the frame's type, used in "unexpected reply" errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Nil => "nil",
            Frame::Status(_) => "status",
            Frame::Error(_) => "error",
            Frame::Int(_) => "integer",
            Frame::Bulk(_) => "bulk string",
            Frame::Array(_) => "array",
            Frame::Boolean(_) => "boolean",
            Frame::Double(_) => "double",
            Frame::BigNumber(_) => "big number",
            Frame::Map(_) => "map",
        }
    }

    /// Converts the frame into a Rust type: `frame.into_typed::<i64>()`.
    pub fn into_typed<T: FromFrame>(self) -> Result<T, Unexpected> {
        T::from_frame(self)
    }
}
