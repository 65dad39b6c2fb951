//! gateway-regex: a small regular expression engine for Higress `regexp:` keys and JSONPath's
//! `match()`/`search()`, in place of a general regex crate (which costs tens of KB in every
//! module): Go RE2 syntax and semantics as
//! Higress uses them (`regexp.MatchString`: is there a match anywhere), matched by a Pike VM
//! in time linear in the input, since patterns come from operators but inputs from clients.
//!
//! Supported, as RE2: literals and escapes (`\n \t \x41 \x{263a} \123 \Q..\E`, escaped
//! punctuation), `.`, classes `[a-z] [^..]`, `\d \w \s` (ASCII), `[[:alpha:]]`, the Unicode
//! classes of [`crate::unicode_classes`] (`\p{Han} \pL \P{..}`, also inside brackets),
//! `^ $ \A \z \b \B`, groups (`(..) (?:..) (?P<n>..) (?<n>..)`), alternation, repetition
//! (`* + ? {n} {n,} {n,m}`, lazy or not, counts up to 1000) and the flags `i m s U`, set for
//! the rest of a group or scoped (`(?i:..)`). `(?i)` uses Unicode simple case folding.
//! Refused, as RE2 refuses them: backreferences and look-around.
//!
//! - `parse.rs`: pattern text into a tree; `class.rs` and `fold.rs`: character sets and
//!   case folding; `compile.rs`: the tree into an NFA program; `vm.rs`: the search.

mod class;
mod compile;
mod fold;
mod parse;
mod unicode_classes;
mod unicode_tables;
mod vm;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_differential;

use std::fmt;

/// Why a pattern does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    #[cold]
    fn new(message: &str) -> Self {
        Error(message.to_string())
    }

    /// "`what`: `<fragment>`", the shape of RE2's messages.
    #[cold]
    #[inline(never)]
    fn quoting(what: &str, fragment: &str) -> Self {
        let mut message = String::with_capacity(what.len() + fragment.len() + 4);
        for part in [what, ": `", fragment, "`"] {
            message.push_str(part);
        }
        Error(message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A compiled pattern.
#[derive(Clone)]
pub struct Regex {
    pattern: Box<str>,
    prog: Box<[compile::Inst]>,
    classes: Box<[class::Class]>,
    /// Starts with `\A` (or `^` without `(?m)`): only tried at the start of the input.
    anchored: bool,
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Regex").field(&self.pattern).finish()
    }
}

impl Regex {
    /// Compiles `pattern` (RE2 syntax).
    pub fn new(pattern: &str) -> Result<Regex, Error> {
        let parsed = parse::parse(pattern)?;
        let prog = compile::compile(&parsed.node)?;
        Ok(Regex {
            pattern: pattern.into(),
            prog: prog.into_boxed_slice(),
            classes: parsed.classes.into_boxed_slice(),
            anchored: starts_anchored(&parsed.node),
        })
    }

    /// Whether the pattern matches anywhere in `text` (Go's `regexp.MatchString`).
    pub fn is_match(&self, text: &str) -> bool {
        let mut steps = 0;
        self.is_match_counting(text, &mut steps)
    }

    /// [`Regex::is_match`], adding the number of NFA states visited to `steps`.
    pub fn is_match_counting(&self, text: &str, steps: &mut u64) -> bool {
        vm::search(&self.prog, &self.classes, self.anchored, text, steps)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

/// Whether every match of `node` must start at the start of the input.
fn starts_anchored(node: &parse::Node) -> bool {
    use parse::{Look, Node};
    match node {
        Node::Look(Look::StartText) => true,
        Node::Concat(items) => items.first().is_some_and(starts_anchored),
        Node::Alternate(branches) => branches.iter().all(starts_anchored),
        Node::Repeat { sub, min, .. } => *min > 0 && starts_anchored(sub),
        _ => false,
    }
}
