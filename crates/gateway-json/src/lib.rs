//! gateway-json: a borrowing JSON reader for request paths: one validating pass that accepts exactly the
//! documents `serde_json::from_slice::<Value>` accepts (and, when asked, `NaN`, `Infinity` and
//! `-Infinity` as lenient servers write them), then lookups that walk the validated text. No
//! tree is built: a request or response body costs no allocation unless a string has escapes.
//!
//! The tests compare it with serde_json on generated documents: what is accepted, and every
//! value read back.

use std::borrow::Cow;

/// serde_json's recursion limit: a container nested this deep is refused.
const MAX_DEPTH: usize = 128;

/// Integer digits past which a number without an exponent may exceed `f64::MAX` (10^309).
const SAFE_INTEGER_DIGITS: usize = 300;

/// Which non-standard text is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leniency {
    /// RFC 8259, as serde_json reads it.
    Strict,
    /// Also `NaN`, `Infinity` and `-Infinity` as values, read as `null` (Python's `json`
    /// module writes them).
    NonFinite,
}

/// What a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `null` (and, leniently, `NaN` / `Infinity` / `-Infinity`).
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

/// One value of a validated document: its text from its first byte to its last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonView<'a> {
    text: &'a [u8],
}

impl<'a> JsonView<'a> {
    /// The document `text` (whitespace around it allowed), or `None` when serde_json would
    /// refuse it (under `leniency`).
    pub fn parse(text: &'a [u8], leniency: Leniency) -> Option<JsonView<'a>> {
        let mut v = Validator { text, pos: 0, lenient: leniency == Leniency::NonFinite };
        let (start, end) = v.document_value()?;
        v.skip_whitespace();
        (v.pos == text.len()).then_some(JsonView { text: &text[start..end] })
    }

    /// The first value of `text` when it is a container or a string (no leading whitespace
    /// skipped), with whatever follows it ignored, as serde_json's stream deserializer reads it.
    pub fn parse_prefix(text: &'a [u8]) -> Option<JsonView<'a>> {
        if !matches!(text.first(), Some(b'{' | b'[' | b'"')) {
            return None;
        }
        let mut v = Validator { text, pos: 0, lenient: false };
        let (start, end) = v.document_value()?;
        Some(JsonView { text: &text[start..end] })
    }

    /// What this value is.
    pub fn kind(&self) -> Kind {
        match self.text.first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n' | b'N' | b'I') => Kind::Null,
            Some(b'-') if self.text.get(1) == Some(&b'I') => Kind::Null,
            _ => Kind::Number,
        }
    }

    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        self.kind() == Kind::Object
    }

    /// The value's text as it appears in the document.
    pub fn raw(&self) -> &'a [u8] {
        self.text
    }

    /// `true` / `false`, else `None`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.text {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        }
    }

    /// A number written as a non-negative integer that fits a `u64` (serde_json's `as_u64`:
    /// `10.0`, `1e2` and `-0` are not).
    pub fn as_u64(&self) -> Option<u64> {
        let mut n: u64 = 0;
        if self.text.is_empty() {
            return None;
        }
        for &b in self.text {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        }
        Some(n)
    }

    /// A number as an `f64` (`None` for anything else).
    pub fn as_f64(&self) -> Option<f64> {
        if self.kind() != Kind::Number {
            return None;
        }
        std::str::from_utf8(self.text).ok()?.parse().ok()
    }

    /// A string's value, escapes decoded (borrowed when it has none).
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        let inner = self.text.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        decode_string(inner)
    }

    /// The value under `key` of an object (the last one when the key repeats, as serde_json's
    /// map keeps it); `None` for a missing key or a value that is not an object.
    pub fn get(&self, key: &str) -> Option<JsonView<'a>> {
        self.members().filter(|(k, _)| k.matches(key)).last().map(|(_, v)| v)
    }

    /// Whether an object has `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.members().any(|(k, _)| k.matches(key))
    }

    /// An object's members in document order (empty for anything else). Repeated keys appear
    /// as often as they are written.
    pub fn members(&self) -> Members<'a> {
        let inner = if self.kind() == Kind::Object { &self.text[1..self.text.len() - 1] } else { &[][..] };
        Members { text: inner, pos: 0 }
    }

    /// An object's members sorted by decoded key, a repeated key once with its last value, as
    /// serde_json's map holds them (empty for anything else).
    pub fn sorted_members(&self) -> Vec<(JsonKey<'a>, JsonView<'a>)> {
        let mut members: Vec<(JsonKey<'a>, JsonView<'a>)> = self.members().collect();
        // Stable, so a repeated key's members stay in document order; the last is kept.
        members.sort_by(|(a, _), (b, _)| a.decoded().cmp(&b.decoded()));
        let mut kept: Vec<(JsonKey<'a>, JsonView<'a>)> = Vec::with_capacity(members.len());
        for (key, value) in members {
            match kept.last_mut() {
                Some(last) if last.0.same_as(&key) => *last = (key, value),
                _ => kept.push((key, value)),
            }
        }
        kept
    }

    /// An array's items (empty for anything else).
    pub fn items(&self) -> Items<'a> {
        let inner = if self.kind() == Kind::Array { &self.text[1..self.text.len() - 1] } else { &[][..] };
        Items { text: inner, pos: 0 }
    }
}

/// An object key as written (between its quotes, escapes not decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonKey<'a> {
    raw: &'a [u8],
}

impl<'a> JsonKey<'a> {
    /// Whether the key, decoded, is `name`.
    pub fn matches(&self, name: &str) -> bool {
        if self.raw == name.as_bytes() {
            return true;
        }
        // An escaped key is longer than its text; only then is decoding worth it.
        self.raw.len() > name.len() && has_backslash(self.raw) && decode_string(self.raw).is_some_and(|k| k == name)
    }

    /// Whether two keys decode to the same text.
    pub fn same_as(&self, other: &JsonKey<'_>) -> bool {
        if self.raw == other.raw {
            return true;
        }
        (has_backslash(self.raw) || has_backslash(other.raw)) && self.decoded() == other.decoded()
    }

    /// The decoded key.
    pub fn decoded(&self) -> Cow<'a, str> {
        decode_string(self.raw).unwrap_or_default()
    }
}

/// The members of an object, see [`JsonView::members`].
#[derive(Debug, Clone)]
pub struct Members<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (JsonKey<'a>, JsonView<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let start = next_token(self.text, self.pos)?;
        let key_end = skip_string(self.text, start);
        let key = JsonKey { raw: &self.text[start + 1..key_end - 1] };
        let colon = next_token(self.text, key_end)?;
        let value_start = next_token(self.text, colon + 1)?;
        let value_end = skip_value(self.text, value_start);
        self.pos = value_end;
        Some((key, JsonView { text: &self.text[value_start..value_end] }))
    }
}

/// The items of an array, see [`JsonView::items`].
#[derive(Debug, Clone)]
pub struct Items<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = JsonView<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = next_token(self.text, self.pos)?;
        let end = skip_value(self.text, start);
        self.pos = end;
        Some(JsonView { text: &self.text[start..end] })
    }
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// The index of the next byte of validated text at or after `pos` that is neither whitespace
/// nor a comma; `None` at the end.
fn next_token(text: &[u8], mut pos: usize) -> Option<usize> {
    while let Some(&b) = text.get(pos) {
        if !is_whitespace(b) && b != b',' {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

/// The end (one past the closing quote) of the validated string opening at `start`.
fn skip_string(text: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    loop {
        i = scan_plain(text, i, false);
        match text.get(i) {
            Some(b'"') => return i + 1,
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
            None => return text.len(),
        }
    }
}

/// Eight copies of `b`.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of each byte of `w` that is below `n` (exact for the lowest such byte, which
/// is all [`scan_plain`] reads).
fn bytes_below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(splat(n)) & !w & splat(0x80)
}

/// The high bit of each byte of `w` equal to `b` (exact for the lowest one).
fn bytes_equal(w: u64, b: u8) -> u64 {
    bytes_below(w ^ splat(b), 1)
}

/// The first index at or after `i` of a quote, a backslash or (when `controls`) a byte below
/// 0x20, or `text.len()`: eight bytes per step, as wasm has no vector instructions here.
fn scan_plain(text: &[u8], mut i: usize, controls: bool) -> usize {
    while let Some(chunk) = text.get(i..i + 8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let w = u64::from_le_bytes(bytes);
        let mut special = bytes_equal(w, b'"') | bytes_equal(w, b'\\');
        if controls {
            special |= bytes_below(w, 0x20);
        }
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = text.get(i) {
        if b == b'"' || b == b'\\' || (controls && b < 0x20) {
            return i;
        }
        i += 1;
    }
    text.len()
}

/// Whether `s` has a backslash.
fn has_backslash(s: &[u8]) -> bool {
    // In a validated string body a quote only follows a backslash, so the first stop is one.
    scan_plain(s, 0, false) < s.len()
}

/// The first index at or after `i` of a quote or a bracket, or `text.len()`.
fn scan_structural(text: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = text.get(i..i + 8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let w = u64::from_le_bytes(bytes);
        // `[` and `{` differ in bit 0x20 only, as do `]` and `}`: fold it and look for two.
        let folded = w | splat(0x20);
        let special = bytes_equal(w, b'"') | bytes_equal(folded, b'{') | bytes_equal(folded, b'}');
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = text.get(i) {
        if matches!(b, b'"' | b'{' | b'}' | b'[' | b']') {
            return i;
        }
        i += 1;
    }
    text.len()
}

/// The end of the validated value starting at `start`.
fn skip_value(text: &[u8], start: usize) -> usize {
    match text.get(start) {
        Some(b'"') => skip_string(text, start),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = start;
            loop {
                i = scan_structural(text, i);
                let Some(&b) = text.get(i) else { break };
                match b {
                    b'"' => {
                        i = skip_string(text, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            text.len()
        }
        _ => {
            let mut i = start;
            while text.get(i).is_some_and(|&b| !is_whitespace(b) && !matches!(b, b',' | b']' | b'}')) {
                i += 1;
            }
            i
        }
    }
}

/// A string's value from the text between its quotes (validated, or checked here).
fn decode_string(inner: &[u8]) -> Option<Cow<'_, str>> {
    if !has_backslash(inner) {
        return std::str::from_utf8(inner).ok().map(Cow::Borrowed);
    }
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(i) = rest.iter().position(|&b| b == b'\\') {
        out.push_str(std::str::from_utf8(&rest[..i]).ok()?);
        let (c, used) = unescape(&rest[i..])?;
        out.push(c);
        rest = &rest[i + used..];
    }
    out.push_str(std::str::from_utf8(rest).ok()?);
    Some(Cow::Owned(out))
}

/// The character of the escape sequence at the start of `s` and the bytes it took.
fn unescape(s: &[u8]) -> Option<(char, usize)> {
    let c = match s.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let high = hex4(s.get(2..6)?)?;
            if !(0xD800..0xDC00).contains(&high) {
                return char::from_u32(u32::from(high)).map(|c| (c, 6));
            }
            if s.get(6..8)? != b"\\u" {
                return None;
            }
            let low = hex4(s.get(8..12)?)?;
            if !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            let code = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
            return char::from_u32(code).map(|c| (c, 12));
        }
        _ => return None,
    };
    Some((c, 2))
}

fn hex4(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |n, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        Some(n << 4 | u16::from(v))
    })
}

/// The validating pass.
struct Validator<'a> {
    text: &'a [u8],
    pos: usize,
    lenient: bool,
}

impl Validator<'_> {
    fn skip_whitespace(&mut self) {
        while self.text.get(self.pos).copied().is_some_and(is_whitespace) {
            self.pos += 1;
        }
    }

    /// The span of the document's value (leading whitespace skipped).
    fn document_value(&mut self) -> Option<(usize, usize)> {
        self.skip_whitespace();
        let start = self.pos;
        self.value(0)?;
        Some((start, self.pos))
    }

    fn eat(&mut self, literal: &[u8]) -> Option<()> {
        let end = self.pos + literal.len();
        (self.text.get(self.pos..end)? == literal).then(|| self.pos = end)
    }

    /// One value at `pos` (no leading whitespace), inside `depth` containers.
    fn value(&mut self, depth: usize) -> Option<()> {
        match *self.text.get(self.pos)? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string(),
            b't' => self.eat(b"true"),
            b'f' => self.eat(b"false"),
            b'n' => self.eat(b"null"),
            b'N' if self.lenient => self.eat(b"NaN"),
            b'I' if self.lenient => self.eat(b"Infinity"),
            b'-' if self.lenient && self.text.get(self.pos + 1) == Some(&b'I') => self.eat(b"-Infinity"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.skip_whitespace();
        if self.text.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Some(());
        }
        loop {
            if self.text.get(self.pos) != Some(&b'"') {
                return None;
            }
            self.string()?;
            self.skip_whitespace();
            self.eat(b":")?;
            self.skip_whitespace();
            self.value(depth)?;
            self.skip_whitespace();
            match self.text.get(self.pos)? {
                b',' => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.skip_whitespace();
        if self.text.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.value(depth)?;
            self.skip_whitespace();
            match self.text.get(self.pos)? {
                b',' => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string at `pos` (its opening quote): control characters, bad escapes, lone
    /// surrogates and invalid UTF-8 are refused, as serde_json refuses them.
    fn string(&mut self) -> Option<()> {
        let start = self.pos + 1;
        let mut i = start;
        loop {
            i = scan_plain(self.text, i, true);
            match *self.text.get(i)? {
                b'"' => break,
                b'\\' => {
                    let (_, used) = unescape(self.text.get(i..)?)?;
                    i += used;
                }
                _ => return None,
            }
        }
        let body = &self.text[start..i];
        if !body.is_ascii() {
            std::str::from_utf8(body).ok()?;
        }
        self.pos = i + 1;
        Some(())
    }

    /// A number at `pos`: RFC 8259's grammar, and finite as an `f64` (serde_json refuses
    /// `1e400` as out of range).
    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        let text = self.text;
        let digits = |mut i: usize| {
            while text.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut i = start;
        if text.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        match text.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits(i),
            _ => return None,
        }
        let int_digits = i - int_start;
        if text.get(i) == Some(&b'.') {
            let frac_end = digits(i + 1);
            if frac_end == i + 1 {
                return None;
            }
            i = frac_end;
        }
        let mut exponent = false;
        if matches!(text.get(i), Some(b'e' | b'E')) {
            exponent = true;
            i += 1;
            if matches!(text.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let exp_end = digits(i);
            if exp_end == i {
                return None;
            }
            i = exp_end;
        }
        if (exponent || int_digits > SAFE_INTEGER_DIGITS) && overflows_f64(&text[start..i]) {
            return None;
        }
        self.pos = i;
        Some(())
    }
}

/// The significant digits of the smallest magnitude that rounds to infinity as an `f64`:
/// `f64::MAX` plus half its last unit, 2^1024 - 2^970 (a tie, which rounds to infinity because
/// `f64::MAX`'s mantissa is odd). It has 309 digits before the point.
const OVERFLOW_DIGITS: &[u8] = b"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";

/// Whether the JSON number `text` (valid grammar) is too large for an `f64`, decided on the
/// decimal text (no float parsing): its magnitude is at least [`OVERFLOW_DIGITS`].
fn overflows_f64(text: &[u8]) -> bool {
    let text = text.strip_prefix(b"-").unwrap_or(text);
    let split = text.iter().position(|b| matches!(b, b'e' | b'E')).unwrap_or(text.len());
    let (mantissa, exponent) = text.split_at(split);
    let exponent: i64 = match exponent.get(1..) {
        None => 0,
        Some(e) => {
            let (negative, digits) = match e.first() {
                Some(b'-') => (true, &e[1..]),
                Some(b'+') => (false, &e[1..]),
                _ => (false, e),
            };
            // Past a million the answer no longer depends on the mantissa's length.
            let magnitude = digits.iter().fold(0i64, |n, d| (n * 10 + i64::from(d - b'0')).min(1_000_000_000));
            if negative { -magnitude } else { magnitude }
        }
    };
    let point = mantissa.iter().position(|&b| b == b'.').unwrap_or(mantissa.len());
    let digits = mantissa.iter().filter(|b| b.is_ascii_digit());
    let leading_zeros = digits.clone().take_while(|&&b| b == b'0').count();
    let significant: Vec<u8> = digits.skip(leading_zeros).copied().collect();
    let significant = significant.as_slice();
    let end = significant.iter().rposition(|&b| b != b'0').map_or(0, |p| p + 1);
    let significant = &significant[..end];
    if significant.is_empty() {
        return false;
    }
    // Digits before the decimal point of the value's scientific form.
    let whole_digits = point as i64 - leading_zeros as i64 + exponent;
    match whole_digits.cmp(&(OVERFLOW_DIGITS.len() as i64)) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Greater => true,
        // Same number of whole digits: compare digit by digit (a missing digit is a zero).
        std::cmp::Ordering::Equal => significant >= OVERFLOW_DIGITS,
    }
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it: `"` and `\` with a
/// backslash, `\b \f \n \r \t` by name, other bytes below 0x20 as `\u00xx` (lower-case hex),
/// everything else (`/`, DEL, non-ASCII) as it is.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    push_json_escaped(out, s);
    out.push('"');
}

/// Appends what [`push_json_string`] writes between the quotes.
pub fn push_json_escaped(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
}

/// The text with every `NaN`, `Infinity` and `-Infinity` outside strings replaced by `null`,
/// for a reader that needs serde_json's tree of a lenient document; `None` when there is none
/// (the text is not lenient JSON, just bad). Where it parses, it reads as
/// [`Leniency::NonFinite`] does.
pub fn null_non_finite(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let (mut in_string, mut escaped, mut replaced) = (false, false, false);
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            out.push(b);
            i += 1;
            continue;
        }
        let rest = &text[i..];
        let token = [&b"-Infinity"[..], b"Infinity", b"NaN"].into_iter().find(|t| rest.starts_with(t));
        if let Some(t) = token {
            out.extend_from_slice(b"null");
            i += t.len();
            replaced = true;
            continue;
        }
        in_string = b == b'"';
        out.push(b);
        i += 1;
    }
    replaced.then_some(out)
}

#[cfg(test)]
mod tests;
