//! A small JSONPath engine (RFC 9535) over JSON documents read in place (`gateway_json`'s
//! [`JsonView`](gateway_json::JsonView), no tree built) or, with the `serde_json` feature,
//! over `serde_json` values; for plugins that read a few fields out of responses: parse an
//! expression once, at configure time, then query each document with no allocation beyond
//! the returned nodelist but for an object a wildcard, a descendant segment or a filter walks
//! in a `JsonView` (its members, sorted by key as serde_json's map keeps them), a string with
//! escapes a filter reads, and a `match()` / `search()` pattern taken from the document
//! (compiled where it is used).
//!
//! Supported: `$`, `.name`, `['name']` / `["name"]` with escapes, `*`, indices (negative from
//! the end), slices `[start:end:step]`, unions `[a, b]`, descendants `..`, and filters `[?...]`
//! with `@` / `$` queries, `==` `!=` `<` `<=` `>` `>=`, `&&` `||` `!`, parentheses, existence
//! tests, literals and the functions `length()`, `count()`, `value()`, `match()` and
//! `search()`. The legacy form `[?(@.x == 1)]` is the same filter in parentheses.
//!
//! One departure from the RFC: I-Regexp's Unicode property classes (`\p{L}`) are refused in a
//! literal pattern (a parse error) and make `match()` / `search()` false in a computed one,
//! because `regex-lite` has no Unicode tables.
//!
//! ```
//! use gateway_json::{JsonView, Leniency};
//! use gateway_jsonpath::JsonPath;
//! let path = JsonPath::parse("$.choices[?@.index == 0].usage.total_tokens").unwrap();
//! let doc = JsonView::parse(br#"{"choices": [{"index": 0, "usage": {"total_tokens": 42}}]}"#, Leniency::Strict);
//! let found = path.query(doc.unwrap());
//! assert_eq!(found.iter().map(|v| v.raw()).collect::<Vec<_>>(), [b"42"]);
//! ```

mod ast;
mod error;
mod eval;
mod filter;
mod filter_parser;
mod iregexp;
mod node;
mod parser;

pub use error::ParseError;
pub use node::{Atom, Node, Number};

use std::ops::ControlFlow;
use std::str::FromStr;

/// A parsed JSONPath query, ready to run on any number of documents.
#[derive(Debug, Clone)]
pub struct JsonPath {
    segments: Box<[ast::Segment]>,
    /// Only `.name`, `['name']` and `[index]`: at most one node, found without a walk.
    singular: bool,
}

impl JsonPath {
    /// Parses an RFC 9535 query such as `$.usage.prompt_tokens` or `$..[?@.type == 'usage']`.
    ///
    /// Fails on anything else, including blank space before or after the query and filters
    /// that RFC 9535's type rules reject (`[?@.* == 1]`, `[?length(@.a)]`).
    pub fn parse(expr: &str) -> Result<JsonPath, ParseError> {
        let segments = parser::Parser::new(expr).query()?;
        let singular = segments
            .iter()
            .all(|s| !s.descendant && matches!(*s.selectors, [ast::Selector::Name(_) | ast::Selector::Index(_)]));
        Ok(JsonPath { segments, singular })
    }

    /// The nodes the query selects from `doc`, in the RFC's nodelist order.
    pub fn query<'a, N: Node<'a>>(&self, doc: N) -> Vec<N> {
        if self.singular {
            return eval::singular(&self.segments, doc).into_iter().collect();
        }
        let mut nodes = Vec::new();
        let _ = eval::walk(&self.segments, doc, doc, &mut |node| {
            nodes.push(node);
            ControlFlow::Continue(())
        });
        nodes
    }
}

impl FromStr for JsonPath {
    type Err = ParseError;

    fn from_str(expr: &str) -> Result<Self, Self::Err> {
        JsonPath::parse(expr)
    }
}
