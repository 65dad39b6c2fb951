//! The request side: what an LLM request body says about its cost (streaming, output cap,
//! prompt size, media parts), whether it is a completion at all, and the
//! `stream_options.include_usage` rewrite for OpenAI-style streams.

#[cfg(test)]
use serde_json::{Map, Value};

use crate::lenient;
use gateway_json::{JsonKey, JsonView, Kind, Leniency};

/// Part types that carry media (images, audio, files, video) rather than text.
const MEDIA_TYPES: &[&str] = &[
    "image_url",
    "input_image",
    "image",
    "input_audio",
    "audio",
    "file",
    "input_file",
    "document",
    "video_url",
    "video",
];

/// Top-level keys that make a body a completion request (Gemini's `contents` included).
#[cfg(test)]
const COMPLETION_KEYS: &[&str] = &["messages", "prompt", "input", "contents"];

/// Top-level keys whose text is the prompt.
#[cfg(test)]
const PROMPT_KEYS: &[&str] = &["messages", "prompt", "input", "contents", "system", "instructions"];

/// Keys whose object value is an inline media payload (Gemini).
const MEDIA_KEYS: &[&str] = &["inline_data", "inlineData"];

/// What the request body told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// `model`.
    pub model: Option<String>,
    /// `stream: true`.
    pub stream: bool,
    /// `max_tokens`, `max_completion_tokens`, `max_output_tokens` or DashScope's `parameters.max_tokens`.
    pub max_tokens: Option<u64>,
    /// Characters of prompt text (messages, prompt, input, contents, system, instructions),
    /// media excluded.
    pub prompt_chars: u64,
    /// Media parts (images, audio, files: base64 `data:` URLs, `input_audio.data`,
    /// `file_data`, Anthropic `source.data`, or a URL), each costing a fixed number of tokens.
    pub media_parts: u64,
    /// Whether the body is an OpenAI-style chat/completions request (`messages` or `prompt`).
    pub openai_style: bool,
    /// Whether the body asks for a completion at all (`messages`, `prompt`, `input` or `contents`).
    pub completion: bool,
    /// Whether the body is Anthropic's by its shape (`anthropic_version`, as Bedrock and
    /// Vertex AI carry it in the body).
    pub anthropic_body: bool,
    /// Whether `stream_options` is present.
    pub has_stream_options: bool,
}

/// What a request may cost, in tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    /// What to reserve when it fits: the output cap (or the default) plus the prompt.
    pub want: u64,
    /// The least to reserve: the prompt plus an explicit output cap (at least 1 for a
    /// completion). A request whose least cannot fit a window's whole quota never fits.
    pub least: u64,
    /// The prompt estimate (text and media), charged with the streamed text when a stream
    /// ends before its usage.
    pub prompt: u64,
    /// Whether the request is a completion (else only reported usage is charged).
    pub completion: bool,
}

/// How the prompt is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EstimateRules {
    /// Output tokens assumed without an explicit cap.
    pub default_output: u64,
    /// Characters per token.
    pub chars_per_token: u64,
    /// Tokens per media part.
    pub media_tokens: u64,
}

impl RequestInfo {
    /// The prompt estimate: ⌈characters / `chars_per_token`⌉ + media parts × `media_tokens`.
    pub fn prompt_tokens(&self, rules: &EstimateRules) -> u64 {
        self.prompt_chars
            .div_ceil(rules.chars_per_token.max(1))
            .saturating_add(self.media_parts.saturating_mul(rules.media_tokens))
    }

    /// What this request may cost. `embeddings`: no output is generated.
    pub fn estimate(&self, rules: &EstimateRules, embeddings: bool) -> Estimate {
        if !self.completion {
            return Estimate::default();
        }
        let prompt = self.prompt_tokens(rules);
        let default_output = if embeddings { 0 } else { rules.default_output };
        let want = self.max_tokens.unwrap_or(default_output).saturating_add(prompt);
        let least = self.max_tokens.unwrap_or(0).saturating_add(prompt).max(1);
        Estimate { want: want.max(least), least, prompt, completion: true }
    }
}

/// Top-level keys the estimate reads: [`TopLevel`] keeps one slot for each, in this order.
const READ_KEYS: [&str; 14] = [
    "model",
    "stream",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "parameters",
    "anthropic_version",
    "stream_options",
    "messages",
    "prompt",
    "input",
    "contents",
    "system",
    "instructions",
];
const MODEL: usize = 0;
const STREAM: usize = 1;
/// `max_tokens`, `max_completion_tokens`, `max_output_tokens`: the first that is a count wins.
const OUTPUT_CAPS: [usize; 3] = [2, 3, 4];
const PARAMETERS: usize = 5;
const ANTHROPIC_VERSION: usize = 6;
const STREAM_OPTIONS: usize = 7;
const MESSAGES: usize = 8;
const PROMPT: usize = 9;
/// The keys that make a body a completion request: `messages`, `prompt`, `input`, `contents`.
const COMPLETION_SLOTS: [usize; 4] = [8, 9, 10, 11];
/// The keys whose text is the prompt: those four, `system` and `instructions`.
const PROMPT_SLOTS: [usize; 6] = [8, 9, 10, 11, 12, 13];

/// The last value of each of [`READ_KEYS`] in the body's top-level object.
struct TopLevel<'a>([Option<JsonView<'a>>; READ_KEYS.len()]);

impl<'a> TopLevel<'a> {
    fn read(doc: JsonView<'a>) -> TopLevel<'a> {
        let mut slots = [None; READ_KEYS.len()];
        for (key, value) in doc.members() {
            // A repeated key: the last one wins, as serde_json's map (and Python's json) keep it.
            if let Some(slot) = READ_KEYS.iter().position(|k| key.matches(k)) {
                slots[slot] = Some(value);
            }
        }
        TopLevel(slots)
    }

    fn has(&self, slot: usize) -> bool {
        self.0[slot].is_some()
    }
}

/// Reads a JSON request body (leniently: a BOM, `NaN`, `Infinity`); `None` when it is not a
/// JSON object. One pass over the text, no tree: [`gateway_json`] accepts exactly what
/// serde_json does.
pub fn parse(body: &[u8]) -> Option<RequestInfo> {
    let doc = JsonView::parse(lenient::strip_bom(body), Leniency::NonFinite).filter(JsonView::is_object)?;
    let top = TopLevel::read(doc);
    let max_tokens = OUTPUT_CAPS
        .iter()
        .find_map(|&slot| top.0[slot].and_then(|v| v.as_u64()))
        .or_else(|| top.0[PARAMETERS].and_then(|p| p.get("max_tokens")).and_then(|v| v.as_u64()));
    let mut counts = Counts::default();
    for v in PROMPT_SLOTS.iter().filter_map(|&slot| top.0[slot]) {
        counts.walk(v, 0);
    }
    Some(RequestInfo {
        model: top.0[MODEL].and_then(|v| v.as_str()).map(|s| s.into_owned()),
        stream: top.0[STREAM].and_then(|v| v.as_bool()).unwrap_or(false),
        max_tokens,
        prompt_chars: counts.chars,
        media_parts: counts.media,
        openai_style: top.has(MESSAGES) || top.has(PROMPT),
        completion: COMPLETION_SLOTS.iter().any(|&slot| top.has(slot)),
        anthropic_body: top.has(ANTHROPIC_VERSION),
        has_stream_options: top.has(STREAM_OPTIONS),
    })
}

#[derive(Debug, Default)]
struct Counts {
    chars: u64,
    media: u64,
}

impl Counts {
    /// Counts the characters of every string under `v` (object keys excluded) and the media
    /// parts, depth-limited. An object's repeated key counts once, its last value, as
    /// serde_json's map keeps it.
    fn walk(&mut self, v: JsonView<'_>, depth: u32) {
        if depth > 32 {
            return;
        }
        match v.kind() {
            Kind::String => match v.as_str() {
                Some(s) if is_data_url(&s) => self.media += 1,
                Some(s) => self.chars = self.chars.saturating_add(s.chars().count() as u64),
                None => {}
            },
            Kind::Array => v.items().for_each(|i| self.walk(i, depth + 1)),
            Kind::Object => {
                let members = kept_members(v);
                let type_name = members.iter().rev().find(|(k, _)| k.matches("type")).and_then(|(_, t)| t.as_str());
                if type_name.is_some_and(|t| MEDIA_TYPES.contains(&t.as_ref())) {
                    self.media += 1;
                    return;
                }
                for (k, v) in members {
                    if MEDIA_KEYS.iter().any(|m| k.matches(m)) {
                        self.media += 1;
                    } else {
                        self.walk(v, depth + 1);
                    }
                }
            }
            Kind::Null | Kind::Bool | Kind::Number => {}
        }
    }
}

/// An object's members without the ones a later repeat of their key overrides.
fn kept_members<'a>(obj: JsonView<'a>) -> Vec<(JsonKey<'a>, JsonView<'a>)> {
    let mut members: Vec<_> = obj.members().collect();
    if members.len() <= 32 {
        let mut i = 0;
        while i < members.len() {
            let key = members[i].0;
            if members[i + 1..].iter().any(|(later, _)| later.same_as(&key)) {
                members.remove(i);
            } else {
                i += 1;
            }
        }
        return members;
    }
    // Many members: sort by key (stable, so repeats stay in document order) and keep the last.
    let mut keyed: Vec<(std::borrow::Cow<'a, str>, usize)> =
        members.iter().enumerate().map(|(i, (k, _))| (k.decoded(), i)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut keep = vec![false; members.len()];
    for (n, (key, index)) in keyed.iter().enumerate() {
        if keyed.get(n + 1).is_none_or(|(next, _)| next != key) {
            keep[*index] = true;
        }
    }
    members.into_iter().zip(keep).filter_map(|(m, k)| k.then_some(m)).collect()
}

fn is_data_url(s: &str) -> bool {
    s.len() > 5 && s.as_bytes()[..5].eq_ignore_ascii_case(b"data:") && s.contains(";base64,")
}

/// The body with `stream_options.include_usage: true`, or `None` when it is already asked
/// for. The body is edited as text, so the rest of it goes upstream as the client sent it:
/// without `stream_options` the member is inserted first (a BOM, `NaN` kept); with it, its
/// value (the last one, if the key repeats) is replaced or `include_usage` is set inside it,
/// and the body is then strict JSON as the serde_json rewrite this replaced wrote it: no BOM,
/// `NaN` / `Infinity` / `-Infinity` written as `null`.
pub fn with_include_usage(body: &[u8], info: &RequestInfo) -> Option<Vec<u8>> {
    if !info.has_stream_options {
        return lenient::insert_first_member(body, r#""stream_options":{"include_usage":true}"#);
    }
    let body = lenient::strip_bom(body);
    let nulled;
    let text = match JsonView::parse(body, Leniency::Strict) {
        Some(_) => body,
        None => {
            nulled = gateway_json::null_non_finite(body)?;
            &nulled[..]
        }
    };
    let doc = JsonView::parse(text, Leniency::Strict).filter(JsonView::is_object)?;
    let options = doc.get("stream_options")?;
    let at = |v: JsonView<'_>| v.raw().as_ptr() as usize - text.as_ptr() as usize;
    let (start, end, replacement) = if !options.is_object() {
        (at(options), at(options) + options.raw().len(), r#"{"include_usage":true}"#)
    } else {
        match options.get("include_usage") {
            Some(v) if v.as_bool() == Some(true) => return None,
            Some(v) => (at(v), at(v) + v.raw().len(), "true"),
            None if options.members().next().is_some() => {
                (at(options) + 1, at(options) + 1, r#""include_usage":true,"#)
            }
            None => (at(options) + 1, at(options) + 1, r#""include_usage":true"#),
        }
    };
    let mut out = Vec::with_capacity(text.len() + replacement.len());
    out.extend_from_slice(text.get(..start)?);
    out.extend_from_slice(replacement.as_bytes());
    out.extend_from_slice(text.get(end..)?);
    Some(out)
}

/// Sets `stream_options.include_usage: true` unless it is already true. Returns whether the
/// document changed. The serde_json rewrite [`with_include_usage`] replaced, kept for the tests.
#[cfg(test)]
pub fn inject_include_usage(doc: &mut Map<String, Value>) -> bool {
    let options = doc.entry("stream_options").or_insert_with(|| Value::Object(Map::new()));
    if !options.is_object() {
        *options = Value::Object(Map::new());
    }
    let Value::Object(options) = options else { return false };
    if options.get("include_usage") == Some(&Value::Bool(true)) {
        return false;
    }
    options.insert("include_usage".into(), Value::Bool(true));
    true
}

#[cfg(test)]
#[path = "request_against_serde.rs"]
mod against_serde_json;

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: EstimateRules = EstimateRules { default_output: 1000, chars_per_token: 4, media_tokens: 765 };

    #[test]
    fn the_slots_name_the_keys_they_hold() {
        let names = |slots: &[usize]| slots.iter().map(|&s| READ_KEYS[s]).collect::<Vec<_>>();
        assert_eq!(names(&PROMPT_SLOTS), PROMPT_KEYS);
        assert_eq!(names(&COMPLETION_SLOTS), COMPLETION_KEYS);
        assert_eq!(names(&OUTPUT_CAPS), ["max_tokens", "max_completion_tokens", "max_output_tokens"]);
        let singles = [MODEL, STREAM, PARAMETERS, ANTHROPIC_VERSION, STREAM_OPTIONS, MESSAGES, PROMPT];
        assert_eq!(
            names(&singles),
            ["model", "stream", "parameters", "anthropic_version", "stream_options", "messages", "prompt"]
        );
    }

    #[test]
    fn reads_model_stream_and_output_cap() {
        let body = br#"{"model":"gpt-4o","stream":true,"max_completion_tokens":50,"messages":[{"role":"user","content":"abcdefgh"}]}"#;
        let info = parse(body).unwrap();
        assert_eq!(info.model.as_deref(), Some("gpt-4o"));
        assert!(info.stream && info.openai_style && info.completion);
        assert_eq!(info.max_tokens, Some(50));
        assert_eq!(info.prompt_chars, "user".len() as u64 + 8);
        assert_eq!(info.estimate(&RULES, false), Estimate { want: 53, least: 53, prompt: 3, completion: true });
    }

    #[test]
    fn without_an_output_cap_the_least_is_the_prompt() {
        let info = parse(br#"{"messages":[{"role":"user","content":"Hello, who are you?"}]}"#).unwrap();
        assert_eq!(info.estimate(&RULES, false), Estimate { want: 1006, least: 6, prompt: 6, completion: true });
        assert_eq!(info.estimate(&RULES, true).want, 6, "embeddings generate nothing");
        let zero = parse(br#"{"max_tokens":0,"messages":[]}"#).unwrap();
        assert_eq!(zero.estimate(&RULES, false).least, 1, "a completion always reserves something");
    }

    #[test]
    fn dashscope_native_parameters_and_defaults() {
        let info = parse(br#"{"model":"qwen-max","input":{"prompt":"hey"},"parameters":{"max_tokens":7}}"#).unwrap();
        assert_eq!(info.max_tokens, Some(7));
        assert!(!info.openai_style && info.completion);
        let none = parse(br#"{"messages":[]}"#).unwrap();
        assert_eq!(none.estimate(&RULES, false).want, 1000);
    }

    #[test]
    fn bodies_that_are_not_completions_cost_nothing_up_front() {
        let info = parse(br#"{"purpose":"batch","file":"abc"}"#).unwrap();
        assert!(!info.completion);
        assert_eq!(info.estimate(&RULES, false), Estimate::default());
    }

    #[test]
    fn media_parts_cost_a_fixed_number_of_tokens() {
        let blob = "QUJD".repeat(10_000);
        let body = serde_json::json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "abcd"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{blob}")}},
            {"type": "input_audio", "input_audio": {"data": blob, "format": "wav"}},
            {"type": "file", "file": {"file_data": format!("data:application/pdf;base64,{blob}")}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": blob}},
            {"type": "input_image", "image_url": "https://example.com/cat.png"},
            {"inline_data": {"mime_type": "image/png", "data": blob}},
            format!("data:image/png;base64,{blob}")
        ]}]});
        let info = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(info.media_parts, 7);
        assert_eq!(info.prompt_chars, "user".len() as u64 + "text".len() as u64 + 4);
        assert_eq!(info.prompt_tokens(&RULES), 3 + 7 * 765);
    }

    #[test]
    fn non_objects_and_garbage_are_none() {
        assert!(parse(b"[1,2]").is_none());
        assert!(parse(b"{\"model\":").is_none());
        assert!(parse(&[0xff, 0x00]).is_none());
        let neg = parse(br#"{"max_tokens":-5,"stream":"yes"}"#).unwrap();
        assert_eq!((neg.max_tokens, neg.stream), (None, false));
    }

    #[test]
    fn include_usage_is_inserted_as_text_or_set_in_place() {
        let body = b"\xEF\xBB\xBF{\"stream\":true,\"temperature\":NaN,\"messages\":[]}";
        let info = parse(body).unwrap();
        assert!(info.stream && info.anthropic_body.eq(&false));
        let out = with_include_usage(body, &info).unwrap();
        assert_eq!(out, b"\xEF\xBB\xBF{\"stream_options\":{\"include_usage\":true},\"stream\":true,\"temperature\":NaN,\"messages\":[]}");
        let body = br#"{"stream":true,"messages":[],"stream_options":{"include_usage":false}}"#;
        let info = parse(body).unwrap();
        let out: Value = serde_json::from_slice(&with_include_usage(body, &info).unwrap()).unwrap();
        assert_eq!(out["stream_options"]["include_usage"], Value::Bool(true));
        let body = br#"{"stream":true,"stream_options":{"include_usage":true}}"#;
        let info = parse(body).unwrap();
        assert_eq!(with_include_usage(body, &info), None);
    }

    #[test]
    fn injects_include_usage_once() {
        let mut doc =
            lenient::parse_object(br#"{"stream":true,"messages":[],"stream_options":{"include_usage":false}}"#)
                .unwrap();
        assert!(inject_include_usage(&mut doc));
        assert_eq!(doc["stream_options"]["include_usage"], Value::Bool(true));
        assert!(!inject_include_usage(&mut doc));
        let mut bare = lenient::parse_object(br#"{"stream":true,"stream_options":null}"#).unwrap();
        assert!(inject_include_usage(&mut bare));
        assert_eq!(bare["stream_options"], serde_json::json!({"include_usage": true}));
    }
}
