//! What Higress hands a plugin for a `WasmPlugin` resource: `spec.defaultConfig` plus one
//! `_rules_` entry per `spec.matchRules` item. Used by tests and by `xtask` to check README
//! examples in the form a plugin really receives them.

/// The plugin configuration Higress hands a plugin for a `WasmPlugin` resource: its
/// `spec.defaultConfig` plus one `_rules_` entry per `spec.matchRules` item, as the Higress
/// controller builds it. A rule's `config` keys become the rule object's own keys, its
/// `ingress` list becomes `_match_route_`, `domain` becomes `_match_domain_` and `service`
/// becomes `_match_service_` (lists that are absent or empty are left out; `configDisable` and
/// other keys of a match rule are ignored). How a rule relates to the global configuration is
/// the plugin's [`ConfigStyle`](crate::config::ConfigStyle) (on its own, as in Higress).
///
/// `resource` is a whole `WasmPlugin` (`kind: WasmPlugin`, with a `spec`) or its `spec` alone
/// (an object with `defaultConfig` and/or `matchRules`), as parsed from YAML or JSON. A missing
/// `defaultConfig` gives `{}`; no match rules give no `_rules_` key.
///
/// ```
/// let wasm_plugin = serde_json::json!({
///     "kind": "WasmPlugin",
///     "spec": {
///         "defaultConfig": {"limit": 10},
///         "matchRules": [{"ingress": ["default/api"], "config": {"limit": 100}}]
///     }
/// });
/// let config = gateway_sdk::config::wasm_plugin::higress_config_from_wasmplugin(&wasm_plugin).unwrap();
/// assert_eq!(
///     config,
///     serde_json::json!({"limit": 10, "_rules_": [{"limit": 100, "_match_route_": ["default/api"]}]})
/// );
/// ```
///
/// # Errors
///
/// A description of the first part that does not have the shape of a `WasmPlugin` spec
/// (`defaultConfig` or a rule's `config` not an object, `matchRules` or a match list not an
/// array, a resource of another `kind`).
pub fn higress_config_from_wasmplugin(resource: &serde_json::Value) -> Result<serde_json::Value, String> {
    use serde_json::{Map, Value};

    let spec = match resource.get("kind") {
        Some(kind) if kind == "WasmPlugin" => resource.get("spec").ok_or("a WasmPlugin without a `spec`")?,
        Some(kind) => return Err(format!("not a WasmPlugin but a {kind}")),
        None => resource,
    };
    let Value::Object(spec) = spec else {
        return Err("the WasmPlugin `spec` must be an object".to_string());
    };
    let mut config = match spec.get("defaultConfig") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(c)) => c.clone(),
        Some(_) => return Err("`defaultConfig` must be an object".to_string()),
    };
    let match_rules = match spec.get("matchRules") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err("`matchRules` must be an array".to_string()),
    };
    let mut rules = Vec::with_capacity(match_rules.len());
    for (i, item) in match_rules.iter().enumerate() {
        let Value::Object(item) = item else {
            return Err(format!("matchRules[{i}] must be an object"));
        };
        let mut rule = match item.get("config") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(c)) => c.clone(),
            Some(_) => return Err(format!("matchRules[{i}].config must be an object")),
        };
        for (list, key) in [("ingress", "_match_route_"), ("domain", "_match_domain_"), ("service", "_match_service_")]
        {
            match item.get(list) {
                None | Some(Value::Null) => {}
                Some(Value::Array(names)) if names.is_empty() => {}
                Some(Value::Array(names)) => {
                    rule.insert(key.to_string(), Value::Array(names.clone()));
                }
                Some(_) => return Err(format!("matchRules[{i}].{list} must be an array")),
            }
        }
        rules.push(Value::Object(rule));
    }
    if !rules.is_empty() {
        config.insert("_rules_".to_string(), Value::Array(rules));
    }
    Ok(Value::Object(config))
}

#[cfg(test)]
mod tests {
    use super::higress_config_from_wasmplugin;
    use serde_json::json;

    #[test]
    fn a_wasm_plugin_becomes_the_global_config_with_one_rule_per_match_rule() {
        let resource = json!({
            "apiVersion": "extensions.higress.io/v1alpha1",
            "kind": "WasmPlugin",
            "metadata": {"name": "p"},
            "spec": {
                "url": "oci://x/p:1",
                "defaultConfig": {"a": 1, "redis": {"service_name": "redis.static"}},
                "matchRules": [
                    {"ingress": ["default/api", "default/web"], "config": {"a": 2}},
                    {"domain": ["*.example.com"], "service": ["backend.static"], "config": {"b": {"c": 3}}},
                    {"service": [], "domain": ["x.example.com"], "configDisable": false}
                ]
            }
        });
        let expected = json!({
            "a": 1,
            "redis": {"service_name": "redis.static"},
            "_rules_": [
                {"a": 2, "_match_route_": ["default/api", "default/web"]},
                {"b": {"c": 3}, "_match_domain_": ["*.example.com"], "_match_service_": ["backend.static"]},
                {"_match_domain_": ["x.example.com"]}
            ]
        });
        assert_eq!(higress_config_from_wasmplugin(&resource), Ok(expected.clone()));
        // The `spec` alone gives the same.
        assert_eq!(higress_config_from_wasmplugin(&resource["spec"]), Ok(expected));
    }

    #[test]
    fn without_match_rules_there_is_no_rules_key() {
        let spec = json!({"defaultConfig": {"a": 1}, "matchRules": []});
        assert_eq!(higress_config_from_wasmplugin(&spec), Ok(json!({"a": 1})));
        assert_eq!(higress_config_from_wasmplugin(&json!({"kind": "WasmPlugin", "spec": {}})), Ok(json!({})));
    }

    #[test]
    fn shapes_that_are_not_a_wasm_plugin_are_errors() {
        let err = |v: serde_json::Value| higress_config_from_wasmplugin(&v).err().unwrap_or_default();
        assert!(err(json!({"kind": "McpBridge", "spec": {}})).contains("not a WasmPlugin"));
        assert!(err(json!({"kind": "WasmPlugin"})).contains("without a `spec`"));
        assert!(err(json!({"defaultConfig": [1]})).contains("`defaultConfig` must be an object"));
        assert!(err(json!({"matchRules": {}})).contains("`matchRules` must be an array"));
        assert!(err(json!({"matchRules": [{"ingress": "a"}]})).contains("matchRules[0].ingress must be an array"));
        assert!(err(json!({"matchRules": [{"config": 1}]})).contains("matchRules[0].config must be an object"));
    }
}
