//! The examples of RFC 9535, each query with the nodelist the RFC gives for it. Object member
//! order is not fixed by the RFC; the documents here list keys in sorted order, which is also
//! the order serde_json's map iterates in, so the expected lists are deterministic.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use gateway_jsonpath::JsonPath;
use serde_json::{Value, json};

/// The nodelist from serde_json's tree, checked against the same query on the document's
/// text read in place.
fn query(path: &str, doc: &Value) -> Vec<Value> {
    let parsed = JsonPath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let found: Vec<Value> = parsed.query(doc).into_iter().cloned().collect();
    let text = doc.to_string();
    let view = gateway_json::JsonView::parse(text.as_bytes(), gateway_json::Leniency::Strict).unwrap();
    let in_place: Vec<Value> =
        parsed.query(view).into_iter().map(|v| serde_json::from_slice(v.raw()).unwrap()).collect();
    assert_eq!(in_place, found, "{path} in place");
    found
}

fn check(doc: &Value, cases: &[(&str, Value)]) {
    for (path, expected) in cases {
        let expected = expected.as_array().unwrap();
        assert_eq!(&query(path, doc), expected, "{path}");
    }
}

fn bookstore() -> Value {
    json!({"store": {
        "bicycle": {"color": "red", "price": 399},
        "book": [
            {"author": "Nigel Rees", "category": "reference", "price": 8.95, "title": "Sayings of the Century"},
            {"author": "Evelyn Waugh", "category": "fiction", "price": 12.99, "title": "Sword of Honour"},
            {"author": "Herman Melville", "category": "fiction", "isbn": "0-553-21311-3", "price": 8.99, "title": "Moby Dick"},
            {"author": "J. R. R. Tolkien", "category": "fiction", "isbn": "0-395-19395-8", "price": 22.99, "title": "The Lord of the Rings"}
        ]
    }})
}

/// Section 1.5, the overview table.
#[test]
fn bookstore_overview() {
    let doc = bookstore();
    let book = |i: usize| doc["store"]["book"][i].clone();
    let authors = json!(["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"]);
    check(
        &doc,
        &[
            ("$.store.book[*].author", authors.clone()),
            ("$..author", authors),
            ("$.store.*", json!([doc["store"]["bicycle"], doc["store"]["book"]])),
            ("$.store..price", json!([399, 8.95, 12.99, 8.99, 22.99])),
            ("$..book[2]", json!([book(2)])),
            ("$..book[2].author", json!(["Herman Melville"])),
            ("$..book[2].publisher", json!([])),
            ("$..book[-1]", json!([book(3)])),
            ("$..book[0,1]", json!([book(0), book(1)])),
            ("$..book[:2]", json!([book(0), book(1)])),
            ("$..book[?@.isbn]", json!([book(2), book(3)])),
            ("$..book[?@.price<10]", json!([book(0), book(2)])),
        ],
    );
    // `$..*`: every member value and array element, each node before its descendants.
    let all = query("$..*", &doc);
    assert_eq!(all.len(), 1 + 2 + 2 + 4 + (4 + 4 + 5 + 5));
    assert_eq!(all[0], doc["store"]);
    assert_eq!(all[1], doc["store"]["bicycle"]);
}

/// Section 2.2.3: the root.
#[test]
fn root_identifier() {
    let doc = json!({"k": "v"});
    check(&doc, &[("$", json!([{"k": "v"}]))]);
}

/// Section 2.3.1.3: name selectors.
#[test]
fn name_selector() {
    let doc = json!({"'": {"@": 2}, "o": {"j j": {"k.k": 3}}});
    check(
        &doc,
        &[
            ("$.o['j j']", json!([{"k.k": 3}])),
            ("$.o['j j']['k.k']", json!([3])),
            (r#"$.o["j j"]["k.k"]"#, json!([3])),
            (r#"$["'"]["@"]"#, json!([2])),
        ],
    );
}

/// Section 2.3.2.3: wildcard selectors.
#[test]
fn wildcard_selector() {
    let doc = json!({"a": [5, 3], "o": {"j": 1, "k": 2}});
    check(
        &doc,
        &[
            ("$[*]", json!([[5, 3], {"j": 1, "k": 2}])),
            ("$.o[*]", json!([1, 2])),
            ("$.o[*, *]", json!([1, 2, 1, 2])),
            ("$.a[*]", json!([5, 3])),
        ],
    );
}

/// Section 2.3.3.3: index selectors.
#[test]
fn index_selector() {
    check(&json!(["a", "b"]), &[("$[1]", json!(["b"])), ("$[-2]", json!(["a"]))]);
}

/// Section 2.3.4.3: array slices.
#[test]
fn slice_selector() {
    let doc = json!(["a", "b", "c", "d", "e", "f", "g"]);
    check(
        &doc,
        &[
            ("$[1:3]", json!(["b", "c"])),
            ("$[5:]", json!(["f", "g"])),
            ("$[1:5:2]", json!(["b", "d"])),
            ("$[5:1:-2]", json!(["f", "d"])),
            ("$[::-1]", json!(["g", "f", "e", "d", "c", "b", "a"])),
        ],
    );
}

/// Section 2.3.5.3: the comparison table, each comparison as a filter on a one-element array.
#[test]
fn comparison_table() {
    let doc = json!({"arr": [2, 3], "k": [0], "obj": {"x": "y"}});
    let cases = [
        ("$.absent1 == $.absent2", true),
        ("$.absent1 <= $.absent2", true),
        ("$.absent == 'g'", false),
        ("$.absent1 != $.absent2", false),
        ("$.absent != 'g'", true),
        ("1 <= 2", true),
        ("1 > 2", false),
        ("13 == '13'", false),
        ("'a' <= 'b'", true),
        ("'a' > 'b'", false),
        ("$.obj == $.arr", false),
        ("$.obj != $.arr", true),
        ("$.obj == $.obj", true),
        ("$.obj != $.obj", false),
        ("$.arr == $.arr", true),
        ("$.arr != $.arr", false),
        ("$.obj == 17", false),
        ("$.obj != 17", true),
        ("$.obj <= $.arr", false),
        ("$.obj < $.arr", false),
        ("$.obj <= $.obj", true),
        ("$.arr <= $.arr", true),
        ("1 <= $.arr", false),
        ("1 >= $.arr", false),
        ("1 > $.arr", false),
        ("1 < $.arr", false),
        ("true <= true", true),
        ("true > true", false),
    ];
    for (comparison, holds) in cases {
        let found = query(&format!("$.k[?{comparison}]"), &doc);
        assert_eq!(found.len() == 1, holds, "{comparison}");
    }
}

/// Section 2.3.5.3: the filter examples.
#[test]
fn filter_selector() {
    let doc = json!({
        "a": [3, 5, 1, 2, 4, 6, {"b": "j"}, {"b": "k"}, {"b": {}}, {"b": "kilo"}],
        "e": "f",
        "o": {"p": 1, "q": 2, "r": 3, "s": 5, "t": {"u": 6}}
    });
    let a = doc["a"].as_array().unwrap().clone();
    check(
        &doc,
        &[
            ("$.a[?@.b == 'kilo']", json!([{"b": "kilo"}])),
            ("$.a[?(@.b == 'kilo')]", json!([{"b": "kilo"}])),
            ("$.a[?@>3.5]", json!([5, 4, 6])),
            ("$.a[?@.b]", json!([{"b": "j"}, {"b": "k"}, {"b": {}}, {"b": "kilo"}])),
            ("$[?@.*]", json!([doc["a"], doc["o"]])),
            ("$[?@[?@.b]]", json!([doc["a"]])),
            ("$.o[?@<3, ?@<3]", json!([1, 2, 1, 2])),
            (r#"$.a[?@<2 || @.b == "k"]"#, json!([1, {"b": "k"}])),
            (r#"$.a[?match(@.b, "[jk]")]"#, json!([{"b": "j"}, {"b": "k"}])),
            (r#"$.a[?search(@.b, "[jk]")]"#, json!([{"b": "j"}, {"b": "k"}, {"b": "kilo"}])),
            ("$.o[?@>1 && @<4]", json!([2, 3])),
            ("$.o[?@.u || @.x]", json!([{"u": 6}])),
            ("$.a[?@.b == $.x]", json!([3, 5, 1, 2, 4, 6])),
            ("$.a[?@ == @]", Value::Array(a)),
        ],
    );
}

/// Section 2.4: the function examples that are well-typed, and the ones that are not.
#[test]
fn function_extensions() {
    let doc = json!([
        {"authors": ["a", "b", "c", "d", "e"], "color": "red", "timezone": "Europe/Paris"},
        {"authors": ["a"], "d": {"color": "blue"}, "timezone": "America/New_York"}
    ]);
    check(
        &doc,
        &[
            ("$[?length(@.authors) >= 5]", json!([doc[0]])),
            ("$[?count(@.*) == 3]", json!([doc[0], doc[1]])),
            ("$[?count(@.*.*) == 5]", json!([doc[0]])),
            ("$[?match(@.timezone, 'Europe/.*')]", json!([doc[0]])),
            ("$[?search(@.timezone, 'York')]", json!([doc[1]])),
            ("$[?value(@..color) == 'red']", json!([doc[0]])),
            ("$[?value(@..color) == 'blue']", json!([doc[1]])),
        ],
    );
    for invalid in [
        "$[?length(@) < 3 == true]",
        "$[?length(@.*) < 3]",
        "$[?count(1) == 1]",
        "$[?count(foo(@.*)) == 1]",
        "$[?match(@.timezone, 'Europe/.*') == true]",
        "$[?value(@..color)]",
        "$[?length(@.authors)]",
        "$[?foo(@.a)]",
    ] {
        assert!(JsonPath::parse(invalid).is_err(), "{invalid}");
    }
}

/// Section 2.5.2.3: descendant segments.
#[test]
fn descendant_segment() {
    let doc = json!({"a": [5, 3, [{"j": 4}, {"k": 6}]], "o": {"j": 1, "k": 2}});
    check(
        &doc,
        &[
            ("$..j", json!([4, 1])),
            ("$..[0]", json!([5, {"j": 4}])),
            ("$..o", json!([{"j": 1, "k": 2}])),
            ("$.o..[*, *]", json!([1, 2, 1, 2])),
            ("$.a..[0, 1]", json!([5, 3, {"j": 4}, {"k": 6}])),
        ],
    );
    let everything = json!([[5, 3, [{"j": 4}, {"k": 6}]], {"j": 1, "k": 2}, 5, 3, [{"j": 4}, {"k": 6}], {"j": 4}, {"k": 6}, 4, 6, 1, 2]);
    check(&doc, &[("$..[*]", everything.clone()), ("$..*", everything)]);
}

/// Section 2.6: `null` is a value like any other.
#[test]
fn null_semantics() {
    let doc = json!({"a": null, "b": [null], "c": [{}], "null": 1});
    check(
        &doc,
        &[
            ("$.a", json!([null])),
            ("$.a[0]", json!([])),
            ("$.a.d", json!([])),
            ("$.b[0]", json!([null])),
            ("$.b[*]", json!([null])),
            ("$.b[?@]", json!([null])),
            ("$.b[?@==null]", json!([null])),
            ("$.c[?@.d==null]", json!([])),
            ("$.null", json!([1])),
        ],
    );
}
