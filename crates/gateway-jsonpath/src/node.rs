//! The documents a query runs on: [`Node`], a small read-only view of a JSON value, implemented
//! for `gateway_json`'s in-place [`JsonView`] (no tree is built) and, with the `serde_json`
//! feature, for `&serde_json::Value`. Both read a document alike: an object's members in
//! sorted key order, a repeated key once with its last value (serde_json's map), numbers
//! written as integers compared exactly, others as doubles.

use gateway_json::{JsonView, Kind};
use std::borrow::Cow;
use std::ops::ControlFlow;

/// A JSON number as filters compare it: integers exactly, anything else as a double.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// Written as an integer that fits an `i64` or a `u64`.
    Int(i128),
    /// Any other number (with a fraction or an exponent, `-0`, or too large an integer).
    Float(f64),
}

impl Number {
    /// The number as a double.
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// What a node is, with a scalar's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string, escapes decoded.
    String(Cow<'a, str>),
    /// An array.
    Array,
    /// An object.
    Object,
}

/// A JSON value a query can walk.
pub trait Node<'a>: Copy + 'a {
    /// The elements of an array.
    type Items: Iterator<Item = Self> + Clone;

    /// What this value is, with a scalar's value.
    fn atom(self) -> Atom<'a>;

    /// An array's elements in order (none for anything else).
    fn items(self) -> Self::Items;

    /// An object's value under `name` (the last when the key repeats); `None` for a missing
    /// key or a value that is not an object.
    fn member(self, name: &str) -> Option<Self>;

    /// An object's members in sorted key order, each key once with its last value (nothing
    /// for anything else), until `f` breaks.
    fn members(self, f: &mut dyn FnMut(&str, Self) -> ControlFlow<()>) -> ControlFlow<()>;

    /// The number of distinct keys of an object (0 for anything else).
    fn member_count(self) -> usize {
        let mut n = 0;
        let _ = self.members(&mut |_, _| {
            n += 1;
            ControlFlow::Continue(())
        });
        n
    }
}

impl<'a> Node<'a> for JsonView<'a> {
    type Items = gateway_json::Items<'a>;

    fn atom(self) -> Atom<'a> {
        match self.kind() {
            Kind::Null => Atom::Null,
            Kind::Bool => Atom::Bool(self.as_bool() == Some(true)),
            Kind::Number => Atom::Number(number(self.raw())),
            Kind::String => Atom::String(self.as_str().unwrap_or_default()),
            Kind::Array => Atom::Array,
            Kind::Object => Atom::Object,
        }
    }

    fn items(self) -> Self::Items {
        JsonView::items(&self)
    }

    fn member(self, name: &str) -> Option<Self> {
        self.get(name)
    }

    fn members(self, f: &mut dyn FnMut(&str, Self) -> ControlFlow<()>) -> ControlFlow<()> {
        if !self.is_object() {
            return ControlFlow::Continue(());
        }
        for (key, value) in self.sorted_members() {
            f(&key.decoded(), value)?;
        }
        ControlFlow::Continue(())
    }
}

/// A validated number's text read as serde_json reads it: a `u64`, else a negative `i64`,
/// else a double (`-0` is a double).
fn number(text: &[u8]) -> Number {
    let integer = !text.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if integer {
        let magnitude =
            digits.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d.wrapping_sub(b'0'))));
        match (negative, magnitude) {
            (false, Some(n)) => return Number::Int(i128::from(n)),
            (true, Some(n)) if n > 0 && n <= 1 << 63 => return Number::Int(-i128::from(n)),
            _ => {}
        }
    }
    let float = std::str::from_utf8(text).ok().and_then(|t| t.parse::<f64>().ok());
    Number::Float(float.unwrap_or(0.0))
}

#[cfg(feature = "serde_json")]
impl<'a> Node<'a> for &'a serde_json::Value {
    type Items = std::slice::Iter<'a, serde_json::Value>;

    fn atom(self) -> Atom<'a> {
        use serde_json::Value;
        match self {
            Value::Null => Atom::Null,
            Value::Bool(b) => Atom::Bool(*b),
            Value::Number(n) => {
                let int = n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
                Atom::Number(int.map_or_else(|| Number::Float(n.as_f64().unwrap_or(0.0)), Number::Int))
            }
            Value::String(s) => Atom::String(Cow::Borrowed(s)),
            Value::Array(_) => Atom::Array,
            Value::Object(_) => Atom::Object,
        }
    }

    fn items(self) -> Self::Items {
        match self {
            serde_json::Value::Array(items) => items.iter(),
            _ => [].iter(),
        }
    }

    fn member(self, name: &str) -> Option<Self> {
        self.as_object()?.get(name)
    }

    fn members(self, f: &mut dyn FnMut(&str, Self) -> ControlFlow<()>) -> ControlFlow<()> {
        match self {
            serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| f(k, v)),
            _ => ControlFlow::Continue(()),
        }
    }

    fn member_count(self) -> usize {
        self.as_object().map_or(0, serde_json::Map::len)
    }
}

#[cfg(all(test, feature = "serde_json"))]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_serde_json_reads_them() {
        for text in ["0", "7", "-7", "18446744073709551615", "-9223372036854775808", "1.5", "-0", "1e2", "2.0"] {
            let ours = number(text.as_bytes());
            let theirs = serde_json::from_str::<serde_json::Value>(text).unwrap();
            assert_eq!(
                Some(ours),
                match (&theirs).atom() {
                    Atom::Number(n) => Some(n),
                    _ => None,
                },
                "{text}"
            );
        }
        assert_eq!(number(b"18446744073709551616"), Number::Float(18446744073709551616.0));
        assert_eq!(number(b"-9223372036854775809"), Number::Float(-9223372036854775809.0));
    }
}
