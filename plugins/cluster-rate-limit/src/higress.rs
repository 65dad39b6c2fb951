//! Reading a configuration as Higress's `cluster-key-rate-limit` reads it (alibaba/higress
//! 4e0d691, `plugins/wasm-go/extensions/cluster-key-rate-limit/config/config.go`), before our
//! types read it: gjson's loose values (numbers and booleans written as strings, a `key`
//! written as a float or a boolean), its defaults (`redis.service_port: 0`, `redis.timeout: 0`),
//! `limit_by_consumer: null`, and two `limit_by_*` in one item (the last in Go's order wins).
//! What Higress takes silently but is probably a mistake comes back as a warning. The fields
//! ai-token-ratelimit reads alike are [`gateway_quota::higress_fields`].

use gateway_quota::higress_fields::prepare_limiter;
use gateway_sdk::ConfigError;
use gateway_sdk::config::Value;
use gateway_sdk::config::gjson::coerce_bool;
use gateway_sdk::config::{ConfigPath, ConfigWarning};

/// The window fields Higress knows (config.go 52-57).
const HIGRESS_WINDOWS: [&str; 4] = ["query_per_second", "query_per_minute", "query_per_hour", "query_per_day"];

/// Rewrites one configuration object (the global one or a rule) into the form our config types
/// read. Errors only where Higress refuses too.
pub fn prepare(value: &mut Value, at: &ConfigPath, warnings: &mut Vec<ConfigWarning>) -> Result<(), ConfigError> {
    let Some(obj) = value.as_object_mut() else { return Ok(()) };
    // config.go 143-160: Bool() (the rest of those lines are the shared fields).
    for key in ["show_limit_quota_header", "ratelimit_headers", "shadow_mode"] {
        coerce_bool(obj, key);
    }
    prepare_limiter(obj, at, &HIGRESS_WINDOWS, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::config_json as json;

    fn prepared(mut v: Value) -> (Value, Vec<String>) {
        let mut warnings = Vec::new();
        prepare(&mut v, &ConfigPath::root("cluster-rate-limit"), &mut warnings).unwrap();
        (v, warnings.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn loose_values_become_typed_ones() {
        let (v, w) = prepared(json!({"rule_name": 7, "show_limit_quota_header": "true", "rejected_code": "403",
            "global_threshold": {"query_per_minute": "10"}}));
        assert_eq!(
            v,
            json!({"rule_name": "7", "show_limit_quota_header": true, "rejected_code": 403,
            "global_threshold": {"query_per_minute": 10}})
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn the_last_limit_by_field_in_go_order_wins() {
        let (v, w) = prepared(json!({"rule_items": [{"limit_by_per_ip": "from-remote-addr", "limit_by_header": "h",
            "limit_by_param": "", "limit_by_consumer": null, "limit_keys": {"key": 1.5, "query_per_second": true}}]}));
        assert_eq!(
            v["rule_items"][0],
            json!({"limit_by_per_ip": "from-remote-addr",
            "limit_keys": [{"key": "1.5", "query_per_second": 1}]})
        );
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("rule_items[0].limit_by_per_ip: wins over limit_by_header, limit_by_consumer"), "{w:?}");
    }
}
