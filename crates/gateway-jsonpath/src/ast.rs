//! The parsed form of a query: segments of selectors, and the filter expressions of `[?...]`
//! already checked against RFC 9535's function type system (section 2.4.3).

use crate::node::{Atom, Number};
use gateway_regex::Regex;
use std::borrow::Cow;

/// One segment: `.name`, `[a, b]`, `..name`, `..[a, b]` and the like.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    /// `..`: the selectors apply to the node and to every node below it.
    pub descendant: bool,
    /// Applied in order; their results are concatenated.
    pub selectors: Box<[Selector]>,
}

/// One selector of a segment (RFC 9535, section 2.3).
#[derive(Debug, Clone)]
pub(crate) enum Selector {
    /// `name`, `'name'`, `"name"`: the member of that name.
    Name(Box<str>),
    /// `*`: every element or member value.
    Wildcard,
    /// `3`, `-1`: the element at that index, negative counting from the end.
    Index(i64),
    /// `start:end:step`.
    Slice { start: Option<i64>, end: Option<i64>, step: Option<i64> },
    /// `?expr`: the children for which the expression holds.
    Filter(Box<Logical>),
}

/// A query inside a filter: `@...` (relative to the filtered child) or `$...` (absolute).
#[derive(Debug, Clone)]
pub(crate) struct FilterQuery {
    /// Starts at `$` rather than `@`.
    pub absolute: bool,
    /// Every segment selects one name or one index: the query yields at most one node.
    pub singular: bool,
    /// The segments after `@` / `$`.
    pub segments: Box<[Segment]>,
}

/// A filter expression whose result is true or false (RFC 9535's LogicalType).
#[derive(Debug, Clone)]
pub(crate) enum Logical {
    /// `a || b || ...`.
    Or(Box<[Logical]>),
    /// `a && b && ...`.
    And(Box<[Logical]>),
    /// `!a`.
    Not(Box<Logical>),
    /// A query used as a test: true when it selects at least one node.
    Exists(FilterQuery),
    /// `a == b` and the other comparisons.
    Compare(Box<Comparable>, CmpOp, Box<Comparable>),
    /// `match(subject, pattern)` (`whole`) or `search(subject, pattern)`.
    Regex { subject: Box<Comparable>, pattern: Pattern, whole: bool },
}

/// The pattern of `match()` / `search()`.
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    /// A string literal, compiled when the query was parsed; `None` when it is not a valid
    /// I-Regexp (the function is then false for every node, as RFC 9535 says).
    Fixed(Option<Regex>),
    /// Any other value expression, compiled per evaluation.
    Dynamic(Box<Comparable>),
}

/// An expression with a single value or none (RFC 9535's ValueType).
#[derive(Debug, Clone)]
pub(crate) enum Comparable {
    /// A number, string, `true`, `false` or `null`.
    Literal(Literal),
    /// A singular query: its node's value, or nothing.
    Query(FilterQuery),
    /// `length(value)`.
    Length(Box<Comparable>),
    /// `count(query)`.
    Count(FilterQuery),
    /// `value(query)`: the node's value when the query selects exactly one.
    Value(FilterQuery),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// A literal of a filter expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(Box<str>),
}

impl Literal {
    /// The literal as a value to compare.
    pub fn atom(&self) -> Atom<'_> {
        match self {
            Literal::Null => Atom::Null,
            Literal::Bool(b) => Atom::Bool(*b),
            Literal::Number(n) => Atom::Number(*n),
            Literal::String(s) => Atom::String(Cow::Borrowed(s)),
        }
    }
}
