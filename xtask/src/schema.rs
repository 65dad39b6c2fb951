//! A small JSON-schema checker for plugin configs: the keywords `spec.yaml` `configSchema`s use
//! (type, properties, required, additionalProperties, items, enum, const, bounds, lengths, oneOf,
//! anyOf, allOf, not, local `$ref`, OpenAPI `nullable`). `pattern` and `format` are not checked.

use serde_json::Value;

/// The schema inside a `configSchema`, which Higress wraps as `openAPIV3Schema` (both forms accepted).
pub fn config_schema(spec_config_schema: &Value) -> &Value {
    spec_config_schema.get("openAPIV3Schema").unwrap_or(spec_config_schema)
}

/// Every way `value` breaks `schema`, each as `path: problem` (empty when it conforms).
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, value, "", &mut errors);
    errors
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(value: &Value, wanted: &str) -> bool {
    let actual = type_name(value);
    actual == wanted || (wanted == "number" && actual == "integer")
}

/// Resolves `#/a/b` against the root schema.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    root.pointer(reference.strip_prefix('#')?)
}

fn check(root: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let at = if path.is_empty() { "/" } else { path };
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{at}: not allowed here"));
        }
        return;
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        match resolve(root, reference) {
            Some(target) => check(root, target, value, path, errors),
            None => errors.push(format!("{at}: schema $ref {reference} does not resolve")),
        }
    }
    if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return;
    }
    if let Some(types) = schema.get("type") {
        let wanted: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !wanted.is_empty() && !wanted.iter().any(|t| has_type(value, t)) {
            errors.push(format!("{at}: expected {}, got {} {value}", wanted.join(" or "), type_name(value)));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.iter().any(|o| o == value)
    {
        errors.push(format!("{at}: {value} is not one of {}", Value::from(options.clone())));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        errors.push(format!("{at}: must be {constant}, got {value}"));
    }
    check_bounds(schema, value, at, errors);
    if let Value::Object(map) = value {
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(key) {
                    errors.push(format!("{at}: missing required `{key}`"));
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in map {
            let item_path = format!("{path}/{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => check(root, sub, item, &item_path, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{item_path}: unknown field `{key}`"));
                    }
                    Some(sub @ Value::Object(_)) => check(root, sub, item, &item_path, errors),
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(root, item_schema, item, &format!("{path}/{i}"), errors);
        }
    }
    let passes = |sub: &Value| {
        let mut sub_errors = Vec::new();
        check(root, sub, value, path, &mut sub_errors);
        sub_errors.is_empty()
    };
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check(root, sub, value, path, errors);
        }
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(passes)
    {
        errors.push(format!("{at}: matches none of anyOf"));
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = one.iter().filter(|s| passes(s)).count();
        if matching != 1 {
            errors.push(format!("{at}: matches {matching} of oneOf, needs exactly 1"));
        }
    }
    if let Some(not) = schema.get("not")
        && passes(not)
    {
        errors.push(format!("{at}: matches a `not` schema"));
    }
}

fn check_bounds(schema: &serde_json::Map<String, Value>, value: &Value, at: &str, errors: &mut Vec<String>) {
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    if let Some(n) = value.as_f64() {
        if let Some(min) = bound("minimum")
            && n < min
        {
            errors.push(format!("{at}: {n} is below the minimum {min}"));
        }
        if let Some(max) = bound("maximum")
            && n > max
        {
            errors.push(format!("{at}: {n} is above the maximum {max}"));
        }
        if let Some(min) = bound("exclusiveMinimum")
            && n <= min
        {
            errors.push(format!("{at}: {n} must be greater than {min}"));
        }
        if let Some(max) = bound("exclusiveMaximum")
            && n >= max
        {
            errors.push(format!("{at}: {n} must be less than {max}"));
        }
    }
    let len = match value {
        Value::String(s) => Some((s.chars().count() as f64, "minLength", "maxLength")),
        Value::Array(a) => Some((a.len() as f64, "minItems", "maxItems")),
        Value::Object(o) => Some((o.len() as f64, "minProperties", "maxProperties")),
        _ => None,
    };
    if let Some((len, min_key, max_key)) = len {
        if let Some(min) = bound(min_key)
            && len < min
        {
            errors.push(format!("{at}: {min_key} is {min}, got {len}"));
        }
        if let Some(max) = bound(max_key)
            && len > max
        {
            errors.push(format!("{at}: {max_key} is {max}, got {len}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["redis", "rules"],
            "additionalProperties": false,
            "properties": {
                "redis": {"$ref": "#/$defs/redis"},
                "rules": {"type": "array", "minItems": 1, "items": {
                    "type": "object",
                    "properties": {
                        "limit": {"type": "integer", "minimum": 1},
                        "window": {"type": "string", "enum": ["second", "minute"]}
                    },
                    "required": ["limit"]
                }},
                "mode": {"oneOf": [{"const": "fail-open"}, {"const": "fail-closed"}]},
                "note": {"type": "string", "nullable": true, "maxLength": 5}
            },
            "$defs": {"redis": {
                "type": "object",
                "required": ["service_name"],
                "properties": {"service_port": {"type": "integer", "maximum": 65535}}
            }}
        })
    }

    #[test]
    fn accepts_a_conforming_config() {
        let config = json!({
            "redis": {"service_name": "redis.static", "service_port": 80},
            "rules": [{"limit": 10, "window": "second"}],
            "mode": "fail-open",
            "note": null
        });
        assert_eq!(validate(&schema(), &config), Vec::<String>::new());
    }

    #[test]
    fn reports_each_violation_with_its_path() {
        let config = json!({
            "redis": {"service_port": 70000},
            "rules": [{"limit": 0, "window": "hour"}, {"limit": "ten"}],
            "mode": "maybe",
            "note": "too long",
            "extra": true
        });
        let errors = validate(&schema(), &config).join("\n");
        for expected in [
            "/redis: missing required `service_name`",
            "/redis/service_port: 70000 is above the maximum 65535",
            "/rules/0/limit: 0 is below the minimum 1",
            "/rules/0/window: \"hour\" is not one of",
            "/rules/1/limit: expected integer, got string",
            "/mode: matches 0 of oneOf",
            "/note: maxLength is 5, got 8",
            "/extra: unknown field `extra`",
        ] {
            assert!(errors.contains(expected), "missing {expected:?} in:\n{errors}");
        }
        let empty = validate(&schema(), &json!({"redis": {"service_name": "r"}, "rules": []}));
        assert_eq!(empty, vec!["/rules: minItems is 1, got 0".to_string()]);
    }

    #[test]
    fn unwraps_higress_open_api_v3_schema() {
        let wrapped = json!({"openAPIV3Schema": {"type": "object"}});
        assert_eq!(config_schema(&wrapped), &json!({"type": "object"}));
        assert_eq!(config_schema(&json!({"type": "object"})), &json!({"type": "object"}));
    }
}
