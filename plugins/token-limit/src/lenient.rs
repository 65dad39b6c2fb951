//! JSON as lenient servers accept it: a UTF-8 byte order mark before the document, and the
//! non-standard numbers `NaN`, `Infinity` and `-Infinity` (Python's `json` module writes and
//! reads them). serde_json refuses both, which used to skip the estimate and the
//! `include_usage` injection. They are read as `null` here, and a request body is edited by
//! inserting text, so everything else reaches the upstream byte for byte.

#[cfg(test)]
use serde_json::{Map, Value};

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The document without a leading byte order mark.
pub fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(BOM).unwrap_or(body)
}

/// Parses a JSON object, tolerating a BOM and `NaN` / `Infinity` / `-Infinity` (read as `null`):
/// the serde_json reading the request path replaced, kept for the tests that compare them.
#[cfg(test)]
pub fn parse_object(body: &[u8]) -> Option<Map<String, Value>> {
    match parse_value_by_substitution(strip_bom(body))? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A JSON document as serde_json reads it, or else with `NaN` / `Infinity` / `-Infinity`
/// outside strings replaced by `null` first.
#[cfg(test)]
fn parse_value_by_substitution(body: &[u8]) -> Option<Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(doc) => Some(doc),
        Err(_) => serde_json::from_slice::<Value>(&gateway_json::null_non_finite(body)?).ok(),
    }
}

/// `body` with `member` (`"key":value`) inserted as the first member of its top-level object,
/// everything else unchanged; `None` when the body does not start with an object.
pub fn insert_first_member(body: &[u8], member: &str) -> Option<Vec<u8>> {
    let bom = if body.starts_with(BOM) { BOM.len() } else { 0 };
    let open = bom + body[bom..].iter().position(|b| !b.is_ascii_whitespace())?;
    if body.get(open) != Some(&b'{') {
        return None;
    }
    let after = &body[open + 1..];
    let empty = after.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let mut out = Vec::with_capacity(body.len() + member.len() + 1);
    out.extend_from_slice(&body[..=open]);
    out.extend_from_slice(member.as_bytes());
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(after);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boms_and_non_finite_numbers_are_read() {
        let doc = parse_object(b"\xEF\xBB\xBF{\"a\":1}").unwrap();
        assert_eq!(doc["a"], 1);
        let doc = parse_object(br#"{"t":NaN,"p":[Infinity,-Infinity],"s":"NaN Infinity","e":"\"NaN"}"#).unwrap();
        assert_eq!(doc["t"], Value::Null);
        assert_eq!(doc["p"], serde_json::json!([null, null]));
        assert_eq!(doc["s"], "NaN Infinity", "strings are left alone");
        assert_eq!(doc["e"], "\"NaN");
        assert!(parse_object(b"{\"a\":").is_none());
        assert!(parse_object(b"[NaN]").is_none(), "not an object");
        assert!(parse_object(b"{\"a\":nan}").is_none());
    }

    #[test]
    fn a_member_is_inserted_first_and_the_rest_is_kept_byte_for_byte() {
        let body = b"\xEF\xBB\xBF  {\"t\":NaN, \"stream\":true}";
        let out = insert_first_member(body, r#""k":1"#).unwrap();
        assert_eq!(out, b"\xEF\xBB\xBF  {\"k\":1,\"t\":NaN, \"stream\":true}");
        assert_eq!(insert_first_member(b"{ }", r#""k":1"#).unwrap(), b"{\"k\":1 }");
        assert!(insert_first_member(b"[1]", r#""k":1"#).is_none());
        assert!(insert_first_member(b"   ", r#""k":1"#).is_none());
    }
}
