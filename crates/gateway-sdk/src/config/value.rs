//! The configuration document as a small tree: what the SDK parses a plugin's JSON into, what a
//! plugin's [`Prepare`](super::Prepare) rewrites (Higress's loose values made typed), what rules
//! are laid over and what [`FromConfig`](super::FromConfig) types are read from.
//!
//! Its API is the subset of `serde_json::Value` configuration code needs, under the same names.
//! Numbers keep the text they were written with (`10`, `1.50`, `2e3`), so nothing is lost or
//! reformatted before a type reads them; objects keep their members in document order (a
//! repeated key keeps its first position and its last value, as `serde_json::from_str` keeps the
//! last value). The parser is gateway-json's validator, which accepts exactly what
//! `serde_json::from_slice` accepts.

use std::fmt;

use gateway_json::{JsonView, Kind, Leniency};

/// A JSON value of the configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as written.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Map),
}

/// A JSON number as written in the document (validated JSON number syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(String);

impl Number {
    /// The number's text (`10`, `-1.5e3`).
    pub fn as_text(&self) -> &str {
        &self.0
    }

    /// A non-negative integer written without fraction or exponent that fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        let t = self.0.as_bytes();
        if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.0.parse().ok()
    }

    /// An integer written without fraction or exponent that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        let digits = self.0.strip_prefix('-').unwrap_or(&self.0);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.0.parse().ok()
    }

    /// Whether the number is written as an integer (an optional `-` and digits).
    pub fn is_integer(&self) -> bool {
        let digits = self.0.strip_prefix('-').unwrap_or(&self.0);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    }

    /// The number as an `f64` (the nearest one; JSON numbers never overflow it here).
    pub fn as_f64(&self) -> Option<f64> {
        self.0.parse().ok()
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Self {
        Number(n.to_string())
    }
}

impl From<u64> for Number {
    fn from(n: u64) -> Self {
        Number(n.to_string())
    }
}

/// An object's members in document order, keys unique.
#[derive(Debug, Clone, Default)]
pub struct Map {
    entries: Vec<(String, Value)>,
}

impl PartialEq for Map {
    /// Equal when they have the same keys with equal values, in any order (as
    /// `serde_json::Map` compares).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.entries.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Map {
    /// An empty object.
    pub fn new() -> Self {
        Map::default()
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value under `key`, to change it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether `key` is present (with any value, `null` included).
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// Sets `key` to `value` (in place when it is present, else at the end); returns the old value.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// Keeps only the members `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Value) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// The members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.iter().map(|(k, _)| k)
    }
}

impl Extend<(String, Value)> for Map {
    /// Lays `members` over this object: each replaces the value of its key or is added.
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, members: I) {
        for (k, v) in members {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(String, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(members: I) -> Self {
        let mut map = Map::new();
        map.extend(members);
        map
    }
}

impl Value {
    /// Parses a JSON document (whitespace around it allowed); `None` when it is not JSON.
    pub fn parse(text: &[u8]) -> Option<Value> {
        JsonView::parse(text, Leniency::Strict).map(|view| Value::from_view(&view))
    }

    fn from_view(view: &JsonView<'_>) -> Value {
        match view.kind() {
            Kind::Null => Value::Null,
            Kind::Bool => Value::Bool(view.as_bool() == Some(true)),
            // A validated number is ASCII.
            Kind::Number => Value::Number(Number(String::from_utf8_lossy(view.raw()).into_owned())),
            Kind::String => Value::String(view.as_str().unwrap_or_default().into_owned()),
            Kind::Array => Value::Array(view.items().map(|item| Value::from_view(&item)).collect()),
            Kind::Object => {
                Value::Object(view.members().map(|(k, v)| (k.decoded().into_owned(), Value::from_view(&v))).collect())
            }
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// An integer number that fits an `i64` ([`Number::as_i64`]).
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// A non-negative integer number that fits a `u64` ([`Number::as_u64`]).
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    /// Any number as an `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().and_then(Number::as_f64)
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The object, to change it.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The array, if this is one.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The array, to change it.
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether this is a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    /// Whether this is an array.
    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }

    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// The member `key` of an object (`None` for anything else).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(key))
    }

    /// The member `key` of an object, to change it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.as_object_mut().and_then(|m| m.get_mut(key))
    }

    /// The value, leaving `null` in its place.
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(n.into())
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Number(n.into())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Array(items)
    }
}

macro_rules! eq_integer {
    ($($t:ty),*) => {$(
        /// A number written as this integer (as serde_json compares).
        impl PartialEq<$t> for Value {
            fn eq(&self, other: &$t) -> bool {
                self.as_i64().is_some_and(|n| i128::from(n) == i128::from(*other))
                    || self.as_u64().is_some_and(|n| i128::from(n) == i128::from(*other))
            }
        }
    )*};
}

eq_integer!(i32, i64, u16, u32, u64);

/// A string with this text.
impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

/// A string with this text.
impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

/// This boolean.
impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

static NULL: Value = Value::Null;

/// `value["key"]`: the member, or `null` when it is absent or this is not an object (as
/// serde_json indexes).
impl std::ops::Index<&str> for Value {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

/// `value[i]`: the item, or `null` when it is absent or this is not an array.
impl std::ops::Index<usize> for Value {
    type Output = Value;

    fn index(&self, i: usize) -> &Value {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
    }
}

/// Compact JSON text, members in order, numbers as written, strings escaped as serde_json
/// escapes them.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_json(self, &mut out);
        f.write_str(&out)
    }
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&n.0),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
    }
}

/// `s` as a JSON string literal (quotes and escapes as serde_json writes them).
pub(crate) fn write_string(s: &str, out: &mut String) {
    gateway_json::push_json_string(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_parse_as_serde_json_reads_them() {
        for text in [
            r#"{"a": [1, -2.5e3, "x\u00e9\n", true, null, {"b": {}}], "c": "\"q\""}"#,
            "[]",
            "\"\\u0001\"",
            r#"{"k": 1, "k": 2}"#,
            "0",
        ] {
            let ours = Value::parse(text.as_bytes()).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(text).unwrap();
            let back: serde_json::Value = serde_json::from_str(&ours.to_string()).unwrap();
            assert_eq!(back, theirs, "{text}");
        }
        for bad in ["{", "[1,]", "01", "{\"a\" 1}", "", "nul"] {
            assert!(Value::parse(bad.as_bytes()).is_none(), "{bad}");
            assert!(serde_json::from_str::<serde_json::Value>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let v = Value::parse(br#"{"k": 1, "j": 0, "k": 2}"#).unwrap();
        assert_eq!(v.get("k").and_then(Value::as_u64), Some(2));
        assert_eq!(v.to_string(), r#"{"k":2,"j":0}"#);
    }

    #[test]
    fn numbers_keep_their_text_and_read_like_serde_json() {
        let n = |t: &str| Number(t.to_string());
        assert_eq!(n("10").as_u64(), Some(10));
        assert_eq!(n("10.0").as_u64(), None);
        assert_eq!(n("1e2").as_u64(), None);
        assert_eq!(n("-3").as_i64(), Some(-3));
        assert_eq!(n("-3").as_u64(), None);
        assert_eq!(n("18446744073709551616").as_u64(), None);
        assert_eq!(n("1.5e1").as_f64(), Some(15.0));
        assert_eq!(n("1.50").as_text(), "1.50");
    }

    #[test]
    fn objects_compare_regardless_of_order() {
        let a = Value::parse(br#"{"a": 1, "b": [true]}"#).unwrap();
        let b = Value::parse(br#"{"b": [true], "a": 1}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, Value::parse(br#"{"a": 1}"#).unwrap());
    }
}
