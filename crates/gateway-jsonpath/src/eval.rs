//! Applying segments and selectors to a document (RFC 9535, sections 2.3 and 2.5), depth
//! first: each node a segment selects goes through the remaining segments before the next one,
//! which yields the RFC's nodelist order without building a list per segment.

use crate::ast::{Segment, Selector};
use crate::filter;
use serde_json::Value;
use std::ops::ControlFlow;

/// Receives the nodes of a query in order; `Break` stops the walk (enough was seen).
pub(crate) type Emit<'e, 'a> = dyn FnMut(&'a Value) -> ControlFlow<()> + 'e;

/// Feeds `emit` every node that `segments` select from `node`, in nodelist order.
pub(crate) fn walk<'a>(
    segments: &[Segment],
    node: &'a Value,
    root: &'a Value,
    emit: &mut Emit<'_, 'a>,
) -> ControlFlow<()> {
    let Some((segment, rest)) = segments.split_first() else {
        return emit(node);
    };
    if segment.descendant { descend(segment, rest, node, root, emit) } else { apply(segment, rest, node, root, emit) }
}

/// A child segment: each selector in turn, each result through the rest of the query.
fn apply<'a>(
    segment: &Segment,
    rest: &[Segment],
    node: &'a Value,
    root: &'a Value,
    emit: &mut Emit<'_, 'a>,
) -> ControlFlow<()> {
    for selector in &segment.selectors {
        select(selector, node, root, &mut |child| walk(rest, child, root, emit))?;
    }
    ControlFlow::Continue(())
}

/// A descendant segment: the selectors applied to `node`, then to its descendants, each
/// node before its children (section 2.5.2.2).
fn descend<'a>(
    segment: &Segment,
    rest: &[Segment],
    node: &'a Value,
    root: &'a Value,
    emit: &mut Emit<'_, 'a>,
) -> ControlFlow<()> {
    apply(segment, rest, node, root, emit)?;
    children(node, &mut |child| descend(segment, rest, child, root, emit))
}

/// The element values of an array or the member values of an object, in order.
fn children<'a>(node: &'a Value, emit: &mut Emit<'_, 'a>) -> ControlFlow<()> {
    match node {
        Value::Array(items) => items.iter().try_for_each(emit),
        Value::Object(members) => members.values().try_for_each(emit),
        _ => ControlFlow::Continue(()),
    }
}

/// The nodes one selector picks from `node`.
fn select<'a>(selector: &Selector, node: &'a Value, root: &'a Value, emit: &mut Emit<'_, 'a>) -> ControlFlow<()> {
    match selector {
        Selector::Name(name) => match node.get(&**name) {
            Some(child) => emit(child),
            None => ControlFlow::Continue(()),
        },
        Selector::Wildcard => children(node, emit),
        Selector::Index(i) => match node.as_array().and_then(|items| index(items, *i)) {
            Some(child) => emit(child),
            None => ControlFlow::Continue(()),
        },
        Selector::Slice { start, end, step } => match node.as_array() {
            Some(items) => slice(items, *start, *end, step.unwrap_or(1), emit),
            None => ControlFlow::Continue(()),
        },
        Selector::Filter(expr) => children(node, &mut |child| {
            if filter::holds(expr, child, root) { emit(child) } else { ControlFlow::Continue(()) }
        }),
    }
}

/// The element at `i`, negative counting from the end.
pub(crate) fn index(items: &[Value], i: i64) -> Option<&Value> {
    let i = if i < 0 { i64::try_from(items.len()).ok()? + i } else { i };
    items.get(usize::try_from(i).ok()?)
}

/// The elements of `items[start:end:step]` (section 2.3.4.2.2).
fn slice<'a>(
    items: &'a [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
    emit: &mut Emit<'_, 'a>,
) -> ControlFlow<()> {
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let normalize = |i: i64| if i >= 0 { i } else { len + i };
    let mut at = |i: i64| match usize::try_from(i).ok().and_then(|i| items.get(i)) {
        Some(item) => emit(item),
        None => ControlFlow::Continue(()),
    };
    if step > 0 {
        let lower = start.map_or(0, normalize).clamp(0, len);
        let upper = end.map_or(len, normalize).clamp(0, len);
        let mut i = lower;
        while i < upper {
            at(i)?;
            i = i.saturating_add(step);
        }
    } else if step < 0 {
        let upper = start.map_or(len - 1, normalize).clamp(-1, len - 1);
        let lower = end.map_or(-len - 1, normalize).clamp(-1, len - 1);
        let mut i = upper;
        while lower < i {
            at(i)?;
            i = i.saturating_add(step);
        }
    }
    ControlFlow::Continue(())
}

/// The node a singular query selects, if any: no walk, no callback.
pub(crate) fn singular<'a>(segments: &[Segment], mut node: &'a Value) -> Option<&'a Value> {
    for segment in segments {
        node = match segment.selectors.first()? {
            Selector::Name(name) => node.as_object()?.get(&**name)?,
            Selector::Index(i) => index(node.as_array()?, *i)?,
            _ => return None,
        };
    }
    Some(node)
}
