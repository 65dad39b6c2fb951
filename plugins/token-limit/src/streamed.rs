//! How much text a response has carried so far, for a stream that ends before its usage
//! report (the client closed it, the upstream reset it): the characters of the generated text
//! fields of every event (`content`, `text`, `delta`, `arguments`, `partial_json`, `thinking`,
//! `reasoning_content`, `refusal`), found by a single pass over the bytes without building a
//! JSON tree. Works on truncated documents too.

/// Keys whose string values are generated text in the formats token-limit reads.
const TEXT_KEYS: &[&[u8]] =
    &[b"content", b"text", b"delta", b"arguments", b"partial_json", b"thinking", b"reasoning_content", b"refusal"];

/// Characters of generated text in one JSON document (or a prefix of one).
pub fn text_chars(json: &[u8]) -> u64 {
    let mut total = 0u64;
    let mut key: &[u8] = b"";
    let mut i = 0;
    while i < json.len() {
        if json[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let (end, chars) = string_end(json, start);
        let raw = &json[start..end];
        i = end + 1;
        let next = json[i.min(json.len())..].iter().find(|b| !b.is_ascii_whitespace());
        if next == Some(&b':') {
            key = raw;
        } else if TEXT_KEYS.contains(&key) {
            total = total.saturating_add(chars);
        }
    }
    total
}

/// The index of the closing quote of the string starting at `start` (or the end of the input)
/// and its length in characters (an escape sequence is one).
fn string_end(json: &[u8], start: usize) -> (usize, u64) {
    let mut chars = 0u64;
    let mut i = start;
    while i < json.len() {
        match json[i] {
            b'"' => return (i, chars),
            b'\\' => {
                chars += 1;
                i += if json.get(i + 1) == Some(&b'u') { 6 } else { 2 };
                continue;
            }
            // UTF-8 continuation bytes belong to the character before.
            b if b & 0xC0 == 0x80 => {}
            _ => chars += 1,
        }
        i += 1;
    }
    (json.len(), chars)
}

/// Whether an SSE event's data repeats text already streamed (the Responses API's `.done`
/// and `response.completed` events carry the whole output again).
pub fn repeats_text(data: &[u8]) -> bool {
    contains(data, b".done\"") || contains(data, b"\"response.completed\"")
}

/// Whether an SSE event carries the text so far rather than what is new (DashScope's native
/// API: `output.text` grows with every event).
pub fn cumulative(data: &[u8]) -> bool {
    contains(data, b"\"output\":") && !contains(data, b"\"type\":\"response.")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_generated_text_of_every_format() {
        let openai = br#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"}}],"usage":null}"#;
        assert_eq!(text_chars(openai), 5);
        let tools = br#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]}}]}"#;
        assert_eq!(text_chars(tools), 7);
        let anthropic =
            br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"h\u00e9llo"}}"#;
        assert_eq!(text_chars(anthropic), 5);
        let responses = br#"{"type":"response.output_text.delta","item_id":"x","delta":"Hi there"}"#;
        assert_eq!(text_chars(responses), 8);
        let json = r#"{"choices":[{"message":{"role":"assistant","content":"Grüße"}}],"usage":{"prompt_tokens":1}}"#;
        assert_eq!(text_chars(json.as_bytes()), 5, "characters, not bytes");
        assert_eq!(text_chars(br#"{"choices":[{"message":{"content":"abc"#), 3, "a truncated document");
        assert_eq!(text_chars(br#"{"content":["a","b"],"type":"text"}"#), 2);
        assert_eq!(text_chars(b"not json"), 0);
    }

    #[test]
    fn recognises_repeating_and_cumulative_events() {
        assert!(repeats_text(br#"{"type":"response.output_text.done","text":"all"}"#));
        assert!(repeats_text(br#"{"type":"response.completed","response":{}}"#));
        assert!(!repeats_text(br#"{"type":"response.output_text.delta","delta":"a"}"#));
        assert!(cumulative(br#"{"output":{"text":"abc"},"usage":{}}"#));
        assert!(!cumulative(br#"{"type":"response.created","response":{"output":[]}}"#));
    }
}
