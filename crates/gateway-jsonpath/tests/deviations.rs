//! What this crate does where jsonpath-rust 1.0.12 (the engine it replaced) departs from
//! RFC 9535: each shape that `tests/differential.rs` leaves out of its comparison, pinned to the
//! RFC's answer, with jsonpath-rust's answer beside it so a change in either shows.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use gateway_jsonpath::JsonPath;
use serde_json::{Value, json};

fn ours(path: &str, doc: &Value) -> Vec<Value> {
    let path = JsonPath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    path.query(doc).into_iter().cloned().collect()
}

fn theirs(path: &str, doc: &Value) -> Option<Vec<Value>> {
    let parsed = jsonpath_rust::parser::parse_json_path(path).ok()?;
    let found = jsonpath_rust::query::js_path_process(&parsed, doc).ok()?;
    Some(found.into_iter().map(|r| r.val().clone()).collect())
}

fn list(v: Value) -> Vec<Value> {
    v.as_array().unwrap().clone()
}

/// RFC 9535, section 2.5.1.2: a segment applies all its selectors to one input node before
/// the next node (and section 2.5.2.2: to one descendant before the next).
#[test]
fn union_order_is_per_node() {
    let doc = json!([[1, 2], [3, 4]]);
    assert_eq!(ours("$[*][0, 1]", &doc), list(json!([1, 2, 3, 4])));
    assert_eq!(theirs("$[*][0, 1]", &doc), Some(list(json!([1, 3, 2, 4]))));
    let doc = json!({"a": [1, 2], "b": {"a": 3}});
    assert_eq!(ours("$..[0, 'a']", &doc), list(json!([[1, 2], 1, 3])));
    assert_eq!(theirs("$..[0, 'a']", &doc), Some(list(json!([1, [1, 2], 3]))));
}

/// RFC 9535, section 2.4.5: `count()` of an empty nodelist is 0, a number like any other.
#[test]
fn count_of_nothing_is_zero() {
    let doc = json!([0]);
    assert_eq!(ours("$[?count(@.x) == 0]", &doc), list(json!([0])));
    assert_eq!(theirs("$[?count(@.x) == 0]", &doc), Some(vec![]));
    // Nothing (an absent member) is not 0.
    assert_eq!(ours("$[?@.absent == count(@.x)]", &doc), Vec::<Value>::new());
    assert_eq!(theirs("$[?@.absent == count(@.x)]", &doc), Some(list(json!([0]))));
}

/// RFC 9535, section 2.3.5.2: `@[?...]` inside a filter selects the current node's children
/// that pass the inner filter, as a filter does anywhere.
#[test]
fn filter_right_after_current_node() {
    let doc = json!([[{"x": 1}], [{"x": 2}]]);
    assert_eq!(ours("$[?@[?@.x == 1]]", &doc), list(json!([[{"x": 1}]])));
    assert_eq!(theirs("$[?@[?@.x == 1]]", &doc), Some(vec![]));
    assert_eq!(ours("$[?value(@[?@.x == 2].x) == 2]", &doc), list(json!([[{"x": 2}]])));
    assert_eq!(ours("$[?@..[?@ == 2]]", &doc), list(json!([[{"x": 2}]])));
    // The RFC's own example (section 2.3.5.3).
    let doc = json!({"a": [3, {"b": "j"}], "e": "f", "o": {"p": 1}});
    assert_eq!(ours("$[?@[?@.b]]", &doc), list(json!([[3, {"b": "j"}]])));
    assert_eq!(theirs("$[?@[?@.b]]", &doc), Some(vec![]));
}

/// RFC 9535, section 2.3.5.2.2: numbers are equal by value, inside arrays and objects too.
#[test]
fn nested_numbers_compare_by_value() {
    let doc = json!([{"a": [1, {"b": 2.0}], "c": [1, {"b": 2}]}]);
    assert_eq!(ours("$[?@.a == @.c]", &doc).len(), 1);
    assert_eq!(theirs("$[?@.a == @.c]", &doc), Some(vec![]));
    assert_eq!(ours("$[?@.a[1].b == 2]", &doc).len(), 1);
}

/// RFC 9535, section 2.1.1 and the `S` of the grammar: blank space between segments, inside
/// brackets and around operators, never before or after the query, inside a member name, or
/// inside the brackets of a singular query.
#[test]
fn blank_space_only_where_the_rfc_allows() {
    let doc = json!({"a": {"b": 1}, "ab": 2});
    for allowed in ["$ .a", "$[ 'a' ]", "$.a\t[\n'b'\r]", "$[?@.b == 1]", "$[? ( @.b==1 ) ]", "$[ 'a' , 'ab' ]"] {
        assert!(JsonPath::parse(allowed).is_ok(), "{allowed:?}");
    }
    for refused in ["$.a ", " $.a", "$.a b", "$. a", "$.. a", "$.a[?@[ 'b' ] == 1]", "$[?@ .b == 1 ]x"] {
        assert!(JsonPath::parse(refused).is_err(), "{refused:?}");
    }
    for accepted_there in ["$.a ", "$.a b", "$[?@[ 'b' ] == 1]"] {
        assert!(jsonpath_rust::parser::parse_json_path(accepted_there).is_ok(), "{accepted_there:?}");
    }
    assert_eq!(ours("$ .ab", &doc), list(json!([2])));
}

/// RFC 9535, section 2.4.3: function arguments and comparables are type-checked when parsing.
#[test]
fn function_types_are_checked() {
    for (refused, why) in [
        ("$[?length(@.*) == 1]", "is not a value"),
        ("$[?length(@..a) == 1]", "is not a value"),
        ("$[?match(@.*, 'a')]", "is not a value"),
        ("$[?match(@.a, @.*)]", "is not a value"),
        ("$[?value(1) == 1]", "takes a query"),
        ("$[?count(value(@.a)) == 1]", "takes a query"),
        ("$[?length(@.a)]", "is not a test"),
        ("$[?count(@.a)]", "is not a test"),
        ("$[?value(@.a)]", "is not a test"),
        ("$[?!length(@.a)]", "is not a test"),
    ] {
        let err = JsonPath::parse(refused).err().unwrap_or_else(|| panic!("{refused} accepted"));
        assert!(err.message().contains(why), "{refused}: {err}");
        assert!(jsonpath_rust::parser::parse_json_path(refused).is_ok(), "{refused} now refused there too");
    }
}

/// RFC 9485 (I-Regexp, which RFC 9535's match() and search() use): `^` and `$` are ordinary
/// characters, `.` is any character but `\n` and `\r`, and `\d`, `\w` or `(?:` are not
/// I-Regexp, so the function is false.
#[test]
fn regex_is_i_regexp() {
    let doc = json!([{"s": "a"}, {"s": "^a"}, {"s": "a$"}, {"s": "1"}, {"s": "ab"}, {"s": "a\r"}, {"s": "a\n"}]);
    assert_eq!(ours("$[?match(@.s, '^a')].s", &doc), list(json!(["^a"])));
    assert_eq!(theirs("$[?match(@.s, '^a')].s", &doc), Some(list(json!(["a"]))));
    assert_eq!(ours("$[?search(@.s, 'a$')].s", &doc), list(json!(["a$"])));
    assert_eq!(ours(r"$[?match(@.s, '\\d')].s", &doc), Vec::<Value>::new());
    assert_eq!(theirs(r"$[?match(@.s, '\\d')].s", &doc), Some(list(json!(["1"]))));
    assert_eq!(ours(r"$[?match(@.s, '\\w')].s", &doc), Vec::<Value>::new());
    assert_eq!(ours("$[?match(@.s, '(?:a)b')].s", &doc), Vec::<Value>::new());
    assert_eq!(theirs("$[?match(@.s, '(?:a)b')].s", &doc), Some(list(json!(["ab"]))));
    assert_eq!(ours("$[?match(@.s, 'a.')].s", &doc), list(json!(["a$", "ab"])));
}

/// Not the RFC: `regex-lite` has no Unicode tables, so `\p{..}` / `\P{..}` are refused in a
/// literal pattern (a parse error naming them) and make a computed pattern false.
#[test]
fn unicode_property_classes_are_not_supported() {
    let err = JsonPath::parse(r"$[?match(@.s, '\\p{L}')]").unwrap_err();
    assert!(err.message().contains(r"\p{..}"), "{err}");
    assert!(JsonPath::parse(r"$[?search(@.s, '[\\P{Lu}]')]").is_err());
    let doc = json!([{"s": "a", "p": "\\p{L}"}]);
    assert_eq!(ours("$[?match(@.s, @.p)]", &doc), Vec::<Value>::new());
}

/// RFC 9535, section 2.3.5.1: number literals have no range limit (only indices do):
/// `100000000000000000000` is a number, and `1e400` the largest double.
#[test]
fn number_literals_have_no_range_limit() {
    let doc = json!([100000000000000000000.0, 5]);
    assert_eq!(ours("$[?@ == 100000000000000000000]", &doc), list(json!([100000000000000000000.0])));
    assert!(jsonpath_rust::parser::parse_json_path("$[?@ == 100000000000000000000]").is_err());
    assert_eq!(ours("$[?@ < 1e400]", &doc).len(), 2);
    assert!(JsonPath::parse("$[9007199254740991]").is_ok());
    assert!(JsonPath::parse("$[9007199254740992]").is_err());
    assert!(JsonPath::parse("$[-9007199254740992]").is_err());
}
