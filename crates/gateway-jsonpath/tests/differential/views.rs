//! The two readings of a document against each other: every generated query on generated
//! document texts (members in any order, repeated and escaped keys, numbers in several
//! spellings) selects the same values, in the same order, from the text read in place
//! (`JsonView`) as from serde_json's tree of it.

use super::grammar::{Rng, json_text, query};
use gateway_json::{JsonView, Leniency};
use gateway_jsonpath::JsonPath;
use serde_json::Value;

#[test]
fn queries_select_the_same_values_in_place_as_from_serde_jsons_tree() {
    let mut rng = Rng(super::seed(0x5EED_0003));
    let docs: Vec<String> = (0..64).map(|_| json_text(&mut rng, 4)).collect();
    let (mut compared, mut nonempty) = (0, 0);
    let mut failures = Vec::new();
    for _ in 0..super::QUERIES {
        let path = query(&mut rng);
        let Ok(parsed) = JsonPath::parse(&path) else { continue };
        for _ in 0..4 {
            let text = &docs[rng.below(docs.len())];
            let tree: Value = serde_json::from_str(text).unwrap();
            let view = JsonView::parse(text.as_bytes(), Leniency::Strict).unwrap();
            let theirs: Vec<Value> = parsed.query(&tree).into_iter().cloned().collect();
            let ours: Vec<Value> =
                parsed.query(view).into_iter().map(|v| serde_json::from_slice(v.raw()).unwrap()).collect();
            nonempty += usize::from(!ours.is_empty());
            compared += 1;
            if ours != theirs {
                failures.push(format!("{path}\n  doc {text}\n  in place {ours:?}\n  tree     {theirs:?}"));
            }
        }
    }
    eprintln!("{compared} query/document pairs compared ({nonempty} non-empty)");
    assert!(nonempty > compared / 8, "{nonempty} of {compared}");
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}
