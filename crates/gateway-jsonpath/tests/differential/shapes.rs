//! The shapes where jsonpath-rust 1.0.12 departs from RFC 9535, recognised in a query's text so
//! that the comparison can leave them out; each names the RFC section and the test of
//! `tests/deviations.rs` that pins what this crate does instead.

use gateway_jsonpath::JsonPath;

/// Whether the query has a union (`[a, b]`, a comma between selectors) anywhere.
fn has_union(path: &str) -> bool {
    // The innermost open bracket or parenthesis, skipping string literals.
    let mut open = Vec::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '[' | '(' => open.push(c),
            ']' | ')' => {
                open.pop();
            }
            ',' if open.last() == Some(&'[') => return true,
            '\'' | '"' => {
                while let Some(d) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// RFC 9535, section 2.5.1.2 (and 2.5.2.2 for `..`): a segment applies all its selectors to
/// one input node, then all of them to the next. jsonpath-rust 1.0.12 applies the first
/// selector to every input node, then the second: `$[*][0, 1]` on `[[1,2],[3,4]]` is
/// `[1,2,3,4]` here and `[1,3,2,4]` there. Queries with a union are therefore compared as sets
/// of nodes, not in order; `deviations::union_order_is_per_node` pins our order.
pub fn compare_in_order(path: &str) -> bool {
    !has_union(path)
}

/// Whether some `@` query's first segment (`@[...]` or `@..[...]`) holds a filter selector.
fn filter_right_after_current(path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\'' | '"' => i = skip_string(&chars, i),
            '@' => {
                let mut j = i + 1;
                while j < chars.len() && " \t\n\r".contains(chars[j]) {
                    j += 1;
                }
                if chars[j..].starts_with(&['.', '.']) {
                    j += 2;
                }
                if j < chars.len() && chars[j] == '[' {
                    let mut depth = 0;
                    while j < chars.len() {
                        match chars[j] {
                            '[' => depth += 1,
                            ']' => depth -= 1,
                            '?' => return true,
                            '\'' | '"' => j = skip_string(&chars, j) - 1,
                            _ => {}
                        }
                        if depth == 0 {
                            break;
                        }
                        j += 1;
                    }
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    false
}

/// The index after the string literal that starts at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    while i < chars.len() && chars[i] != chars[start] {
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// RFC 9535, section 2.3.5.2: a filter query `@[?...]` selects the children of the current
/// node that pass the inner filter, as anywhere else. jsonpath-rust 1.0.12 selects nothing
/// when the first segment after `@` holds a filter (`@[?@.b]`, `@..[?@.b]`, `@[0, ?@.b]`)
/// outside count(): the RFC's own example `$[?@[?@.b]]` gives `[]` there. Such queries are
/// parsed by both but their nodelists are not compared; ours is pinned in
/// `deviations::filter_right_after_current_node` (and `rfc_examples::filter_selector`).
pub fn nested_filter_shape(path: &str) -> bool {
    filter_right_after_current(path)
}

/// RFC 9535, section 2.4.5: `count()` is the number of nodes, 0 for an empty nodelist.
/// jsonpath-rust 1.0.12 makes it nothing instead, so `count(@.x) == 0` is false and
/// `@.absent == count(@.x)` true there. Queries with `count()` are parsed by both but their
/// nodelists are not compared; `deviations::count_of_nothing_is_zero` pins ours.
pub fn compare_nodelists(path: &str) -> bool {
    !path.contains("count(")
}

/// `path` without blank space outside string literals (RFC 9535 never needs a blank between
/// two tokens, so this keeps a valid query valid).
fn without_blanks(path: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    let mut escaped = false;
    for c in path.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => quote = Some(c),
            None if " \t\n\r".contains(c) => continue,
            None => {}
        }
        out.push(c);
    }
    out
}

/// Queries we refuse that jsonpath-rust 1.0.12 accepts, by why; `None` when the refusal is
/// not a known deviation (and so a failure). Each one is pinned in `tests/deviations.rs`.
pub fn known_refusal(path: &str, error: &gateway_jsonpath::ParseError) -> Option<&'static str> {
    let message = error.message();
    if JsonPath::parse(&without_blanks(path)).is_ok() {
        // RFC 9535, section 2.1.1 (and the `S` of sections 2.3-2.5): blank space only where the
        // grammar has `S`: none after the query, none inside a member name or inside the
        // brackets of a singular query. jsonpath-rust accepts it between any two tokens
        // (`$.a `, `$.a b`, `@[ 'b' ] == 1`). Blank space where `S` is allowed is generated in
        // the valid queries, which both must accept.
        Some("blank space where RFC 9535 has no S")
    } else if message.contains("is not a test")
        || message.contains("is not a value")
        || message.contains("takes a query")
    {
        // RFC 9535, section 2.4.3 (well-typedness of function expressions): a ValueType
        // argument or comparable is a literal, a singular query or a ValueType function; a
        // NodesType argument is a query; a test is a query or a LogicalType function.
        // jsonpath-rust accepts `length(@.*)`, `match(@.*, 'a')`, `value(1)`,
        // `count(value(@.a))` and `length(@.a)` / `!count(@.a)` as tests.
        Some("RFC 9535 function type rules")
    } else {
        None
    }
}
