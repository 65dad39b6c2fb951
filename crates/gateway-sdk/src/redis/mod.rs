//! A RESP client that rides Higress's Redis host calls: typed commands, concurrent calls,
//! scripts (EVALSHA with an EVAL fallback) and the `redis` configuration block.
//!
//! Each command is one host call; the host pipelines them on a connection shared by every
//! plugin of the worker, so atomic multi-step logic belongs in a [`Script`], never in MULTI.

mod client;
pub mod codec;
mod config;
mod error;
mod script;

#[cfg(feature = "testing")]
pub(crate) use client::reset_initialized;
pub use client::{Expiry, RedisClient, SetCondition, SetOptions};
pub use codec::{FromFrame, Pairs, Reply};
pub use config::RedisConfig;
pub use error::{RedisError, Unavailable};
pub use script::Script;

/// Builds a key whose hash slot is decided by `tag`, so every key of one script lands on the
/// same slot behind a cluster-aware Redis proxy: `hash_tagged("rl", "user:1", "60")` →
/// `rl:{user:1}:60`. Braces in `tag` are replaced, since they would end the tag early.
pub fn hash_tagged(prefix: &str, tag: &str, suffix: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + tag.len() + suffix.len() + 4);
    key.push_str(prefix);
    key.push_str(":{");
    let mut rest = tag;
    // Braces are ASCII, so the positions found are character boundaries. Most tags have none:
    // `contains` on bytes is memchr, a word at a time.
    let braces = tag.as_bytes().contains(&b'{') || tag.as_bytes().contains(&b'}');
    while let Some(i) = if braces { rest.bytes().position(|b| b == b'{' || b == b'}') } else { None } {
        key.push_str(&rest[..i]);
        key.push('_');
        rest = &rest[i + 1..];
    }
    key.push_str(rest);
    key.push('}');
    if !suffix.is_empty() {
        key.push(':');
        key.push_str(suffix);
    }
    key
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_tags_keep_keys_on_one_slot() {
        assert_eq!(super::hash_tagged("rl", "user:1", "60"), "rl:{user:1}:60");
        assert_eq!(super::hash_tagged("rl", "a}b{", ""), "rl:{a_b_}");
        assert_eq!(super::hash_tagged("rl", "ü{}é", "x"), "rl:{ü__é}:x");
    }
}
