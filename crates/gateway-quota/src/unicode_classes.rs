//! `\p{Name}` / `\pL` / `\P{Name}` in `regexp:` keys. Higress compiles keys with Go's RE2,
//! which knows Unicode classes; `regex-lite` (small enough for every module) does not, so the
//! classes in [`super::unicode_tables`] are rewritten into explicit ranges first:
//! `^\p{Han}+$` becomes `^[\x{2E80}-\x{2E99}...]+$`. Inside a bracket class the ranges are
//! inlined (`[\p{Han}a-z]`); a negated class inside brackets is refused (regex-lite cannot
//! subtract it there), as is a name not in the table.

use std::fmt::Write;

use super::unicode_tables::CLASSES;

/// `pattern` with every Unicode class replaced by its ranges; unchanged when it has none.
pub fn expand_unicode_classes(pattern: &str) -> Result<String, String> {
    if !pattern.contains("\\p") && !pattern.contains("\\P") {
        return Ok(pattern.to_string());
    }
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = std::mem::take(&mut class_start);
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                if next != 'p' && next != 'P' {
                    out.push('\\');
                    out.push(next);
                    continue;
                }
                let name = match chars.next() {
                    Some('{') => {
                        let mut name = String::new();
                        loop {
                            match chars.next() {
                                Some('}') => break,
                                Some(ch) => name.push(ch),
                                None => return Err(format!("unclosed `\\{next}{{{name}`")),
                            }
                        }
                        name
                    }
                    Some(ch) => ch.to_string(),
                    None => return Err(format!("`\\{next}` without a class name")),
                };
                let (name, negated) = match name.strip_prefix('^') {
                    Some(rest) => (rest.to_string(), next == 'p'),
                    None => (name, next == 'P'),
                };
                let ranges = lookup(&name)?;
                match (in_class, negated) {
                    (false, false) => write_class(&mut out, ranges, ""),
                    (false, true) => write_class(&mut out, ranges, "^"),
                    (true, false) => write_ranges(&mut out, ranges),
                    (true, true) => {
                        return Err(format!("a negated Unicode class (`{name}`) inside [...] is not supported"));
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                // A `]` right after `[` or `[^` is a literal.
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push(']');
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // A POSIX class `[:alpha:]` inside brackets: copy it whole.
                out.push('[');
                for ch in chars.by_ref() {
                    out.push(ch);
                    if ch == ']' {
                        break;
                    }
                }
            }
            ']' if in_class && !at_class_start => {
                in_class = false;
                out.push(']');
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

fn lookup(name: &str) -> Result<&'static [(u32, u32)], String> {
    let wanted = name.trim();
    let alias = match wanted {
        "Letter" => "L",
        "Number" => "N",
        other => other,
    };
    CLASSES.iter().find(|(n, _)| n.eq_ignore_ascii_case(alias)).map(|(_, r)| *r).ok_or_else(|| {
        let known: Vec<&str> = CLASSES.iter().map(|(n, _)| *n).collect();
        format!("the Unicode class `{wanted}` is not supported (supported: {})", known.join(", "))
    })
}

fn write_class(out: &mut String, ranges: &[(u32, u32)], negation: &str) {
    out.push('[');
    out.push_str(negation);
    write_ranges(out, ranges);
    out.push(']');
}

fn write_ranges(out: &mut String, ranges: &[(u32, u32)]) {
    for (start, end) in ranges {
        // Infallible: writing to a String.
        let _ =
            if start == end { write!(out, "\\x{{{start:X}}}") } else { write!(out, "\\x{{{start:X}}}-\\x{{{end:X}}}") };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_syntax::hir::{Class, HirKind};

    fn lite(pattern: &str) -> regex_lite::Regex {
        regex_lite::Regex::new(&expand_unicode_classes(pattern).unwrap()).unwrap()
    }

    /// Every table is the class regex-syntax (the `regex` crate's parser) builds.
    #[test]
    fn the_tables_are_regex_syntaxs_classes() {
        for (name, ranges) in CLASSES {
            let hir = regex_syntax::Parser::new().parse(&format!("\\p{{{name}}}")).unwrap();
            let HirKind::Class(Class::Unicode(class)) = hir.kind() else { panic!("{name}") };
            let theirs: Vec<(u32, u32)> = class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect();
            assert_eq!(&theirs[..], *ranges, "{name}");
        }
    }

    #[test]
    fn expanded_patterns_match_what_re2_style_classes_match() {
        let han = lite(r"^\p{Han}+$");
        assert!(han.is_match("用户") && han.is_match("𠀀") && !han.is_match("user") && !han.is_match("ユーザ"));
        let not_han = lite(r"^\P{Han}+$");
        assert!(not_han.is_match("user") && !not_han.is_match("用"));
        let mixed = lite(r"^[\p{Han}a-z0-9_]+$");
        assert!(mixed.is_match("张san_1") && !mixed.is_match("Zhang"));
        let letters = lite(r"^\pL+\pN*$");
        assert!(letters.is_match("Straße42") && letters.is_match("Ωμέγα") && !letters.is_match("42"));
        let negated = lite(r"^\p{^Latin}+$");
        assert!(negated.is_match("Ωμέγα") && !negated.is_match("abc"));
        assert_eq!(expand_unicode_classes(r"^a\.b[\]x]$").unwrap(), r"^a\.b[\]x]$", "nothing to expand");
        assert!(lite(r"^[]\p{Han}]+$").is_match("]用"));
        assert!(lite(r"^[[:digit:]\p{Hangul}]+$").is_match("1한"));
    }

    /// Every code point agrees with the full `regex` crate, sampled densely around every
    /// range boundary.
    #[test]
    fn expanded_classes_agree_with_the_regex_crate_around_every_boundary() {
        for (name, ranges) in CLASSES {
            let ours = lite(&format!("^\\p{{{name}}}$"));
            let theirs = regex::Regex::new(&format!("^\\p{{{name}}}$")).unwrap();
            for (start, end) in ranges.iter() {
                for cp in [start.saturating_sub(1), *start, start + 1, end.saturating_sub(1), *end, end + 1] {
                    if let Some(ch) = char::from_u32(cp) {
                        let s = ch.to_string();
                        assert_eq!(ours.is_match(&s), theirs.is_match(&s), "{name} U+{cp:04X}");
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_and_unsupported_classes_are_named() {
        assert!(expand_unicode_classes(r"\p{Klingon}").unwrap_err().contains("`Klingon` is not supported"));
        assert!(expand_unicode_classes(r"[\P{Han}]").unwrap_err().contains("inside [...]"));
        assert!(expand_unicode_classes(r"\p{Han").unwrap_err().contains("unclosed"));
    }
}
