//! Reads a plugin's serde types out of a JSON value tree and says where a failure happened
//! (`rule_items[0].limit_keys[2]`): one deserializer that carries the path as it descends, so
//! no per-type tracking wrapper is compiled into the module.
//!
//! It reads a `serde_json::Value` exactly as `serde_json::from_value` does (the same visitor
//! calls for every kind of value, the same error texts, `null` shown as `null`), plus the path.

use std::fmt;

use serde::de::{self, DeserializeSeed, Expected, IntoDeserializer, Unexpected, Visitor};
use serde_json::{Map, Value};

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// A member of an object.
    Key(String),
    /// An element of an array.
    Index(usize),
}

/// A deserialization failure and where it happened.
#[derive(Debug)]
pub(crate) struct PathError {
    /// What went wrong, in serde_json's words.
    pub(crate) message: String,
    /// From the document's root to the value that failed; `None` until the failing value is
    /// known (set by the innermost value that sees the error go by).
    pub(crate) path: Option<Vec<Segment>>,
}

impl PathError {
    fn located(mut self, path: &Path<'_>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.segments());
        }
        self
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PathError {}

/// serde_json's names for unexpected values (`null` rather than serde's `unit value`). Written
/// out here rather than delegated to serde's `Display`, which would link f64's `Display`
/// (14 KB of wasm) for the `Float` case.
struct JsonUnexpected<'a>(Unexpected<'a>);

impl fmt::Display for JsonUnexpected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Unexpected::Unit => f.write_str("null"),
            Unexpected::Bool(b) => write!(f, "boolean `{b}`"),
            Unexpected::Unsigned(u) => write!(f, "integer `{u}`"),
            Unexpected::Signed(i) => write!(f, "integer `{i}`"),
            Unexpected::Float(x) => {
                let text = serde_json::Number::from_f64(x).map_or_else(|| "NaN".to_string(), |n| n.to_string());
                let point = if text.contains(['.', 'e', 'N']) { "" } else { ".0" };
                write!(f, "floating point `{text}{point}`")
            }
            Unexpected::Char(c) => write!(f, "character `{c}`"),
            Unexpected::Str(s) => write!(f, "string {s:?}"),
            Unexpected::Bytes(_) => f.write_str("byte array"),
            Unexpected::Option => f.write_str("Option value"),
            Unexpected::NewtypeStruct => f.write_str("newtype struct"),
            Unexpected::Seq => f.write_str("sequence"),
            Unexpected::Map => f.write_str("map"),
            Unexpected::Enum => f.write_str("enum"),
            Unexpected::UnitVariant => f.write_str("unit variant"),
            Unexpected::NewtypeVariant => f.write_str("newtype variant"),
            Unexpected::TupleVariant => f.write_str("tuple variant"),
            Unexpected::StructVariant => f.write_str("struct variant"),
            Unexpected::Other(other) => f.write_str(other),
        }
    }
}

impl de::Error for PathError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PathError { message: msg.to_string(), path: None }
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Self::custom(format_args!("invalid type: {}, expected {}", JsonUnexpected(unexp), exp))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Self::custom(format_args!("invalid value: {}, expected {}", JsonUnexpected(unexp), exp))
    }
}

/// Where a value sits: a chain of steps kept on the stack while descending.
#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

#[derive(Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    /// The document's root.
    pub(crate) const ROOT: Path<'static> = Path { parent: None, step: Step::Root };

    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path { parent: Some(self), step: Step::Key(key) }
    }

    fn index(&'a self, i: usize) -> Path<'a> {
        Path { parent: Some(self), step: Step::Index(i) }
    }

    fn segments(&self) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut at = Some(self);
        while let Some(p) = at {
            match p.step {
                Step::Root => {}
                Step::Key(k) => out.push(Segment::Key(k.to_string())),
                Step::Index(i) => out.push(Segment::Index(i)),
            }
            at = p.parent;
        }
        out.reverse();
        out
    }
}

/// Deserializes `T` from `value`, the error carrying the path of the value that failed.
// Not inlined: its two callers (strict and lenient reading) would each get a copy of every
// derived visitor (about 500 bytes smaller per module, configure time only).
#[inline(never)]
pub(crate) fn from_value<T: de::DeserializeOwned>(value: &Value) -> Result<T, PathError> {
    T::deserialize(ValueReader { value, path: &Path::ROOT }).map_err(|e| e.located(&Path::ROOT))
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// A value and its path, as a serde `Deserializer`.
struct ValueReader<'v, 'p> {
    value: &'v Value,
    path: &'p Path<'p>,
}

impl<'v, 'p> ValueReader<'v, 'p> {
    fn visit<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, PathError> {
        let path = self.path;
        let result: Result<V::Value, PathError> = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, Some(f)) => visitor.visit_f64(f),
                _ => Err(de::Error::custom("unrepresentable number")),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = Elements { items: items.iter(), index: 0, path };
                let out = visitor.visit_seq(&mut seq)?;
                match seq.items.len() {
                    0 => Ok(out),
                    _ => Err(de::Error::invalid_length(items.len(), &"fewer elements in array")),
                }
            }
            Value::Object(map) => {
                let mut members = Members { iter: map.iter(), pending: None, path };
                let out = visitor.visit_map(&mut members)?;
                match members.iter.len() {
                    0 => Ok(out),
                    _ => Err(de::Error::invalid_length(map.len(), &"fewer elements in map")),
                }
            }
        };
        result.map_err(|e| e.located(path))
    }
}

impl<'v, 'p> de::Deserializer<'v> for ValueReader<'v, 'p> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, PathError> {
        self.visit(visitor)
    }

    fn deserialize_option<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Value::Null => visitor.visit_none().map_err(|e: PathError| e.located(self.path)),
            _ => {
                let path = self.path;
                visitor.visit_some(self).map_err(|e| e.located(path))
            }
        }
    }

    fn deserialize_unit<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Value::Null => visitor.visit_unit().map_err(|e: PathError| e.located(self.path)),
            other => {
                Err(de::Error::invalid_type(unexpected(other), &visitor)).map_err(|e: PathError| e.located(self.path))
            }
        }
    }

    fn deserialize_unit_struct<V: Visitor<'v>>(self, _name: &'static str, visitor: V) -> Result<V::Value, PathError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'v>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        let path = self.path;
        visitor.visit_newtype_struct(self).map_err(|e| e.located(path))
    }

    fn deserialize_enum<V: Visitor<'v>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        let path = self.path;
        let result: Result<V::Value, PathError> = match self.value {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Value::Object(map) => match single_member(map) {
                Some((variant, value)) => {
                    let inner = path.key(variant);
                    visitor.visit_enum(Variant { name: variant, value, path: &inner }).map_err(|e| e.located(&inner))
                }
                None => Err(de::Error::invalid_value(Unexpected::Map, &"map with a single key")),
            },
            other => Err(de::Error::invalid_type(unexpected(other), &"string or map")),
        };
        result.map_err(|e| e.located(path))
    }

    fn deserialize_ignored_any<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'v>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        seq tuple tuple_struct map struct identifier
    }
}

fn single_member(map: &Map<String, Value>) -> Option<(&str, &Value)> {
    let mut iter = map.iter();
    match (iter.next(), iter.next()) {
        (Some((k, v)), None) => Some((k.as_str(), v)),
        _ => None,
    }
}

struct Elements<'v, 'p> {
    items: std::slice::Iter<'v, Value>,
    index: usize,
    path: &'p Path<'p>,
}

impl<'v> de::SeqAccess<'v> for Elements<'v, '_> {
    type Error = PathError;

    fn next_element_seed<T: DeserializeSeed<'v>>(&mut self, seed: T) -> Result<Option<T::Value>, PathError> {
        let Some(value) = self.items.next() else { return Ok(None) };
        let path = self.path.index(self.index);
        self.index += 1;
        seed.deserialize(ValueReader { value, path: &path }).map(Some).map_err(|e| e.located(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Members<'v, 'p> {
    iter: serde_json::map::Iter<'v>,
    pending: Option<(&'v str, &'v Value)>,
    path: &'p Path<'p>,
}

impl<'v> de::MapAccess<'v> for Members<'v, '_> {
    type Error = PathError;

    fn next_key_seed<K: DeserializeSeed<'v>>(&mut self, seed: K) -> Result<Option<K::Value>, PathError> {
        let Some((key, value)) = self.iter.next() else { return Ok(None) };
        self.pending = Some((key.as_str(), value));
        let path = self.path.key(key);
        seed.deserialize(MemberKey(key)).map(Some).map_err(|e| e.located(&path))
    }

    fn next_value_seed<V: DeserializeSeed<'v>>(&mut self, seed: V) -> Result<V::Value, PathError> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom("value is missing"));
        };
        let path = self.path.key(key);
        seed.deserialize(ValueReader { value, path: &path }).map_err(|e| e.located(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// An object's key: a string, or (for maps keyed by numbers or booleans) the number in it, as
/// serde_json reads keys.
struct MemberKey<'v>(&'v str);

impl MemberKey<'_> {
    fn parsed<T: std::str::FromStr>(&self) -> Result<T, PathError> {
        self.0.parse().map_err(|_| de::Error::invalid_type(Unexpected::Str(self.0), &"a number or boolean key"))
    }
}

macro_rules! parsed_key {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {
        $(fn $method<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, PathError> {
            visitor.$visit(self.parsed::<$ty>()?)
        })*
    };
}

impl<'v> de::Deserializer<'v> for MemberKey<'v> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_borrowed_str(self.0)
    }

    parsed_key! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
    }

    fn deserialize_option<V: Visitor<'v>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'v>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'v>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_enum(self.0.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'v>>
        i128 u128 f32 f64 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct
        map struct identifier ignored_any
    }
}

/// An externally tagged enum variant (`{"variant": value}`).
struct Variant<'v, 'p> {
    name: &'v str,
    value: &'v Value,
    path: &'p Path<'p>,
}

impl<'v, 'p> de::EnumAccess<'v> for Variant<'v, 'p> {
    type Error = PathError;
    type Variant = ValueReader<'v, 'p>;

    fn variant_seed<T: DeserializeSeed<'v>>(self, seed: T) -> Result<(T::Value, Self::Variant), PathError> {
        let name = seed.deserialize(MemberKey(self.name))?;
        Ok((name, ValueReader { value: self.value, path: self.path }))
    }
}

impl<'v> de::VariantAccess<'v> for ValueReader<'v, '_> {
    type Error = PathError;

    fn unit_variant(self) -> Result<(), PathError> {
        match self.value {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(unexpected(other), &"unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'v>>(self, seed: T) -> Result<T::Value, PathError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'v>>(self, _len: usize, visitor: V) -> Result<V::Value, PathError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'v>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        name: String,
        #[serde(default)]
        count: Option<u32>,
        items: Vec<Item>,
        #[serde(default)]
        mode: Mode,
        #[serde(default)]
        codes: BTreeMap<u16, String>,
        #[serde(default)]
        ratio: f64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Item {
        keys: Vec<u8>,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        #[default]
        Plain,
        Weighted(u32),
        Pair {
            a: u8,
        },
    }

    fn both(v: Value) -> (Result<Doc, PathError>, Result<Doc, serde_json::Error>) {
        (from_value::<Doc>(&v), serde_json::from_value::<Doc>(v))
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let docs = [
            json!({"name": "a", "items": []}),
            json!({"name": "a", "count": 3, "items": [{"keys": [1, 2]}], "mode": "plain", "ratio": 1.5}),
            json!({"name": "a", "count": null, "items": [], "mode": {"weighted": 7}, "codes": {"404": "x"}}),
            json!({"name": "a", "items": [], "mode": {"pair": {"a": 1}}, "ratio": 2}),
        ];
        for doc in docs {
            let (ours, theirs) = both(doc.clone());
            assert_eq!(ours.unwrap(), theirs.unwrap(), "{doc}");
        }
    }

    #[test]
    fn fails_where_serde_json_fails_with_its_message_and_our_path() {
        let cases = [
            (json!({"name": 1, "items": []}), vec![Segment::Key("name".into())]),
            (json!({"name": null, "items": []}), vec![Segment::Key("name".into())]),
            (
                json!({"name": "a", "items": [{"keys": [1]}, {"keys": [1, 300]}]}),
                vec![Segment::Key("items".into()), Segment::Index(1), Segment::Key("keys".into()), Segment::Index(1)],
            ),
            (json!({"name": "a", "items": [], "bogus": 1}), vec![Segment::Key("bogus".into())]),
            (json!({"items": []}), vec![]),
            (json!({"name": "a", "items": [], "mode": "other"}), vec![Segment::Key("mode".into())]),
            (
                json!({"name": "a", "items": [], "mode": {"weighted": "x"}}),
                vec![Segment::Key("mode".into()), Segment::Key("weighted".into())],
            ),
            (
                json!({"name": "a", "items": [], "codes": {"x": "y"}}),
                vec![Segment::Key("codes".into()), Segment::Key("x".into())],
            ),
            (json!({"name": "a", "items": [], "ratio": "1"}), vec![Segment::Key("ratio".into())]),
            (json!({"name": "a", "items": [], "count": 1.5}), vec![Segment::Key("count".into())]),
            (json!({"name": "a", "items": [], "count": 2.0}), vec![Segment::Key("count".into())]),
            (json!({"name": "a", "items": [], "count": 1e300}), vec![Segment::Key("count".into())]),
            (json!({"name": "a", "items": [], "count": true}), vec![Segment::Key("count".into())]),
            (json!({"name": "a", "items": [], "count": "é\"x"}), vec![Segment::Key("count".into())]),
            (json!({"name": "a", "items": [], "count": [1]}), vec![Segment::Key("count".into())]),
            (json!({"name": "a", "items": [], "count": {}}), vec![Segment::Key("count".into())]),
            (json!({"name": "a", "items": [], "count": -4}), vec![Segment::Key("count".into())]),
            (json!([1]), vec![Segment::Index(0)]),
        ];
        for (doc, path) in cases {
            let numeric_key = doc.get("codes").is_some();
            let (ours, theirs) = both(doc.clone());
            let (ours, theirs) = (ours.unwrap_err(), theirs.unwrap_err());
            if !numeric_key {
                assert_eq!(ours.message, theirs.to_string(), "{doc}");
            }
            assert_eq!(ours.path, Some(path), "{doc}");
        }
    }
}
