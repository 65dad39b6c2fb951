//! The Redis client: one host call per command, awaited like any future.

use std::cell::RefCell;
use std::rc::Rc;

use super::codec::{self, FromFrame, Pairs, Reply};
use super::{RedisConfig, RedisError};
use crate::abi::host;
use crate::config::{ConfigError, ConfigPath};
use crate::runtime::{CallOutcome, PendingCall};
use crate::vec_map::VecMap;

thread_local! {
    /// Redis configurations already given to the host on this worker, by cluster name.
    /// `proxy_redis_init` with a new configuration tears connections down, so it runs once
    /// per distinct configuration, never per request.
    static INITIALIZED: RefCell<VecMap<String, String>> = const { RefCell::new(VecMap::new()) };
}

/// Options of [`RedisClient::set`]: at most one expiry and at most one condition, as Redis
/// accepts (the types make `EX` with `PX`, or `NX` with `XX`, unrepresentable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// `EX seconds` or `PX milliseconds`.
    pub expiry: Option<Expiry>,
    /// `NX` or `XX`.
    pub condition: Option<SetCondition>,
}

/// How long a key set by [`RedisClient::set`] lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// `EX seconds`.
    Seconds(u64),
    /// `PX milliseconds`.
    Millis(u64),
}

/// When [`RedisClient::set`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCondition {
    /// `NX`: only if the key does not exist.
    IfAbsent,
    /// `XX`: only if the key exists.
    IfPresent,
}

impl SetOptions {
    /// `PX milliseconds`.
    pub fn expire_in_millis(ms: u64) -> Self {
        SetOptions { expiry: Some(Expiry::Millis(ms)), condition: None }
    }

    /// `EX seconds`.
    pub fn expire_in_seconds(seconds: u64) -> Self {
        SetOptions { expiry: Some(Expiry::Seconds(seconds)), condition: None }
    }

    /// The same options with `NX`.
    pub fn if_absent(self) -> Self {
        SetOptions { condition: Some(SetCondition::IfAbsent), ..self }
    }

    /// The same options with `XX`.
    pub fn if_present(self) -> Self {
        SetOptions { condition: Some(SetCondition::IfPresent), ..self }
    }

    /// The arguments of `SET key value` with these options.
    fn command(&self, key: &[u8], value: &[u8]) -> Vec<Vec<u8>> {
        let mut args: Vec<Vec<u8>> = vec![b"SET".to_vec(), key.to_vec(), value.to_vec()];
        match self.expiry {
            Some(Expiry::Seconds(s)) => args.extend([b"EX".to_vec(), s.to_string().into_bytes()]),
            Some(Expiry::Millis(ms)) => args.extend([b"PX".to_vec(), ms.to_string().into_bytes()]),
            None => {}
        }
        match self.condition {
            Some(SetCondition::IfAbsent) => args.push(b"NX".to_vec()),
            Some(SetCondition::IfPresent) => args.push(b"XX".to_vec()),
            None => {}
        }
        args
    }
}

/// A Redis client bound to one Envoy cluster. Build it once at configure time
/// ([`RedisClient::new`]); cloning is cheap and every clone shares the worker's connection.
#[derive(Debug, Clone)]
pub struct RedisClient {
    cluster: Rc<str>,
}

impl RedisClient {
    /// Registers the `redis` block with the host (`proxy_redis_init`) and returns a client.
    /// `at` is the path of the block, used in errors (an unknown cluster names the cluster tried).
    pub fn new(config: &RedisConfig, at: &ConfigPath) -> Result<Self, ConfigError> {
        config.validate(at)?;
        let cluster = config.cluster_name();
        let target = config.init_target();
        let username = config.username.clone().unwrap_or_default();
        let password = config.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
        let fingerprint = format!("{target}\u{0}{username}\u{0}{password}\u{0}{}", config.timeout);
        let previous = INITIALIZED.with(|m| m.borrow().get(&cluster).cloned());
        if previous.as_deref() != Some(fingerprint.as_str()) {
            if previous.is_some() {
                crate::warn!(
                    "redis cluster `{cluster}` is configured twice with different settings; the last one wins"
                );
            }
            host::redis_init(&target, &username, &password, config.timeout).map_err(|code| {
                let err = RedisError::Dispatch { cluster: cluster.clone(), code };
                at.field("service_name").error(err)
            })?;
            INITIALIZED.with(|m| m.borrow_mut().insert(cluster.clone(), fingerprint));
        }
        Ok(RedisClient { cluster: cluster.into() })
    }

    /// The Envoy cluster name calls go to.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Sends any command and returns its reply. An error reply becomes [`RedisError::Reply`].
    pub async fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Reply, RedisError> {
        let query = codec::encode_command(args);
        let token = host::redis_call(&self.cluster, &query)
            .map_err(|code| RedisError::Dispatch { cluster: self.cluster.to_string(), code })?;
        match PendingCall::new(token).await {
            CallOutcome::Redis { status: 0, body: Some(body) } => match codec::decode_reply(&body) {
                Ok(Reply::Error(e)) => Err(RedisError::Reply(e)),
                Ok(reply) => Ok(reply),
                Err(e) => Err(RedisError::Protocol(e.to_string())),
            },
            CallOutcome::Redis { .. } => Err(RedisError::Transport { cluster: self.cluster.to_string() }),
            CallOutcome::Http { .. } => Err(RedisError::Protocol("an HTTP response arrived for a Redis call".into())),
        }
    }

    /// Sends a command and converts its reply to `T` ([`FromFrame`]: `i64`, `Option<Vec<u8>>`,
    /// `Vec<Option<String>>`, tuples, [`Pairs`], ...). A reply of another type becomes
    /// [`RedisError::UnexpectedReply`] naming the command (its first argument).
    pub async fn query<T: FromFrame, A: AsRef<[u8]>>(&self, args: &[A]) -> Result<T, RedisError> {
        let reply = self.command(args).await?;
        typed(args.first().map(AsRef::as_ref).unwrap_or_default(), reply)
    }

    /// `GET key`.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, RedisError> {
        typed(b"GET", self.command(&[b"GET".as_slice(), key.as_ref()]).await?)
    }

    /// `SET key value [EX s] [PX ms] [NX|XX]`. Returns whether the value was set.
    pub async fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        options: SetOptions,
    ) -> Result<bool, RedisError> {
        let args = options.command(key.as_ref(), value.as_ref());
        // `+OK` when set, nil when NX/XX refused.
        Ok(typed::<Option<String>>(b"SET", self.command(&args).await?)?.is_some())
    }

    /// `INCR key`.
    pub async fn incr(&self, key: impl AsRef<[u8]>) -> Result<i64, RedisError> {
        typed(b"INCR", self.command(&[b"INCR".as_slice(), key.as_ref()]).await?)
    }

    /// `INCRBY key delta`.
    pub async fn incrby(&self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64, RedisError> {
        let d = delta.to_string();
        typed(b"INCRBY", self.command(&[b"INCRBY".as_slice(), key.as_ref(), d.as_bytes()]).await?)
    }

    /// `DECRBY key delta`.
    pub async fn decrby(&self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64, RedisError> {
        let d = delta.to_string();
        typed(b"DECRBY", self.command(&[b"DECRBY".as_slice(), key.as_ref(), d.as_bytes()]).await?)
    }

    /// `EXPIRE key seconds`. Returns whether the key exists.
    pub async fn expire(&self, key: impl AsRef<[u8]>, seconds: i64) -> Result<bool, RedisError> {
        let s = seconds.to_string();
        Ok(typed::<i64>(b"EXPIRE", self.command(&[b"EXPIRE".as_slice(), key.as_ref(), s.as_bytes()]).await?)? == 1)
    }

    /// `PEXPIRE key milliseconds`. Returns whether the key exists.
    pub async fn pexpire(&self, key: impl AsRef<[u8]>, millis: i64) -> Result<bool, RedisError> {
        let ms = millis.to_string();
        Ok(typed::<i64>(b"PEXPIRE", self.command(&[b"PEXPIRE".as_slice(), key.as_ref(), ms.as_bytes()]).await?)? == 1)
    }

    /// `TTL key`: seconds left, -1 without expiry, -2 when the key does not exist.
    pub async fn ttl(&self, key: impl AsRef<[u8]>) -> Result<i64, RedisError> {
        typed(b"TTL", self.command(&[b"TTL".as_slice(), key.as_ref()]).await?)
    }

    /// `DEL key...`. Returns how many keys existed.
    pub async fn del<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<i64, RedisError> {
        let mut args: Vec<&[u8]> = vec![b"DEL"];
        args.extend(keys.iter().map(AsRef::as_ref));
        typed(b"DEL", self.command(&args).await?)
    }

    /// `MGET key...`.
    pub async fn mget<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>, RedisError> {
        let mut args: Vec<&[u8]> = vec![b"MGET"];
        args.extend(keys.iter().map(AsRef::as_ref));
        typed(b"MGET", self.command(&args).await?)
    }

    /// `HGET key field`.
    pub async fn hget(&self, key: impl AsRef<[u8]>, field: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, RedisError> {
        typed(b"HGET", self.command(&[b"HGET".as_slice(), key.as_ref(), field.as_ref()]).await?)
    }

    /// `HSET key field value [field value ...]`. Returns how many fields were added.
    pub async fn hset<F: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        key: impl AsRef<[u8]>,
        fields: &[(F, V)],
    ) -> Result<i64, RedisError> {
        let mut args: Vec<&[u8]> = vec![b"HSET", key.as_ref()];
        for (f, v) in fields {
            args.push(f.as_ref());
            args.push(v.as_ref());
        }
        typed(b"HSET", self.command(&args).await?)
    }

    /// `HINCRBY key field delta`.
    pub async fn hincrby(&self, key: impl AsRef<[u8]>, field: impl AsRef<[u8]>, delta: i64) -> Result<i64, RedisError> {
        let d = delta.to_string();
        typed(b"HINCRBY", self.command(&[b"HINCRBY".as_slice(), key.as_ref(), field.as_ref(), d.as_bytes()]).await?)
    }

    /// `HGETALL key` as field/value pairs.
    pub async fn hgetall(&self, key: impl AsRef<[u8]>) -> Result<Vec<(Vec<u8>, Vec<u8>)>, RedisError> {
        let Pairs(pairs) = typed(b"HGETALL", self.command(&[b"HGETALL".as_slice(), key.as_ref()]).await?)?;
        Ok(pairs)
    }
}

/// Converts a reply to `T`; `command` (the command's name) goes into the error.
pub(crate) fn typed<T: FromFrame>(command: &[u8], reply: Reply) -> Result<T, RedisError> {
    T::from_frame(reply).map_err(|e| RedisError::UnexpectedReply {
        command: String::from_utf8_lossy(command).to_ascii_uppercase(),
        got: e.got,
    })
}

/// Forgets which configurations were given to the host (the native test host starts clean).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) fn reset_initialized() {
    INITIALIZED.with(|m| m.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_options_give_one_expiry_and_one_condition() {
        let args = |o: SetOptions| {
            o.command(b"k", b"v").iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ")
        };
        assert_eq!(args(SetOptions::default()), "SET k v");
        assert_eq!(args(SetOptions::expire_in_seconds(10)), "SET k v EX 10");
        assert_eq!(args(SetOptions::expire_in_millis(1500).if_absent()), "SET k v PX 1500 NX");
        assert_eq!(
            args(SetOptions::expire_in_millis(1).if_absent().if_present()),
            "SET k v PX 1 XX",
            "the last condition wins"
        );
    }
}
