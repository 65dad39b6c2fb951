//! I-Regexp (RFC 9485), the pattern language of `match()` and `search()`, checked and
//! rewritten into RE2 syntax for `gateway-regex`: `.` excludes `\n` and `\r`, `^` and `$` are ordinary
//! characters, and every other non-alphanumeric character is written as `\x{..}`.

use gateway_regex::Regex;
use std::fmt::Write;
use std::iter::Peekable;
use std::str::Chars;

/// Why a pattern could not be compiled although it is a valid I-Regexp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsupported;

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unicode property classes (`\\p{..}`, `\\P{..}`) are not supported in match() / search()")
    }
}

/// Why translation stopped.
enum Refused {
    /// Not an I-Regexp: `match()` and `search()` are false.
    Invalid,
    /// An I-Regexp this engine cannot run.
    Unsupported,
}

/// `pattern` compiled for `match()` (`whole`: the entire string) or `search()` (a substring):
/// `Ok(None)` when it is not an I-Regexp, which makes the function false.
pub(crate) fn compile(pattern: &str, whole: bool) -> Result<Option<Regex>, Unsupported> {
    let mut out = String::with_capacity(pattern.len() + 12);
    if whole {
        out.push_str(r"\A(?:");
    }
    match translate(pattern, &mut out) {
        Ok(()) => {}
        Err(Refused::Invalid) => return Ok(None),
        Err(Refused::Unsupported) => return Err(Unsupported),
    }
    if whole {
        out.push_str(r")\z");
    }
    Ok(Regex::new(&out).ok())
}

/// `i-regexp = branch *( "|" branch )`, appended to `out`.
fn translate(pattern: &str, out: &mut String) -> Result<(), Refused> {
    let mut chars = pattern.chars().peekable();
    let mut depth = 0usize;
    // Whether a quantifier may follow: the last piece is an atom without one.
    let mut atom = false;
    while let Some(c) = chars.next() {
        let quantifiable = match c {
            '(' => {
                depth += 1;
                out.push_str("(?:");
                false
            }
            ')' => {
                depth = depth.checked_sub(1).ok_or(Refused::Invalid)?;
                out.push(')');
                true
            }
            '|' => {
                out.push('|');
                false
            }
            '*' | '+' | '?' | '{' if !atom => return Err(Refused::Invalid),
            '*' | '+' | '?' => {
                out.push(c);
                false
            }
            '{' => {
                range_quantifier(&mut chars, out)?;
                false
            }
            '.' => {
                out.push_str(r"[^\n\r]");
                true
            }
            '[' => {
                class(&mut chars, out)?;
                true
            }
            '\\' => {
                literal(escape(&mut chars)?, out);
                true
            }
            ']' | '}' => return Err(Refused::Invalid),
            c => {
                literal(c, out);
                true
            }
        };
        atom = quantifiable;
    }
    if depth == 0 { Ok(()) } else { Err(Refused::Invalid) }
}

/// `{n}`, `{n,}` or `{n,m}` after the `{`.
fn range_quantifier(chars: &mut Peekable<Chars<'_>>, out: &mut String) -> Result<(), Refused> {
    out.push('{');
    let mut digits = 0;
    let mut comma = false;
    loop {
        match chars.next().ok_or(Refused::Invalid)? {
            d @ '0'..='9' => {
                digits += 1;
                out.push(d);
            }
            ',' if !comma && digits > 0 => {
                comma = true;
                out.push(',');
            }
            '}' if digits > 0 => {
                out.push('}');
                return Ok(());
            }
            _ => return Err(Refused::Invalid),
        }
    }
}

/// `charClassExpr` after the `[`: `[^]`, ranges, escapes, `-` first or last.
fn class(chars: &mut Peekable<Chars<'_>>, out: &mut String) -> Result<(), Refused> {
    out.push('[');
    if chars.next_if_eq(&'^').is_some() {
        out.push('^');
    }
    let mut first = true;
    loop {
        let c = chars.next().ok_or(Refused::Invalid)?;
        match c {
            ']' if !first => {
                out.push(']');
                return Ok(());
            }
            '-' if first || chars.peek() == Some(&']') => literal('-', out),
            _ => {
                literal(class_char(c, chars)?, out);
                // `a-z`, unless the `-` is the last character of the class.
                let mut ahead = chars.clone();
                if ahead.next() == Some('-') && ahead.next().is_some_and(|c| c != ']') {
                    chars.next();
                    let high = chars.next().ok_or(Refused::Invalid)?;
                    out.push('-');
                    literal(class_char(high, chars)?, out);
                }
            }
        }
        first = false;
    }
}

/// `CCchar`: anything but `[`, `]`, `-` and `\`, or an escape.
fn class_char(c: char, chars: &mut Peekable<Chars<'_>>) -> Result<char, Refused> {
    match c {
        '\\' => escape(chars),
        '[' | ']' | '-' => Err(Refused::Invalid),
        c => Ok(c),
    }
}

/// `SingleCharEsc` after the `\`; `\p{..}` and `\P{..}` are valid but not supported.
fn escape(chars: &mut Peekable<Chars<'_>>) -> Result<char, Refused> {
    match chars.next().ok_or(Refused::Invalid)? {
        'n' => Ok('\n'),
        'r' => Ok('\r'),
        't' => Ok('\t'),
        c @ ('(' | ')' | '*' | '+' | '-' | '.' | '?' | '[' | '\\' | ']' | '^' | '{' | '|' | '}') => Ok(c),
        'p' | 'P' => Err(Refused::Unsupported),
        _ => Err(Refused::Invalid),
    }
}

/// `c` as a literal in RE2 syntax, inside or outside a class.
fn literal(c: char, out: &mut String) {
    if c.is_ascii_alphanumeric() || !c.is_ascii() {
        out.push(c);
    } else {
        let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
    }
}
