//! Lua scripts run with EVALSHA, falling back to EVAL once when Redis answers NOSCRIPT.

use std::rc::Rc;

use super::client::{RedisClient, typed};
use super::codec::FromFrame;
use super::{RedisError, Reply};

/// A Lua script whose SHA-1 is computed once, at configure time.
///
/// Every key a script touches must share one hash tag (see [`super::hash_tagged`]) so it
/// also works behind a cluster-aware Redis proxy.
#[derive(Debug, Clone)]
pub struct Script {
    source: Rc<str>,
    sha: Rc<str>,
}

impl Script {
    /// Wraps the script source and computes its SHA-1.
    pub fn new(source: &str) -> Self {
        let sha = sha1_smol::Sha1::from(source.as_bytes()).digest().to_string();
        Script { source: source.into(), sha: sha.into() }
    }

    /// The script's SHA-1 (hex), as Redis names it.
    pub fn sha(&self) -> &str {
        &self.sha
    }

    /// The script's source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Runs the script: `EVALSHA sha numkeys keys... args...`; on a `NOSCRIPT` reply, one
    /// `EVAL` with the source (which also caches it in Redis for the next call).
    pub async fn run<K: AsRef<[u8]>, A: AsRef<[u8]>>(
        &self,
        client: &RedisClient,
        keys: &[K],
        args: &[A],
    ) -> Result<Reply, RedisError> {
        let numkeys = crate::decimal::decimal(keys.len() as u64);
        let mut call: Vec<&[u8]> = Vec::with_capacity(3 + keys.len() + args.len());
        call.extend([b"EVALSHA".as_slice(), self.sha.as_bytes(), numkeys.as_bytes()]);
        call.extend(keys.iter().map(AsRef::as_ref));
        call.extend(args.iter().map(AsRef::as_ref));
        match client.command(&call).await {
            Err(RedisError::Reply(e)) if e.starts_with("NOSCRIPT") => {
                call[0] = b"EVAL";
                call[1] = self.source.as_bytes();
                client.command(&call).await
            }
            other => other,
        }
    }

    /// [`Script::run`] with the reply converted to `T` (see [`FromFrame`]): a script that
    /// returns `{allowed, remaining}` reads as `(i64, i64)` or `Vec<i64>`. A reply of another
    /// type becomes [`RedisError::UnexpectedReply`] for `EVALSHA`.
    pub async fn query<T: FromFrame, K: AsRef<[u8]>, A: AsRef<[u8]>>(
        &self,
        client: &RedisClient,
        keys: &[K],
        args: &[A],
    ) -> Result<T, RedisError> {
        typed(b"EVALSHA", self.run(client, keys, args).await?)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn sha_matches_redis_script_load() {
        // `redis-cli SCRIPT LOAD "return 1"` prints this digest.
        assert_eq!(super::Script::new("return 1").sha(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }
}
