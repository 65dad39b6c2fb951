//! Writing JSON text as serde_json writes it, without serde_json in the module: strings
//! escaped as it escapes them, and a document read in place written anew as serde_json's tree
//! of it would be (compact, members sorted by key, a repeated key once with its last value,
//! numbers in its form).

use gateway_json::{JsonKey, JsonView, Kind};
pub use gateway_json::{push_json_escaped as push_escaped, push_json_string as push_string};

use crate::shortest::push_f64;

/// Appends `v` as serde_json writes its tree of it (`serde_json::to_string` of the `Value`).
pub fn push_canonical(out: &mut String, v: JsonView<'_>) {
    match v.kind() {
        Kind::Null => out.push_str("null"),
        Kind::Bool => out.push_str(if v.as_bool() == Some(true) { "true" } else { "false" }),
        Kind::Number => push_number(out, v),
        Kind::String => push_string(out, &v.as_str().unwrap_or_default()),
        Kind::Array => {
            out.push('[');
            for (i, item) in v.items().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_canonical(out, item);
            }
            out.push(']');
        }
        Kind::Object => {
            out.push('{');
            for (i, (key, value)) in sorted_members(v).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_string(out, &key.decoded());
                out.push(':');
                push_canonical(out, value);
            }
            out.push('}');
        }
    }
}

/// An object's members sorted by key, a repeated key once with its last value (serde_json's
/// map): [`JsonView::sorted_members`], shared with gateway-jsonpath so one sort is compiled.
pub fn sorted_members<'a>(obj: JsonView<'a>) -> Vec<(JsonKey<'a>, JsonView<'a>)> {
    obj.sorted_members()
}

/// A number as serde_json reads and writes it: an integer that fits a `u64` or (negative) an
/// `i64` as written, anything else as the double it reads as.
fn push_number(out: &mut String, v: JsonView<'_>) {
    let text = v.raw();
    let integer = !text.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
    let digits = text.strip_prefix(b"-");
    let fits = match digits {
        // `-0` is a double (`-0.0`); down to -2^63.
        Some(d) => d != b"0" && (d.len() < 19 || (d.len() == 19 && d <= &b"9223372036854775808"[..])),
        None => v.as_u64().is_some(),
    };
    if integer && fits {
        out.extend(text.iter().map(|&b| char::from(b)));
    } else {
        push_f64(out, v.as_f64().unwrap_or(0.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_json::Leniency;
    use serde_json::Value;

    fn canonical(text: &str) -> String {
        let mut out = String::new();
        push_canonical(&mut out, JsonView::parse(text.as_bytes(), Leniency::Strict).unwrap());
        out
    }

    #[test]
    fn documents_are_written_as_serde_json_writes_its_tree_of_them() {
        let cases = [
            r#"{"b":1,"a":[1, 2.0, -0, 1e2, 18446744073709551615, 18446744073709551616, -9223372036854775808, -9223372036854775809]}"#,
            r#"{"k":"x\u0001\u001f\b\f\n\r\t\"\\\/é😀\u00e9\ud83d\ude00", "k":null, "\u006b": true, "j": {"z":{}, "y":[]}}"#,
            r#"[0.1, 1.5e300, 1e-7, 0.00001, 123456789012345678, -1.25, 5e-324, 1E+2, 0.3e-0]"#,
            r#"  "  a string "  "#,
            "false",
            r#"{"a":1,"b":2,"a":3,"c":{"b":1,"a":2,"b":3}}"#,
        ];
        for text in cases {
            let theirs = serde_json::to_string(&serde_json::from_str::<Value>(text).unwrap()).unwrap();
            assert_eq!(canonical(text), theirs, "{text}");
        }
        let all: String = (0u8..0x80).map(char::from).chain(['é', '\u{2028}', '😀']).collect();
        let mut ours = String::new();
        push_string(&mut ours, &all);
        assert_eq!(ours, serde_json::to_string(&all).unwrap());
    }
}
