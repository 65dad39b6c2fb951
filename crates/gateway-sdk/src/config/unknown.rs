//! Unknown keys, Higress style: a Go plugin reads only the fields it knows, so a misspelt or
//! newer key is silently ignored there. We accept it too, but say so: a warning names the
//! field path and the closest known field (`rule_itmes` → `rule_items`). The known fields are
//! the ones a [`FromConfig`](super::FromConfig) type lists ([`ConfigNode::fields`](super::ConfigNode::fields)).

/// The warning for an unknown key `field` where `known` are the keys read.
pub(crate) fn unknown_field_message(field: &str, known: &[&str]) -> String {
    let base = format!("unknown key `{field}` is ignored (as Higress does)");
    match closest(field, known) {
        Some(best) => format!("{base}; did you mean `{best}`?"),
        None if known.is_empty() => base,
        None => format!("{base}; known keys here: {}", known.join(", ")),
    }
}

/// The known field nearest to `field` by edit distance, when it is plausibly a misspelling.
pub fn closest<'a>(field: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = field.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (edit_distance(&lower, k), k))
        .filter(|(d, k)| *d <= (k.len().max(field.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| *k)
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
    use crate::config::read::ReadContext;
    use crate::config::{ConfigPath, UnknownKeys, Value};

    crate::config_struct! {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Outer {
            rule_items: Vec<Inner>,
            rejected_code: u32 = 0,
        }
    }

    crate::config_struct! {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Inner {
            limit_keys: Vec<u32>,
        }
    }

    fn lenient<T: crate::config::FromConfig>(
        value: Value,
        at: &ConfigPath,
        warnings: &mut Vec<crate::config::ConfigWarning>,
    ) -> Result<T, crate::config::ConfigError> {
        let cx = ReadContext::new(UnknownKeys::Warn);
        let read = cx.read(&value, at);
        warnings.extend(cx.into_warnings());
        read
    }

    #[test]
    fn unknown_keys_are_dropped_with_a_warning_naming_the_path_and_the_closest_field() {
        let value =
            crate::config_json!({"rule_items": [{"limit_keys": [1], "limit_kyes": 2}], "rejectedcode": 3, "zzz": 1});
        let mut warnings = Vec::new();
        let at = ConfigPath::root("p").field("_rules_").index(0);
        let v: Outer = lenient(value, &at, &mut warnings).unwrap();
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
        let value = crate::config_json!({"rule_items": [{"limit_keys": ["x"]}], "extra": 1});
        let mut warnings = Vec::new();
        let err = lenient::<Outer>(value, &ConfigPath::root("p"), &mut warnings).unwrap_err();
        assert_eq!(err.path, "rule_items[0].limit_keys[0]");
    }

    #[test]
    fn closest_needs_a_plausible_misspelling() {
        let known = vec!["rule_items", "rule_name"];
        assert_eq!(closest("rule_itmes", &known), Some("rule_items"));
        assert_eq!(closest("Rule-Name", &known), Some("rule_name"));
        assert_eq!(closest("timeout", &known), None);
    }
}
