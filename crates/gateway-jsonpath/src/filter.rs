//! Evaluating filter expressions for one candidate node: tests, comparisons with RFC 9535's
//! rules (section 2.3.5.2.2, an absent value equals only an absent one) and the functions of
//! section 2.4.

use crate::ast::{CmpOp, Comparable, FilterQuery, Logical, Pattern};
use crate::eval::{singular, walk};
use crate::iregexp;
use crate::node::{Atom, Node, Number};
use std::cmp::Ordering;
use std::ops::ControlFlow;

/// The result of a value expression: a node of the document, a literal of the query or a
/// computed number (both scalars), or nothing (an empty nodelist, or a function without a
/// result).
#[derive(Clone)]
enum Val<'x, N> {
    Nothing,
    Node(N),
    Scalar(Atom<'x>),
}

impl<'x, N> Val<'x, N> {
    /// The value, read as an atom (`None` for nothing).
    fn atom<'a: 'x>(self) -> Option<Atom<'x>>
    where
        N: Node<'a>,
    {
        match self {
            Val::Nothing => None,
            Val::Node(n) => Some(n.atom()),
            Val::Scalar(a) => Some(a),
        }
    }
}

/// Whether `expr` holds for the candidate `node` (`@`) of the document `root` (`$`).
pub(crate) fn holds<'a, N: Node<'a>>(expr: &Logical, node: N, root: N) -> bool {
    match expr {
        Logical::Or(all) => all.iter().any(|e| holds(e, node, root)),
        Logical::And(all) => all.iter().all(|e| holds(e, node, root)),
        Logical::Not(e) => !holds(e, node, root),
        Logical::Exists(q) => exists(q, node, root),
        Logical::Compare(a, op, b) => compare(eval(a, node, root), *op, eval(b, node, root)),
        Logical::Regex { subject, pattern, whole } => {
            let Some(Atom::String(text)) = eval(subject, node, root).atom() else { return false };
            match pattern {
                Pattern::Fixed(re) => re.as_ref().is_some_and(|re| re.is_match(&text)),
                Pattern::Dynamic(p) => match eval(p, node, root).atom() {
                    Some(Atom::String(p)) => {
                        iregexp::compile(&p, *whole).ok().flatten().is_some_and(|re| re.is_match(&text))
                    }
                    _ => false,
                },
            }
        }
    }
}

/// Where a filter query starts: the candidate for `@`, the document for `$`.
fn start<N>(q: &FilterQuery, node: N, root: N) -> N {
    if q.absolute { root } else { node }
}

fn exists<'a, N: Node<'a>>(q: &FilterQuery, node: N, root: N) -> bool {
    let from = start(q, node, root);
    if q.singular {
        return singular(&q.segments, from).is_some();
    }
    walk(&q.segments, from, root, &mut |_| ControlFlow::Break(())).is_break()
}

/// The value of a value expression for the candidate `node`.
fn eval<'x, 'a: 'x, N: Node<'a>>(c: &'x Comparable, node: N, root: N) -> Val<'x, N> {
    match c {
        Comparable::Literal(v) => Val::Scalar(v.atom()),
        Comparable::Query(q) => singular(&q.segments, start(q, node, root)).map_or(Val::Nothing, Val::Node),
        Comparable::Length(arg) => {
            let len = match eval(arg, node, root) {
                Val::Nothing => return Val::Nothing,
                Val::Scalar(Atom::String(s)) => s.chars().count(),
                Val::Scalar(_) => return Val::Nothing,
                Val::Node(n) => match n.atom() {
                    Atom::String(s) => s.chars().count(),
                    Atom::Array => n.items().count(),
                    Atom::Object => n.member_count(),
                    _ => return Val::Nothing,
                },
            };
            Val::Scalar(Atom::Number(count(len)))
        }
        Comparable::Count(q) => {
            let mut n = 0usize;
            let _ = walk(&q.segments, start(q, node, root), root, &mut |_| {
                n += 1;
                ControlFlow::Continue(())
            });
            Val::Scalar(Atom::Number(count(n)))
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

fn count(n: usize) -> Number {
    Number::Int(i128::try_from(n).unwrap_or(i128::MAX))
}

/// A comparison of two values (section 2.3.5.2.2).
fn compare<'x, 'a: 'x, N: Node<'a>>(a: Val<'x, N>, op: CmpOp, b: Val<'x, N>) -> bool {
    match op {
        CmpOp::Eq => equal(a, b),
        CmpOp::Ne => !equal(a, b),
        CmpOp::Lt => less(a, b),
        CmpOp::Gt => less(b, a),
        CmpOp::Le => less(a.clone(), b.clone()) || equal(a, b),
        CmpOp::Ge => less(b.clone(), a.clone()) || equal(a, b),
    }
}

fn equal<'x, 'a: 'x, N: Node<'a>>(a: Val<'x, N>, b: Val<'x, N>) -> bool {
    match (a, b) {
        (Val::Nothing, Val::Nothing) => true,
        (Val::Node(a), Val::Node(b)) => deep_equal(a, b),
        (Val::Nothing, _) | (_, Val::Nothing) => false,
        (a, b) => match (a.atom(), b.atom()) {
            (Some(a), Some(b)) => scalars_equal(&a, &b),
            _ => false,
        },
    }
}

/// JSON equality with numbers compared by value (`1 == 1.0`), also inside arrays and objects.
fn deep_equal<'a, N: Node<'a>>(a: N, b: N) -> bool {
    match (a.atom(), b.atom()) {
        (Atom::Array, Atom::Array) => {
            a.items().count() == b.items().count() && a.items().zip(b.items()).all(|(x, y)| deep_equal(x, y))
        }
        (Atom::Object, Atom::Object) => {
            a.member_count() == b.member_count()
                && a.members(&mut |k, v| match b.member(k) {
                    Some(w) if deep_equal(v, w) => ControlFlow::Continue(()),
                    _ => ControlFlow::Break(()),
                })
                .is_continue()
        }
        (x, y) => scalars_equal(&x, &y),
    }
}

/// Equality of two values of which at most one is an array or an object.
fn scalars_equal(a: &Atom<'_>, b: &Atom<'_>) -> bool {
    match (a, b) {
        (Atom::Number(x), Atom::Number(y)) => numbers(*x, *y) == Some(Ordering::Equal),
        (Atom::Null, Atom::Null) => true,
        (Atom::Bool(x), Atom::Bool(y)) => x == y,
        (Atom::String(x), Atom::String(y)) => x == y,
        _ => false,
    }
}

/// `<` is defined between two numbers and between two strings only.
fn less<'x, 'a: 'x, N: Node<'a>>(a: Val<'x, N>, b: Val<'x, N>) -> bool {
    match (a.atom(), b.atom()) {
        (Some(Atom::Number(x)), Some(Atom::Number(y))) => numbers(x, y) == Some(Ordering::Less),
        // UTF-8 byte order is Unicode scalar value order, which the RFC asks for.
        (Some(Atom::String(x)), Some(Atom::String(y))) => x < y,
        _ => false,
    }
}

/// Integers compare exactly, anything else as doubles.
fn numbers(x: Number, y: Number) -> Option<Ordering> {
    match (x, y) {
        (Number::Int(x), Number::Int(y)) => Some(x.cmp(&y)),
        _ => x.as_f64().partial_cmp(&y.as_f64()),
    }
}
