//! Unknown keys, Higress style: a Go plugin reads only the fields it knows, so a misspelt or
//! newer key is silently ignored there. We accept it too, but say so: a warning names the
//! field path and the closest known field (`rule_itmes` → `rule_items`).
//!
//! This works with the plugin's serde types as they are, `#[serde(deny_unknown_fields)]`
//! included (which is what gives us the list of known fields): deserialization is retried with
//! each reported unknown key removed from the document, until it succeeds or fails for
//! another reason.

use serde_json::Value;

use super::value_de::{Segment, from_value};
use super::{ConfigError, ConfigPath, ConfigWarning};

/// Retries are bounded by the document's size; this caps pathological inputs.
const MAX_UNKNOWN_KEYS: usize = 256;

/// Deserializes `value` into `T`, dropping each unknown key serde reports (with a warning
/// naming its path and the closest known field) and failing on any other error.
pub fn deserialize_lenient<T: serde::de::DeserializeOwned>(
    mut value: Value,
    at: &ConfigPath,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<T, ConfigError> {
    for _ in 0..MAX_UNKNOWN_KEYS {
        let err = match from_value::<T>(&value) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let segments = err.path.unwrap_or_default();
        let Some((field, expected)) = parse_unknown_field(&err.message) else {
            return Err(at.along(&segments).error(err.message));
        };
        // The path may or may not end with the unknown key itself.
        let parent: &[Segment] = match segments.last() {
            Some(Segment::Key(k)) if *k == field => &segments[..segments.len() - 1],
            _ => &segments,
        };
        let removed = object_at(&mut value, parent).and_then(|obj| obj.remove(&field)).is_some();
        let here = at.along(parent).field(&field);
        if !removed {
            return Err(here.error(err.message));
        }
        warnings.push(ConfigWarning::new(&here, unknown_field_message(&field, &expected)));
    }
    Err(at.error("too many unknown keys"))
}

fn object_at<'a>(value: &'a mut Value, path: &[Segment]) -> Option<&'a mut serde_json::Map<String, Value>> {
    let mut cur = value;
    for s in path {
        cur = match s {
            Segment::Key(k) => cur.get_mut(k.as_str())?,
            Segment::Index(i) => cur.get_mut(*i)?,
        };
    }
    cur.as_object_mut()
}

/// Reads serde's ``unknown field `x`, expected one of `a`, `b` `` (or ``expected `a` ``, or
/// `there are no fields`) into the field and the known ones.
fn parse_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest.split('`').enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, name)| name.to_string()).collect();
    Some((field.to_string(), expected))
}

fn unknown_field_message(field: &str, known: &[String]) -> String {
    let base = format!("unknown key `{field}` is ignored (as Higress does)");
    match closest(field, known) {
        Some(best) => format!("{base}; did you mean `{best}`?"),
        None if known.is_empty() => base,
        None => format!("{base}; known keys here: {}", known.join(", ")),
    }
}

/// The known field nearest to `field` by edit distance, when it is plausibly a misspelling.
pub fn closest<'a>(field: &str, known: &'a [String]) -> Option<&'a str> {
    let lower = field.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (edit_distance(&lower, k), k))
        .filter(|(d, k)| *d <= (k.len().max(field.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = Vec::with_capacity(b.len() + 1);
        row.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            let del = prev[j + 1] + 1;
            let ins = row[j] + 1;
            row.push(sub.min(del).min(ins));
        }
        prev = row;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        rule_items: Vec<Inner>,
        #[serde(default)]
        rejected_code: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        limit_keys: Vec<u32>,
    }

    #[test]
    fn unknown_keys_are_dropped_with_a_warning_naming_the_path_and_the_closest_field() {
        let value =
            serde_json::json!({"rule_items": [{"limit_keys": [1], "limit_kyes": 2}], "rejectedcode": 3, "zzz": 1});
        let mut warnings = Vec::new();
        let at = ConfigPath::root("p").field("_rules_").index(0);
        let v: Outer = deserialize_lenient(value, &at, &mut warnings).unwrap();
        assert_eq!(v.rule_items.len(), 1);
        let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text.iter().any(|w| w.contains("_rules_[0].rule_items[0].limit_kyes") && w.contains("`limit_keys`")));
        assert!(
            text.iter().any(|w| w.contains("_rules_[0].rejectedcode") && w.contains("did you mean `rejected_code`"))
        );
        assert!(text.iter().any(|w| w.contains("_rules_[0].zzz") && w.contains("known keys here: rule_items")));
    }

    #[test]
    fn other_errors_still_fail_with_their_path() {
        let value = serde_json::json!({"rule_items": [{"limit_keys": ["x"]}], "extra": 1});
        let mut warnings = Vec::new();
        let err = deserialize_lenient::<Outer>(value, &ConfigPath::root("p"), &mut warnings).unwrap_err();
        assert_eq!(err.path, "rule_items[0].limit_keys[0]");
    }

    #[test]
    fn closest_needs_a_plausible_misspelling() {
        let known = vec!["rule_items".to_string(), "rule_name".to_string()];
        assert_eq!(closest("rule_itmes", &known), Some("rule_items"));
        assert_eq!(closest("Rule-Name", &known), Some("rule_name"));
        assert_eq!(closest("timeout", &known), None);
    }
}
