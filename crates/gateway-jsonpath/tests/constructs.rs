//! Hand-written cases for every construct of the query language and for the parse errors a
//! configuration shows, beyond the RFC's own examples (`rfc_examples.rs`).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use gateway_jsonpath::JsonPath;
use serde_json::{Value, json};

/// The nodelist from serde_json's tree, checked against the same query on the document's
/// text read in place.
fn query(path: &str, doc: &Value) -> Value {
    let parsed: JsonPath = path.parse().unwrap_or_else(|e| panic!("{path}: {e}"));
    let found = Value::Array(parsed.query(doc).into_iter().cloned().collect());
    let text = doc.to_string();
    let view = gateway_json::JsonView::parse(text.as_bytes(), gateway_json::Leniency::Strict).unwrap();
    let in_place = parsed.query(view).into_iter().map(|v| serde_json::from_slice(v.raw()).unwrap()).collect();
    assert_eq!(Value::Array(in_place), found, "{path} in place");
    found
}

fn error(path: &str) -> String {
    JsonPath::parse(path).err().unwrap_or_else(|| panic!("{path} accepted")).to_string()
}

#[test]
fn names_with_escapes_and_shorthands() {
    let doc = json!({"a": {"b": 1}, "é": 2, "_x1": 3, "\u{8}\u{c}\n\r\t/\\'\"": 4, "😀": 5, "k k": 6});
    assert_eq!(query("$.a.b", &doc), json!([1]));
    assert_eq!(query("$.é", &doc), json!([2]));
    assert_eq!(query("$._x1", &doc), json!([3]));
    assert_eq!(query(r#"$['\b\f\n\r\t\/\\\'"']"#, &doc), json!([4]));
    assert_eq!(query(r#"$["\b\f\n\r\t/\\'\""]"#, &doc), json!([4]));
    assert_eq!(query(r#"$["\uD83D\ude00"]"#, &doc), json!([5]));
    assert_eq!(query(r"$['\u00E9']", &doc), json!([2]));
    assert_eq!(query("$['k k']", &doc), json!([6]));
    assert_eq!(query("$.missing", &doc), json!([]));
    assert_eq!(query("$.a.b.c", &doc), json!([]));
    assert_eq!(query("$[0]", &doc), json!([]));
    for bad in
        ["$.1a", "$.-a", "$['a]", r"$['\x']", r"$['\u00G0']", r"$['\uDE00']", "$['\u{1}']", "$[\"a']", "$.a.", "$a"]
    {
        assert!(JsonPath::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn wildcards_indices_and_slices() {
    let doc = json!({"arr": [0, 1, 2, 3, 4, 5], "obj": {"x": 1, "y": 2}, "s": "text"});
    assert_eq!(query("$.arr[*]", &doc), json!([0, 1, 2, 3, 4, 5]));
    assert_eq!(query("$.obj.*", &doc), json!([1, 2]));
    assert_eq!(query("$.s[*]", &doc), json!([]));
    assert_eq!(query("$.arr[0]", &doc), json!([0]));
    assert_eq!(query("$.arr[-1]", &doc), json!([5]));
    assert_eq!(query("$.arr[6]", &doc), json!([]));
    assert_eq!(query("$.arr[-7]", &doc), json!([]));
    assert_eq!(query("$.obj[0]", &doc), json!([]));
    assert_eq!(query("$.arr[1:3]", &doc), json!([1, 2]));
    assert_eq!(query("$.arr[:2]", &doc), json!([0, 1]));
    assert_eq!(query("$.arr[4:]", &doc), json!([4, 5]));
    assert_eq!(query("$.arr[:]", &doc), json!([0, 1, 2, 3, 4, 5]));
    assert_eq!(query("$.arr[::2]", &doc), json!([0, 2, 4]));
    assert_eq!(query("$.arr[-2:]", &doc), json!([4, 5]));
    assert_eq!(query("$.arr[::-1]", &doc), json!([5, 4, 3, 2, 1, 0]));
    assert_eq!(query("$.arr[4:1:-2]", &doc), json!([4, 2]));
    assert_eq!(query("$.arr[-1:-3:-1]", &doc), json!([5, 4]));
    assert_eq!(query("$.arr[1:5:0]", &doc), json!([]));
    assert_eq!(query("$.arr[-100:100:3]", &doc), json!([0, 3]));
    assert_eq!(query("$.arr[100:-100:-4]", &doc), json!([5, 1]));
    assert_eq!(query("$.arr[3:1]", &doc), json!([]));
    assert_eq!(query("$.obj[:]", &doc), json!([]));
    assert_eq!(query("$.arr[ 1 : 3 : 1 ]", &doc), json!([1, 2]));
    assert_eq!(query("$.arr[0, -1, 0]", &doc), json!([0, 5, 0]));
    assert_eq!(query("$.arr[1:3, 'x', *]", &doc), json!([1, 2, 0, 1, 2, 3, 4, 5]));
    for bad in
        ["$.arr[-0]", "$.arr[01]", "$.arr[1.0]", "$.arr[1:2:3:4]", "$.arr[]", "$.arr[1,]", "$.arr[,1]", "$.arr[+1]"]
    {
        assert!(JsonPath::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn descendants() {
    let doc = json!({"a": {"a": 1, "b": [{"a": 2}]}, "c": [[{"a": 3}]]});
    assert_eq!(query("$..a", &doc), json!([{"a": 1, "b": [{"a": 2}]}, 1, 2, 3]));
    assert_eq!(query("$..[0]", &doc), json!([{"a": 2}, [{"a": 3}], {"a": 3}]));
    assert_eq!(query("$..b..a", &doc), json!([2]));
    assert_eq!(query("$..[?@.a == 3]", &doc), json!([{"a": 3}]));
    assert_eq!(query("$.c..*", &doc), json!([[{"a": 3}], {"a": 3}, 3]));
    assert_eq!(query("$..a..a", &doc), json!([1, 2]));
}

#[test]
fn filters_tests_and_logic() {
    let doc = json!([
        {"n": 1, "tag": "x", "flag": true},
        {"n": 2, "tag": null},
        {"n": 3, "tag": "y", "flag": false},
        {"other": {"n": 4}}
    ]);
    assert_eq!(query("$[?@.tag].n", &doc), json!([1, 2, 3]));
    assert_eq!(query("$[?!@.tag].other.n", &doc), json!([4]));
    assert_eq!(query("$[?@.n > 1 && @.n < 3].n", &doc), json!([2]));
    assert_eq!(query("$[?@.n == 1 || @.n == 3].n", &doc), json!([1, 3]));
    assert_eq!(query("$[?@.n == 1 || @.n == 2 && @.tag].n", &doc), json!([1, 2]));
    assert_eq!(query("$[?(@.n == 1 || @.n == 2) && @.tag == 'x'].n", &doc), json!([1]));
    assert_eq!(query("$[?!(@.n == 1 || @.n == 2)].n", &doc), json!([3]));
    assert_eq!(query("$[?(@.n == 2)].n", &doc), json!([2]));
    assert_eq!(query("$[?((@.n == 2))].n", &doc), json!([2]));
    assert_eq!(query("$[?@.flag == true].n", &doc), json!([1]));
    assert_eq!(query("$[?@.flag == false].n", &doc), json!([3]));
    assert_eq!(query("$[?@.tag == null].n", &doc), json!([2]));
    assert_eq!(query("$[?@.*.n].other", &doc), json!([{"n": 4}]));
    assert_eq!(query("$[?$[0].n == 1 && @.n == 3].n", &doc), json!([3]));
    assert_eq!(query("$[?@.n == $[2].n].n", &doc), json!([3]));
    // A filter on an object filters its member values.
    assert_eq!(query("$[3][?@.n == 4]", &doc), json!([{"n": 4}]));
    // Nested filters: the inner `@` is the inner candidate.
    let nested = json!([{"xs": [1, 5]}, {"xs": [2]}]);
    assert_eq!(query("$[?@.xs[?@ > 4]]", &nested), json!([{"xs": [1, 5]}]));
    for bad in [
        "$[?]",
        "$[?@.n ==]",
        "$[?@.n = 1]",
        "$[?@.n == 1 &&]",
        "$[?(@.n == 1]",
        "$[?@.n == 1)]",
        "$[?1]",
        "$[?true]",
        "$[?'a']",
        "$[?@.n === 1]",
        "$[?@.a == @.b == @.c]",
        "$[?!!@.a]",
        "$[?@.a & @.b]",
        "$[?@.a | @.b]",
    ] {
        assert!(JsonPath::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn comparisons() {
    let doc = json!([1, 1.0, 2.5, -3, "a", "b", "é", "", true, false, null, [1], {"k": 1}]);
    assert_eq!(query("$[?@ == 1]", &doc), json!([1, 1.0]));
    assert_eq!(query("$[?@ == 1.0]", &doc), json!([1, 1.0]));
    assert_eq!(query("$[?@ < 2]", &doc), json!([1, 1.0, -3]));
    assert_eq!(query("$[?@ >= 2.5]", &doc), json!([2.5]));
    assert_eq!(query("$[?@ > -3.5e0]", &doc), json!([1, 1.0, 2.5, -3]));
    assert_eq!(query("$[?@ == -0]", &doc), json!([]));
    assert_eq!(query("$[?@ > 'a']", &doc), json!(["b", "é"]));
    assert_eq!(query("$[?@ <= \"a\"]", &doc), json!(["a", ""]));
    assert_eq!(query("$[?@ == true]", &doc), json!([true]));
    assert_eq!(query("$[?@ != true]", &doc).as_array().unwrap().len(), 12);
    assert_eq!(query("$[?@ == null]", &doc), json!([null]));
    assert_eq!(query("$[?@ < true]", &doc), json!([]));
    assert_eq!(query("$[?@ <= null]", &doc), json!([null]));
    assert_eq!(query("$[?@ == $[11]]", &doc), json!([[1]]));
    assert_eq!(query("$[?@ == $[12]]", &doc), json!([{"k": 1}]));
    assert_eq!(query("$[?@ > $[11]]", &doc), json!([]));
    assert_eq!(query("$[?@.missing == @.other]", &json!([1])), json!([1]));
    assert_eq!(query("$[?@.missing < @.other]", &json!([1])), json!([]));
    assert_eq!(query("$[?@.missing <= @.other]", &json!([1])), json!([1]));
    assert_eq!(query("$[?@[0] == 1e0]", &json!([[1], [2]])), json!([[1]]));
    assert_eq!(query("$[?@ == 18446744073709551615]", &json!([u64::MAX, 1])), json!([u64::MAX]));
}

#[test]
fn functions() {
    let doc = json!([
        {"s": "héllo", "a": [1, 2, 3], "o": {"x": 1}, "n": 5},
        {"s": "", "a": [], "o": {}, "n": "5"}
    ]);
    assert_eq!(query("$[?length(@.s) == 5].n", &doc), json!([5]));
    assert_eq!(query("$[?length(@.a) == 3].n", &doc), json!([5]));
    assert_eq!(query("$[?length(@.o) == 0].n", &doc), json!(["5"]));
    assert_eq!(query("$[?length(@.n) == 1].n", &doc), json!(["5"]));
    // Nothing compares equal only to nothing.
    assert_eq!(query("$[?length(@.missing) == @.missing].n", &doc), json!([5, "5"]));
    assert_eq!(query("$[?length(length(@.s)) == 1]", &doc), json!([]));
    assert_eq!(query("$[?length('abc') == 3].n", &doc), json!([5, "5"]));
    assert_eq!(query("$[?count(@.a[*]) == 3].n", &doc), json!([5]));
    assert_eq!(query("$[?count(@.*) == 4].n", &doc), json!([5, "5"]));
    assert_eq!(query("$[?count(@.missing) == 0].n", &doc), json!([5, "5"]));
    assert_eq!(query("$[?count($[*]) == 2].n", &doc), json!([5, "5"]));
    assert_eq!(query("$[?value(@.a[0]) == 1].n", &doc), json!([5]));
    assert_eq!(query("$[?value(@.a[*]) == 1].n", &doc), json!([]));
    assert_eq!(query("$[?value(@..x) == 1].n", &doc), json!([5]));
    assert_eq!(query("$[?length(value(@.s)) == 0].n", &doc), json!(["5"]));
    assert_eq!(query("$[?match(@.s, 'h.llo')].n", &doc), json!([5]));
    assert_eq!(query("$[?match(@.s, 'h')].n", &doc), json!([]));
    assert_eq!(query("$[?search(@.s, 'l+')].n", &doc), json!([5]));
    assert_eq!(query("$[?match(@.s, '')].n", &doc), json!(["5"]));
    assert_eq!(query("$[?!search(@.s, 'x')].n", &doc), json!([5, "5"]));
    assert_eq!(query("$[?match(@.n, '5')].n", &doc), json!(["5"]));
    assert_eq!(query("$[?match(@.n, @.n)].n", &doc), json!(["5"]));
    assert_eq!(query("$[?search(@.s, @.missing)].n", &doc), json!([]));
    for bad in [
        "$[?length()]",
        "$[?length(@.a, @.b) == 1]",
        "$[?match(@.s)]",
        "$[?size(@.a) == 1]",
        "$[?length (@.a) == 1]",
        "$[?LENGTH(@.a) == 1]",
    ] {
        assert!(JsonPath::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn i_regexp_patterns() {
    let cases: &[(&str, &str, bool)] = &[
        ("a|ab", "ab", true),
        ("(a|b)+c?", "abba", true),
        ("a{2}", "aa", true),
        ("a{2}", "aaa", false),
        ("a{1,}", "aaa", true),
        ("a{1,2}", "aaa", false),
        ("[a-c]+", "cab", true),
        ("[^a-c]", "d", true),
        ("[^a-c]", "a", false),
        ("[-a]+", "-a", true),
        ("[a-]+", "-a", true),
        (r"[\-\]]+", "-]", true),
        (r"\.\*", ".*", true),
        (r"\n", "\n", true),
        (".", "\n", false),
        (".", "\r", false),
        (".", "é", true),
        ("^", "^", true),
        ("a$", "a$", true),
        ("a,b", "a,b", true),
        ("a b", "a b", true),
        ("[", "[", false),
        ("a)", "a)", false),
        ("(a", "a", false),
        ("*a", "a", false),
        ("a**", "a", false),
        ("a*?", "a", false),
        ("a{,2}", "a", false),
        ("]", "]", false),
        ("}", "}", false),
        ("[]", "]", false),
        ("[a-c-e]", "a", false),
        (r"\q", "q", false),
    ];
    for (pattern, text, matched) in cases {
        let doc = json!([text]);
        let escaped = pattern.replace('\\', "\\\\").replace('\'', "\\'");
        let path = format!("$[?match(@, '{escaped}')]");
        assert_eq!(query(&path, &doc) == json!([text]), *matched, "{pattern} on {text:?}");
    }
}

#[test]
fn legacy_filter_in_parentheses() {
    let doc = json!({"usage": [{"x": 1, "tokens": 10}, {"x": 2, "tokens": 20}]});
    assert_eq!(query("$.usage[?(@.x == 1)].tokens", &doc), json!([10]));
    assert_eq!(query("$.usage[?(@.x > 0 && @.tokens < 15)].tokens", &doc), json!([10]));
}

#[test]
fn root_only_and_scalars() {
    assert_eq!(query("$", &json!(5)), json!([5]));
    assert_eq!(query("$.a", &json!(5)), json!([]));
    assert_eq!(query("$[*]", &json!("abc")), json!([]));
    assert_eq!(query("$..*", &json!(null)), json!([]));
}

#[test]
fn errors_say_where_and_what() {
    assert_eq!(error("usage.total"), "expected `$` (a JSONPath starts at the root), found `u` at position 0");
    assert_eq!(
        error("$.usage[?(@.x ==]"),
        "expected a query (`@...` or `$...`), a literal or a function call, found `]` at position 16"
    );
    assert_eq!(
        error("$.usage[?(@.x =="),
        "expected a query (`@...` or `$...`), a literal or a function call, found the end at position 16"
    );
    assert_eq!(
        error("$.a b"),
        "expected a segment (`.name`, `[...]`, `..name`) or the end, found blank space at position 3"
    );
    assert_eq!(error("$['é"), "expected the closing `'`, found the end at position 4");
    assert!(
        error("$[?size(@) == 1]").starts_with("unknown function `size` (known: length, count, value, match, search)")
    );
    assert!(error("$[?length(@.a, 1) == 1]").starts_with("`length()` takes 1 argument, got 2"));
    assert!(error("$[?@.* == 1]").contains("is not a value"));
    assert!(error("$[?@[ 'a' ] == 1]").contains("no blank space inside its brackets"));
    assert!(error("$[?length(@)]").contains("is not a test"));
    assert!(error("$[?@.a == tru]").starts_with("expected `true`, `false`, `null` or a function call, found `tru`"));
    let err = JsonPath::parse("$.é[?@ == ]").unwrap_err();
    assert_eq!(err.position(), 10);
    assert_eq!(err.message(), "expected a query (`@...` or `$...`), a literal or a function call, found `]`");
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("$[?{}@.a{}]", "(".repeat(10_000), ")".repeat(10_000));
    assert!(error(&deep).contains("nested"));
    let deep = format!("$[?{}@{}]", "@[?".repeat(5_000), "]".repeat(5_000));
    assert!(JsonPath::parse(&deep).is_err());
    let ok = format!("$[?{}@.a{}]", "(".repeat(30), ")".repeat(30));
    assert_eq!(query(&ok, &json!([{"a": 1}])), json!([{"a": 1}]));
}
