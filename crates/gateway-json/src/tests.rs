//! gateway-json against serde_json: the same documents accepted, the same values read back.

use serde_json::Value;

use super::*;

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "7",
    "-7",
    "10",
    "10.0",
    "1e2",
    "1E+2",
    "1e-2",
    "0.5",
    "-0.0",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999",
    "1e308",
    "1e309",
    "-1e400",
    "0e999999",
    "1e-400",
    "2.5e-3",
    "01",
    "1.",
    ".5",
    "-",
    "1e",
    "1e+",
    "+1",
    "00",
    "1.7976931348623157e308",
    "1099511627776",
    "1099511627777",
    "12.000",
    "3.0e0",
];

const STRINGS: &[&str] = &[
    r#""""#,
    r#""a""#,
    r#""type""#,
    r#""t\u0079pe""#,
    r#""\"\\\/\b\f\n\r\t""#,
    r#""\u00e9""#,
    r#""é""#,
    r#""\ud83d\ude00""#,
    r#""😀""#,
    r#""\ud83d""#,
    r#""\ude00""#,
    r#""\ud83dx""#,
    r#""\ud83d\u0041""#,
    r#""\u12""#,
    r#""\x""#,
    "\"tab\there\"",
    "\"nl\nhere\"",
    r#""data:image/png;base64,QUJD""#,
    r#""DATA:x;base64,y""#,
    r#""image_url""#,
    r#""\uD83D\uDE00""#,
    r#""\u0000""#,
    "\"\u{7f}\"",
];

const KEYS: &[&str] = &[
    "type",
    "text",
    "content",
    "usage",
    "a",
    "b",
    "t\\u0079pe",
    "image_url",
    "inline_data",
    "messages",
    "prompt_tokens",
    "completion_tokens",
    "max_tokens",
    "stream",
];

const SPACES: &[&str] = &["", "", "", " ", "\n", "\t", "\r\n  ", "\u{c}"];

fn gen_value(rng: &mut Rng, depth: usize, lenient: bool, out: &mut String) {
    let choice = if depth > 4 { rng.below(5) } else { rng.below(8) };
    match choice {
        0 => out.push_str(rng.pick(NUMBERS)),
        1 if rng.below(2) == 0 => out.push_str(rng.pick(STRINGS)),
        1 => {
            // A long string, so the eight-bytes-at-a-time scans meet every special byte at
            // every offset of a word.
            out.push('"');
            for _ in 0..rng.below(40) {
                out.push_str(
                    rng.pick(&["abc", "x", "{", "]", "[", "}", "\\\"", "\\\\", "\\n", "é", "😀", ",", ":", "\u{1}"]),
                );
            }
            out.push('"');
        }
        2 => out.push_str(rng.pick(&["true", "false", "null", "tru", "nul"])),
        3 if lenient => out.push_str(rng.pick(&["NaN", "Infinity", "-Infinity", "nan", "-NaN"])),
        3 | 4 => out.push_str(rng.pick(&["12", "\"x\"", "[]", "{}"])),
        5 | 6 => {
            out.push('{');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(rng.pick(SPACES));
                out.push('"');
                out.push_str(rng.pick(KEYS));
                out.push('"');
                out.push_str(rng.pick(SPACES));
                out.push(':');
                out.push_str(rng.pick(SPACES));
                gen_value(rng, depth + 1, lenient, out);
            }
            out.push('}');
        }
        _ => {
            out.push('[');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(rng.pick(SPACES));
                gen_value(rng, depth + 1, lenient, out);
            }
            out.push(']');
        }
    }
}

/// A generated document, sometimes broken by one byte-level edit.
fn gen_doc(rng: &mut Rng, lenient: bool) -> Vec<u8> {
    let mut text = String::new();
    text.push_str(rng.pick(SPACES));
    gen_value(rng, 0, lenient, &mut text);
    text.push_str(rng.pick(SPACES));
    let mut bytes = text.into_bytes();
    if rng.below(3) == 0 && !bytes.is_empty() {
        let at = rng.below(bytes.len());
        let noise = rng.pick(&[b'"', b',', b'}', b']', b'\\', b':', b'x', 0xff, 0xc3, b'0', b'-', b'e', b' ']);
        match rng.below(3) {
            0 => bytes[at] = noise,
            1 => bytes.insert(at, noise),
            _ => {
                bytes.remove(at);
            }
        }
    }
    bytes
}

/// Whether `view` reads back as `value` (serde_json's tree): kinds, strings, numbers as
/// `as_u64`/`as_f64` see them, arrays item by item, objects key by key with the last of a
/// repeated key winning.
fn same(view: JsonView, value: &Value) -> bool {
    match value {
        Value::Null => view.kind() == Kind::Null,
        Value::Bool(b) => view.as_bool() == Some(*b),
        Value::Number(n) => {
            view.kind() == Kind::Number
                && view.as_u64() == n.as_u64()
                && match (view.as_f64(), n.as_f64()) {
                    (Some(a), Some(b)) => a == b || ((a - b) / b).abs() < 1e-15,
                    _ => false,
                }
        }
        Value::String(s) => view.as_str().as_deref() == Some(s.as_str()),
        Value::Array(items) => {
            view.kind() == Kind::Array
                && view.items().count() == items.len()
                && view.items().zip(items).all(|(v, i)| same(v, i))
        }
        Value::Object(map) => {
            view.kind() == Kind::Object
                && map.iter().all(|(k, v)| view.get(k).is_some_and(|got| same(got, v)))
                && view.members().all(|(k, _)| map.contains_key(k.decoded().as_ref()))
        }
    }
}

#[test]
fn accepts_exactly_what_serde_json_accepts_and_reads_the_same_values() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..40_000 {
        let doc = gen_doc(&mut rng, false);
        let ours = JsonView::parse(&doc, Leniency::Strict);
        let theirs = serde_json::from_slice::<Value>(&doc);
        let shown = String::from_utf8_lossy(&doc);
        match (ours, theirs) {
            (Some(view), Ok(value)) => {
                accepted += 1;
                assert!(same(view, &value), "{shown}: read back differently from {value}");
            }
            (None, Err(_)) => refused += 1,
            (ours, theirs) => panic!("{shown}: json_view {:?}, serde_json {:?}", ours.is_some(), theirs.map(|_| ())),
        }
    }
    // Both sides of the comparison are exercised.
    assert!(accepted > 5_000 && refused > 5_000, "accepted {accepted}, refused {refused}");
}

#[test]
fn lenient_documents_match_the_text_substitution_they_replace() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut lenient_only = 0;
    for _ in 0..20_000 {
        let doc = gen_doc(&mut rng, true);
        let ours = JsonView::parse(&doc, Leniency::NonFinite);
        // NaN / Infinity / -Infinity outside strings replaced by null, then serde_json.
        let theirs = match serde_json::from_slice::<Value>(&doc) {
            Ok(value) => Some(value),
            Err(_) => null_non_finite(&doc).and_then(|text| serde_json::from_slice::<Value>(&text).ok()),
        };
        let shown = String::from_utf8_lossy(&doc);
        match (ours, theirs) {
            (Some(view), Some(value)) => {
                lenient_only += usize::from(JsonView::parse(&doc, Leniency::Strict).is_none());
                assert!(same(view, &value), "{shown}: read back differently from {value}");
            }
            (None, None) => {}
            (ours, theirs) => panic!("{shown}: json_view {:?}, substitution {:?}", ours.is_some(), theirs.is_some()),
        }
    }
    assert!(lenient_only > 500, "only {lenient_only} documents needed the leniency");
}

#[test]
fn the_recursion_limit_is_serde_jsons() {
    for depth in [126, 127, 128, 129] {
        let doc = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let ours = JsonView::parse(doc.as_bytes(), Leniency::Strict).is_some();
        assert_eq!(ours, serde_json::from_str::<Value>(&doc).is_ok(), "depth {depth}");
        let doc = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let ours = JsonView::parse(doc.as_bytes(), Leniency::Strict).is_some();
        assert_eq!(ours, serde_json::from_str::<Value>(&doc).is_ok(), "object depth {depth}");
    }
}

#[test]
fn lookups_take_the_last_repeated_key_and_decode_escaped_keys() {
    let doc = JsonView::parse(br#"{"a":1,"t\u0079pe":"x","a":2}"#, Leniency::Strict).unwrap();
    assert_eq!(doc.get("a").and_then(|v| v.as_u64()), Some(2));
    assert_eq!(doc.get("type").and_then(|v| v.as_str()).as_deref(), Some("x"));
    assert!(doc.contains_key("type") && !doc.contains_key("b"));
    assert_eq!(doc.members().count(), 3);
    assert!(doc.get("a").is_some_and(|v| v.items().next().is_none()));
}

#[test]
fn a_prefix_is_read_as_the_stream_deserializer_reads_it() {
    let view = JsonView::parse_prefix(br#"{"prompt_tokens":1} , "x": 2}"#).unwrap();
    assert_eq!(view.raw(), br#"{"prompt_tokens":1}"#);
    assert!(JsonView::parse_prefix(b"12}").is_none());
    assert!(JsonView::parse_prefix(br#"{"a":"#).is_none());
}

/// Numbers near `f64::MAX` (and far past it, and tiny ones) are refused exactly where they round
/// to infinity (as `str::parse::<f64>` rounds, correctly): the overflow is decided on the text,
/// without float parsing. serde_json agrees except within a few units of the boundary, where its
/// default (not correctly rounded) parser refuses some numbers that round to `f64::MAX`.
#[test]
fn out_of_range_numbers_are_refused_where_serde_json_refuses_them() {
    let max = "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";
    let below = "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791";
    let mut cases: Vec<String> = vec![
        max.into(),
        below.into(),
        format!("-{max}"),
        format!("{max}.0"),
        format!("{below}.99999"),
        format!("{}e0", &max[..1]),
        "1.7976931348623157e308".into(),
        "1.7976931348623158e308".into(),
        "1.7976931348623159e308".into(),
        "1.797693134862315807937289714053034150799341327e308".into(),
        "1.797693134862315807937289714053034150799341328e308".into(),
        "0.00017976931348623159e312".into(),
        "17976931348623157e292".into(),
        "17976931348623159e292".into(),
        "1e308".into(),
        "1e309".into(),
        "-1e309".into(),
        "10e308".into(),
        "0e999999".into(),
        "0.0e99999999999999999999".into(),
        "1e-400".into(),
        "1e-99999999999999999999".into(),
        "1e99999999999999999999".into(),
        "123.456e-2".into(),
        "0.000e5".into(),
        format!("{}", "9".repeat(308)),
        format!("{}", "9".repeat(309)),
        format!("{}.5", "1".repeat(310)),
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let digits = 1 + (seed % 25) as usize;
        let mantissa: String = (0..digits).map(|k| char::from(b'0' + ((seed >> (k % 60)) % 10) as u8)).collect();
        let mantissa = mantissa.trim_start_matches('0');
        let mantissa = if mantissa.is_empty() { "1" } else { mantissa };
        let exp = 280 + (seed >> 40) % 40;
        cases.push(format!("{mantissa}e{exp}"));
        cases.push(format!("0.{mantissa}e{}", exp + 5));
    }
    for case in &cases {
        let ours = JsonView::parse(case.as_bytes(), Leniency::Strict).is_some();
        let exact = case.parse::<f64>().is_ok_and(f64::is_finite);
        assert_eq!(ours, exact, "{case}");
        if serde_json::from_str::<Value>(case).is_ok() != ours {
            // Only just below the boundary, which serde_json's parser does not round exactly.
            let digits: String = case.chars().filter(char::is_ascii_digit).collect();
            assert!(digits.trim_start_matches('0').starts_with("1797693134862315"), "{case}");
        }
    }
}

/// Strings are written byte for byte as serde_json writes them: every character below 0x80,
/// DEL and non-ASCII text.
#[test]
fn strings_are_written_as_serde_json_writes_them() {
    let mut samples: Vec<String> = (0u8..0x80).map(|b| format!("a{}b", char::from(b))).collect();
    samples.extend(["", "é€😀", "\u{7f}\u{80}\u{2028}", "\"\\/", "tab\there\nline"].map(String::from));
    for s in &samples {
        let mut ours = String::new();
        crate::push_json_string(&mut ours, s);
        assert_eq!(ours, serde_json::to_string(s).unwrap(), "{s:?}");
    }
}
