//! Reading a plugin's configuration types out of the [`Value`] tree: [`FromConfig`], written by
//! hand or by [`config_struct!`](crate::config_struct), with every error naming its field path
//! (`_rules_[1].limit_keys[0].key`) in serde's words (`missing field`, `unknown field`,
//! `invalid type: string "x", expected u32`), and unknown keys warned about (Higress style) or
//! refused, as the plugin's [`ConfigStyle`](super::ConfigStyle) says.
//!
//! No generic deserializer is compiled into the module: each type reads what it expects and
//! nothing else.

use std::cell::RefCell;
use std::fmt;

use super::unknown::unknown_field_message;
use super::value::{Map, Value};
use super::{ConfigError, ConfigPath, ConfigWarning, Secret, UnknownKeys};

/// A type read from a configuration value.
///
/// Structs are usually declared with [`config_struct!`](crate::config_struct); enums of names
/// use [`ConfigNode::variant`]; anything else reads the [`ConfigNode`] as it likes.
pub trait FromConfig: Sized {
    /// Reads `node`, or says what is wrong with it (build errors with [`ConfigNode::error`] or
    /// [`ConfigNode::invalid_type`] so they name the path).
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError>;
}

/// What reading one configuration object shares: how unknown keys are treated and the warnings
/// found so far.
#[derive(Debug)]
pub struct ReadContext {
    unknown_keys: UnknownKeys,
    warnings: RefCell<Vec<ConfigWarning>>,
}

impl ReadContext {
    /// A context that treats unknown keys as `unknown_keys` says.
    pub fn new(unknown_keys: UnknownKeys) -> Self {
        ReadContext { unknown_keys, warnings: RefCell::new(Vec::new()) }
    }

    /// Reads `value` (at `at`) as a `T`.
    pub fn read<T: FromConfig>(&self, value: &Value, at: &ConfigPath) -> Result<T, ConfigError> {
        T::from_config(ConfigNode { value, at: at.clone(), cx: self })
    }

    /// The warnings found, in the order they were found.
    pub fn into_warnings(self) -> Vec<ConfigWarning> {
        self.warnings.into_inner()
    }
}

/// Reads `value` (at `at`) as a `T`, refusing unknown keys (what tests and tools use).
pub fn read_at<T: FromConfig>(value: &Value, at: &ConfigPath) -> Result<T, ConfigError> {
    ReadContext::new(UnknownKeys::Reject).read(value, at)
}

/// One value of the configuration and where it is.
#[derive(Debug, Clone)]
pub struct ConfigNode<'a> {
    value: &'a Value,
    at: ConfigPath,
    cx: &'a ReadContext,
}

impl<'a> ConfigNode<'a> {
    /// The value itself.
    pub fn value(&self) -> &'a Value {
        self.value
    }

    /// Where it is.
    pub fn at(&self) -> &ConfigPath {
        &self.at
    }

    /// An error at this value's path.
    pub fn error(&self, message: impl fmt::Display) -> ConfigError {
        self.at.error(message)
    }

    /// Records a warning at this value's path (logged once per configuration; an error under
    /// `strict: true`).
    pub fn warn(&self, message: impl fmt::Display) {
        self.cx.warnings.borrow_mut().push(ConfigWarning::new(&self.at, message));
    }

    /// `invalid type: <what this is>, expected <expected>`, serde's wording.
    pub fn invalid_type(&self, expected: &str) -> ConfigError {
        self.error(format_args!("invalid type: {}, expected {expected}", Unexpected(self.value)))
    }

    /// `invalid value: <what this is>, expected <expected>`, serde's wording.
    pub fn invalid_value(&self, expected: &str) -> ConfigError {
        self.error(format_args!("invalid value: {}, expected {expected}", Unexpected(self.value)))
    }

    /// Reads this value as a `T`.
    pub fn read<T: FromConfig>(self) -> Result<T, ConfigError> {
        T::from_config(self)
    }

    /// The value at `at` under this one (a member or an item), sharing this one's context.
    fn child(&self, value: &'a Value, at: ConfigPath) -> ConfigNode<'a> {
        ConfigNode { value, at, cx: self.cx }
    }

    /// The string this is (else `invalid type: ..., expected a string`).
    pub fn str(&self) -> Result<&'a str, ConfigError> {
        self.value.as_str().ok_or_else(|| self.invalid_type("a string"))
    }

    /// The items of the array this is, each with its path (else `expected a sequence`).
    pub fn items(&self) -> Result<impl Iterator<Item = ConfigNode<'a>> + '_, ConfigError> {
        let items = self.value.as_array().ok_or_else(|| self.invalid_type("a sequence"))?;
        Ok(items.iter().enumerate().map(|(i, v)| self.child(v, self.at.index(i))))
    }

    /// The object this is, to read its members: `expecting` names it in errors (`struct
    /// RedisConfig`), `known` lists every key it reads. Keys not in `known` are refused or
    /// warned about (naming the closest known key), as the plugin's style says.
    pub fn fields(&self, expecting: &str, known: &'static [&'static str]) -> Result<Fields<'a>, ConfigError> {
        let map = self.value.as_object().ok_or_else(|| self.invalid_type(expecting))?;
        for key in map.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            let here = self.child(self.value, self.at.field(key));
            match self.cx.unknown_keys {
                UnknownKeys::Reject => {
                    return Err(
                        here.error(format_args!("unknown field `{key}`, {}", OneOf("there are no fields", known)))
                    );
                }
                UnknownKeys::Warn => here.warn(unknown_field_message(key, known)),
            }
        }
        Ok(Fields { map, node: self.clone(), known })
    }

    /// The variant named by the string this is: `variants` pairs each name with its value
    /// (`unknown variant `x`, expected one of ...` for another name).
    pub fn variant<T: Copy>(&self, variants: &[(&str, T)]) -> Result<T, ConfigError> {
        let name = self.value.as_str().ok_or_else(|| self.invalid_type("a variant name"))?;
        if let Some((_, v)) = variants.iter().find(|(n, _)| *n == name) {
            return Ok(*v);
        }
        let names: Vec<&str> = variants.iter().map(|(n, _)| *n).collect();
        Err(self.error(format_args!("unknown variant `{name}`, {}", OneOf("there are no variants", &names))))
    }
}

/// The members of one configuration object, read by name.
#[derive(Debug)]
pub struct Fields<'a> {
    map: &'a Map,
    node: ConfigNode<'a>,
    known: &'static [&'static str],
}

impl<'a> Fields<'a> {
    /// The member `key`, if present (`null` included).
    pub fn node(&self, key: &str) -> Option<ConfigNode<'a>> {
        debug_assert!(self.known.contains(&key), "`{key}` is read but not listed as known");
        self.map.get(key).map(|v| self.node.child(v, self.node.at.field(key)))
    }

    /// The object itself (for errors about the whole object).
    pub fn object(&self) -> &ConfigNode<'a> {
        &self.node
    }

    /// The member `key` as a `T`; `missing field `key`` when it is absent.
    pub fn required<T: FromConfig>(&self, key: &str) -> Result<T, ConfigError> {
        match self.node(key) {
            Some(n) => T::from_config(n),
            None => Err(self.node.error(format_args!("missing field `{key}`"))),
        }
    }

    /// The member `key` as a `T`; `None` when it is absent or `null`.
    pub fn optional<T: FromConfig>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        match self.node(key) {
            Some(n) if !n.value.is_null() => T::from_config(n).map(Some),
            _ => Ok(None),
        }
    }

    /// The member `key` as a `T`; `default()` when it is absent (a `null` is read as a `T`,
    /// as serde's `#[serde(default)]` reads it).
    pub fn or_else<T: FromConfig>(&self, key: &str, default: impl FnOnce() -> T) -> Result<T, ConfigError> {
        match self.node(key) {
            Some(n) => T::from_config(n),
            None => Ok(default()),
        }
    }

    /// The member `key` as a `T`; `T::default()` when it is absent.
    pub fn or_default<T: FromConfig + Default>(&self, key: &str) -> Result<T, ConfigError> {
        self.or_else(key, T::default)
    }
}

/// serde's `expected `a``, `expected `a` or `b``, `expected one of `a`, `b`, `c``.
struct OneOf<'a>(&'a str, &'a [&'a str]);

impl fmt::Display for OneOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            [] => f.write_str(self.0),
            [a] => write!(f, "expected `{a}`"),
            [a, b] => write!(f, "expected `{a}` or `{b}`"),
            names => {
                f.write_str("expected one of ")?;
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{n}`")?;
                }
                Ok(())
            }
        }
    }
}

/// What a value is, in serde_json's words (`integer `5``, `string "x"`, `map`).
struct Unexpected<'a>(&'a Value);

impl fmt::Display for Unexpected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "boolean `{b}`"),
            Value::Number(n) if n.is_integer() => write!(f, "integer `{}`", n.as_text()),
            Value::Number(n) => write!(f, "floating point `{}`", n.as_text()),
            Value::String(s) => {
                // JSON quoting, not `{s:?}`: the same text for what configurations hold, without
                // linking Rust's Unicode printability tables.
                let mut quoted = String::with_capacity(s.len() + 2);
                super::value::write_string(s, &mut quoted);
                write!(f, "string {quoted}")
            }
            Value::Array(_) => f.write_str("sequence"),
            Value::Object(_) => f.write_str("map"),
        }
    }
}

impl FromConfig for String {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        node.str().map(str::to_string)
    }
}

impl FromConfig for Secret {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        node.str().map(Secret::new)
    }
}

impl FromConfig for bool {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        node.value.as_bool().ok_or_else(|| node.invalid_type("a boolean"))
    }
}

impl FromConfig for f64 {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        node.value.as_f64().ok_or_else(|| node.invalid_type("f64"))
    }
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl FromConfig for $t {
            fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
                let expected = stringify!($t);
                match node.value.as_number() {
                    Some(n) if n.is_integer() => n
                        .as_i64()
                        .and_then(|i| <$t>::try_from(i).ok())
                        .or_else(|| n.as_u64().and_then(|u| <$t>::try_from(u).ok()))
                        .ok_or_else(|| node.invalid_value(expected)),
                    _ => Err(node.invalid_type(expected)),
                }
            }
        }
    )*};
}

integers!(u8, u16, u32, u64, usize, i32, i64);

macro_rules! nonzero {
    ($($nz:ty: $t:ty),*) => {$(
        impl FromConfig for $nz {
            fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
                let n: $t = node.clone().read()?;
                <$nz>::new(n).ok_or_else(|| node.invalid_value(concat!("a nonzero ", stringify!($t))))
            }
        }
    )*};
}

nonzero!(std::num::NonZeroU32: u32, std::num::NonZeroU64: u64);

impl<T: FromConfig> FromConfig for Option<T> {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        if node.value.is_null() { Ok(None) } else { T::from_config(node).map(Some) }
    }
}

impl<T: FromConfig> FromConfig for Vec<T> {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        node.items()?.map(T::from_config).collect()
    }
}

impl FromConfig for Value {
    fn from_config(node: ConfigNode<'_>) -> Result<Self, ConfigError> {
        Ok(node.value.clone())
    }
}

/// Declares a configuration struct and its [`FromConfig`]: each field is read from the key of
/// its name; a field with `= default` takes that value when the key is absent, one without is
/// required. Keys the struct does not list are unknown (refused or warned about, as the plugin's
/// [`ConfigStyle`](crate::config::ConfigStyle) says).
///
/// ```
/// use gateway_sdk::config::{ConfigPath, Value, read_at};
/// gateway_sdk::config_struct! {
///     /// A limit.
///     #[derive(Debug)]
///     pub struct Limit {
///         /// Requests per minute.
///         pub per_minute: u32,
///         /// Who is limited.
///         pub key: Option<String> = None,
///         /// Whether to say so.
///         pub headers: bool = true,
///     }
/// }
/// let at = ConfigPath::root("p");
/// let v = Value::parse(br#"{"per_minute": 10}"#).unwrap();
/// let l: Limit = read_at(&v, &at).unwrap();
/// assert!(l.per_minute == 10 && l.key.is_none() && l.headers);
/// let v = Value::parse(br#"{"per_minute": "10"}"#).unwrap();
/// let err = read_at::<Limit>(&v, &at).unwrap_err().to_string();
/// assert_eq!(err, r#"p: invalid config at per_minute: invalid type: string "10", expected u32"#);
/// ```
#[macro_export]
macro_rules! config_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty $(= $default:expr)? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name { $( $(#[$fmeta])* $fvis $field : $fty ),* }

        impl $crate::config::FromConfig for $name {
            fn from_config(
                node: $crate::config::ConfigNode<'_>,
            ) -> ::core::result::Result<Self, $crate::config::ConfigError> {
                let fields = node.fields(concat!("struct ", stringify!($name)), &[$(stringify!($field)),*])?;
                ::core::result::Result::Ok($name {
                    $( $field: $crate::__config_field!(fields, $field $(, $default)?), )*
                })
            }
        }
    };
}

/// One field of [`config_struct!`]: required, or with its default.
#[doc(hidden)]
#[macro_export]
macro_rules! __config_field {
    ($fields:ident, $field:ident) => {
        $fields.required(stringify!($field))?
    };
    ($fields:ident, $field:ident, $default:expr) => {
        $fields.or_else(stringify!($field), || $default)?
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::config_struct! {
        #[derive(Debug, PartialEq)]
        struct Sample {
            items: Vec<Item>,
            name: Option<String> = None,
        }
    }

    crate::config_struct! {
        #[derive(Debug, PartialEq)]
        struct Item {
            limit: u32,
        }
    }

    fn parse(text: &str) -> Value {
        Value::parse(text.as_bytes()).unwrap()
    }

    fn error(text: &str) -> String {
        read_at::<Sample>(&parse(text), &ConfigPath::root("p")).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_path_in_serdes_words() {
        assert_eq!(
            error(r#"{"items": [{"limit": 1}, {"limit": "x"}]}"#),
            r#"p: invalid config at items[1].limit: invalid type: string "x", expected u32"#
        );
        assert_eq!(
            error(r#"{"items": [{"limit": -1}]}"#),
            "p: invalid config at items[0].limit: invalid value: integer `-1`, expected u32"
        );
        assert_eq!(
            error(r#"{"items": [{"limit": 1.5}]}"#),
            "p: invalid config at items[0].limit: invalid type: floating point `1.5`, expected u32"
        );
        assert_eq!(error(r#"{"name": null}"#), "p: invalid config: missing field `items`");
        assert_eq!(error(r#"{"items": {}}"#), "p: invalid config at items: invalid type: map, expected a sequence");
        assert_eq!(
            error(r#"{"items": [], "itmes": 1}"#),
            "p: invalid config at itmes: unknown field `itmes`, expected `items` or `name`"
        );
        assert_eq!(error("[]"), "p: invalid config: invalid type: sequence, expected struct Sample");
    }

    #[test]
    fn unknown_keys_can_be_warnings_naming_the_closest_key() {
        let cx = ReadContext::new(UnknownKeys::Warn);
        let s: Sample = cx.read(&parse(r#"{"items": [{"limit": 2, "limt": 3}]}"#), &ConfigPath::root("p")).unwrap();
        assert_eq!(s, Sample { items: vec![Item { limit: 2 }], name: None });
        let w: Vec<String> = cx.into_warnings().iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("p: config at items[0].limt: unknown key `limt` is ignored"), "{w:?}");
        assert!(w[0].contains("did you mean `limit`?"), "{w:?}");
    }

    #[test]
    fn variants_and_options_read_like_serde() {
        #[derive(Debug, Clone, Copy, PartialEq)]
        enum Mode {
            A,
            B,
        }
        let cx = ReadContext::new(UnknownKeys::Reject);
        let at = ConfigPath::root("p");
        let mode = |v: &str| {
            cx.read::<Value>(&parse(v), &at).and_then(|v| {
                ConfigNode { value: &v, at: at.clone(), cx: &cx }.variant(&[("a", Mode::A), ("b", Mode::B)])
            })
        };
        assert_eq!(mode(r#""b""#), Ok(Mode::B));
        assert_eq!(mode(r#""c""#).unwrap_err().message, "unknown variant `c`, expected `a` or `b`");
        assert_eq!(cx.read::<Option<u8>>(&parse("null"), &at), Ok(None));
        assert_eq!(cx.read::<Option<u8>>(&parse("7"), &at), Ok(Some(7)));
        assert_eq!(cx.read::<Vec<bool>>(&parse("[true]"), &at), Ok(vec![true]));
        assert!(cx.read::<u8>(&parse("256"), &at).unwrap_err().message.starts_with("invalid value: integer `256`"));
    }
}
