//! Repository checks run as ordinary tests: no `unsafe` outside the SDK's `abi/` module (the host crate
//! is exempt), no plugin or example depending on `proxy-wasm` directly, and limiters that keep only
//! their own config and admission code (the shared fields and decisions are gateway-quota's).

use std::path::{Path, PathBuf};

/// The workspace this xtask belongs to.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Every file under `dir` whose name ends with `suffix`, skipping build output and hidden directories.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    stack.push(path);
                }
            } else if name.ends_with(suffix) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Rust source with comments, string literals and char literals blanked out, so only code remains.
fn code_only(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
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
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r')) && !at(i.wrapping_sub(1)).is_alphanumeric() && {
            let start = if c == 'b' { i + 2 } else { i + 1 };
            let mut j = start;
            while at(j) == '#' {
                j += 1;
            }
            at(j) == '"'
        } {
            // Raw string: r#"..."# with any number of hashes.
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A char literal; a lone quote is a lifetime and stays.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// True when `unsafe` appears as a word in the code of `src`.
fn has_unsafe(src: &str) -> bool {
    code_only(src).split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|word| word == "unsafe")
}

/// True when a Cargo.toml names `proxy-wasm` as a dependency (directly or through `package = ...`).
fn depends_on_proxy_wasm(manifest: &str) -> bool {
    manifest.lines().any(|line| {
        let line = line.split('#').next().unwrap_or_default().trim();
        let key = line.split('=').next().unwrap_or_default().trim();
        let table = line.trim_start_matches('[').trim_end_matches(']');
        matches!(key, "proxy-wasm" | "proxy_wasm" | "proxy-wasm.workspace")
            || table.ends_with("dependencies.proxy-wasm")
            || line.replace(' ', "").contains("package=\"proxy-wasm\"")
    })
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

#[test]
fn unsafe_only_in_gateway_sdk_abi() {
    let root = root();
    let abi = root.join("crates/gateway-sdk/src/abi");
    // The fixture workspace's tiny filter is a raw ABI module on purpose (it tests packaging,
    // not the SDK).
    let fixtures = root.join("xtask/tests/fixtures");
    let mut offenders = Vec::new();
    for dir in ["crates", "plugins", "examples", "xtask"] {
        for file in files(&root.join(dir), ".rs") {
            if file.starts_with(&abi) || file.starts_with(&fixtures) {
                continue;
            }
            let src = std::fs::read_to_string(&file).unwrap_or_default();
            if has_unsafe(&src) {
                offenders.push(relative(&file));
            }
        }
    }
    assert!(offenders.is_empty(), "`unsafe` belongs in crates/gateway-sdk/src/abi/ only; found in: {offenders:?}");
}

#[test]
fn plugins_and_examples_do_not_depend_on_proxy_wasm() {
    let root = root();
    let mut offenders = Vec::new();
    for dir in ["plugins", "examples"] {
        for manifest in files(&root.join(dir), "Cargo.toml") {
            let text = std::fs::read_to_string(&manifest).unwrap_or_default();
            if depends_on_proxy_wasm(&text) {
                offenders.push(relative(&manifest));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "plugins use proxy-wasm only through gateway-sdk; direct dependency in: {offenders:?}"
    );
}

#[test]
fn spec_schemas_accept_readme_examples_and_reject_invalid_configs() {
    let root = root();
    let mut problems = Vec::new();
    for parent in crate::workspace::PLUGIN_PARENTS {
        for dir in std::fs::read_dir(root.join(parent)).into_iter().flatten().flatten().map(|e| e.path()) {
            let name = dir.file_name().unwrap_or_default().to_string_lossy().to_string();
            let plugin = crate::workspace::Plugin { name, dir, repository: None };
            problems.extend(crate::examples::check(&plugin));
        }
    }
    assert!(problems.is_empty(), "config examples disagree with spec.yaml:\n{}", problems.join("\n"));
}

#[test]
fn unsafe_detection_sees_code_but_not_comments_or_strings() {
    assert!(has_unsafe("fn f() { unsafe { g() } }"));
    assert!(has_unsafe("#[unsafe(no_mangle)]\npub extern \"C\" fn f() {}"));
    assert!(has_unsafe("unsafe impl Send for X {}"));
    assert!(has_unsafe("fn f<'a>(x: &'a u8) -> char { let c = 'x'; unsafe { h() } }"));
    assert!(!has_unsafe("// unsafe here\n/* and unsafe /* nested unsafe */ there */ fn f() {}"));
    assert!(!has_unsafe(r##"const S: &str = "unsafe \" unsafe"; const R: &str = r#"unsafe"#;"##));
    assert!(!has_unsafe("fn not_unsafe_at_all() { let unsafe_count = 1; }"));
    assert!(!has_unsafe("/// Never call this from unsafe code.\nfn f() {}"));
    assert!(!has_unsafe("let q = '\"'; let s = \"unsafe\";"));
}

#[test]
fn proxy_wasm_dependency_detection() {
    assert!(depends_on_proxy_wasm("[dependencies]\nproxy-wasm = \"0.2\"\n"));
    assert!(depends_on_proxy_wasm("[dependencies]\nproxy-wasm.workspace = true\n"));
    assert!(depends_on_proxy_wasm("[dependencies.proxy-wasm]\nversion = \"0.2\"\n"));
    assert!(depends_on_proxy_wasm("[dependencies]\npw = { package = \"proxy-wasm\", version = \"0.2\" }\n"));
    assert!(!depends_on_proxy_wasm("[dependencies]\ngateway-sdk.workspace = true\n# proxy-wasm = \"0.2\"\n"));
}

/// Lines of code (not blank, not comments) before a file's `#[cfg(test)]` module.
fn code_lines(src: &str) -> usize {
    let code = src.split("#[cfg(test)]").next().unwrap_or_default();
    code_only(code).lines().filter(|l| !l.trim().is_empty()).count()
}

/// Issue 16: each limiter keeps only its own config and admission code; the fields both share
/// are declared once (`gateway_quota::limiter_config!`), the decisions are the quota engine's.
#[test]
fn limiters_keep_their_own_config_and_admission_under_400_lines() {
    let root = root();
    let own = [
        ("cluster-rate-limit", &["config.rs", "limiter.rs", "lib.rs", "higress.rs"][..]),
        ("token-limit", &["config.rs", "admission.rs", "higress.rs"][..]),
    ];
    for (plugin, files) in own {
        let mut total = 0;
        for f in files {
            let path = root.join("plugins").join(plugin).join("src").join(f);
            let src = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            total += code_lines(&src);
            // The shared fields come from the macro: no plugin declares them (or their defaults) itself.
            for shared in ["pub redis: RedisConfig", "pub circuit_breaker: BreakerConfig", "fn default_gateway_count"] {
                assert!(
                    !code_only(&src).contains(shared),
                    "{plugin}/{f} declares `{shared}` again: it is gateway_quota's"
                );
            }
        }
        let config =
            std::fs::read_to_string(root.join("plugins").join(plugin).join("src/config.rs")).unwrap_or_default();
        assert!(
            config.contains("gateway_quota::limiter_config!"),
            "{plugin}: Config is not declared with limiter_config!"
        );
        assert!(total < 400, "{plugin}: {total} lines of its own config and admission code ({files:?})");
    }
}

#[test]
fn code_lines_skip_comments_blanks_and_tests() {
    assert_eq!(code_lines("// a\n\nfn f() {}\n/* b\n c */\nfn g() {}\n#[cfg(test)]\nmod tests { fn h() {} }\n"), 2);
}
