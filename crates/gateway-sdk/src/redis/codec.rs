//! The SDK's door to the workspace's one RESP codec (the `resp-codec` crate): replies are its
//! [`Frame`](resp_codec::Frame), named [`Reply`] here; typed replies go through [`FromFrame`].

pub use resp_codec::{DecodeError, FromFrame, Pairs, ProtocolError, Unexpected, encode_command};

/// One decoded reply (the codec's frame, re-exported so `use Reply::{Array, Int}` works).
/// Error replies (`-ERR ...`) are `Reply::Error` here; the client turns them into
/// [`crate::redis::RedisError::Reply`].
pub use resp_codec::Frame as Reply;

/// Decodes exactly one reply from `buf` (what the host hands over in a Redis callback).
pub fn decode_reply(buf: &[u8]) -> Result<Reply, DecodeError> {
    resp_codec::decode_exact(buf)
}

/// Encodes a reply (used by tests and the native test host to feed replies).
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    resp_codec::encode(reply)
}
