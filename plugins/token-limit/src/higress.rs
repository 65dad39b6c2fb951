//! Reading a configuration as Higress's `ai-token-ratelimit` reads it (alibaba/higress 4e0d691,
//! `plugins/wasm-go/extensions/ai-token-ratelimit/config/config.go`), before our config types
//! read it: gjson's loose values (numbers written as strings, a `key` written as a float or a
//! boolean, `rule_items` or `limit_keys` as a single object), its defaults
//! (`redis.service_port: 0`, `redis.timeout: 0`), `limit_by_consumer: null`, two `limit_by_*` in
//! one item (the last in Go's order wins), any unsigned `rejected_code`. Every field it reads is
//! one cluster-key-rate-limit reads alike, so the work is the SDK's
//! [`gateway_quota::higress_fields`]; our own fields are read as written.

use gateway_quota::higress_fields::prepare_limiter;
use gateway_sdk::ConfigError;
use gateway_sdk::config::Value;
use gateway_sdk::config::{ConfigPath, ConfigWarning};

/// The window fields Higress knows (config.go 51-56).
const HIGRESS_WINDOWS: [&str; 4] = ["token_per_second", "token_per_minute", "token_per_hour", "token_per_day"];

/// Rewrites one configuration object (the global one or a rule) into the form our config types
/// read. Errors only where Higress refuses too.
pub fn prepare(value: &mut Value, at: &ConfigPath, warnings: &mut Vec<ConfigWarning>) -> Result<(), ConfigError> {
    let Some(obj) = value.as_object_mut() else { return Ok(()) };
    prepare_limiter(obj, at, &HIGRESS_WINDOWS, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::config_json as json;

    #[test]
    fn token_windows_and_keys_are_read_like_gjson() {
        let mut v = json!({"rule_name": 1, "rejected_code": "403", "rule_items": {"limit_by_consumer": null,
            "limit_keys": {"key": true, "token_per_minute": "10"}}, "redis": {"service_name": "r.dns", "timeout": "0"},
            "reservation": "off"});
        let mut warnings = Vec::new();
        prepare(&mut v, &ConfigPath::root("token-limit"), &mut warnings).unwrap();
        assert_eq!(
            v,
            json!({"rule_name": "1", "rejected_code": 403, "rule_items": [{"limit_by_consumer": "",
            "limit_keys": [{"key": "true", "token_per_minute": 10}]}], "redis": {"service_name": "r.dns"},
            "reservation": "off"})
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
