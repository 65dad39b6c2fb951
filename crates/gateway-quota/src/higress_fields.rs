//! The fields Higress's two Redis limiters read alike, read the way they read them:
//! `cluster-key-rate-limit` and `ai-token-ratelimit` (alibaba/higress 4e0d691,
//! `plugins/wasm-go/extensions/<plugin>/config/config.go`) share `rule_name`, `rejected_code`,
//! `rejected_msg`, `global_threshold` / `rule_items` (with the same nine `limit_by_*` fields,
//! read in the same order) and the `redis` block, and differ only in the names of their window
//! fields (`query_per_*` or `token_per_*`). [`prepare_limiter`] rewrites those fields of one
//! configuration object into the form our config types read (gjson's loose values, see [`gateway_sdk::config::gjson`]),
//! refusing only what Higress refuses, and warning where Higress accepts something that is
//! probably a mistake. Line numbers below are ai-token-ratelimit's config.go; the same checks
//! sit a few lines earlier in cluster-key-rate-limit's.

use gateway_sdk::config::{Map, Value};

use crate::LimitKind;
use gateway_sdk::config::gjson::{self, coerce_array, coerce_int, coerce_string};
use gateway_sdk::config::{ConfigError, ConfigPath, ConfigWarning};

/// The `limit_by_*` fields in the order config.go 258-298 reads them: when several are set,
/// the last one wins.
pub const LIMIT_BY_ORDER: [LimitKind; 9] = [
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

/// Rewrites the shared fields of one configuration object (the global one or a rule) at `at`.
/// `windows` names the plugin's Higress window fields (`token_per_second`, ...), read as
/// gjson `Int()`. Errors only where Higress refuses too.
pub fn prepare_limiter(
    obj: &mut Map,
    at: &ConfigPath,
    windows: &[&str],
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    // config.go 149-153: rule_name must exist; String() of any value, empty included.
    coerce_string(obj, "rule_name");
    if obj.get("rule_name").and_then(Value::as_str) == Some("") {
        warnings.push(ConfigWarning::new(
            &at.field("rule_name"),
            "is empty: the Redis counters are named by it, so every configuration with an empty rule_name shares them",
        ));
    }
    // config.go 167-172: String() when present (`null` is an empty body).
    coerce_string(obj, "rejected_msg");
    rejected_code(obj, at, warnings)?;
    // config.go 180-186: both present (even as null) is refused.
    if obj.contains_key("global_threshold") && obj.contains_key("rule_items") {
        return Err(at.field("rule_items").error("set either global_threshold or rule_items, not both"));
    }
    if let Some(Value::Object(g)) = obj.get_mut("global_threshold") {
        coerce_windows(g, windows);
    }
    coerce_array(obj, "rule_items");
    if let Some(Value::Array(items)) = obj.get_mut("rule_items") {
        let mut seen: Vec<(LimitKind, String, usize)> = Vec::new();
        for (i, item) in items.iter_mut().enumerate() {
            let Value::Object(item) = item else { continue };
            let here = at.field("rule_items").index(i);
            let Some((kind, name)) = rule_item(item, &here, windows, warnings) else { continue };
            // config.go 214-222: a repeated limit type and name is logged, not refused.
            if let Some((_, _, first)) = seen.iter().find(|(k, n, _)| *k == kind && *n == name) {
                warnings.push(ConfigWarning::new(
                    &here.field(kind.as_str()),
                    format!(
                        "repeats rule_items[{first}] (Higress warns too): a request is limited by the first of them \
                         whose limit_keys match its value"
                    ),
                ));
            } else {
                seen.push((kind, name, i));
            }
        }
    }
    if let Some(Value::Object(redis)) = obj.get_mut("redis") {
        gjson::redis_block(redis, &at.field("redis"), warnings);
    }
    Ok(())
}

/// config.go 161-166: `uint32(rejected_code.Uint())`. Envoy answers with any code; ours must be
/// an HTTP status a client can read (200-999), else 429 is sent and a warning says so.
fn rejected_code(obj: &mut Map, at: &ConfigPath, warnings: &mut Vec<ConfigWarning>) -> Result<(), ConfigError> {
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

/// The window counts as gjson `Int()` reads them (config.go 230-245, 373-392).
fn coerce_windows(obj: &mut Map, windows: &[&str]) {
    for key in windows {
        coerce_int(obj, key);
    }
}

/// One `rule_items` entry; returns its winning limit type and name (the consumer types'
/// name is empty) for the duplicate check.
fn rule_item(
    item: &mut Map,
    at: &ConfigPath,
    windows: &[&str],
    warnings: &mut Vec<ConfigWarning>,
) -> Option<(LimitKind, String)> {
    // config.go 252-298: a string field counts when its String() is not empty; the consumer
    // fields count whenever they exist (null included); the last one set wins.
    let is_consumer = |kind: &LimitKind| matches!(kind, LimitKind::ByConsumer | LimitKind::PerConsumer);
    let set: Vec<LimitKind> = LIMIT_BY_ORDER
        .into_iter()
        .filter(|kind| match item.get(kind.as_str()) {
            None => false,
            Some(_) if is_consumer(kind) => true,
            Some(v) => !gjson::string(v).is_empty(),
        })
        .collect();
    let winner = set.last().copied();
    for kind in LIMIT_BY_ORDER {
        let key = kind.as_str();
        if Some(kind) == winner {
            if is_consumer(&kind) {
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
            // config.go 324-330: key.String(), so `1.5` and `true` are keys too.
            coerce_string(key, "key");
            coerce_windows(key, windows);
        }
    }
    let winner = winner?;
    let name = item.get(winner.as_str()).and_then(Value::as_str).unwrap_or_default().to_string();
    Some((winner, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_sdk::config_json as json;

    const WINDOWS: [&str; 2] = ["token_per_second", "token_per_minute"];

    fn prepared(mut v: Value) -> Result<(Value, Vec<String>), ConfigError> {
        let mut warnings = Vec::new();
        let obj = v.as_object_mut().unwrap();
        prepare_limiter(obj, &ConfigPath::root("p"), &WINDOWS, &mut warnings)?;
        Ok((v, warnings.iter().map(ToString::to_string).collect()))
    }

    #[test]
    fn loose_values_become_typed_ones() {
        let (v, w) = prepared(json!({"rule_name": 7, "rejected_code": "403", "rejected_msg": null,
            "global_threshold": {"token_per_minute": "10"}}))
        .unwrap();
        assert_eq!(
            v,
            json!({"rule_name": "7", "rejected_code": 403, "rejected_msg": "",
            "global_threshold": {"token_per_minute": 10}})
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn the_last_limit_by_field_in_go_order_wins() {
        let (v, w) = prepared(json!({"rule_items": [{"limit_by_per_ip": "from-remote-addr", "limit_by_header": "h",
            "limit_by_param": "", "limit_by_consumer": null, "limit_keys": {"key": 1.5, "token_per_second": true}}]}))
        .unwrap();
        assert_eq!(
            v["rule_items"][0],
            json!({"limit_by_per_ip": "from-remote-addr", "limit_keys": [{"key": "1.5", "token_per_second": 1}]})
        );
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("rule_items[0].limit_by_per_ip: wins over limit_by_header, limit_by_consumer"), "{w:?}");
    }

    #[test]
    fn empty_rule_names_repeated_items_and_odd_codes_are_warned_about() {
        let (v, w) = prepared(json!({"rule_name": "", "rejected_code": 4_294_967_296u64 + 1, "rule_items": [
            {"limit_by_consumer": "", "limit_keys": [{"key": "a", "token_per_second": 1}]},
            {"limit_by_header": "x", "limit_keys": [{"key": "a", "token_per_second": 1}]},
            {"limit_by_consumer": null, "limit_keys": [{"key": "b", "token_per_second": 1}]}]}))
        .unwrap();
        assert_eq!(v["rejected_code"], 429);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("rule_name: is empty"), "{w:?}");
        assert!(w[1].contains("rejected_code: 1 is not an HTTP status"), "{w:?}");
        assert!(w[2].contains("rule_items[2].limit_by_consumer: repeats rule_items[0]"), "{w:?}");
    }

    #[test]
    fn global_threshold_next_to_rule_items_is_refused_even_as_null() {
        let err = prepared(json!({"global_threshold": null, "rule_items": []})).unwrap_err();
        assert_eq!(err.path, "rule_items");
        assert!(prepared(json!({"rejected_code": -1})).unwrap_err().to_string().contains("negative"));
    }
}
