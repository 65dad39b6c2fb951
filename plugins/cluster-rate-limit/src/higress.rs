//! Reading a configuration as Higress's `cluster-key-rate-limit` reads it (alibaba/higress
//! 4e0d691, `plugins/wasm-go/extensions/cluster-key-rate-limit/config/config.go`), before serde
//! reads our types: gjson's loose values (numbers and booleans written as strings, a `key`
//! written as a float or a boolean), its defaults (`redis.service_port: 0`, `redis.timeout: 0`),
//! `limit_by_consumer: null`, and two `limit_by_*` in one item (the last in Go's order wins).
//! What Higress takes silently but is probably a mistake comes back as a warning.

use gateway_quota::LimitKind;
use gateway_sdk::ConfigError;
use gateway_sdk::config::gjson::{self, coerce_array, coerce_bool, coerce_int, coerce_string};
use gateway_sdk::config::{ConfigPath, ConfigWarning};
use serde_json::{Map, Value};

/// The window fields Higress knows (config.go 52-57).
const HIGRESS_WINDOWS: [&str; 4] = ["query_per_second", "query_per_minute", "query_per_hour", "query_per_day"];

/// The `limit_by_*` fields in the order config.go 246-286 reads them: when several are set,
/// the last one wins.
const LIMIT_BY_ORDER: [LimitKind; 9] = [
    LimitKind::ByHeader,
    LimitKind::ByParam,
    LimitKind::ByCookie,
    LimitKind::PerHeader,
    LimitKind::PerParam,
    LimitKind::PerCookie,
    LimitKind::ByConsumer,
    LimitKind::PerConsumer,
    LimitKind::PerIp,
];

/// Rewrites one configuration object (the global one or a rule) into the form our serde types
/// read. Errors only where Higress refuses too.
pub fn prepare(value: &mut Value, at: &ConfigPath, warnings: &mut Vec<ConfigWarning>) -> Result<(), ConfigError> {
    let Some(obj) = value.as_object_mut() else { return Ok(()) };
    // config.go 132-136: rule_name must exist; String() of any value, empty included.
    coerce_string(obj, "rule_name");
    if obj.get("rule_name").and_then(Value::as_str) == Some("") {
        warnings.push(ConfigWarning::new(
            &at.field("rule_name"),
            "is empty: the Redis counters are named by it, so every configuration with an empty rule_name shares them",
        ));
    }
    // config.go 143-160: Bool(), Uint() truncated to uint32, String().
    for key in ["show_limit_quota_header", "ratelimit_headers", "shadow_mode"] {
        coerce_bool(obj, key);
    }
    coerce_string(obj, "rejected_msg");
    rejected_code(obj, at, warnings)?;
    // config.go 168-174: both present (even as null) is refused.
    if obj.contains_key("global_threshold") && obj.contains_key("rule_items") {
        return Err(at.field("rule_items").error("global_threshold and rule_items cannot be set together"));
    }
    if let Some(Value::Object(g)) = obj.get_mut("global_threshold") {
        windows(g);
    }
    coerce_array(obj, "rule_items");
    if let Some(Value::Array(items)) = obj.get_mut("rule_items") {
        for (i, item) in items.iter_mut().enumerate() {
            if let Value::Object(item) = item {
                rule_item(item, &at.field("rule_items").index(i), warnings);
            }
        }
    }
    if let Some(Value::Object(redis)) = obj.get_mut("redis") {
        gjson::redis_block(redis, &at.field("redis"), warnings);
    }
    Ok(())
}

/// config.go 148-153: `uint32(rejected_code.Uint())`. Envoy answers with any code; ours must be
/// an HTTP status a client can read (200-999), else 429 is sent and a warning says so.
fn rejected_code(
    obj: &mut Map<String, Value>,
    at: &ConfigPath,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    let Some(v) = obj.get("rejected_code") else { return Ok(()) };
    let Some(code) = gjson::uint(v) else {
        return Err(at.field("rejected_code").error("must not be negative"));
    };
    // Go's uint32() keeps the low 32 bits.
    let code = code & u64::from(u32::MAX);
    let sent = if (200..=999).contains(&code) {
        code
    } else {
        warnings.push(ConfigWarning::new(
            &at.field("rejected_code"),
            format!("{code} is not an HTTP status a client can read: rejections are answered with 429"),
        ));
        429
    };
    obj.insert("rejected_code".to_string(), Value::from(sent));
    Ok(())
}

/// The window counts as gjson `Int()` reads them (config.go 220-224, 363-367).
fn windows(obj: &mut Map<String, Value>) {
    for key in HIGRESS_WINDOWS {
        coerce_int(obj, key);
    }
}

fn rule_item(item: &mut Map<String, Value>, at: &ConfigPath, warnings: &mut Vec<ConfigWarning>) {
    // config.go 240-286: a string field counts when its String() is not empty; the consumer
    // fields count whenever they exist (null included); the last one set wins.
    let set: Vec<LimitKind> = LIMIT_BY_ORDER
        .into_iter()
        .filter(|kind| match item.get(kind.as_str()) {
            None => false,
            Some(_) if matches!(kind, LimitKind::ByConsumer | LimitKind::PerConsumer) => true,
            Some(v) => !gjson::string(v).is_empty(),
        })
        .collect();
    let winner = set.last().copied();
    for kind in LIMIT_BY_ORDER {
        let key = kind.as_str();
        if Some(kind) == winner {
            if matches!(kind, LimitKind::ByConsumer | LimitKind::PerConsumer) {
                item.insert(key.to_string(), Value::String(String::new()));
            } else {
                coerce_string(item, key);
            }
        } else {
            item.remove(key);
        }
    }
    if let (Some(winner), true) = (winner, set.len() > 1) {
        let ignored: Vec<&str> = set[..set.len() - 1].iter().map(LimitKind::as_str).collect();
        warnings.push(ConfigWarning::new(
            &at.field(winner.as_str()),
            format!(
                "wins over {} in the same item (Higress reads them in this order; the last set wins)",
                ignored.join(", ")
            ),
        ));
    }
    coerce_array(item, "limit_keys");
    if let Some(Value::Array(keys)) = item.get_mut("limit_keys") {
        for key in keys.iter_mut().filter_map(Value::as_object_mut) {
            // config.go 312-318: key.String(), so `1.5` and `true` are keys too.
            coerce_string(key, "key");
            windows(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
