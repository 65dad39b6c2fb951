//! Property test against jsonpath-rust 1.0.12, the engine this crate replaced: random documents
//! and random queries from RFC 9535's grammar (every construct), the same nodelist from both;
//! and random near-misses of those queries, accepted or refused by both alike. Deterministic
//! (fixed seeds). Where jsonpath-rust departs from RFC 9535 the shape is left out of the
//! comparison (`shapes.rs` names the RFC section of each), and `tests/deviations.rs` pins what
//! we do instead.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod grammar;
mod shapes;
mod views;

use gateway_jsonpath::JsonPath;
use grammar::{Rng, json, query};
use serde_json::Value;
use shapes::{compare_in_order, compare_nodelists, known_refusal, nested_filter_shape};

/// Theirs, as values in order, or `None` when jsonpath-rust refuses the query.
fn theirs<'a>(path: &str, doc: &'a Value) -> Option<Vec<&'a Value>> {
    let parsed = jsonpath_rust::parser::parse_json_path(path).ok()?;
    let found = jsonpath_rust::query::js_path_process(&parsed, doc).unwrap_or_default();
    Some(found.into_iter().map(|r| r.val()).collect())
}

fn parses_theirs(path: &str) -> bool {
    jsonpath_rust::parser::parse_json_path(path).is_ok()
}

/// Queries per test; each valid one runs on 4 of 64 documents.
pub(crate) const QUERIES: usize = 10_000;

/// The fixed seed, or `JSONPATH_SEED` to explore others (a failure prints the seed).
pub(crate) fn seed(fixed: u64) -> u64 {
    std::env::var("JSONPATH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(fixed)
}

#[test]
fn random_queries_select_what_jsonpath_rust_selects() {
    let mut rng = Rng(seed(0x5EED_0001));
    let docs: Vec<Value> = (0..64).map(|_| json(&mut rng, 4)).collect();
    let (mut compared, mut unordered, mut with_count, mut refused_by_rfc, mut refused_by_both) = (0, 0, 0, 0, 0);
    let (mut nonempty, mut with_nested_filter) = (0, 0);
    let mut failures = Vec::new();
    for _ in 0..QUERIES {
        let path = query(&mut rng);
        let ours = JsonPath::parse(&path);
        if ours.as_ref().err().and_then(|e| known_refusal(&path, e)).is_some() && parses_theirs(&path) {
            refused_by_rfc += 1;
            continue;
        }
        if ours.is_ok() != parses_theirs(&path) {
            failures.push(format!("{path}: ours {:?}, theirs parses: {}", ours.err(), parses_theirs(&path)));
            continue;
        }
        let Ok(ours) = ours else {
            refused_by_both += 1;
            continue;
        };
        if !compare_nodelists(&path) {
            with_count += 1;
            continue;
        }
        if nested_filter_shape(&path) {
            with_nested_filter += 1;
            continue;
        }
        let in_order = compare_in_order(&path);
        unordered += usize::from(!in_order);
        for _ in 0..4 {
            let doc = &docs[rng.below(docs.len())];
            let mut mine = ours.query(doc);
            let mut other = theirs(&path, doc).unwrap();
            if !in_order {
                mine.sort_by_key(|v| std::ptr::from_ref(*v));
                other.sort_by_key(|v| std::ptr::from_ref(*v));
            }
            let same = mine.len() == other.len() && mine.iter().zip(&other).all(|(a, b)| std::ptr::eq(*a, *b));
            nonempty += usize::from(!mine.is_empty());
            if !same {
                failures.push(format!("{path}\n  doc {doc}\n  ours   {mine:?}\n  theirs {other:?}"));
            }
            compared += 1;
        }
    }
    eprintln!(
        "{QUERIES} queries: {compared} query/document pairs compared ({nonempty} non-empty), {unordered} queries \
         (with a union) as sets, {with_count} (with count()) and {with_nested_filter} (with `@[?`) only parsed, {refused_by_both} refused by both, \
         {refused_by_rfc} refused by us only, as RFC 9535 says"
    );
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures[..failures.len().min(30)].join("\n")
    );
}

#[test]
fn near_miss_queries_are_accepted_or_refused_alike() {
    let mut rng = Rng(seed(0x5EED_0002));
    const NOISE: &[char] = &[
        '$', '@', '.', '[', ']', '(', ')', '?', '*', ',', ':', '\'', '"', '!', '=', '<', '>', '&', '|', '-', ' ', '0',
        '1', 'a', '\\',
    ];
    let (mut checked, mut skipped, mut refused) = (0, 0, 0);
    let mut failures = Vec::new();
    for _ in 0..QUERIES {
        let mut chars: Vec<char> = query(&mut rng).chars().collect();
        for _ in 0..1 + rng.below(2) {
            let at = rng.below(chars.len() + 1);
            match rng.below(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 => chars.truncate(at.max(1)),
                _ => chars.insert(at, *rng.pick(NOISE)),
            }
        }
        let path: String = chars.into_iter().collect();
        let ours = JsonPath::parse(&path);
        refused += usize::from(ours.is_err());
        if ours.as_ref().err().and_then(|e| known_refusal(&path, e)).is_some() && parses_theirs(&path) {
            skipped += 1;
            continue;
        }
        if ours.is_ok() != parses_theirs(&path) {
            failures.push(format!("{path:?}: ours {:?}, theirs parses: {}", ours.err(), parses_theirs(&path)));
        }
        checked += 1;
    }
    eprintln!("{checked} near misses checked ({refused} refused), {skipped} refused by us only, as RFC 9535 says");
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}
