//! Typed Redis failures: the host refused the call, the transport failed, Redis answered an
//! error, the reply had the wrong type, or it was not RESP.

use std::fmt;

/// Why a Redis call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisError {
    /// The host refused to dispatch the call. `code` is the proxy-wasm WasmResult:
    /// 2 (BadArgument) means the cluster is unknown to the gateway, 10 (InternalFailure) that
    /// no healthy host could be reached.
    Dispatch {
        /// The cluster name that was tried, e.g. `outbound|6379||redis.static`.
        cluster: String,
        /// The host's WasmResult code.
        code: u32,
    },
    /// The call was sent but failed in transport: a network error or the Redis timeout
    /// (the host reports both as status 1).
    Transport {
        /// The cluster name the call was sent to.
        cluster: String,
    },
    /// Redis answered with an error reply, e.g. `NOAUTH Authentication required.`.
    Reply(String),
    /// Redis answered with a reply of another type than the command returns.
    UnexpectedReply {
        /// The command, e.g. `INCR`.
        command: String,
        /// The reply type received.
        got: &'static str,
    },
    /// The reply could not be decoded as RESP2.
    Protocol(String),
}

impl RedisError {
    /// Whether Redis was unreachable (dispatch refused or transport failure): the failures a
    /// circuit breaker counts. Error replies mean Redis is up.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RedisError::Dispatch { .. } | RedisError::Transport { .. })
    }

    /// Whether Redis rejected our credentials (`NOAUTH`, `WRONGPASS`).
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, RedisError::Reply(e) if e.starts_with("NOAUTH") || e.starts_with("WRONGPASS"))
    }
}

fn code_name(code: u32) -> &'static str {
    match code {
        1 => "NotFound",
        2 => "BadArgument",
        3 => "SerializationFailure",
        4 => "ParseFailure",
        6 => "InvalidMemoryAccess",
        7 => "Empty",
        10 => "InternalFailure",
        11 => "BrokenConnection",
        12 => "Unimplemented",
        _ => "unknown result",
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Dispatch { cluster, code: 2 } => write!(
                f,
                "redis cluster `{cluster}` is not known to the gateway (BadArgument): check redis.service_name and redis.service_port"
            ),
            RedisError::Dispatch { cluster, code } => {
                write!(f, "redis call to `{cluster}` could not be sent: {} ({code})", code_name(*code))
            }
            RedisError::Transport { cluster } => {
                write!(f, "redis call to `{cluster}` failed: network error or timeout")
            }
            RedisError::Reply(e) => write!(f, "redis error reply: {e}"),
            RedisError::UnexpectedReply { command, got } => {
                write!(f, "unexpected {got} reply to {command}")
            }
            RedisError::Protocol(e) => write!(f, "redis protocol error: {e}"),
        }
    }
}

impl std::error::Error for RedisError {}
