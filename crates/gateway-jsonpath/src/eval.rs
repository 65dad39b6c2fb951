//! Applying segments and selectors to a document (RFC 9535, sections 2.3 and 2.5), depth
//! first: each node a segment selects goes through the remaining segments before the next one,
//! which yields the RFC's nodelist order without building a list per segment.

use crate::ast::{Segment, Selector};
use crate::filter;
use crate::node::Node;
use std::ops::ControlFlow;

/// Receives the nodes of a query in order; `Break` stops the walk (enough was seen).
pub(crate) type Emit<'e, N> = dyn FnMut(N) -> ControlFlow<()> + 'e;

/// Feeds `emit` every node that `segments` select from `node`, in nodelist order.
pub(crate) fn walk<'a, N: Node<'a>>(segments: &[Segment], node: N, root: N, emit: &mut Emit<'_, N>) -> ControlFlow<()> {
    let Some((segment, rest)) = segments.split_first() else {
        return emit(node);
    };
    if segment.descendant { descend(segment, rest, node, root, emit) } else { apply(segment, rest, node, root, emit) }
}

/// A child segment: each selector in turn, each result through the rest of the query.
fn apply<'a, N: Node<'a>>(
    segment: &Segment,
    rest: &[Segment],
    node: N,
    root: N,
    emit: &mut Emit<'_, N>,
) -> ControlFlow<()> {
    for selector in &segment.selectors {
        select(selector, node, root, &mut |child| walk(rest, child, root, emit))?;
    }
    ControlFlow::Continue(())
}

/// A descendant segment: the selectors applied to `node`, then to its descendants, each
/// node before its children (section 2.5.2.2).
fn descend<'a, N: Node<'a>>(
    segment: &Segment,
    rest: &[Segment],
    node: N,
    root: N,
    emit: &mut Emit<'_, N>,
) -> ControlFlow<()> {
    apply(segment, rest, node, root, emit)?;
    children(node, &mut |child| descend(segment, rest, child, root, emit))
}

/// The element values of an array or the member values of an object, in order.
fn children<'a, N: Node<'a>>(node: N, emit: &mut Emit<'_, N>) -> ControlFlow<()> {
    let mut items = node.items().peekable();
    if items.peek().is_some() {
        return items.try_for_each(emit);
    }
    node.members(&mut |_, value| emit(value))
}

/// The nodes one selector picks from `node`.
fn select<'a, N: Node<'a>>(selector: &Selector, node: N, root: N, emit: &mut Emit<'_, N>) -> ControlFlow<()> {
    match selector {
        Selector::Name(name) => match node.member(name) {
            Some(child) => emit(child),
            None => ControlFlow::Continue(()),
        },
        Selector::Wildcard => children(node, emit),
        Selector::Index(i) => match index(node, *i) {
            Some(child) => emit(child),
            None => ControlFlow::Continue(()),
        },
        Selector::Slice { start, end, step } => slice(node, *start, *end, step.unwrap_or(1), emit),
        Selector::Filter(expr) => children(node, &mut |child| {
            if filter::holds(expr, child, root) { emit(child) } else { ControlFlow::Continue(()) }
        }),
    }
}

/// The element at `i` of an array, negative counting from the end.
pub(crate) fn index<'a, N: Node<'a>>(node: N, i: i64) -> Option<N> {
    let items = node.items();
    let i = if i < 0 { i64::try_from(items.clone().count()).ok()? + i } else { i };
    items.clone().nth(usize::try_from(i).ok()?)
}

/// The elements of `items[start:end:step]` (section 2.3.4.2.2); nothing for a non-array.
fn slice<'a, N: Node<'a>>(
    node: N,
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
    emit: &mut Emit<'_, N>,
) -> ControlFlow<()> {
    let items = node.items();
    let len = i64::try_from(items.clone().count()).unwrap_or(i64::MAX);
    let normalize = |i: i64| if i >= 0 { i } else { len + i };
    if step > 0 {
        let lower = start.map_or(0, normalize).clamp(0, len);
        let upper = end.map_or(len, normalize).clamp(0, len);
        let gap = usize::try_from(step - 1).unwrap_or(usize::MAX);
        let mut rest = items.skip(usize::try_from(lower).unwrap_or(usize::MAX));
        let mut next = rest.next();
        let mut i = lower;
        while i < upper {
            let Some(item) = next else { break };
            emit(item)?;
            i = i.saturating_add(step);
            next = rest.nth(gap);
        }
    } else if step < 0 {
        let upper = start.map_or(len - 1, normalize).clamp(-1, len - 1);
        let lower = end.map_or(-len - 1, normalize).clamp(-1, len - 1);
        if lower >= upper {
            return ControlFlow::Continue(());
        }
        // Backwards: the elements once, then indexed.
        let all: Vec<N> = items.collect();
        let mut i = upper;
        while lower < i {
            if let Some(item) = usize::try_from(i).ok().and_then(|i| all.get(i)) {
                emit(*item)?;
            }
            i = i.saturating_add(step);
        }
    }
    ControlFlow::Continue(())
}

/// The node a singular query selects, if any: no walk, no callback.
pub(crate) fn singular<'a, N: Node<'a>>(segments: &[Segment], mut node: N) -> Option<N> {
    for segment in segments {
        node = match segment.selectors.first()? {
            Selector::Name(name) => node.member(name)?,
            Selector::Index(i) => index(node, *i)?,
            _ => return None,
        };
    }
    Some(node)
}
