//! The Unicode classes of `regexp:` keys (`\p{Han}`, `\pL`, `\P{Greek}`): names looked up in
//! [`super::unicode_tables`] for the engine in this crate. Names are matched
//! case-insensitively, with `Letter`/`Number` for `L`/`N` and `Any` for every code point; a
//! name not in the table is refused with the list of those that are.

use super::unicode_tables::CLASSES;

/// `\p{Any}`.
const ANY: &[(u32, u32)] = &[(0, 0x10FFFF)];

/// The ranges of the class `name` (without `\p{..}`), or why there are none.
pub(crate) fn lookup(name: &str) -> Result<&'static [(u32, u32)], String> {
    let wanted = name.trim();
    let alias = match wanted {
        "Letter" => "L",
        "Number" => "N",
        other => other,
    };
    if alias.eq_ignore_ascii_case("Any") {
        return Ok(ANY);
    }
    CLASSES.iter().find(|(n, _)| n.eq_ignore_ascii_case(alias)).map(|(_, r)| *r).ok_or_else(|| {
        let mut message = String::from("the Unicode class `");
        message.push_str(wanted);
        message.push_str("` is not supported (supported: ");
        for (name, _) in CLASSES {
            message.push_str(name);
            message.push_str(", ");
        }
        message.push_str("Any)");
        message
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Regex;
    use regex_syntax::hir::{Class, HirKind};

    fn lite(pattern: &str) -> Regex {
        Regex::new(pattern).unwrap()
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
        let plain = lite(r"^a\.b[\]x]$");
        assert!(
            plain.is_match("a.b]") && plain.is_match("a.bx") && !plain.is_match("aXb]"),
            "no class, nothing special"
        );
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
        let error = |pattern: &str| Regex::new(pattern).unwrap_err().to_string();
        assert!(error(r"\p{Klingon}").contains("`Klingon` is not supported"));
        assert!(error(r"\p{Han").contains("unclosed"));
        // Negated classes inside brackets, refused while keys were rewritten for regex-lite,
        // now work.
        let not_han = lite(r"^[\P{Han}0]+$");
        assert!(not_han.is_match("a0") && !not_han.is_match("a用"));
        assert!(lite(r"^[^\P{Han}]+$").is_match("用户") && !lite(r"^[^\P{Han}]+$").is_match("a"));
    }
}
