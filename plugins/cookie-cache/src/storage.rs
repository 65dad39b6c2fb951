//! The plugin's Redis operations: the lookup script (entry + stampede lock in one round trip),
//! storing an entry (releasing the lock), releasing a lock, turning a lock into a hit-for-pass
//! marker, and session decisions. Every call
//! reports to the circuit breaker, so a dead Redis stops being called.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};

use gateway_sdk::breaker::{BreakerVerdict, CircuitBreaker, GuardedRedis};
use gateway_sdk::prelude::*;
use gateway_sdk::time::now;

/// The Redis keys of one cached request: the entry and its stampede lock (one hash slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKeys {
    /// The stored response.
    pub entry: String,
    /// The stampede lock, or the hit-for-pass marker (`!pass`) while the key is uncacheable.
    pub lock: String,
}

impl CacheKeys {
    /// `<prefix>:{<digest>}:e` and `<prefix>:{<digest>}:l`.
    pub fn new(prefix: &str, digest: &str) -> Self {
        CacheKeys {
            entry: gateway_sdk::redis::hash_tagged(prefix, digest, "e"),
            lock: gateway_sdk::redis::hash_tagged(prefix, digest, "l"),
        }
    }
}

/// The Redis key of a session decision: `<prefix>:s:{<sha256 of the cookie value>}`.
pub fn session_key(prefix: &str, cookie_digest: &str) -> String {
    gateway_sdk::redis::hash_tagged(&format!("{prefix}:s"), cookie_digest, "")
}

/// What the lookup script found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The stored entry bytes, fresh or stale.
    pub entry: Option<Vec<u8>>,
    /// Whether this request now holds the stampede lock.
    pub locked: bool,
    /// Whether the key is marked hit-for-pass: go upstream without waiting or locking.
    pub pass: bool,
}

/// The scripts, the client and the breaker of one compiled configuration.
#[derive(Debug)]
pub struct Storage {
    /// The client; every call's result feeds its breaker.
    pub guarded: GuardedRedis,
    lookup: Script,
    store: Script,
    release: Script,
    pass: Script,
}

thread_local! {
    static TOKENS: Cell<u64> = const { Cell::new(0) };
    /// OS randomness drawn once per worker: each token's random part is this seed plus the
    /// token's counter, mixed.
    static TOKEN_SEED: u64 = RandomState::new().hash_one(0x6c6f_636b_u64);
}

/// A lock token unique across gateways: time, a per-worker counter and OS randomness.
pub fn lock_token() -> String {
    let n = TOKENS.with(|c| {
        c.set(c.get().wrapping_add(1));
        c.get()
    });
    let nanos = now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    // splitmix64's mixer is a bijection, so a worker's tokens never repeat this part, and two
    // workers share it only if their random seeds differ by the difference of their counters.
    let random = mix64(TOKEN_SEED.with(|s| *s).wrapping_add(n));
    // Hex written by hand: `format!` with three hex fields costs more than the rest of a hit.
    let mut token = String::with_capacity(32 + 16 + 16 + 2);
    push_hex(&mut token, nanos, 1);
    token.push('-');
    push_hex(&mut token, u128::from(n), 1);
    token.push('-');
    push_hex(&mut token, u128::from(random), 16);
    token
}

/// splitmix64's output function (Steele, Lea and Flood, 2014).
fn mix64(x: u64) -> u64 {
    let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Appends `n` in lower-case hex, zero-padded to at least `width` (at most 32) digits.
fn push_hex(out: &mut String, n: u128, width: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let count = (128 - n.leading_zeros() as usize).div_ceil(4).max(width).min(32);
    let mut digits = [0u8; 32];
    let mut rest = n;
    for d in digits[32 - count..].iter_mut().rev() {
        *d = DIGITS[(rest & 0xf) as usize];
        rest >>= 4;
    }
    // Only hex digits were written.
    out.push_str(std::str::from_utf8(&digits[32 - count..]).unwrap_or_default());
}

impl Storage {
    /// Wraps a client and a breaker.
    pub fn new(redis: RedisClient, breaker: CircuitBreaker) -> Self {
        Storage {
            guarded: GuardedRedis::new(redis, breaker),
            lookup: Script::new(include_str!("../lua/lookup.lua")),
            store: Script::new(include_str!("../lua/store.lua")),
            release: Script::new(include_str!("../lua/release.lua")),
            pass: Script::new(include_str!("../lua/pass.lua")),
        }
    }

    /// Whether Redis may be called now (false while the breaker is open).
    pub fn admit(&self) -> bool {
        !matches!(self.guarded.admit(), BreakerVerdict::Open)
    }

    /// Reads the entry and, unless it is fresh, tries to take the lock (`lock_ms` 0: never).
    pub async fn lookup(&self, keys: &CacheKeys, now_ms: u64, token: &str, lock_ms: u64) -> Result<Found, RedisError> {
        let now = now_ms.to_string();
        let lock = lock_ms.to_string();
        // {entry or false, state}: state 1 = we hold the lock, 2 = a hit-for-pass marker.
        let result = self
            .lookup
            .query::<Vec<Reply>, _, _>(
                self.guarded.client(),
                &[&keys.entry, &keys.lock],
                &[now.as_str(), token, lock.as_str()],
            )
            .await;
        self.guarded.record(&result);
        let mut it = result?.into_iter();
        let entry = match it.next() {
            Some(Reply::Bulk(b)) => Some(b),
            _ => None,
        };
        let state = it.next();
        Ok(Found { entry, locked: matches!(state, Some(Reply::Int(1))), pass: matches!(state, Some(Reply::Int(2))) })
    }

    /// Stores an entry for `expiry_ms` and releases the lock when `token` holds it.
    pub async fn store(&self, keys: &CacheKeys, entry: &[u8], expiry_ms: u64, token: &str) -> Result<(), RedisError> {
        let expiry = expiry_ms.max(1).to_string();
        let args: [&[u8]; 3] = [entry, expiry.as_bytes(), token.as_bytes()];
        let result = self.store.run(self.guarded.client(), &[&keys.entry, &keys.lock], &args).await;
        self.guarded.record(&result);
        result.map(|_| ())
    }

    /// Releases the lock if `token` still holds it.
    pub async fn release(&self, keys: &CacheKeys, token: &str) -> Result<(), RedisError> {
        let result = self.release.run(self.guarded.client(), &[&keys.lock], &[token]).await;
        self.guarded.record(&result);
        result.map(|_| ())
    }

    /// Turns the lock `token` holds into the hit-for-pass marker for `marker_ms`.
    pub async fn mark_uncacheable(&self, keys: &CacheKeys, token: &str, marker_ms: u64) -> Result<(), RedisError> {
        let marker = marker_ms.max(1).to_string();
        let result = self.pass.run(self.guarded.client(), &[&keys.lock], &[token, marker.as_str()]).await;
        self.guarded.record(&result);
        result.map(|_| ())
    }

    /// Reads a session decision.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RedisError> {
        let result = self.guarded.client().get(key).await;
        self.guarded.record(&result);
        result
    }

    /// Writes a session decision for `expiry_ms`.
    pub async fn put(&self, key: &str, value: &[u8], expiry_ms: u64) -> Result<(), RedisError> {
        let options = SetOptions::expire_in_millis(expiry_ms.max(1));
        let result = self.guarded.client().set(key, value, options).await;
        self.guarded.record(&result);
        result.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        let k = CacheKeys::new("cc", "abc");
        assert_eq!(k.entry, "cc:{abc}:e");
        assert_eq!(k.lock, "cc:{abc}:l");
        assert_eq!(session_key("cc", "def"), "cc:s:{def}");
    }

    #[test]
    fn hex_is_what_format_writes() {
        for (n, width) in [(0u128, 1), (0, 16), (255, 1), (0xabc, 16), (u128::MAX, 1), (u128::from(u64::MAX), 16)] {
            let mut out = String::new();
            push_hex(&mut out, n, width);
            assert_eq!(out, format!("{n:0width$x}"));
        }
    }

    #[test]
    fn lock_tokens_are_unique() {
        let a = lock_token();
        let b = lock_token();
        assert_ne!(a, b);
    }
}
