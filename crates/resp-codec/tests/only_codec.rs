//! Repository check: RESP is encoded and parsed in this crate only. Greps the workspace's
//! non-test Rust source (`crates/`, `plugins/`, `examples/`, `xtask/`; not `tests/`
//! directories, not `#[cfg(test)]` modules, not comments) for hand-written RESP framing
//! (the JSONPath parser and the regular expression parser, whose syntaxes are made of the same
//! bytes, are not looked at).

use std::path::{Path, PathBuf};

/// What hand-written RESP looks like: type bytes matched or compared, frames formatted,
/// command frames spelled out as literals, bulk headers stripped by hand.
const PATTERNS: [&str; 10] = [
    "b'*'",
    "b'$'",
    "'$' =>",
    "'*' =>",
    "format!(\"*{",
    "format!(\"${",
    "\\r\\n$",
    "$-1\\r\\n",
    "strip_prefix('$')",
    "strip_prefix(\"+OK",
];

/// `"*3\r\n` and `b"*1\r\n`: a command frame as a literal.
fn literal_frame(line: &str) -> bool {
    line.match_indices("\"*").any(|(at, _)| {
        let rest = &line[at + 2..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with("\\r\\n")
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            // gateway-jsonpath parses JSONPath, whose root and wildcard are `$` and `*`, and
            // gateway-regex regular expressions, whose end anchor and star they are too.
            if !matches!(name.as_str(), "target" | "tests" | "resp-codec" | "gateway-jsonpath" | "gateway-regex")
                && !name.starts_with('.')
            {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The lines of a file that count: up to its `#[cfg(test)]` module, without `//` comments.
fn code_lines(src: &str) -> impl Iterator<Item = (usize, &str)> {
    src.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .map(|(n, l)| (n + 1, l.split_once("//").map_or(l, |(code, _)| code)))
}

fn offenders(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for top in ["crates", "plugins", "examples", "xtask"] {
        rust_files(&root.join(top), &mut files);
    }
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in code_lines(&src) {
            if PATTERNS.iter().any(|p| line.contains(p)) || literal_frame(line) {
                let rel = file.strip_prefix(root).unwrap_or(&file).display().to_string();
                found.push(format!("{rel}:{n}: {}", line.trim()));
            }
        }
    }
    found
}

#[test]
fn resp_is_framed_only_by_the_codec_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(root.join("crates/gateway-sdk").is_dir(), "workspace root not found from {}", root.display());
    let found = offenders(&root);
    assert!(
        found.is_empty(),
        "RESP encoding/parsing outside crates/resp-codec (use resp_codec::{{encode_command, decode, FromFrame}}):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_patterns_catch_what_they_are_for() {
    for hand_written in [
        "    match buf[0] { b'*' => {}, _ => {} }",
        "let out = format!(\"*{}\\r\\n\", args.len());",
        "conn.write_all(b\"*1\\r\\n$7\\r\\nMONITOR\\r\\n\")?;",
        "let n = header.strip_prefix('$');",
        "Some(b'$') => {",
    ] {
        let hit = PATTERNS.iter().any(|p| hand_written.contains(p)) || literal_frame(hand_written);
        assert!(hit, "not caught: {hand_written}");
    }
    let code: Vec<_> = code_lines("let a = 1; // b'*'\n#[cfg(test)]\nb'$'").collect();
    assert_eq!(code, vec![(1, "let a = 1; ")]);
    assert!(!literal_frame("let s = \"*ptr\\r\\n\";"));
}
