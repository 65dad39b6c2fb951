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
    /// The reply could not be decoded as RESP.
    Protocol(String),
}

/// Why Redis cannot serve this plugin at all: the failures a circuit breaker counts, so the
/// plugin stops paying a round trip per request to learn the same thing again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unavailable {
    /// The host refused the call (unknown cluster, no healthy host).
    Dispatch,
    /// A network error or the Redis timeout.
    Transport,
    /// `NOAUTH` / `WRONGPASS`: the credentials are missing or wrong.
    Auth,
    /// `NOPERM`: the ACL user may not run the plugin's commands or keys.
    Permission,
    /// `READONLY`: a read-only replica.
    ReadOnly,
    /// `MASTERDOWN`: a replica that lost its primary.
    MasterDown,
    /// `LOADING`: Redis is loading its dataset.
    Loading,
    /// `OOM`: `maxmemory` reached, writes refused.
    OutOfMemory,
    /// `CLUSTERDOWN`: a Redis Cluster node whose cluster cannot serve the slot.
    ClusterDown,
    /// `MOVED` / `ASK` / `TRYAGAIN`: a Redis Cluster node, which the host calls do not follow.
    ClusterRedirect,
    /// `BUSY`: a script is running and blocks every client.
    Busy,
    /// A Redis proxy (Envoy's `redis_proxy`) has no healthy upstream for the key: `no upstream
    /// host`, `upstream failure` (during a Redis Cluster failover, for example).
    ProxyUpstream,
}

impl Unavailable {
    /// A short stable name, used in metric names (`redis_unavailable.<name>`) and log causes.
    pub fn as_str(&self) -> &'static str {
        match self {
            Unavailable::Dispatch => "dispatch",
            Unavailable::Transport => "transport",
            Unavailable::Auth => "auth",
            Unavailable::Permission => "permission",
            Unavailable::ReadOnly => "readonly",
            Unavailable::MasterDown => "masterdown",
            Unavailable::Loading => "loading",
            Unavailable::OutOfMemory => "oom",
            Unavailable::ClusterDown => "clusterdown",
            Unavailable::ClusterRedirect => "cluster_redirect",
            Unavailable::Busy => "busy",
            Unavailable::ProxyUpstream => "proxy_upstream",
        }
    }

    /// What the operator should do about it.
    pub fn advice(&self) -> &'static str {
        match self {
            Unavailable::Dispatch => {
                "the gateway refused the call: check that redis.service_name/service_port name a cluster the gateway has (outbound|<port>||<fqdn>)"
            }
            Unavailable::Transport => {
                "Redis did not answer in time or the connection failed: check that Redis is up and reachable, and redis.timeout"
            }
            Unavailable::Auth => {
                "Redis refused the credentials: set redis.password (and redis.username for an ACL user) to what Redis expects"
            }
            Unavailable::Permission => {
                "the ACL user lacks a permission the plugin needs (EVALSHA, EVAL, SCRIPT, the commands in its scripts, its key prefix): grant it, or set redis.username to a user that has it"
            }
            Unavailable::ReadOnly => {
                "this Redis is a read-only replica: point redis.service_name at the primary, or at a proxy that sends writes there"
            }
            Unavailable::MasterDown => "this replica lost its primary: point redis.service_name at the primary",
            Unavailable::Loading => "Redis is still loading its dataset: it answers after loading; nothing to change",
            Unavailable::OutOfMemory => {
                "Redis reached maxmemory and refuses writes: raise maxmemory or choose an eviction policy (volatile-ttl suits these keys)"
            }
            Unavailable::ClusterDown => {
                "this is a Redis Cluster node whose cluster is down or does not serve the slot: point redis.service_name at a cluster-aware proxy for Redis Cluster"
            }
            Unavailable::ClusterRedirect => {
                "this is a Redis Cluster node and the gateway does not follow MOVED/ASK: point redis.service_name at a cluster-aware proxy for Redis Cluster"
            }
            Unavailable::Busy => "a long script blocks Redis (BUSY): find it with SCRIPT KILL / SLOWLOG",
            Unavailable::ProxyUpstream => {
                "the Redis proxy has no healthy Redis for this key (a failover in progress, or the proxy's cluster is down): check the proxy and its Redis"
            }
        }
    }
}

impl RedisError {
    /// Why Redis cannot serve us, if that is what this failure means: unreachable (dispatch
    /// refused, transport failure) or an error reply that every call would get again
    /// (`NOAUTH`, `READONLY`, `MOVED`, ...). Ordinary errors (a script error, a wrong type)
    /// return `None`: Redis is up and the next request may well succeed.
    pub fn unavailable(&self) -> Option<Unavailable> {
        match self {
            RedisError::Dispatch { .. } => Some(Unavailable::Dispatch),
            RedisError::Transport { .. } => Some(Unavailable::Transport),
            RedisError::Reply(e) => reply_unavailable(e),
            RedisError::UnexpectedReply { .. } | RedisError::Protocol(_) => None,
        }
    }

    /// Whether Redis cannot serve us (see [`RedisError::unavailable`]): the failures a circuit
    /// breaker counts.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable().is_some()
    }

    /// Whether Redis rejected our credentials (`NOAUTH`, `WRONGPASS`).
    pub fn is_auth_failure(&self) -> bool {
        self.unavailable() == Some(Unavailable::Auth)
    }
}

/// Classifies an error reply by its code (the first word). Redis 7 keeps a command's error code
/// when the command ran inside a script (`-READONLY ... script: ...`).
fn reply_unavailable(reply: &str) -> Option<Unavailable> {
    // Envoy's redis_proxy answers these (lower case, no code) when it cannot reach a Redis.
    if matches!(reply, "no upstream host" | "upstream failure" | "upstream protocol error") {
        return Some(Unavailable::ProxyUpstream);
    }
    // Redis 7 refuses large commands from a client that has not authenticated (more than 10
    // arguments, bulk strings over 16 KiB) this way, and closes the connection.
    if reply.starts_with("ERR Protocol error: unauthenticated") {
        return Some(Unavailable::Auth);
    }
    let code = reply.split_whitespace().next().unwrap_or_default();
    Some(match code {
        "NOAUTH" | "WRONGPASS" => Unavailable::Auth,
        "NOPERM" => Unavailable::Permission,
        "READONLY" => Unavailable::ReadOnly,
        "MASTERDOWN" => Unavailable::MasterDown,
        "LOADING" => Unavailable::Loading,
        "OOM" => Unavailable::OutOfMemory,
        "CLUSTERDOWN" => Unavailable::ClusterDown,
        "MOVED" | "ASK" | "TRYAGAIN" | "CROSSSLOT" => Unavailable::ClusterRedirect,
        "BUSY" => Unavailable::Busy,
        _ => return None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(reply: &str) -> Option<Unavailable> {
        RedisError::Reply(reply.to_string()).unavailable()
    }

    #[test]
    fn error_replies_that_every_call_would_get_again_mean_unavailable() {
        assert_eq!(cause("NOAUTH Authentication required."), Some(Unavailable::Auth));
        assert_eq!(cause("WRONGPASS invalid username-password pair or user is disabled."), Some(Unavailable::Auth));
        assert_eq!(cause("ERR Protocol error: unauthenticated multibulk length"), Some(Unavailable::Auth));
        assert_eq!(
            cause("NOPERM this user has no permissions to run the 'evalsha' command"),
            Some(Unavailable::Permission)
        );
        assert_eq!(cause("READONLY You can't write against a read only replica."), Some(Unavailable::ReadOnly));
        assert_eq!(cause("MOVED 3999 127.0.0.1:6381"), Some(Unavailable::ClusterRedirect));
        assert_eq!(cause("CLUSTERDOWN Hash slot not served"), Some(Unavailable::ClusterDown));
        assert_eq!(cause("upstream failure"), Some(Unavailable::ProxyUpstream));
        assert_eq!(cause("OOM command not allowed when used memory > 'maxmemory'."), Some(Unavailable::OutOfMemory));
    }

    #[test]
    fn ordinary_error_replies_do_not() {
        assert_eq!(cause("ERR Error running script (call to f_x): @user_script:1: bad"), None);
        assert_eq!(cause("WRONGTYPE Operation against a key holding the wrong kind of value"), None);
        assert_eq!(cause("NOSCRIPT No matching script."), None);
        assert!(RedisError::Transport { cluster: "c".into() }.is_unavailable());
    }
}
