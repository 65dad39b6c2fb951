//! Typed replies: [`FromFrame`] turns a [`Frame`] into the Rust type a command returns, so
//! callers write `client.query::<Option<Vec<u8>>>(["GET", key])` instead of matching frames.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::Frame;

/// A frame of another type than the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unexpected {
    /// What the conversion accepts, e.g. `integer`.
    pub expected: &'static str,
    /// The [`Frame::kind`] it got (of the innermost frame that did not fit).
    pub got: &'static str,
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, got {}", self.expected, self.got)
    }
}

impl core::error::Error for Unexpected {}

fn unexpected<T>(expected: &'static str, got: &Frame) -> Result<T, Unexpected> {
    Err(Unexpected { expected, got: got.kind() })
}

/// Conversion of a reply frame into a Rust value.
///
/// | type | accepts |
/// |---|---|
/// | [`Frame`] | anything |
/// | `i64` | integer |
/// | `f64` | RESP3 double, numeric bulk string |
/// | `bool` | integer 0 or 1, RESP3 boolean |
/// | `String` | status, UTF-8 bulk string |
/// | `Vec<u8>` | bulk string |
/// | `Option<T>` | nil as `None`, else `T` |
/// | `Vec<T>` | array of `T` |
/// | `(A, B)`, `(A, B, C)` | array of exactly that many items |
/// | [`Pairs<K, V>`] | flat array of key/value items (RESP2 `HGETALL`), RESP3 map |
///
/// Error replies are not converted (every impl refuses them): a client turns them into its
/// own error before asking for a type.
pub trait FromFrame: Sized {
    /// Converts `frame`, or says why it does not fit.
    fn from_frame(frame: Frame) -> Result<Self, Unexpected>;
}

impl FromFrame for Frame {
    fn from_frame(frame: Frame) -> Result<Self, Unexpected> {
        Ok(frame)
    }
}

impl FromFrame for i64 {
    fn from_frame(frame: Frame) -> Result<Self, Unexpected> {
        match frame {
            Frame::Int(i) => Ok(i),
            other => unexpected("integer", &other),
        }
    }
}

impl FromFrame for f64 {
    /// A RESP3 double, or a bulk string holding a number (how RESP2 sends `INCRBYFLOAT`).
    fn from_frame(frame: Frame) -> Result<Self, Unexpected> {
        let text = match &frame {
            Frame::Double(d) => d.as_str(),
            Frame::Bulk(b) => core::str::from_utf8(b).unwrap_or_default(),
            other => return unexpected("number", other),
        };
        match text {
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            _ => text.parse().or_else(|_| unexpected("number", &frame)),
        }
    }
}

impl FromFrame for bool {
    fn from_frame(frame: Frame) -> Result<Self, Unexpected> {
        match frame {
            Frame::Int(0) | Frame::Boolean(false) => Ok(false),
            Frame::Int(1) | Frame::Boolean(true) => Ok(true),
            other => unexpected("integer 0 or 1", &other),
        }
    }
}

impl FromFrame for String {
    fn from_frame(frame: Frame) -> Result<Self, Unexpected> {
        match frame {
            Frame::Status(s) => Ok(s),
            Frame::Bulk(b) => {
                String::from_utf8(b).map_err(|_| Unexpected { expected: "text", got: "non-UTF-8 bulk string" })
            }
            other => unexpected("text", &other),
        }
    }
}

impl FromFrame for Vec<u8> {
    fn from_frame(frame: Frame) -> Result<Self, Unexpected> {
        match frame {
            Frame::Bulk(b) => Ok(b),
            other => unexpected("bulk string", &other),
        }
    }
}

impl<T: FromFrame> FromFrame for Option<T> {
    fn from_frame(frame: Frame) -> Result<Self, Unexpected> {
        match frame {
            Frame::Nil => Ok(None),
            other => T::from_frame(other).map(Some),
        }
    }
}

impl<T: FromFrame> FromFrame for Vec<T> {
    fn from_frame(frame: Frame) -> Result<Self, Unexpected> {
        match frame {
            Frame::Array(items) => items.into_iter().map(T::from_frame).collect(),
            other => unexpected("array", &other),
        }
    }
}

/// The items of an array of exactly `N` frames.
fn exactly<const N: usize>(frame: Frame, expected: &'static str) -> Result<[Frame; N], Unexpected> {
    match frame {
        Frame::Array(items) => {
            <[Frame; N]>::try_from(items).map_err(|_| Unexpected { expected, got: "array of another length" })
        }
        other => unexpected(expected, &other),
    }
}

impl<A: FromFrame, B: FromFrame> FromFrame for (A, B) {
    fn from_frame(frame: Frame) -> Result<Self, Unexpected> {
        let [a, b] = exactly::<2>(frame, "array of 2")?;
        Ok((A::from_frame(a)?, B::from_frame(b)?))
    }
}

impl<A: FromFrame, B: FromFrame, C: FromFrame> FromFrame for (A, B, C) {
    fn from_frame(frame: Frame) -> Result<Self, Unexpected> {
        let [a, b, c] = exactly::<3>(frame, "array of 3")?;
        Ok((A::from_frame(a)?, B::from_frame(b)?, C::from_frame(c)?))
    }
}

/// Key/value pairs: a flat array `k1 v1 k2 v2 ...` (how RESP2 sends `HGETALL`,
/// `CONFIG GET`, ...) or a RESP3 map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairs<K, V>(pub Vec<(K, V)>);

impl<K: FromFrame, V: FromFrame> FromFrame for Pairs<K, V> {
    fn from_frame(frame: Frame) -> Result<Self, Unexpected> {
        let pairs = match frame {
            Frame::Array(items) if items.len() % 2 == 0 => {
                let mut out = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    out.push((K::from_frame(k)?, V::from_frame(v)?));
                }
                out
            }
            Frame::Array(_) => return Err(Unexpected { expected: "key/value pairs", got: "array of odd length" }),
            Frame::Map(pairs) => {
                pairs.into_iter().map(|(k, v)| Ok((K::from_frame(k)?, V::from_frame(v)?))).collect::<Result<_, _>>()?
            }
            other => return unexpected("key/value pairs", &other),
        };
        Ok(Pairs(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn scalars_convert_from_their_own_type_only() {
        assert_eq!(Frame::Int(7).into_typed::<i64>(), Ok(7));
        assert_eq!(bulk("7").into_typed::<i64>(), Err(Unexpected { expected: "integer", got: "bulk string" }));
        assert_eq!(bulk("1.5").into_typed::<f64>(), Ok(1.5));
        assert_eq!(Frame::Double("-inf".to_string()).into_typed::<f64>(), Ok(f64::NEG_INFINITY));
        assert!(bulk("x").into_typed::<f64>().is_err());
        assert_eq!(Frame::Int(1).into_typed::<bool>(), Ok(true));
        assert_eq!(Frame::Boolean(false).into_typed::<bool>(), Ok(false));
        assert!(Frame::Int(2).into_typed::<bool>().is_err());
        assert_eq!(Frame::Status("OK".to_string()).into_typed::<String>(), Ok("OK".to_string()));
        assert_eq!(bulk("v").into_typed::<String>(), Ok("v".to_string()));
        assert!(Frame::Bulk(vec![0xff]).into_typed::<String>().is_err());
        assert_eq!(bulk("v").into_typed::<Vec<u8>>(), Ok(b"v".to_vec()));
        assert_eq!(Frame::Status("v".to_string()).into_typed::<Vec<u8>>().map_err(|e| e.got), Err("status"));
        assert_eq!(Frame::Error("ERR".to_string()).into_typed::<Frame>(), Ok(Frame::Error("ERR".to_string())));
    }

    #[test]
    fn options_vectors_and_tuples_nest() {
        assert_eq!(Frame::Nil.into_typed::<Option<Vec<u8>>>(), Ok(None));
        assert_eq!(bulk("a").into_typed::<Option<Vec<u8>>>(), Ok(Some(b"a".to_vec())));
        let mget = Frame::Array(vec![bulk("a"), Frame::Nil]);
        assert_eq!(mget.clone().into_typed::<Vec<Option<String>>>(), Ok(vec![Some("a".to_string()), None]));
        assert_eq!(mget.into_typed::<Vec<String>>().map_err(|e| e.got), Err("nil"));
        let t = Frame::Array(vec![Frame::Int(1), bulk("x"), Frame::Nil]);
        assert_eq!(t.clone().into_typed::<(i64, String, Option<i64>)>(), Ok((1, "x".to_string(), None)));
        assert_eq!(t.into_typed::<(i64, String)>().map_err(|e| e.got), Err("array of another length"));
        assert_eq!(Frame::Int(1).into_typed::<Vec<i64>>().map_err(|e| e.got), Err("integer"));
    }

    #[test]
    fn pairs_come_from_flat_arrays_and_maps() {
        let flat = Frame::Array(vec![bulk("f"), bulk("1"), bulk("g"), bulk("2")]);
        let want = Pairs(vec![("f".to_string(), b"1".to_vec()), ("g".to_string(), b"2".to_vec())]);
        assert_eq!(flat.into_typed::<Pairs<String, Vec<u8>>>(), Ok(want.clone()));
        let map = Frame::Map(vec![(bulk("f"), bulk("1")), (bulk("g"), bulk("2"))]);
        assert_eq!(map.into_typed::<Pairs<String, Vec<u8>>>(), Ok(want));
        assert!(Frame::Array(vec![bulk("f")]).into_typed::<Pairs<String, String>>().is_err());
    }
}
