//! The request reader against the serde_json tree walk it replaced, on generated bodies.

use serde_json::{Value, json};

use super::*;

/// The reader as it was: a serde_json tree of the whole body, then lookups.
fn reference(body: &[u8]) -> Option<RequestInfo> {
    let doc = lenient::parse_object(body)?;
    let max_tokens = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| doc.get(*k).and_then(Value::as_u64))
        .or_else(|| doc.get("parameters").and_then(|p| p.get("max_tokens")).and_then(Value::as_u64));
    let (mut chars, mut media) = (0u64, 0u64);
    for v in PROMPT_KEYS.iter().filter_map(|k| doc.get(*k)) {
        walk(v, 0, &mut chars, &mut media);
    }
    Some(RequestInfo {
        model: doc.get("model").and_then(Value::as_str).map(str::to_string),
        stream: doc.get("stream").and_then(Value::as_bool).unwrap_or(false),
        max_tokens,
        prompt_chars: chars,
        media_parts: media,
        openai_style: doc.contains_key("messages") || doc.contains_key("prompt"),
        completion: COMPLETION_KEYS.iter().any(|k| doc.contains_key(*k)),
        anthropic_body: doc.contains_key("anthropic_version"),
        has_stream_options: doc.contains_key("stream_options"),
    })
}

fn walk(v: &Value, depth: u32, chars: &mut u64, media: &mut u64) {
    if depth > 32 {
        return;
    }
    match v {
        Value::String(s) if is_data_url(s) => *media += 1,
        Value::String(s) => *chars += s.chars().count() as u64,
        Value::Array(items) => items.iter().for_each(|i| walk(i, depth + 1, chars, media)),
        Value::Object(m) => {
            if m.get("type").and_then(Value::as_str).is_some_and(|t| MEDIA_TYPES.contains(&t)) {
                *media += 1;
                return;
            }
            for (k, v) in m {
                if MEDIA_KEYS.contains(&k.as_str()) {
                    *media += 1;
                } else {
                    walk(v, depth + 1, chars, media);
                }
            }
        }
        _ => {}
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const TEXTS: &[&str] = &[
    "hi",
    "héllo wörld",
    "😀 emoji",
    "data:image/png;base64,QUJD",
    "DATA:audio/wav;base64,AAAA",
    "data:text/plain,x",
    "quote \" and \\ backslash",
    "\u{e9}\u{301}",
    "",
];
const TYPES: &[&str] = &["text", "image_url", "input_audio", "file", "image", "tool_use", "video"];
/// The keys the reader reads, and two it ignores.
fn keys() -> Vec<&'static str> {
    READ_KEYS.iter().copied().chain(["temperature", "n"]).collect()
}

fn part(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 3 { 3 } else { 7 }) {
        0 => json!(TEXTS[rng.below(TEXTS.len())]).to_string(),
        1 => ["1", "-2", "3.5", "null", "true", "NaN", "Infinity"][rng.below(7)].to_string(),
        2 => format!(r#""\u00e9\ud83d\ude00{}""#, rng.below(10)),
        3 => {
            // A content part; sometimes with a repeated or escaped key.
            let ty = TYPES[rng.below(TYPES.len())];
            let extra = match rng.below(5) {
                0 => r#","type":"text""#.to_string(),
                1 => format!(r#","t\u0079pe":"{ty}""#),
                2 => r#","inline_data":{"data":"QUJD"}"#.to_string(),
                3 => format!(r#","text":{},"text":"x""#, part(rng, depth + 1)),
                _ => String::new(),
            };
            format!(r#"{{"type":"{ty}","text":{}{extra}}}"#, part(rng, depth + 1))
        }
        4 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| part(rng, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        5 => format!(r#"{{"role":"user","content":{}}}"#, part(rng, depth + 1)),
        _ => format!(r#"{{"parts":[{}],"inlineData":{{}}}}"#, part(rng, depth + 1)),
    }
}

fn body(rng: &mut Rng) -> Vec<u8> {
    let keys = keys();
    let n = rng.below(7);
    let members: Vec<String> = (0..n)
        .map(|_| {
            let key = keys[rng.below(keys.len())];
            let value = match key {
                "max_tokens" | "max_completion_tokens" | "max_output_tokens" => {
                    ["10", "0", "-5", "10.0", "1e2", "18446744073709551616", "NaN", "\"7\""][rng.below(8)].to_string()
                }
                "stream" => ["true", "false", "\"yes\"", "null"][rng.below(4)].to_string(),
                "parameters" => format!(r#"{{"max_tokens":{}}}"#, rng.below(20)),
                "model" => r#""gpt-4o""#.to_string(),
                _ => part(rng, 0),
            };
            format!(r#""{key}":{value}"#)
        })
        .collect();
    let mut text = format!("{{{}}}", members.join(","));
    if rng.below(8) == 0 {
        text.insert(0, '\u{feff}');
    }
    let mut bytes = text.into_bytes();
    if rng.below(10) == 0 {
        // Cut anywhere, mid-character too.
        bytes.truncate(rng.below(bytes.len() + 1));
    }
    bytes
}

#[test]
fn reads_every_generated_body_as_the_serde_json_tree_walk_did() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut objects = 0;
    for _ in 0..20_000 {
        let body = body(&mut rng);
        let expected = reference(&body);
        objects += usize::from(expected.is_some());
        assert_eq!(parse(&body), expected, "{}", String::from_utf8_lossy(&body));
    }
    assert!(objects > 15_000, "only {objects} bodies were objects");
}

/// The `include_usage` rewrite as it was: serde_json's tree of the whole body, edited and
/// written anew.
fn rewrite_by_tree(body: &[u8], info: &RequestInfo) -> Option<Vec<u8>> {
    if !info.has_stream_options {
        return lenient::insert_first_member(body, r#""stream_options":{"include_usage":true}"#);
    }
    let mut doc = lenient::parse_object(body)?;
    if !inject_include_usage(&mut doc) {
        return None;
    }
    serde_json::to_vec(&doc).ok()
}

/// A request body around some `stream_options` (or none), repeated, escaped, spaced.
fn streaming_body(rng: &mut Rng) -> Vec<u8> {
    const OPTIONS: &[&str] = &[
        "null",
        "1",
        "\"x\"",
        "[]",
        "[{\"include_usage\":true}]",
        "{}",
        "{ }",
        "{\"include_usage\":false}",
        "{\"include_usage\":true}",
        "{\"include_usage\" : true }",
        "{\"include_usage\":null,\"x\":1}",
        "{\"x\":{\"include_usage\":true}}",
        "{\"a\":1,\"include_usage\":true,\"include_usage\":false}",
        "{\"include_usage\":false,\"include_usage\":true}",
        "{\"include\\u005fusage\":true}",
        "{\"include_usage\":\"true\"}",
        "{\"include_usage\":NaN,\"n\":Infinity}",
        "{\n  \"include_usage\": false\n}",
    ];
    const KEYS: &[&str] = &["stream_options", "stream_options", "stream\\u005foptions", "stream", "messages", "t"];
    let mut members = Vec::new();
    for _ in 0..rng.below(6) {
        let key = KEYS[rng.below(KEYS.len())];
        let value = match key {
            "stream" => "true".to_string(),
            "t" => ["NaN", "-Infinity", "1.5", "\"NaN\"", "-0", "1e2"][rng.below(6)].to_string(),
            "messages" => part(rng, 0),
            _ => OPTIONS[rng.below(OPTIONS.len())].to_string(),
        };
        let space = [" ", "", "\n"][rng.below(3)];
        members.push(format!("{space}\"{key}\"{space}:{space}{value}{space}"));
    }
    let mut text = format!("{{{}}}", members.join(","));
    if rng.below(8) == 0 {
        text.insert(0, '\u{feff}');
    }
    if rng.below(8) == 0 {
        text = format!(" \n{text}\t");
    }
    text.into_bytes()
}

/// A body as strict JSON reads it, or leniently (`NaN` as `null`, a BOM skipped).
fn value_of(body: &[u8]) -> Option<Value> {
    lenient::parse_object(body).map(Value::Object)
}

#[test]
fn the_include_usage_rewrite_reads_as_the_serde_json_rewrite_did() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut rewritten, mut unchanged, mut inserted) = (0, 0, 0);
    for _ in 0..20_000 {
        let body = streaming_body(&mut rng);
        let shown = String::from_utf8_lossy(&body).into_owned();
        let Some(info) = parse(&body) else { continue };
        let ours = with_include_usage(&body, &info);
        let theirs = rewrite_by_tree(&body, &info);
        if !info.has_stream_options {
            inserted += 1;
            assert_eq!(ours, theirs, "{shown}");
            continue;
        }
        match (&ours, &theirs) {
            (None, None) => unchanged += 1,
            (Some(ours), Some(theirs)) => {
                rewritten += 1;
                // Strict JSON, as serde_json wrote it, with the same value.
                let strict: Value = serde_json::from_slice(ours)
                    .unwrap_or_else(|e| panic!("{shown}\n-> {}: {e}", String::from_utf8_lossy(ours)));
                assert_eq!(Some(strict), value_of(theirs), "{shown}\n-> {}", String::from_utf8_lossy(ours));
                let again = parse(ours).unwrap();
                assert_eq!(with_include_usage(ours, &again), None, "{shown}: asked for twice");
            }
            _ => panic!("{shown}: ours {ours:?}, theirs {theirs:?}"),
        }
    }
    assert!(rewritten > 5_000 && unchanged > 1_000 && inserted > 1_000, "{rewritten} {unchanged} {inserted}");
}
