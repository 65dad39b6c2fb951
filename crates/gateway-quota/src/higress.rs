//! Counters shared with Higress's Go plugins, for a fleet that migrates gateway by gateway:
//! the Redis key names of `cluster-key-rate-limit` and `ai-token-ratelimit` (alibaba/higress
//! 4e0d691, `main.go` of each: `<prefix>:<rule_name>:global_threshold:<window seconds>` and
//! `<prefix>:<rule_name>:<limit type>:<window seconds>:<item key>:<value>`), their windows (one
//! per key, starting at the key's first request: the Go scripts `EXPIRE` a key when they create
//! it), and `ai-token-ratelimit`'s after-the-fact charge (added only while the counter is not
//! over its threshold).
//!
//! Checks run through [`QuotaStore::plan_shared_with_higress`](super::QuotaStore::plan_shared_with_higress)
//! (kind `h` of the check script): a key at `used` is over its quota exactly when the Go
//! plugins think so, so Go and Rust gateways enforce one limit on one counter.

use super::keys::Selection;
use super::window::{Span, Window};
use gateway_sdk::config::{ConfigError, ConfigPath};
use gateway_sdk::redis::{RedisClient, RedisError, Script};

/// `cluster-key-rate-limit`'s key prefix (`RedisKeyPrefix` in its main.go).
pub const CLUSTER_KEY_RATE_LIMIT_PREFIX: &str = "higress-cluster-key-rate-limit";

/// `ai-token-ratelimit`'s key prefix (`RedisKeyPrefix` in its main.go).
pub const AI_TOKEN_RATELIMIT_PREFIX: &str = "higress-token-ratelimit";

/// Adds N to a counter unless it is already over its threshold; a new key (or one without a
/// lifetime) gets the window's length. KEYS[1]: the counter; ARGV: threshold, window seconds,
/// N. Returns the count afterwards. Same effect on Redis as `ai-token-ratelimit`'s response
/// phase script.
const ADD_LUA: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if count > tonumber(ARGV[1]) then return count end
count = redis.call('INCRBY', KEYS[1], ARGV[3])
if count == tonumber(ARGV[3]) or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return count
";

/// What a request is counted by, as the Go plugins name it.
#[derive(Debug, Clone, Copy)]
pub enum HigressCounter<'a> {
    /// `global_threshold`.
    Global,
    /// A `rule_items` match: its type, item key (header, parameter or cookie name,
    /// `x-mse-consumer`, or the `limit_by_per_ip` value) and the request's value.
    Item(&'a str, &'a str, &'a str),
}

impl<'a, T> From<&'a Selection<'a, T>> for HigressCounter<'a> {
    fn from(s: &'a Selection<'a, T>) -> Self {
        HigressCounter::Item(s.kind.as_str(), s.name, &s.value)
    }
}

/// The Redis key Higress's Go plugin with key prefix `prefix` counts `counter` of rule
/// `rule_name` in for a window of `window_seconds`.
///
/// ```
/// # use gateway_quota::higress::{HigressCounter, higress_key, CLUSTER_KEY_RATE_LIMIT_PREFIX};
/// let k = higress_key(CLUSTER_KEY_RATE_LIMIT_PREFIX, "r", HigressCounter::Item("limit_by_header", "x-ca-key", "a"), 60);
/// assert_eq!(k, "higress-cluster-key-rate-limit:r:limit_by_header:60:x-ca-key:a");
/// ```
pub fn higress_key(prefix: &str, rule_name: &str, counter: HigressCounter<'_>, window_seconds: u64) -> String {
    match counter {
        HigressCounter::Global => format!("{prefix}:{rule_name}:global_threshold:{window_seconds}"),
        HigressCounter::Item(kind, name, value) => {
            format!("{prefix}:{rule_name}:{kind}:{window_seconds}:{name}:{value}")
        }
    }
}

/// The keys of every window of `counter` (one per window, in order).
pub fn higress_keys(prefix: &str, rule_name: &str, counter: HigressCounter<'_>, windows: &[Window]) -> Vec<String> {
    windows.iter().map(|w| higress_key(prefix, rule_name, counter, w.seconds())).collect()
}

/// Checks that limits at `at` can be shared with a Go gateway: exactly one window of seconds
/// (the Go plugins count one `*_per_second|minute|hour|day` window per key and know no
/// calendar periods). `field` names the switch in the message.
pub fn check_windows(windows: &[Window], at: &ConfigPath, field: &str) -> Result<(), ConfigError> {
    match windows {
        [w] if matches!(w.span, Span::Seconds(_)) => Ok(()),
        [_] => Err(at.error(format!(
            "a calendar quota cannot be shared with Higress's Go plugins ({field}): they count only per second, minute, hour or day"
        ))),
        _ => Err(at.error(format!(
            "has {} windows, but with {field} each key takes exactly one (the Go plugins count one window per key)",
            windows.len()
        ))),
    }
}

/// `ai-token-ratelimit`'s after-the-fact charge.
#[derive(Debug, Clone)]
pub struct HigressAdd {
    script: Script,
}

impl Default for HigressAdd {
    fn default() -> Self {
        HigressAdd { script: Script::new(ADD_LUA) }
    }
}

impl HigressAdd {
    /// Adds `units` to `key` (window `window`) unless it is over the window's quota already,
    /// in one Redis call.
    pub async fn add(&self, client: &RedisClient, key: &str, window: &Window, units: u64) -> Result<(), RedisError> {
        let args = [window.quota.to_string(), window.seconds().max(1).to_string(), units.to_string()];
        self.script.run(client, &[key], &args).await.map(|_| ())
    }

    /// The script (for tests that run it directly).
    pub fn script(&self) -> &Script {
        &self.script
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CalendarUnit, Zone};

    #[test]
    fn keys_are_the_go_plugins_own() {
        assert_eq!(
            higress_key(AI_TOKEN_RATELIMIT_PREFIX, "default_rule", HigressCounter::Global, 60),
            "higress-token-ratelimit:default_rule:global_threshold:60"
        );
        let windows = [Window::new(1, 10)];
        assert_eq!(
            higress_keys(
                CLUSTER_KEY_RATE_LIMIT_PREFIX,
                "r",
                HigressCounter::Item("limit_by_per_ip", "from-remote-addr", "1.2.3.4"),
                &windows
            ),
            ["higress-cluster-key-rate-limit:r:limit_by_per_ip:1:from-remote-addr:1.2.3.4"]
        );
    }

    #[test]
    fn only_one_window_of_seconds_can_be_shared() {
        let at = ConfigPath::root("p").field("global_threshold");
        assert!(check_windows(&[Window::new(60, 5)], &at, "share_counters_with_higress").is_ok());
        let two = check_windows(&[Window::new(1, 5), Window::new(60, 50)], &at, "s").unwrap_err();
        assert!(two.to_string().contains("global_threshold: has 2 windows"), "{two}");
        let month = check_windows(&[Window::calendar(CalendarUnit::Month, Zone::utc(), 5)], &at, "s").unwrap_err();
        assert!(month.to_string().contains("calendar"), "{month}");
    }
}
