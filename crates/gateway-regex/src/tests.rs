//! Tests of the `regexp:` engine by example: what RE2 syntax means, what it refuses, and
//! that hostile patterns stay linear. `tests_differential.rs` compares it with the regex crate.

use super::Regex;

fn matches(pattern: &str, text: &str) -> bool {
    Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")).is_match(text)
}

fn error(pattern: &str) -> String {
    match Regex::new(pattern) {
        Ok(_) => panic!("{pattern} compiled"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn higress_style_keys() {
    for (pattern, yes, no) in [
        ("^a.*", &["a", "abc", "a\nb"][..], &["", "ba", "A"][..]),
        ("^(foo|bar)$", &["foo", "bar"], &["foobar", "fo", "xfoo", "foo\n"]),
        ("^user-[0-9]+$", &["user-1", "user-0042"], &["user-", "user-1a", "xuser-1", "user-١"]),
        ("^[a-z0-9]{8}$", &["abcd1234"], &["abcd123", "abcd12345", "ABCD1234"]),
        ("^\\d{3}-\\w+", &["123-x", "123-ab cd"], &["12-x", "١٢٣-x"]),
        ("b", &["abc"], &["", "ac"]),
        ("", &["", "x"], &[]),
    ] {
        for text in yes {
            assert!(matches(pattern, text), "{pattern} should match {text:?}");
        }
        for text in no {
            assert!(!matches(pattern, text), "{pattern} should not match {text:?}");
        }
    }
}

#[test]
fn syntax_by_example() {
    let cases: &[(&str, &str, bool)] = &[
        // Escapes.
        (r"^\x41\x{263a}\t\n\r\f\v\a$", "A☺\t\n\r\x0c\x0b\x07", true),
        (r"^\101\0$", "A\0", true),
        (r"^\Q.*+\E$", ".*+", true),
        (r"^\Q.*", "x.*", false),
        (r"^\Qab\E+$", "abbb", true),
        (r"^\.\*\+\?\(\)\[\]\{\}\|\^\$\\\-\ $", r".*+?()[]{}|^$\- ", true),
        // Dot and flags.
        ("^.$", "\n", false),
        ("(?s)^.$", "\n", true),
        ("^.$", "用", true),
        ("(?i)^straße$", "STRASSE", false),
        ("(?i)^stRaße$", "STRAẞE", true),
        ("(?i)k", "\u{212A}", true),
        ("(?i)^[a-z]+$", "HeLLo", true),
        ("(?i)^[^k]$", "\u{212A}", false),
        ("(?i)σ", "ς", true),
        ("^(?i:a)b", "Ab", true),
        ("^(?i:a)b", "AB", false),
        ("^a(?i)b|c", "C", true),
        ("^(a(?i)b)c", "aBC", false),
        ("^(?i)a(?-i)b", "Ab", true),
        ("^(?i)a(?-i)b", "AB", false),
        ("(?U)^a+?$", "aaa", true),
        // Anchors and boundaries.
        ("(?m)^b$", "a\nb\nc", true),
        ("^b$", "a\nb\nc", false),
        ("a$", "a\n", false),
        ("(?m)a$", "a\n", true),
        (r"\Aa\z", "a", true),
        (r"(?m)\Aa\z", "a\n", false),
        (r"\bfoo\b", "a foo.", true),
        (r"\bfoo\b", "afoo", false),
        (r"\Bfoo", "afoo", true),
        (r"\bé", "é", false),
        (r"^\B$", "", true),
        ("(?m)^$", "a\n", true),
        // Classes.
        ("^[]a]+$", "]a]", true),
        ("^[^]a]$", "b", true),
        ("^[a-]+$", "a-", true),
        ("^[[:alpha:][:digit:]]+$", "a1", true),
        ("^[[:^alpha:]]+$", "1-", true),
        ("^[[:alpha:]]$", "é", false),
        ("^[[:word:]]+$", "a_1", true),
        (r"^[\d\s]+$", "1 2\t", true),
        (r"^\s$", "\x0b", false),
        (r"^[\D]$", "a", true),
        (r"^\W$", "é", true),
        (r"^[\x{4e00}-\x{9fff}]+$", "中文", true),
        (r"^[[a]+$", "[a", true),
        (r"^\pL+$", "Ωμέγα", true),
        (r"^\p{Greek}\P{Greek}$", "Ωa", true),
        (r"^[\p{Han}\p{Latin}]+$", "用a", true),
        (r"^\p{Any}$", "\n", true),
        // Groups and repetition.
        ("^(?P<id>[0-9]+)-(?<rest>.*)$", "12-x", true),
        ("^(?:ab)+$", "ababab", true),
        ("^(?:ab)+$", "aba", false),
        ("^a{2,3}$", "aaaa", false),
        ("^a{2,}$", "aaaaaaa", true),
        ("^a{0}$", "", true),
        ("^(a|b)*?c$", "ababc", true),
        ("^a{,2}$", "a{,2}", true),
        ("^a{01}$", "a{01}", true),
        ("^x{$", "x{", true),
        ("^(|a)+$", "aaa", true),
        ("^(a*)*$", "aaa", true),
        ("^(a*)+b$", "aaab", true),
        ("^$*", "", true),
    ];
    for &(pattern, text, expected) in cases {
        assert_eq!(matches(pattern, text), expected, "{pattern} on {text:?}");
    }
}

#[test]
fn refused_patterns_say_why() {
    for (pattern, message) in [
        ("(", "missing closing ): `(`"),
        ("a)", "unexpected )"),
        ("[a", "missing closing ]: `[a`"),
        ("[z-a]", "invalid character class range: `z-a`"),
        ("*a", "missing argument to repetition operator: `*`"),
        ("a|*", "missing argument to repetition operator"),
        ("(?i)*", "missing argument to repetition operator"),
        ("a**", "invalid nested repetition operator: `*`"),
        ("a*??", "invalid nested repetition operator: `?`"),
        ("a{2}{3}", "invalid nested repetition operator: `{3}`"),
        ("a{1001}", "invalid repeat count (at most 1000): `{1001}`"),
        ("a{3,2}", "invalid repeat count: `{3,2}`"),
        (r"(a)\1", "backreferences are not supported"),
        ("(?P=n)", "backreferences and recursion are not supported"),
        ("a(?=b)", "look-around is not supported (RE2 syntax): `(?=`"),
        ("(?<!a)b", "look-around is not supported (RE2 syntax): `(?<!`"),
        ("(?x)a", "invalid or unsupported Perl syntax: `(?x`"),
        ("(?i-)a", "invalid or unsupported Perl syntax: `(?i-)`"),
        ("(?P<>a)", "invalid named capture"),
        ("(?P<a-b>a)", "invalid named capture"),
        ("(?P<n>a)(?P<n>b)", "duplicate capture group name: `n`"),
        (r"\8", "backreferences are not supported"),
        (r"\xZZ", "invalid escape sequence"),
        (r"\x{110000}", "invalid escape sequence"),
        (r"[\b]", "invalid escape sequence"),
        (r"\C", "invalid escape sequence"),
        (r"\Z", "invalid escape sequence"),
        ("a\\", "trailing backslash"),
        ("[[:klingon:]]", "invalid character class range: `[:klingon:]`"),
        (r"\p{Klingon}", "`Klingon` is not supported"),
        ("(a{1000}){1000}", "expression too large"),
    ] {
        let got = error(pattern);
        assert!(got.contains(message), "{pattern}: {got}");
    }
    assert!(error(&"(".repeat(300)).contains("nests too deeply"));
    assert!(matches(&format!("{}a{}", "(".repeat(150), ")".repeat(150)), "a"));
}

/// Nested and alternated repetitions that make backtracking engines exponential cost a
/// bounded number of steps per input character here.
#[test]
fn pathological_patterns_stay_linear() {
    let n = 20_000;
    let input = "a".repeat(n);
    for pattern in ["(a*)*b", "(a+)+b", "(a|a)*b", "(a|aa)+$b", "(?:a?){20}a{20}b", "(.*)*x", "(a*)*(a*)*(a*)*b"] {
        let re = Regex::new(pattern).unwrap();
        let mut steps = 0;
        assert!(!re.is_match_counting(&input, &mut steps), "{pattern}");
        let per_char = steps / n as u64;
        assert!(per_char <= 2 * re.prog.len() as u64, "{pattern}: {steps} steps for {n} characters");
        // Doubling the input doubles the work.
        let mut double = 0;
        re.is_match_counting(&input.repeat(2), &mut double);
        assert!(double <= 2 * steps + 100 * re.prog.len() as u64, "{pattern}: {steps} then {double}");
    }
}

/// The common keys never touch the heap and stop early.
#[test]
fn anchored_patterns_stop_at_the_first_dead_end() {
    let re = Regex::new("^user-[0-9]+$").unwrap();
    let mut steps = 0;
    assert!(!re.is_match_counting(&format!("x{}", "user-1".repeat(1000)), &mut steps));
    assert!(steps < 10, "{steps}");
    let re = Regex::new("^a.*").unwrap();
    let mut steps = 0;
    assert!(re.is_match_counting(&"a".repeat(10_000), &mut steps));
    assert!(steps < 10, "{steps}");
}
