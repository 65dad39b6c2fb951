//! Evaluating filter expressions for one candidate node: tests, comparisons with RFC 9535's
//! rules (section 2.3.5.2.2, an absent value equals only an absent one) and the functions of
//! section 2.4.

use crate::ast::{CmpOp, Comparable, FilterQuery, Logical, Pattern};
use crate::eval::{singular, walk};
use crate::iregexp;
use serde_json::{Number, Value};
use std::cmp::Ordering;
use std::ops::ControlFlow;

/// The result of a value expression: a node of the document or query, a computed number, or
/// nothing (an empty nodelist, or a function without a result).
enum Val<'x> {
    Nothing,
    Node(&'x Value),
    Computed(Value),
}

impl Val<'_> {
    fn get(&self) -> Option<&Value> {
        match self {
            Val::Nothing => None,
            Val::Node(v) => Some(v),
            Val::Computed(v) => Some(v),
        }
    }
}

/// Whether `expr` holds for the candidate `node` (`@`) of the document `root` (`$`).
pub(crate) fn holds(expr: &Logical, node: &Value, root: &Value) -> bool {
    match expr {
        Logical::Or(all) => all.iter().any(|e| holds(e, node, root)),
        Logical::And(all) => all.iter().all(|e| holds(e, node, root)),
        Logical::Not(e) => !holds(e, node, root),
        Logical::Exists(q) => exists(q, node, root),
        Logical::Compare(a, op, b) => compare(eval(a, node, root).get(), *op, eval(b, node, root).get()),
        Logical::Regex { subject, pattern, whole } => {
            let subject = eval(subject, node, root);
            let Some(Value::String(text)) = subject.get() else { return false };
            match pattern {
                Pattern::Fixed(re) => re.as_ref().is_some_and(|re| re.is_match(text)),
                Pattern::Dynamic(p) => match eval(p, node, root).get() {
                    Some(Value::String(p)) => {
                        iregexp::compile(p, *whole).ok().flatten().is_some_and(|re| re.is_match(text))
                    }
                    _ => false,
                },
            }
        }
    }
}

/// Where a filter query starts: the candidate for `@`, the document for `$`.
fn start<'x>(q: &FilterQuery, node: &'x Value, root: &'x Value) -> &'x Value {
    if q.absolute { root } else { node }
}

fn exists(q: &FilterQuery, node: &Value, root: &Value) -> bool {
    let from = start(q, node, root);
    if q.singular {
        return singular(&q.segments, from).is_some();
    }
    walk(&q.segments, from, root, &mut |_| ControlFlow::Break(())).is_break()
}

/// The value of a value expression for the candidate `node`.
fn eval<'x>(c: &'x Comparable, node: &'x Value, root: &'x Value) -> Val<'x> {
    match c {
        Comparable::Literal(v) => Val::Node(v),
        Comparable::Query(q) => singular(&q.segments, start(q, node, root)).map_or(Val::Nothing, Val::Node),
        Comparable::Length(arg) => {
            let len = match eval(arg, node, root).get() {
                Some(Value::String(s)) => s.chars().count(),
                Some(Value::Array(items)) => items.len(),
                Some(Value::Object(members)) => members.len(),
                _ => return Val::Nothing,
            };
            Val::Computed(Value::from(len))
        }
        Comparable::Count(q) => {
            let mut n = 0usize;
            let _ = walk(&q.segments, start(q, node, root), root, &mut |_| {
                n += 1;
                ControlFlow::Continue(())
            });
            Val::Computed(Value::from(n))
        }
        Comparable::Value(q) => {
            let mut found = Val::Nothing;
            let mut seen = 0;
            let _ = walk(&q.segments, start(q, node, root), root, &mut |v| {
                seen += 1;
                found = Val::Node(v);
                if seen > 1 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            });
            if seen == 1 { found } else { Val::Nothing }
        }
    }
}

/// A comparison of two values, `None` being nothing (section 2.3.5.2.2).
fn compare(a: Option<&Value>, op: CmpOp, b: Option<&Value>) -> bool {
    match op {
        CmpOp::Eq => equal(a, b),
        CmpOp::Ne => !equal(a, b),
        CmpOp::Lt => less(a, b),
        CmpOp::Gt => less(b, a),
        CmpOp::Le => less(a, b) || equal(a, b),
        CmpOp::Ge => less(b, a) || equal(a, b),
    }
}

fn equal(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => deep_equal(a, b),
        _ => false,
    }
}

/// JSON equality with numbers compared by value (`1 == 1.0`).
fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| deep_equal(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        _ => a == b,
    }
}

/// `<` is defined between two numbers and between two strings only.
fn less(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => numbers(x, y) == Some(Ordering::Less),
        // UTF-8 byte order is Unicode scalar value order, which the RFC asks for.
        (Some(Value::String(x)), Some(Value::String(y))) => x < y,
        _ => false,
    }
}

/// Integers compare exactly, anything else as doubles.
fn numbers(x: &Number, y: &Number) -> Option<Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (int(x), int(y)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
    }
}
