//! Repository check: the modules of `crates/gateway-host/src` form a one-way stack. Builds the
//! file-level import graph (`mod` declarations, `use` trees, and `crate::`/`super::`/`self::`
//! or child-module paths in code) and fails on any cycle (strongly connected component) of
//! more than two files, printing it. A parent and one child that refer to each other (two
//! files) are tolerated.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Files by path relative to `src/` (`lib.rs`, `http/mod.rs`, `vm.rs`), with their source.
type Sources = BTreeMap<String, String>;

/// Edges between files, by file path.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The module path of a file: `lib.rs` → [], `a.rs` and `a/mod.rs` → [a], `a/b.rs` → [a, b].
fn module_of(file: &str) -> Vec<String> {
    let stem = file.strip_suffix(".rs").unwrap_or(file);
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Source without comments, string literals and char literals (lifetimes stay).
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c[i] == 'b'
            && next == Some('r')
            && matches!(c.get(i + 2), Some('#' | '"'))
            && !ident_char(out.chars().last())
        {
            // br"..": drop the `b`, the raw string follows.
            i += 1;
        } else if c[i] == 'r' && (next == Some('#') || next == Some('"')) && !ident_char(out.chars().last()) {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            while j < c.len() && !(c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#'))) {
                j += 1;
            }
            i = j + 1 + hashes;
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && (next == Some('\\') || c.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\u{..}'); a lifetime ('a) has no closing quote.
            i += 1;
            while i < c.len() && c[i] != '\'' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Tokens: identifiers (with `$crate` as `crate`), `::` and single punctuation characters.
fn tokens(src: &str) -> Vec<String> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_whitespace() {
            i += 1;
        } else if c[i] == '$' && c.get(i + 1..i + 6).is_some_and(|w| w.iter().collect::<String>() == "crate") {
            out.push("crate".to_string());
            i += 6;
        } else if ident_char(Some(c[i])) {
            let start = i;
            while ident_char(c.get(i).copied()) {
                i += 1;
            }
            out.push(c[start..i].iter().collect());
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".to_string());
            i += 2;
        } else {
            out.push(c[i].to_string());
            i += 1;
        }
    }
    out
}

/// Expands a `use` tree starting at `toks[*at]` into full paths (segments), appending to `out`.
fn use_tree(toks: &[String], at: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    while *at < toks.len() {
        let t = toks[*at].as_str();
        match t {
            "::" => *at += 1,
            "{" => {
                *at += 1;
                loop {
                    use_tree(toks, at, &path, out);
                    match toks.get(*at).map(String::as_str) {
                        Some(",") => *at += 1,
                        Some("}") => {
                            *at += 1;
                            break;
                        }
                        _ => break,
                    }
                    if toks.get(*at).map(String::as_str) == Some("}") {
                        *at += 1;
                        break;
                    }
                }
                return;
            }
            "as" => {
                *at += 2;
                break;
            }
            "*" => {
                *at += 1;
                break;
            }
            "," | "}" | ";" => break,
            // `{self, ..}` names the prefix itself.
            "self" if !path.is_empty() => *at += 1,
            _ => {
                path.push(t.to_string());
                *at += 1;
            }
        }
    }
    out.push(path);
}

/// The file edges of one file: every module path it names, resolved against the files there are.
fn edges_of(
    file: &str,
    src: &str,
    files: &BTreeSet<Vec<String>>,
    by_module: &BTreeMap<Vec<String>, String>,
) -> BTreeSet<String> {
    let here = module_of(file);
    let toks = tokens(&strip(src));
    let mut paths: Vec<(Vec<String>, Vec<String>)> = Vec::new(); // (module the path is relative to, segments)
    // Inline modules (`mod tests { .. }`) shift what `super` and `self` mean inside them.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let current: Vec<String> = here.iter().cloned().chain(inline.iter().map(|(m, _)| m.clone())).collect();
        match toks[i].as_str() {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if i + 2 < toks.len() && ident_char(toks[i + 1].chars().next()) => {
                let name = toks[i + 1].clone();
                if toks[i + 2] == ";" {
                    paths.push((current.clone(), vec!["self".to_string(), name]));
                } else if toks[i + 2] == "{" {
                    inline.push((name, depth));
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            "use" => {
                let mut at = i + 1;
                let mut found = Vec::new();
                use_tree(&toks, &mut at, &[], &mut found);
                paths.extend(found.into_iter().map(|p| (current.clone(), p)));
                i = at;
                continue;
            }
            t if ident_char(t.chars().next()) && toks.get(i + 1).map(String::as_str) == Some("::") => {
                // A path in code: collect `a::b::c`.
                if i > 0 && toks[i - 1] == "::" {
                    i += 1;
                    continue;
                }
                let mut seg = vec![t.to_string()];
                let mut j = i + 1;
                while toks.get(j).map(String::as_str) == Some("::")
                    && toks.get(j + 1).is_some_and(|n| ident_char(n.chars().next()))
                {
                    seg.push(toks[j + 1].clone());
                    j += 2;
                }
                paths.push((current.clone(), seg));
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = BTreeSet::new();
    for (base, segs) in paths {
        let Some(abs) = absolute(&base, &segs, files) else { continue };
        // The longest prefix that is a file's module.
        let target = (0..=abs.len()).rev().find_map(|n| by_module.get(&abs[..n]));
        if let Some(target) = target
            && target != file
        {
            out.insert(target.clone());
        }
    }
    out
}

/// Makes a path absolute (segments from the crate root); `None` for paths outside the crate.
fn absolute(base: &[String], segs: &[String], files: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let (first, rest) = segs.split_first()?;
    match first.as_str() {
        "crate" => Some(rest.to_vec()),
        "self" => Some(base.iter().chain(rest).cloned().collect()),
        "super" => {
            let mut b = base.to_vec();
            let mut rest = rest;
            b.pop()?;
            while rest.first().map(String::as_str) == Some("super") {
                b.pop()?;
                rest = &rest[1..];
            }
            Some(b.into_iter().chain(rest.iter().cloned()).collect())
        }
        // A child module named without `self::` (2018 relative paths).
        _ => {
            let child: Vec<String> = base.iter().chain(std::iter::once(first)).cloned().collect();
            files.contains(&child).then(|| base.iter().chain(segs).cloned().collect())
        }
    }
}

fn graph(sources: &Sources) -> Graph {
    let by_module: BTreeMap<Vec<String>, String> = sources.keys().map(|f| (module_of(f), f.clone())).collect();
    let modules: BTreeSet<Vec<String>> = by_module.keys().cloned().collect();
    sources.iter().map(|(f, src)| (f.clone(), edges_of(f, src, &modules, &by_module))).collect()
}

/// Strongly connected components (Tarjan), each sorted.
fn components(g: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            comp.sort();
            s.out.push(comp);
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// Components of more than two files, each with its internal edges, for the failure message.
fn cycles(g: &Graph) -> Vec<String> {
    components(g)
        .into_iter()
        .filter(|c| c.len() > 2)
        .map(|c| {
            let inside: BTreeSet<&String> = c.iter().collect();
            let edges: Vec<String> = c
                .iter()
                .flat_map(|f| g[f].iter().filter(|t| inside.contains(t)).map(move |t| format!("  {f} -> {t}")))
                .collect();
            format!("cycle of {} files: {}\n{}", c.len(), c.join(", "), edges.join("\n"))
        })
        .collect()
}

fn read_sources(dir: &Path, rel: &str, out: &mut Sources) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rel_name = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        if path.is_dir() {
            read_sources(&path, &rel_name, out);
        } else if name.ends_with(".rs") && rel_name != "main.rs" {
            // main.rs is the binary's own crate root: it sees the library as `gateway_host`.
            out.insert(rel_name, std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn gateway_host_modules_form_no_cycle_of_more_than_two_files() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Sources::new();
    read_sources(&src, "", &mut sources);
    assert!(sources.len() > 20, "read only {} files", sources.len());
    let g = graph(&sources);
    let largest = components(&g).iter().map(Vec::len).max().unwrap_or(0);
    let found = cycles(&g);
    assert!(found.is_empty(), "gateway-host's modules must form a one-way stack:\n{}", found.join("\n"));
    assert!(largest <= 2, "largest component: {largest} files");
}

fn synthetic(files: &[(&str, &str)]) -> Graph {
    graph(&files.iter().map(|(f, s)| (f.to_string(), s.to_string())).collect())
}

#[test]
fn a_three_file_cycle_is_found_and_printed() {
    let g = synthetic(&[
        ("lib.rs", "mod a; mod b; mod c;"),
        ("a.rs", "use crate::b::{X, Y as Z};"),
        ("b.rs", "fn f() { crate::c::g(); }"),
        ("c.rs", "use super::a::*;"),
    ]);
    let found = cycles(&g);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("cycle of 3 files: a.rs, b.rs, c.rs"), "{}", found[0]);
    assert!(found[0].contains("  c.rs -> a.rs"), "{}", found[0]);
}

#[test]
fn a_parent_and_child_referring_to_each_other_pass_but_a_hub_does_not() {
    let pair = synthetic(&[("lib.rs", "mod a;"), ("a/mod.rs", "mod b; use b::X;"), ("a/b.rs", "use super::Y;")]);
    assert!(cycles(&pair).is_empty());
    assert_eq!(components(&pair).iter().map(Vec::len).max(), Some(2));
    // Two children that both import their parent make one component of three.
    let hub = synthetic(&[
        ("lib.rs", "mod a;"),
        ("a/mod.rs", "mod b;\nmod c;\npub(crate) use b::X;"),
        ("a/b.rs", "use super::c::Z;"),
        ("a/c.rs", "use crate::a::{self, W};"),
    ]);
    assert_eq!(cycles(&hub).len(), 1);
}

#[test]
fn comments_strings_and_outside_crates_make_no_edges() {
    let g = synthetic(&[
        ("lib.rs", "mod a; mod b;"),
        (
            "a.rs",
            "// use crate::b::X;\n/* crate::b::Y */\nfn f() -> &'static str { let c = '\"'; \"crate::b::Z\" }\nuse std::io::Read;\n",
        ),
        ("b.rs", "macro_rules! m { () => { $crate::a::f() } }\nmod tests { use super::*; }"),
    ]);
    assert!(g["a.rs"].is_empty(), "{:?}", g["a.rs"]);
    assert_eq!(g["b.rs"], BTreeSet::from(["a.rs".to_string()]));
    assert_eq!(g["lib.rs"], BTreeSet::from(["a.rs".to_string(), "b.rs".to_string()]));
}
