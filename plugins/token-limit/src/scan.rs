//! Watches a response body go by, chunk by chunk, and works out the usage it reports: SSE events
//! are parsed as they complete; a plain JSON body is kept (up to a limit) and parsed at its end.
//! It also counts the generated text that went by, for a stream that ends before its usage.
//! The bytes themselves are never changed or held back.

use crate::sse::{Event, SseParser};
use crate::streamed;
use crate::usage::{Extracted, Extractor, Usage, read_usage_view};
use gateway_json::JsonView;

/// Largest SSE event or line kept for parsing.
pub const MAX_EVENT_BYTES: usize = 1 << 20;
/// Largest plain JSON body kept whole; past it only the tail is searched for `"usage"`.
pub const MAX_JSON_BYTES: usize = 4 << 20;
/// How much of an oversized JSON body's tail is kept.
pub const JSON_TAIL_BYTES: usize = 64 << 10;

/// What the scan found when the body ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanResult {
    /// Usage merged over the whole body.
    pub usage: Usage,
    /// Some count was garbage (negative, fractional, huge, not a number).
    pub invalid: bool,
    /// Some document could not be parsed (not JSON, truncated) or was too large.
    pub malformed: bool,
    /// Characters of generated text seen (see [`crate::streamed`]).
    pub streamed_chars: u64,
}

/// The body kind decided from the response headers.
#[derive(Debug)]
enum Mode {
    Sse(SseParser),
    Json { buf: Vec<u8>, overflowed: bool },
}

/// A response body scanner.
#[derive(Debug)]
pub struct Scanner {
    mode: Mode,
    result: ScanResult,
    /// The largest text of a cumulative (DashScope native) event.
    cumulative_chars: u64,
}

impl Scanner {
    /// A scanner for an SSE stream or a JSON body.
    pub fn new(sse: bool) -> Self {
        let mode = if sse {
            Mode::Sse(SseParser::new(MAX_EVENT_BYTES))
        } else {
            Mode::Json { buf: Vec::new(), overflowed: false }
        };
        Scanner { mode, result: ScanResult::default(), cumulative_chars: 0 }
    }

    /// Feeds one chunk.
    pub fn feed(&mut self, chunk: &[u8], extractor: &Extractor) {
        let (result, cumulative) = (&mut self.result, &mut self.cumulative_chars);
        match &mut self.mode {
            Mode::Sse(parser) => parser.feed(chunk, &mut |e| on_event(e, extractor, result, cumulative)),
            Mode::Json { buf, overflowed } => {
                buf.extend_from_slice(chunk);
                if buf.len() > MAX_JSON_BYTES {
                    *overflowed = true;
                    let cut = buf.len() - JSON_TAIL_BYTES;
                    buf.drain(..cut);
                }
            }
        }
    }

    /// The body ended: parse what is left and report.
    pub fn finish(&mut self, extractor: &Extractor) -> ScanResult {
        let (result, cumulative) = (&mut self.result, &mut self.cumulative_chars);
        match &mut self.mode {
            Mode::Sse(parser) => {
                parser.finish(&mut |e| on_event(e, extractor, result, cumulative));
                if parser.oversized > 0 {
                    result.malformed = true;
                }
                result.streamed_chars = result.streamed_chars.saturating_add(*cumulative);
                *cumulative = 0;
            }
            Mode::Json { buf, overflowed } => {
                let body = std::mem::take(buf);
                if *overflowed {
                    result.malformed = true;
                    if extractor.needs_usage_key() {
                        apply(result, tail_usage(&body));
                    }
                } else if !body.iter().all(u8::is_ascii_whitespace) {
                    match extractor.extract_text(&body) {
                        Some(found) => apply(result, found),
                        None => result.malformed = true,
                    }
                }
                // Only read when no usage was found (settlement then charges by the text);
                // counting it on every answer cost a pass over the whole body.
                if result.usage.is_empty() {
                    result.streamed_chars = streamed::text_chars(&body);
                }
            }
        }
        self.result
    }
}

fn apply(result: &mut ScanResult, found: Extracted) {
    result.usage.merge(found.usage);
    result.invalid |= found.invalid;
}

fn on_event(event: Event, extractor: &Extractor, result: &mut ScanResult, cumulative: &mut u64) {
    let data = event.data.trim_ascii();
    if data.is_empty() || data == b"[DONE]" {
        return;
    }
    if streamed::cumulative(data) {
        *cumulative = (*cumulative).max(streamed::text_chars(data));
    } else if !streamed::repeats_text(data) {
        result.streamed_chars = result.streamed_chars.saturating_add(streamed::text_chars(data));
    }
    if extractor.needs_usage_key() && !contains(data, b"\"usage\"") {
        return;
    }
    match extractor.extract_text(data) {
        Some(found) => apply(result, found),
        None => result.malformed = true,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The last `"usage": {...}` object in the tail of an oversized JSON body.
fn tail_usage(tail: &[u8]) -> Extracted {
    let needle = b"\"usage\"";
    let mut end = tail.len();
    while let Some(pos) = tail[..end].windows(needle.len()).rposition(|w| w == needle) {
        let after = tail[pos + needle.len()..].trim_ascii_start();
        if let Some(rest) = after.strip_prefix(b":")
            && let Some(obj) = JsonView::parse_prefix(rest.trim_ascii_start()).filter(JsonView::is_object)
        {
            return read_usage_view(obj);
        }
        end = pos;
    }
    Extracted::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Format;

    fn scan(sse: bool, chunks: &[&[u8]]) -> ScanResult {
        let ex = Extractor::BuiltIn(Format::Auto);
        let mut s = Scanner::new(sse);
        for c in chunks {
            s.feed(c, &ex);
        }
        s.finish(&ex)
    }

    fn split_everywhere(body: &str, expect: Usage) {
        let b = body.as_bytes();
        for i in 0..=b.len() {
            let r = scan(true, &[&b[..i], &b[i..]]);
            assert_eq!(r.usage, expect, "split at {i}");
        }
    }

    fn u(input: u64, output: u64, total: Option<u64>) -> Usage {
        Usage { input: Some(input), output: Some(output), total }
    }

    const OPENAI_SSE: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
        data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}\n\n\
        data: [DONE]\n\n";

    #[test]
    fn openai_stream_usage_is_found_at_every_split_point() {
        split_everywhere(OPENAI_SSE, u(9, 3, Some(12)));
    }

    #[test]
    fn dashscope_cumulative_usage_is_not_double_counted() {
        let body = "id:1\nevent:result\n:HTTP_STATUS/200\ndata:{\"output\":{},\"usage\":{\"input_tokens\":10,\"output_tokens\":1,\"total_tokens\":11}}\n\n\
            id:2\nevent:result\n:HTTP_STATUS/200\ndata:{\"output\":{},\"usage\":{\"input_tokens\":10,\"output_tokens\":6,\"total_tokens\":16}}\n\n";
        split_everywhere(body, u(10, 6, Some(16)));
    }

    #[test]
    fn anthropic_stream_takes_input_from_start_and_output_from_delta() {
        let body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"usage\"}}\n\n\
            event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n\
            event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        split_everywhere(body, u(25, 15, None));
    }

    #[test]
    fn responses_api_stream_reads_the_completed_event() {
        let body = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n\
            event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":4,\"output_tokens\":8,\"total_tokens\":12}}}\n\n";
        split_everywhere(body, u(4, 8, Some(12)));
    }

    #[test]
    fn json_bodies_are_parsed_at_the_end() {
        let body = br#"{"id":"x","usage":{"prompt_tokens":2,"completion_tokens":5,"total_tokens":7}}"#;
        let r = scan(false, &[&body[..10], &body[10..]]);
        assert_eq!(r.usage, u(2, 5, Some(7)));
        assert!(!r.malformed);
    }

    #[test]
    fn malformed_bodies_are_flagged_never_panic() {
        assert!(scan(false, &[b"<html>oops"]).malformed);
        assert!(scan(false, &[b"{\"usage\":{\"prompt_tokens\":"]).malformed);
        assert!(scan(false, &[b""]).usage.is_empty());
        let truncated = scan(true, &[b"data: {\"usage\":{\"prompt_tokens\":3"]);
        assert!(truncated.malformed && truncated.usage.is_empty());
        let negative = scan(
            true,
            &[b"data: {\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":99999999999999999999999}}\n\n"],
        );
        assert!(negative.invalid && negative.usage.is_empty());
        let binary = scan(true, &[&[0xff, 0xfe, b'\n', b'\n', 0, 1, 2]]);
        assert!(binary.usage.is_empty());
    }

    #[test]
    fn the_streamed_text_is_counted_once() {
        let openai = scan(true, &[OPENAI_SSE.as_bytes()]);
        assert_eq!(openai.streamed_chars, 2);
        let qwen = "data:{\"output\":{\"text\":\"ab\"}}\n\ndata:{\"output\":{\"text\":\"abcd\"}}\n\n";
        assert_eq!(scan(true, &[qwen.as_bytes()]).streamed_chars, 4, "cumulative: the longest, not the sum");
        let responses = "data: {\"type\":\"response.output_text.delta\",\"delta\":\"abc\"}\n\n\
            data: {\"type\":\"response.output_text.done\",\"text\":\"abc\"}\n\n";
        assert_eq!(scan(true, &[responses.as_bytes()]).streamed_chars, 3);
        let partial = scan(false, &[br#"{"choices":[{"message":{"content":"Hello wor"#]);
        assert_eq!(partial.streamed_chars, 9);
    }

    #[test]
    fn oversized_json_bodies_fall_back_to_the_tail() {
        let mut body = b"{\"choices\":[{\"text\":\"".to_vec();
        body.extend(std::iter::repeat_n(b'a', MAX_JSON_BYTES + 10));
        body.extend_from_slice(b"\"}],\"usage\": {\"prompt_tokens\":1,\"completion_tokens\":2}}");
        let chunks: Vec<&[u8]> = body.chunks(65536).collect();
        let r = scan(false, &chunks);
        assert_eq!(r.usage, u(1, 2, None));
        assert!(r.malformed);
    }
}
