//! Values read the way Higress's Go plugins read them: `tidwall/gjson` v1.18.0's `String`,
//! `Bool`, `Int`, `Uint` and `Array` (gjson.go lines 72-145), so a plugin can accept what a Go
//! plugin accepts (`"10"` for a number, `"true"` or `1` for a boolean, a float or a boolean for a
//! string) and then read the normalized value with its [`FromConfig`](super::FromConfig) types.
//!
//! The `coerce_*` helpers rewrite one member of an object in place, and only when it is present
//! (gjson's `Exists`, which is true for `null` too).

use super::value::{Map, Number, Value};

use super::{ConfigPath, ConfigWarning};

/// gjson `String()`: strings as they are, numbers in their shortest decimal form (no exponent),
/// `true`/`false`, `""` for `null`, objects and arrays as JSON text.
pub fn string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => number_text(n),
        Value::Array(_) | Value::Object(_) => v.to_string(),
    }
}

fn number_text(n: &Number) -> String {
    // gjson returns an integer's text as written; other numbers go through Go's
    // strconv.FormatFloat(f, 'f', -1, 64): the shortest digits that parse back to the same
    // f64, without an exponent. Up to 15 significant digits those are the written digits (two
    // decimals of 15 digits never parse to the same f64), so the written number is rendered
    // without its exponent and trailing zeros. Longer ones are rendered as written too: Go
    // would print the shortest of them that still round-trips (`0.10000000000000000555` as
    // `0.1`); telling which needs an exact decimal-to-binary conversion this module does not
    // carry for a float written as a string field.
    if n.is_integer() {
        return n.as_text().to_string();
    }
    Decimal::parse(n.as_text()).map_or_else(|| n.as_text().to_string(), |d| d.render())
}

/// A decimal number as significant digits (no leading or trailing zeros) and the position of
/// the decimal point among them.
#[derive(Debug, Clone)]
struct Decimal {
    negative: bool,
    digits: String,
    /// Digits before the point (negative: zeros between the point and the first digit).
    point: i32,
}

impl Decimal {
    /// `-1.50e3` as digits `15`, point 4.
    fn parse(text: &str) -> Option<Decimal> {
        let (mantissa, exponent) = text.split_once(['e', 'E']).unwrap_or((text, "0"));
        let exponent: i32 = exponent.strip_prefix('+').unwrap_or(exponent).parse().ok()?;
        let (negative, mantissa) = match mantissa.strip_prefix('-') {
            Some(m) => (true, m),
            None => (false, mantissa),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all: String = whole.chars().chain(fraction.chars()).collect();
        let significant = all.trim_start_matches('0');
        let point = whole.len() as i32 + exponent - (all.len() - significant.len()) as i32;
        Some(Decimal { negative, digits: significant.trim_end_matches('0').to_string(), point })
    }

    /// Whether the number parses to zero as an f64: no significant digit, or below half the
    /// smallest subnormal (`2.4703282292062327e-324`), which rounds to zero.
    fn is_zero_as_f64(&self) -> bool {
        const HALF_SMALLEST: &str = "24703282292062327208828439643411";
        self.digits.is_empty() || self.point < -323 || (self.point == -323 && self.digits.as_str() <= HALF_SMALLEST)
    }

    /// The magnitude of the integer part, saturated at `u128::MAX`.
    fn whole_magnitude(&self) -> u128 {
        if self.point <= 0 {
            return 0;
        }
        if self.point > 38 {
            return u128::MAX;
        }
        (0..self.point as usize)
            .map(|i| self.digits.as_bytes().get(i).map_or(0, |b| b - b'0'))
            .fold(0u128, |whole, d| whole * 10 + u128::from(d))
    }

    /// The integer part, saturated at `i64::MIN` / `i64::MAX` (as Rust's `f as i64`).
    fn truncated(&self) -> i64 {
        let m = self.whole_magnitude();
        if self.negative { i64::try_from(m).map_or(i64::MIN, |v| -v) } else { i64::try_from(m).unwrap_or(i64::MAX) }
    }

    /// The integer part of a number that is not negative, saturated at `u64::MAX`.
    fn truncated_unsigned(&self) -> u64 {
        u64::try_from(self.whole_magnitude()).unwrap_or(u64::MAX)
    }

    /// `0.00000015`, `1000000000000000000000`, `1.5`: no exponent.
    fn render(&self) -> String {
        let sign = if self.negative { "-" } else { "" };
        if self.digits.is_empty() {
            return format!("{sign}0");
        }
        let mut out = String::from(sign);
        let digits = self.digits.as_str();
        if self.point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', self.point.unsigned_abs() as usize));
            out.push_str(digits);
        } else if self.point as usize >= digits.len() {
            out.push_str(digits);
            out.extend(std::iter::repeat_n('0', self.point as usize - digits.len()));
        } else {
            let (int, frac) = digits.split_at(self.point as usize);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        }
        out
    }
}

/// gjson `Bool()`: `true`; strings `1 t true` (any case) are true; numbers other than 0.
pub fn bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "1" | "t" | "true"),
        Value::Number(n) => Decimal::parse(n.as_text()).is_some_and(|d| !d.is_zero_as_f64()),
        _ => false,
    }
}

/// gjson `Int()`: `true` is 1; strings of an optional `-` and digits only (else 0); numbers
/// truncated toward zero (from the written decimal: where Go first rounds a float of more than
/// 15 significant digits to an f64, the two can differ by one), saturating; anything else 0.
pub fn int(v: &Value) -> i64 {
    match v {
        Value::Bool(true) => 1,
        Value::String(s) => parse_int(s).unwrap_or(0),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| u as i64))
            .unwrap_or_else(|| Decimal::parse(n.as_text()).map_or(0, |d| d.truncated())),
        _ => 0,
    }
}

/// gjson `Uint()`: like [`int`], but strings are digits only. `None` for a negative number,
/// which Go converts with an implementation-defined `uint64(float64)`.
pub fn uint(v: &Value) -> Option<u64> {
    match v {
        Value::Bool(true) => Some(1),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok().or(Some(0)),
        Value::Number(n) => match (n.as_u64(), Decimal::parse(n.as_text())) {
            (Some(u), _) => Some(u),
            (None, Some(d)) if !d.negative || d.is_zero_as_f64() => Some(d.truncated_unsigned()),
            _ => None,
        },
        _ => Some(0),
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// gjson `Array()`: `null` is empty, an array is itself, anything else a list of one.
pub fn array(v: Value) -> Vec<Value> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => vec![other],
    }
}

/// Rewrites `obj[key]` (when present) as a string, as gjson `String()` reads it.
pub fn coerce_string(obj: &mut Map, key: &str) {
    if let Some(v) = obj.get_mut(key).filter(|v| !v.is_string()) {
        *v = Value::String(string(v));
    }
}

/// Rewrites `obj[key]` (when present) as a boolean, as gjson `Bool()` reads it.
pub fn coerce_bool(obj: &mut Map, key: &str) {
    if let Some(v) = obj.get_mut(key) {
        *v = Value::Bool(bool(v));
    }
}

/// Rewrites `obj[key]` (when present) as an integer, as gjson `Int()` reads it.
pub fn coerce_int(obj: &mut Map, key: &str) {
    if let Some(v) = obj.get_mut(key) {
        *v = Value::from(int(v));
    }
}

/// Rewrites `obj[key]` (when present) as a list, as gjson `Array()` reads it.
pub fn coerce_array(obj: &mut Map, key: &str) {
    if let Some(v) = obj.get_mut(key).filter(|v| !v.is_array()) {
        *v = Value::Array(array(v.take()));
    }
}

/// Reads a Higress `redis` block (in `obj`, at `at`) as the Go plugins' `InitRedisClusterClient`
/// does (cluster-key-rate-limit `config/config.go` 95-129): strings for `service_name`,
/// `username`, `password`; integers (also written as strings) for `service_port`, `timeout`,
/// `database`; `service_port: 0` and `timeout: 0` mean the defaults (80 for `.static`, else
/// 6379; 1000 ms). A `username` without a `password` sends no AUTH, as the host does: it is
/// dropped with a warning.
pub fn redis_block(obj: &mut Map, at: &ConfigPath, warnings: &mut Vec<ConfigWarning>) {
    for key in ["service_name", "username", "password"] {
        coerce_string(obj, key);
    }
    for key in ["service_port", "timeout", "database"] {
        coerce_int(obj, key);
        if key != "database" && obj.get(key).and_then(Value::as_i64) == Some(0) {
            obj.remove(key);
        }
    }
    let password_empty = obj.get("password").and_then(Value::as_str).is_none_or(str::is_empty);
    if obj.get("username").and_then(Value::as_str).is_some_and(|u| !u.is_empty()) && password_empty {
        obj.remove("username");
        warnings.push(ConfigWarning::new(
            &at.field("username"),
            "is ignored without a password: no AUTH is sent (as Higress does)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_go_formats_them_without_an_exponent() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut samples = vec![0.1, 1.5, 1e21, 1.5e-7, 123456789.125, 5e-324, f64::MAX, 1e16, 1e-5, 0.3];
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let f = f64::from_bits(seed);
            if f.is_finite() {
                samples.push(f);
            }
        }
        let mut exact = 0;
        for f in samples {
            let Some(n) = serde_json::Number::from_f64(f) else { continue };
            let Some(Value::Number(n)) = Value::parse(n.to_string().as_bytes()) else { continue };
            let ours = number_text(&n);
            let go = f.to_string();
            let significant = go.trim_start_matches(['-', '0', '.']).replace('.', "").trim_end_matches('0').len();
            if significant <= 15 {
                assert_eq!(ours, go, "{f:e}");
                exact += 1;
            } else {
                // 16-17 digits: two shortest candidates may both round-trip; Go (and Rust's
                // `Display`) print the nearer one, serde_json's printer may print the other.
                assert_eq!(ours.parse::<f64>().ok(), Some(f), "{f:e}: {ours}");
                assert_eq!(ours.len(), go.len(), "{f:e}: {ours} vs {go}");
            }
        }
        assert!(exact >= 10, "{exact}");
    }
    use crate::config_json as json;

    #[test]
    fn strings_read_like_gjson() {
        assert_eq!(string(&json!(102234)), "102234");
        assert_eq!(string(&json!(1.5)), "1.5");
        assert_eq!(string(&json!(1.0)), "1");
        assert_eq!(string(&json!(1e21)), "1000000000000000000000");
        assert_eq!(string(&json!(true)), "true");
        assert_eq!(string(&json!(false)), "false");
        assert_eq!(string(&json!(null)), "");
        assert_eq!(string(&json!("x")), "x");
    }

    #[test]
    fn booleans_read_like_gjson() {
        for t in [json!(true), json!("true"), json!("TRUE"), json!("t"), json!("1"), json!(2), json!(0.5)] {
            assert!(bool(&t), "{t}");
        }
        for f in [json!(false), json!("false"), json!("yes"), json!(""), json!(0), json!(null), json!({})] {
            assert!(!bool(&f), "{f}");
        }
    }

    #[test]
    fn integers_read_like_gjson() {
        assert_eq!(int(&json!("10")), 10);
        assert_eq!(int(&json!("-3")), -3);
        assert_eq!(int(&json!("10.5")), 0);
        assert_eq!(int(&json!(" 10")), 0);
        assert_eq!(int(&json!(10.9)), 10);
        assert_eq!(int(&json!(true)), 1);
        assert_eq!(int(&json!(null)), 0);
        assert_eq!(uint(&json!("429")), Some(429));
        assert_eq!(uint(&json!("-1")), Some(0));
        assert_eq!(uint(&json!(4_294_967_296u64)), Some(4_294_967_296));
        assert_eq!(uint(&json!(-1)), None);
    }

    #[test]
    fn redis_blocks_read_like_the_go_plugins() {
        let mut block = json!({"service_name": "redis.static", "service_port": "0", "timeout": 0,
            "database": "2", "username": "u"});
        let mut warnings = Vec::new();
        let at = ConfigPath::root("p").field("redis");
        redis_block(block.as_object_mut().unwrap(), &at, &mut warnings);
        assert_eq!(block, json!({"service_name": "redis.static", "database": 2}));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].to_string().contains("redis.username"), "{}", warnings[0]);
    }

    #[test]
    fn arrays_read_like_gjson() {
        assert_eq!(array(json!(null)), Vec::<Value>::new());
        assert_eq!(array(json!("a")), vec![json!("a")]);
        assert_eq!(array(json!([1, 2])), vec![json!(1), json!(2)]);
    }
}
