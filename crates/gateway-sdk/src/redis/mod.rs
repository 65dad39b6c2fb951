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
    let tag: String = tag.chars().map(|c| if c == '{' || c == '}' { '_' } else { c }).collect();
    if suffix.is_empty() { format!("{prefix}:{{{tag}}}") } else { format!("{prefix}:{{{tag}}}:{suffix}") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_tags_keep_keys_on_one_slot() {
        assert_eq!(super::hash_tagged("rl", "user:1", "60"), "rl:{user:1}:60");
        assert_eq!(super::hash_tagged("rl", "a}b{", ""), "rl:{a_b_}");
    }
}
