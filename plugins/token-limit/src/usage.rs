//! Token usage as LLM APIs report it: reading counts out of one JSON document (built-in formats or
//! custom JSONPath), merging reports across streamed events without double counting, and weighting.

use gateway_jsonpath::JsonPath;
#[cfg(test)]
use serde_json::Value;

use gateway_json::{JsonView, Kind, Leniency};

/// Counts above this are treated as invalid (no real response has a trillion tokens).
pub const MAX_COUNT: u64 = 1 << 40;

/// Token counts from one response (or merged from its events). `None` = not reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt / input tokens (cache reads and writes included for Anthropic).
    pub input: Option<u64>,
    /// Completion / output tokens.
    pub output: Option<u64>,
    /// Total tokens as reported.
    pub total: Option<u64>,
}

impl Usage {
    /// Whether no count was reported.
    pub fn is_empty(&self) -> bool {
        self.input.is_none() && self.output.is_none() && self.total.is_none()
    }

    /// Lays a later report over this one, field by field. Providers report cumulative counts
    /// (DashScope in every event, Anthropic's `message_delta`), so the latest value wins and
    /// nothing is ever added up twice.
    pub fn merge(&mut self, later: Usage) {
        self.input = later.input.or(self.input);
        self.output = later.output.or(self.output);
        self.total = later.total.or(self.total);
    }
}

/// Which built-in response shape to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Any of the formats below.
    #[default]
    Auto,
    /// OpenAI chat/completions (and Qwen compatible mode): `usage.prompt_tokens/completion_tokens`.
    Openai,
    /// OpenAI Responses API: `usage` or (streamed) `response.usage` with `input_tokens/output_tokens`.
    OpenaiResponses,
    /// DashScope native: `usage.input_tokens/output_tokens/total_tokens`, cumulative per event.
    Qwen,
    /// Anthropic Messages: `usage` / `message.usage` (message_start) / `usage` (message_delta).
    Anthropic,
}

impl gateway_sdk::config::FromConfig for Format {
    fn from_config(node: gateway_sdk::config::ConfigNode<'_>) -> Result<Self, gateway_sdk::ConfigError> {
        node.variant(&[
            ("auto", Format::Auto),
            ("openai", Format::Openai),
            ("openai_responses", Format::OpenaiResponses),
            ("qwen", Format::Qwen),
            ("anthropic", Format::Anthropic),
        ])
    }
}

impl Format {
    fn locations(self) -> &'static [&'static [&'static str]] {
        match self {
            Format::Auto => &[&["usage"], &["response", "usage"], &["message", "usage"]],
            Format::Openai | Format::Qwen => &[&["usage"]],
            Format::OpenaiResponses => &[&["usage"], &["response", "usage"]],
            Format::Anthropic => &[&["usage"], &["message", "usage"]],
        }
    }
}

/// What one document yielded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The counts found.
    pub usage: Usage,
    /// A count was present but not a sane non-negative integer (negative, fractional, huge, text).
    pub invalid: bool,
}

/// Custom JSONPath expressions per token kind, compiled at configure time.
#[derive(Debug, Clone, Default)]
pub struct CustomPaths {
    /// Input tokens.
    pub input: Option<JsonPath>,
    /// Output tokens.
    pub output: Option<JsonPath>,
    /// Total tokens.
    pub total: Option<JsonPath>,
}

/// Reads usage out of JSON documents.
#[derive(Debug, Clone)]
pub enum Extractor {
    /// A built-in format.
    BuiltIn(Format),
    /// Custom JSONPath expressions.
    Custom(Box<CustomPaths>),
}

impl Extractor {
    /// Whether a document whose raw text lacks `"usage"` can be skipped without parsing it.
    pub fn needs_usage_key(&self) -> bool {
        matches!(self, Extractor::BuiltIn(_))
    }

    /// Extracts the counts of one JSON document's text; `None` when it is not JSON (as
    /// serde_json reads it). Read in place ([`JsonView`]), no tree built.
    pub fn extract_text(&self, text: &[u8]) -> Option<Extracted> {
        let doc = JsonView::parse(text, Leniency::Strict)?;
        Some(match self {
            Extractor::BuiltIn(format) => {
                let found = format
                    .locations()
                    .iter()
                    .find_map(|path| path.iter().try_fold(doc, |v, k| v.get(k)).filter(JsonView::is_object));
                found.map_or_else(Extracted::default, read_usage_view)
            }
            Extractor::Custom(paths) => {
                let mut invalid = false;
                let mut run = |q: &Option<JsonPath>| {
                    let value = q.as_ref()?.query(doc).into_iter().find(|v| v.kind() != Kind::Null)?;
                    let (n, bad) = count_view(value);
                    invalid |= bad;
                    n
                };
                let usage = Usage { input: run(&paths.input), output: run(&paths.output), total: run(&paths.total) };
                Extracted { usage, invalid }
            }
        })
    }

    /// Extracts the counts of one serde_json tree: the reading [`Extractor::extract_text`]
    /// replaced, which the tests compare it with.
    #[cfg(test)]
    pub fn extract(&self, doc: &Value) -> Extracted {
        match self {
            Extractor::BuiltIn(format) => {
                let found = format.locations().iter().find_map(|path| lookup(doc, path).filter(|v| v.is_object()));
                found.map_or_else(Extracted::default, read_usage_object)
            }
            Extractor::Custom(paths) => {
                let mut invalid = false;
                let mut run = |q: &Option<JsonPath>| {
                    let value = q.as_ref()?.query(doc).into_iter().find(|v| !v.is_null())?;
                    let (n, bad) = count(value);
                    invalid |= bad;
                    n
                };
                let usage = Usage { input: run(&paths.input), output: run(&paths.output), total: run(&paths.total) };
                Extracted { usage, invalid }
            }
        }
    }
}

#[cfg(test)]
fn lookup<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, k| v.get(k))
}

/// Reads a usage object of any built-in format (from a serde_json tree, for the tests).
#[cfg(test)]
pub fn read_usage_object(obj: &Value) -> Extracted {
    read_usage(USAGE_FIELDS.map(|name| obj.get(name).map_or((None, false), count)))
}

/// The fields [`read_usage`] reads, in the order of its counts.
const USAGE_FIELDS: [&str; 7] = [
    "prompt_tokens",
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "completion_tokens",
    "output_tokens",
    "total_tokens",
];

/// Reads a usage object of any built-in format, in place: one pass over its members, the
/// last of a repeated field winning (as serde_json's map keeps it).
pub fn read_usage_view(obj: JsonView<'_>) -> Extracted {
    let mut found = [None; USAGE_FIELDS.len()];
    for (key, value) in obj.members() {
        if let Some(slot) = USAGE_FIELDS.iter().position(|f| key.matches(f)) {
            found[slot] = Some(value);
        }
    }
    read_usage(found.map(|v| v.map_or((None, false), count_view)))
}

/// The usage from the counts of [`USAGE_FIELDS`] (each a count and whether it was garbage).
fn read_usage(counts: [(Option<u64>, bool); USAGE_FIELDS.len()]) -> Extracted {
    let invalid = counts.iter().any(|(_, bad)| *bad);
    let [prompt, input_tokens, cache_write, cache_read, completion, output_tokens, total] = counts.map(|(n, _)| n);
    let input = prompt
        .or(input_tokens)
        .map(|n| n.saturating_add(cache_write.unwrap_or(0)).saturating_add(cache_read.unwrap_or(0)));
    let input = input.or_else(|| match (cache_write, cache_read) {
        (None, None) => None,
        (w, r) => Some(w.unwrap_or(0).saturating_add(r.unwrap_or(0))),
    });
    Extracted { usage: Usage { input, output: completion.or(output_tokens), total }, invalid }
}

/// A token count: `(Some(n), false)` for a sane integer, `(None, true)` for garbage, `(None, false)` for null.
#[cfg(test)]
fn count(value: &Value) -> (Option<u64>, bool) {
    match value {
        Value::Null => (None, false),
        Value::Number(n) => number_count(n.as_u64(), n.as_f64()),
        _ => (None, true),
    }
}

/// [`count`] of a value read in place.
fn count_view(value: JsonView<'_>) -> (Option<u64>, bool) {
    match value.kind() {
        Kind::Null => (None, false),
        Kind::Number => number_count(value.as_u64(), value.as_f64()),
        _ => (None, true),
    }
}

/// A number's count from its integer and float readings.
fn number_count(integer: Option<u64>, float: Option<f64>) -> (Option<u64>, bool) {
    match integer {
        Some(v) if v <= MAX_COUNT => (Some(v), false),
        Some(_) => (None, true),
        None => match float {
            // Whole floats (`12.0`) are tolerated; negative, fractional or huge ones are not.
            Some(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= MAX_COUNT as f64 => {
                (Some(f as u64), false)
            }
            _ => (None, true),
        },
    }
}

gateway_sdk::config_struct! {
    /// Weights per token kind (e.g. output tokens count double). All default to 1.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Weights {
        /// Weight of input tokens.
        pub input: f64 = one(),
        /// Weight of output tokens.
        pub output: f64 = one(),
        /// Weight of the total, used only when neither input nor output is reported.
        pub total: f64 = one(),
    }
}

fn one() -> f64 {
    1.0
}

impl Default for Weights {
    fn default() -> Self {
        Weights { input: 1.0, output: 1.0, total: 1.0 }
    }
}

impl Weights {
    /// The tokens to charge for `usage`, rounded up; `None` when nothing was reported.
    pub fn cost(&self, usage: &Usage) -> Option<u64> {
        let raw = if usage.input.is_some() || usage.output.is_some() {
            self.input * usage.input.unwrap_or(0) as f64 + self.output * usage.output.unwrap_or(0) as f64
        } else {
            self.total * usage.total? as f64
        };
        let capped = raw.ceil().clamp(0.0, (MAX_COUNT * 16) as f64);
        Some(capped as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The tree reading, checked against the in-place reading of the same document's text.
    fn auto(doc: Value) -> Extracted {
        let extractor = Extractor::BuiltIn(Format::Auto);
        let from_tree = extractor.extract(&doc);
        assert_eq!(extractor.extract_text(doc.to_string().as_bytes()), Some(from_tree), "{doc}");
        from_tree
    }

    #[test]
    fn in_place_reading_matches_the_tree_on_generated_documents() {
        let fields: Vec<&str> = USAGE_FIELDS.iter().copied().chain(["other"]).collect();
        let values = [
            "3",
            "0",
            "-1",
            "7.0",
            "7.5",
            "1e3",
            "1099511627777",
            "99999999999999999999",
            "null",
            "\"9\"",
            "[1]",
            "{}",
            "true",
        ];
        let wrappers: [fn(String) -> String; 5] = [
            |u| format!("{{\"usage\":{u}}}"),
            |u| format!("{{\"response\":{{\"usage\":{u}}},\"type\":\"response.completed\"}}"),
            |u| format!("{{\"message\":{{\"usage\":{u}}}}}"),
            |u| format!("{{\"usage\":null,\"usage\":{u}}}"),
            |u| format!("{{\"choices\":[],\"usage\":{u}}}  "),
        ];
        let mut state = 0x853C_49E6_748F_EA9Bu64;
        let mut next = |n: usize| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % n as u64) as usize
        };
        for _ in 0..5_000 {
            let members: Vec<String> = (0..next(5))
                .map(|_| format!("\"{}\":{}", fields[next(fields.len())], values[next(values.len())]))
                .collect();
            let text = wrappers[next(wrappers.len())](format!("{{{}}}", members.join(",")));
            let doc: Value = serde_json::from_str(&text).unwrap();
            for format in [Format::Auto, Format::Openai, Format::OpenaiResponses, Format::Qwen, Format::Anthropic] {
                let extractor = Extractor::BuiltIn(format);
                assert_eq!(extractor.extract_text(text.as_bytes()), Some(extractor.extract(&doc)), "{format:?} {text}");
            }
        }
        assert_eq!(Extractor::BuiltIn(Format::Auto).extract_text(b"{\"usage\":"), None);
    }

    fn usage(input: Option<u64>, output: Option<u64>, total: Option<u64>) -> Usage {
        Usage { input, output, total }
    }

    #[test]
    fn reads_openai_chat_usage() {
        let e =
            auto(json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}}));
        assert_eq!(e.usage, usage(Some(12), Some(30), Some(42)));
        assert!(!e.invalid);
    }

    #[test]
    fn reads_responses_api_usage_plain_and_streamed() {
        let plain =
            auto(json!({"object": "response", "usage": {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}}));
        assert_eq!(plain.usage, usage(Some(5), Some(7), Some(12)));
        let completed =
            auto(json!({"type": "response.completed", "response": {"usage": {"input_tokens": 3, "output_tokens": 4}}}));
        assert_eq!(completed.usage, usage(Some(3), Some(4), None));
        let created = auto(json!({"type": "response.created", "response": {"usage": null}}));
        assert!(created.usage.is_empty());
    }

    #[test]
    fn reads_anthropic_start_and_delta_with_cache_tokens() {
        let start = auto(
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 25, "cache_read_input_tokens": 5, "output_tokens": 1}}}),
        );
        assert_eq!(start.usage, usage(Some(30), Some(1), None));
        let delta = auto(json!({"type": "message_delta", "usage": {"output_tokens": 15}}));
        let mut merged = start.usage;
        merged.merge(delta.usage);
        assert_eq!(merged, usage(Some(30), Some(15), None));
    }

    #[test]
    fn later_cumulative_reports_replace_earlier_ones() {
        let mut u = Usage::default();
        for out in [1, 5, 9] {
            u.merge(usage(Some(10), Some(out), Some(10 + out)));
        }
        assert_eq!(u, usage(Some(10), Some(9), Some(19)));
    }

    #[test]
    fn garbage_counts_are_invalid_not_panics() {
        for bad in [json!(-5), json!(1.5), json!(1e30), json!("12"), json!(u64::MAX), json!([1])] {
            let e = auto(json!({"usage": {"prompt_tokens": bad, "completion_tokens": 3}}));
            assert!(e.invalid, "{bad}");
            assert_eq!(e.usage.input, None);
            assert_eq!(e.usage.output, Some(3));
        }
        assert_eq!(auto(json!({"usage": {"prompt_tokens": 7.0}})).usage.input, Some(7));
        assert!(auto(json!({"usage": "none"})).usage.is_empty());
        assert!(auto(json!([1, 2])).usage.is_empty());
    }

    #[test]
    fn explicit_formats_only_look_where_they_should() {
        let doc = json!({"message": {"usage": {"input_tokens": 3}}});
        assert!(Extractor::BuiltIn(Format::Openai).extract(&doc).usage.is_empty());
        assert_eq!(Extractor::BuiltIn(Format::Anthropic).extract(&doc).usage.input, Some(3));
    }

    #[test]
    fn custom_paths_read_other_providers() {
        let parse = |s: &str| JsonPath::parse(s).unwrap();
        let paths = CustomPaths {
            input: Some(parse("$.meta.tokens.in")),
            output: Some(parse("$.meta.tokens.out")),
            total: None,
        };
        let doc = json!({"meta": {"tokens": {"in": 4, "out": -1}}});
        let extractor = Extractor::Custom(Box::new(paths));
        assert_eq!(extractor.extract_text(doc.to_string().as_bytes()), Some(extractor.extract(&doc)));
        let e = extractor.extract(&doc);
        assert_eq!(e.usage, usage(Some(4), None, None));
        assert!(e.invalid);
    }

    #[test]
    fn custom_paths_read_in_place_as_from_the_tree_on_generated_documents() {
        let parse = |s: &str| JsonPath::parse(s).unwrap();
        let sets = [
            ["$.meta.tokens.in", "$.meta.tokens.out", "$.meta.tokens.total"],
            ["$..in", "$..out", "$..total"],
            ["$.meta.*", "$.list[-1]", "$.list[::-1]"],
            ["$..[?@.kind == 'in'].n", "$..[?@.n >= 2 && @.n < 1e3].n", "$.list[?length(@) > 1][0]"],
        ];
        let values = ["3", "0", "-1", "7.0", "7.5", "1e3", "null", "\"9\"", "[1,2]", "{}", "true", "2"];
        let keys = ["in", "out", "total", "n", "kind", "meta", "tokens", "list", r"\u0069n"];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: usize| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % n as u64) as usize
        };
        fn doc(next: &mut dyn FnMut(usize) -> usize, keys: &[&str], values: &[&str], depth: usize) -> String {
            match next(if depth == 0 { 2 } else { 5 }) {
                0 => values[next(values.len())].to_string(),
                1 => "\"in\"".to_string(),
                2 => {
                    let items: Vec<String> = (0..next(4)).map(|_| doc(next, keys, values, depth - 1)).collect();
                    format!("[{}]", items.join(", "))
                }
                _ => {
                    let members: Vec<String> = (0..next(5))
                        .map(|_| format!("\"{}\": {}", keys[next(keys.len())], doc(next, keys, values, depth - 1)))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }
            }
        }
        let mut found = 0;
        for _ in 0..4_000 {
            let text = format!(
                "{{\"meta\":{{\"tokens\":{}}},\"list\":{},\"x\":{}}}",
                doc(&mut next, &keys, &values, 2),
                doc(&mut next, &keys, &values, 2),
                doc(&mut next, &keys, &values, 3)
            );
            let tree: Value = serde_json::from_str(&text).unwrap();
            for [input, output, total] in sets {
                let paths =
                    CustomPaths { input: Some(parse(input)), output: Some(parse(output)), total: Some(parse(total)) };
                let extractor = Extractor::Custom(Box::new(paths));
                let ours = extractor.extract_text(text.as_bytes());
                found += usize::from(ours.is_some_and(|e| !e.usage.is_empty()));
                assert_eq!(ours, Some(extractor.extract(&tree)), "{input} {output} {total}: {text}");
            }
        }
        assert!(found > 1_000, "{found}");
        assert_eq!(Extractor::Custom(Box::default()).extract_text(b"{\"a\":"), None);
    }

    #[test]
    fn weights_round_up_and_fall_back_to_total() {
        let w = Weights { input: 1.0, output: 2.0, total: 1.0 };
        assert_eq!(w.cost(&usage(Some(10), Some(5), Some(15))), Some(20));
        assert_eq!(w.cost(&usage(None, None, Some(15))), Some(15));
        assert_eq!(w.cost(&Usage::default()), None);
        let half = Weights { input: 0.5, output: 0.5, total: 1.0 };
        assert_eq!(half.cost(&usage(Some(3), Some(0), None)), Some(2));
        assert_eq!(Weights::default().cost(&usage(Some(MAX_COUNT), Some(MAX_COUNT), None)), Some(2 * MAX_COUNT));
    }
}
