//! The request side: what an LLM request body says about its cost (model, streaming, output cap,
//! prompt size) and the `stream_options.include_usage` rewrite for OpenAI-style streams.

use serde_json::{Map, Value};

/// What the request body told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// `model`.
    pub model: Option<String>,
    /// `stream: true`.
    pub stream: bool,
    /// `max_tokens`, `max_completion_tokens`, `max_output_tokens` or DashScope's `parameters.max_tokens`.
    pub max_tokens: Option<u64>,
    /// Characters of prompt text (messages, prompt, input, system, instructions).
    pub prompt_chars: u64,
    /// Whether the body is an OpenAI-style chat/completions request (`messages` or `prompt`).
    pub openai_style: bool,
}

impl RequestInfo {
    /// The tokens to reserve: the output cap (or `default_output`) plus the prompt estimate.
    pub fn estimate(&self, default_output: u64, chars_per_token: u64) -> u64 {
        let input = self.prompt_chars.div_ceil(chars_per_token.max(1));
        self.max_tokens.unwrap_or(default_output).saturating_add(input)
    }
}

/// Reads a JSON request body; `None` when it is not a JSON object.
pub fn parse(body: &[u8]) -> Option<(RequestInfo, Map<String, Value>)> {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else { return None };
    let max_tokens = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| doc.get(*k).and_then(Value::as_u64))
        .or_else(|| doc.get("parameters").and_then(|p| p.get("max_tokens")).and_then(Value::as_u64));
    let prompt_chars = ["messages", "prompt", "input", "system", "instructions"]
        .iter()
        .filter_map(|k| doc.get(*k))
        .map(|v| text_chars(v, 0))
        .fold(0u64, u64::saturating_add);
    let info = RequestInfo {
        model: doc.get("model").and_then(Value::as_str).map(str::to_string),
        stream: doc.get("stream").and_then(Value::as_bool).unwrap_or(false),
        max_tokens,
        prompt_chars,
        openai_style: doc.contains_key("messages") || doc.contains_key("prompt"),
    };
    Some((info, doc))
}

/// Characters in every string under `v` (object keys excluded), depth-limited.
fn text_chars(v: &Value, depth: u32) -> u64 {
    if depth > 32 {
        return 0;
    }
    match v {
        Value::String(s) => s.chars().count() as u64,
        Value::Array(items) => items.iter().map(|i| text_chars(i, depth + 1)).fold(0, u64::saturating_add),
        Value::Object(m) => m.values().map(|i| text_chars(i, depth + 1)).fold(0, u64::saturating_add),
        _ => 0,
    }
}

/// Sets `stream_options.include_usage: true` unless it is already true. Returns whether the
/// document changed.
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
mod tests {
    use super::*;

    #[test]
    fn reads_model_stream_and_output_cap() {
        let body = br#"{"model":"gpt-4o","stream":true,"max_completion_tokens":50,"messages":[{"role":"user","content":"abcdefgh"}]}"#;
        let (info, _) = parse(body).unwrap();
        assert_eq!(info.model.as_deref(), Some("gpt-4o"));
        assert!(info.stream && info.openai_style);
        assert_eq!(info.max_tokens, Some(50));
        assert_eq!(info.prompt_chars, "user".len() as u64 + 8);
        assert_eq!(info.estimate(1000, 4), 53);
    }

    #[test]
    fn dashscope_native_parameters_and_defaults() {
        let (info, _) =
            parse(br#"{"model":"qwen-max","input":{"prompt":"hey"},"parameters":{"max_tokens":7}}"#).unwrap();
        assert_eq!(info.max_tokens, Some(7));
        assert!(!info.openai_style);
        let (none, _) = parse(br#"{"messages":[]}"#).unwrap();
        assert_eq!(none.estimate(256, 4), 256);
        assert_eq!(none.estimate(256, 0), 256);
    }

    #[test]
    fn non_objects_and_garbage_are_none() {
        assert!(parse(b"[1,2]").is_none());
        assert!(parse(b"{\"model\":").is_none());
        assert!(parse(&[0xff, 0x00]).is_none());
        let (neg, _) = parse(br#"{"max_tokens":-5,"stream":"yes"}"#).unwrap();
        assert_eq!((neg.max_tokens, neg.stream), (None, false));
    }

    #[test]
    fn injects_include_usage_once() {
        let (_, mut doc) = parse(br#"{"stream":true,"messages":[],"stream_options":{"include_usage":false}}"#).unwrap();
        assert!(inject_include_usage(&mut doc));
        assert_eq!(doc["stream_options"]["include_usage"], Value::Bool(true));
        assert!(!inject_include_usage(&mut doc));
        let (_, mut bare) = parse(br#"{"stream":true,"stream_options":null}"#).unwrap();
        assert!(inject_include_usage(&mut bare));
        assert_eq!(bare["stream_options"], serde_json::json!({"include_usage": true}));
    }
}
