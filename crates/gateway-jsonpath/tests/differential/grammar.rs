//! The generator: random JSON documents, and random queries from RFC 9535's grammar with
//! every construct (blank space wherever the grammar has `S`).

use serde_json::{Map, Value};

/// SplitMix64: small, fast and good enough to drive a generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &["a", "b", "c", "ab", "_x", "é", "k k", "1", "it's", "a\"b", "a/b", "😀"];
const SHORTHAND: &[&str] = &["a", "b", "c", "ab", "_x", "é", "missing"];
const STRINGS: &[&str] = &["", "a", "b", "ab", "ba", "abc", "A", "a b", "é", "kilo", "x\ny", "b\r"];

pub fn json(rng: &mut Rng, depth: usize) -> Value {
    // The two upper levels are always arrays or objects, for queries to find something.
    if depth == 0 || (depth < 3 && rng.one_in(3)) {
        return match rng.below(6) {
            0 => Value::Null,
            1 => Value::Bool(rng.one_in(2)),
            2 | 3 => Value::from(*rng.pick(&[-2i64, -1, 0, 1, 2, 3, 10])),
            // No integral floats (`2.0`): jsonpath-rust compares arrays and objects with
            // serde_json's `==`, where `[2.0] != [2]`, against RFC 9535, section 2.3.5.2.2
            // (numbers are equal by value, also inside arrays and objects); pinned in
            // `deviations::nested_numbers_compare_by_value`. Literals `2.0` and `0.0` are
            // still generated and compared with the documents' integers.
            4 => Value::from(*rng.pick(&[1.5f64, -0.5, 2.5, 0.25])),
            _ => Value::from(*rng.pick(STRINGS)),
        };
    }
    if rng.one_in(2) {
        Value::Array((0..rng.below(5)).map(|_| json(rng, depth - 1)).collect())
    } else {
        let mut members = Map::new();
        for _ in 0..rng.below(5) {
            members.insert(rng.pick(KEYS).to_string(), json(rng, depth - 1));
        }
        Value::Object(members)
    }
}

/// A random document as text, written as a client may write it: members in any order, keys
/// repeated or escaped, blank space, numbers in several spellings (all exact in serde_json's
/// float parser, which is not correctly rounded for long ones).
pub fn json_text(rng: &mut Rng, depth: usize) -> String {
    const NUMBERS: &[&str] = &[
        "-2",
        "-1",
        "0",
        "1",
        "2",
        "3",
        "10",
        "1.5",
        "-0.5",
        "2.5",
        "0.25",
        "2.0",
        "-0",
        "-0.0",
        "1e1",
        "0.2e1",
        "1E0",
        "25e-2",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
    ];
    let ws = |rng: &mut Rng| if rng.one_in(4) { *rng.pick(&[" ", "\n", "\t ", "\r\n"]) } else { "" };
    if depth == 0 || (depth < 3 && rng.one_in(3)) {
        return match rng.below(6) {
            0 => "null".to_string(),
            1 => rng.pick(&["true", "false"]).to_string(),
            2 | 3 => rng.pick(NUMBERS).to_string(),
            _ => {
                let s = *rng.pick(STRINGS);
                quoted(rng, s)
            }
        };
    }
    if rng.one_in(2) {
        let items: Vec<String> =
            (0..rng.below(5)).map(|_| format!("{}{}{}", ws(rng), json_text(rng, depth - 1), ws(rng))).collect();
        format!("[{}]", items.join(","))
    } else {
        let members: Vec<String> = (0..rng.below(6))
            .map(|_| {
                let key = *rng.pick(KEYS);
                let key = quoted(rng, key);
                format!("{}{key}{}:{}{}", ws(rng), ws(rng), ws(rng), json_text(rng, depth - 1))
            })
            .collect();
        format!("{{{}}}", members.join(","))
    }
}

/// `s` as a JSON string, sometimes with needless escapes.
fn quoted(rng: &mut Rng, s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '😀' if rng.one_in(2) => out.push_str("\\ud83d\\uDE00"),
            c if rng.one_in(4) && (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            '/' if rng.one_in(2) => out.push_str("\\/"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Optional blank space where the grammar allows `S`.
fn blank(rng: &mut Rng) -> &'static str {
    const BLANKS: &[&str] = &[" ", "  ", "\t", "\n", "\r\n"];
    if rng.one_in(4) { BLANKS[rng.below(BLANKS.len())] } else { "" }
}

fn int(rng: &mut Rng) -> String {
    rng.pick(&["0", "1", "2", "3", "-1", "-2", "-3", "4", "-5"]).to_string()
}

/// A name selector for one of [`KEYS`], in either quotes, sometimes with escapes.
fn quoted_name(rng: &mut Rng) -> String {
    let name = *rng.pick(KEYS);
    let double = rng.one_in(2);
    let mut s = String::from(if double { '"' } else { '\'' });
    for c in name.chars() {
        match c {
            '\'' if !double => s += r"\'",
            '"' if double => s += r#"\""#,
            'a' if rng.one_in(4) => s += r"\u0061",
            '/' if rng.one_in(2) => s += r"\/",
            '😀' if rng.one_in(2) => s += r"\uD83D\uDE00",
            c => s.push(c),
        }
    }
    s.push(if double { '"' } else { '\'' });
    s
}

fn selector(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 0 { 7 } else { 5 }) {
        0 => quoted_name(rng),
        1 => "*".to_string(),
        2 => int(rng),
        3 | 4 => {
            let mut s = String::new();
            if rng.one_in(2) {
                s += &int(rng);
                s += blank(rng);
            }
            s += ":";
            s += blank(rng);
            if rng.one_in(2) {
                s += &int(rng);
                s += blank(rng);
            }
            if rng.one_in(2) {
                s += ":";
                if rng.one_in(2) {
                    s += blank(rng);
                    s += &int(rng);
                }
            }
            s
        }
        _ => {
            let b = blank(rng);
            if rng.one_in(3) {
                format!("?{b}({})", logical(rng, depth - 1))
            } else {
                format!("?{b}{}", logical(rng, depth - 1))
            }
        }
    }
}

fn bracketed(rng: &mut Rng, depth: usize) -> String {
    let mut s = format!("[{}", blank(rng));
    for i in 0..1 + rng.below(3).saturating_sub(1) {
        if i > 0 {
            s += &format!("{},{}", blank(rng), blank(rng));
        }
        s += &selector(rng, depth);
    }
    s + blank(rng) + "]"
}

fn segment(rng: &mut Rng, depth: usize) -> String {
    match rng.below(8) {
        0 | 1 => format!(".{}", rng.pick(SHORTHAND)),
        2 => ".*".to_string(),
        3 | 4 => bracketed(rng, depth),
        5 => format!("..{}", rng.pick(SHORTHAND)),
        6 => "..*".to_string(),
        _ => format!("..{}", bracketed(rng, depth)),
    }
}

fn segments(rng: &mut Rng, depth: usize, max: usize) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(max + 1) {
        s += blank(rng);
        s += &segment(rng, depth);
    }
    s
}

fn singular_query(rng: &mut Rng) -> String {
    let mut s = rng.pick(&["@", "@", "@", "$"]).to_string();
    for _ in 0..rng.below(3) {
        s += &match rng.below(3) {
            0 => format!(".{}", rng.pick(SHORTHAND)),
            1 => format!("[{}]", quoted_name(rng)),
            _ => format!("[{}]", int(rng)),
        };
    }
    s
}

fn filter_query(rng: &mut Rng, depth: usize) -> String {
    let root = rng.pick(&["@", "@", "@", "$"]);
    format!("{root}{}", segments(rng, depth, 2))
}

fn literal(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => rng.pick(&["true", "false", "null"]).to_string(),
        1 | 2 => rng
            .pick(&[
                "0", "1", "2", "-1", "3", "10", "1.5", "2.0", "-0.5", "1e1", "0.0", "-0", "1E1", "25e-1", "0.25e+1",
            ])
            .to_string(),
        _ => {
            let s = rng.pick(&["", "a", "b", "ab", "kilo", "é", "A"]);
            if rng.one_in(2) { format!("'{s}'") } else { format!("\"{s}\"") }
        }
    }
}

fn comparable(rng: &mut Rng, depth: usize) -> String {
    match rng.below(8) {
        0..=2 => literal(rng),
        3..=5 => singular_query(rng),
        6 => {
            let arg = match rng.below(4) {
                0 => literal(rng),
                1 if depth > 0 => comparable(rng, depth - 1),
                2 => filter_query(rng, depth),
                _ => singular_query(rng),
            };
            format!("length({arg})")
        }
        _ => {
            let f = rng.pick(&["count", "value"]);
            let b = blank(rng);
            let arg = if rng.one_in(8) { literal(rng) } else { filter_query(rng, depth) };
            format!("{f}({b}{arg}{b})")
        }
    }
}

/// I-Regexp patterns (RFC 9485) that also mean the same to the `regex` crate, which
/// jsonpath-rust hands them to untranslated but for `.`: not `^` or `$` (ordinary characters
/// in I-Regexp, anchors there), nor `\\d`, `\\w` or `(?:` (not I-Regexp: false here,
/// matched there); `deviations::regex_is_i_regexp` pins those.
const PATTERNS: &[&str] =
    &["a", "a.*", ".*a", "[ab]", "b|ab", "a+", "(a|b)c?", ".", "k.*o", "[^a]", "a{1,2}", "é", "", "[a-c]+", ".b"];

fn basic(rng: &mut Rng, depth: usize) -> String {
    let (b1, b2) = (blank(rng), blank(rng));
    match rng.below(7) {
        0 if depth > 0 => {
            let not = if rng.one_in(2) { "!" } else { "" };
            format!("{not}({b1}{}{b2})", logical(rng, depth - 1))
        }
        0..=2 => {
            let op = rng.pick(&["==", "!=", "<", "<=", ">", ">="]);
            format!("{}{b1}{op}{b2}{}", comparable(rng, depth), comparable(rng, depth))
        }
        3 | 4 => {
            let not = if rng.one_in(3) { "!" } else { "" };
            // Mostly queries; sometimes a value, which is no test (both must refuse it).
            let test = if rng.one_in(10) { comparable(rng, depth) } else { filter_query(rng, depth) };
            format!("{not}{test}")
        }
        _ => {
            let f = rng.pick(&["match", "search"]);
            let subject = rng.pick(&["@", "@.a", "@.b", "@[0]", "'ab'", "$.a", "value(@..a)"]);
            let pattern = match rng.below(6) {
                0 => rng.pick(&["@.a", "@.b", "$.b", "@[0]"]).to_string(),
                _ => format!("'{}'", rng.pick(PATTERNS)),
            };
            let not = if rng.one_in(4) { "!" } else { "" };
            format!("{not}{f}({subject},{b1}{pattern})")
        }
    }
}

fn logical(rng: &mut Rng, depth: usize) -> String {
    let mut s = String::new();
    for i in 0..1 + rng.below(3).saturating_sub(1) {
        if i > 0 {
            s += &format!("{}||{}", blank(rng), blank(rng));
        }
        for j in 0..1 + rng.below(3).saturating_sub(1) {
            if j > 0 {
                s += &format!("{}&&{}", blank(rng), blank(rng));
            }
            s += &basic(rng, depth);
        }
    }
    s
}

pub fn query(rng: &mut Rng) -> String {
    let first = segment(rng, 2);
    format!("${first}{}", segments(rng, 2, 3))
}
