//! The parser of `regexp:` keys: Go RE2 syntax into a [`Node`] tree. Case folding, `.`, and
//! the `^`/`$` flavours are resolved here, so the tree only holds characters, classes,
//! assertions, concatenation, alternation and counted repetition.

use super::Error;
use super::class::{self, Class, Ranges};
use super::fold::fold_ranges;

/// How deeply groups may nest (Go allows 1000; keys need a handful, and the parser and
/// compiler recurse per level).
const MAX_DEPTH: u32 = 200;
/// The largest count in `{n,m}`, as in RE2.
const MAX_REPEAT: u32 = 1000;

/// A zero-width assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Look {
    /// `\A`, or `^` without `(?m)`.
    StartText,
    /// `\z`, or `$` without `(?m)`.
    EndText,
    /// `(?m)^`: at the start or after `\n`.
    StartLine,
    /// `(?m)$`: at the end or before `\n`.
    EndLine,
    /// `\b`: between an ASCII word character and a non-word one (or an edge).
    WordBoundary,
    /// `\B`.
    NotWordBoundary,
}

/// A parsed expression.
#[derive(Debug)]
pub(super) enum Node {
    Empty,
    Char(u32),
    /// An index into [`Parsed::classes`].
    Class(u32),
    /// `.`: any character but `\n`.
    AnyNotNewline,
    /// `(?s).`: any character.
    Any,
    Look(Look),
    Concat(Vec<Node>),
    Alternate(Vec<Node>),
    Repeat {
        sub: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}

/// A parsed pattern: its tree and the classes the tree refers to.
#[derive(Debug)]
pub(super) struct Parsed {
    pub(super) node: Node,
    pub(super) classes: Vec<Class>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    case_insensitive: bool,
    multi_line: bool,
    dot_nl: bool,
}

/// What an escape stands for.
enum Escape<'a> {
    Char(u32),
    Set(Ranges),
    Look(Look),
    Quote(&'a str),
}

/// Parses `pattern`.
pub(super) fn parse(pattern: &str) -> Result<Parsed, Error> {
    let mut p =
        Parser { src: pattern, pos: 0, flags: Flags::default(), depth: 0, classes: Vec::new(), names: Vec::new() };
    let node = p.alternation()?;
    if p.pos < p.src.len() {
        return Err(Error::quoting("unexpected )", pattern));
    }
    Ok(Parsed { node, classes: p.classes })
}

struct Parser<'p> {
    src: &'p str,
    pos: usize,
    flags: Flags,
    depth: u32,
    classes: Vec<Class>,
    names: Vec<&'p str>,
}

impl<'p> Parser<'p> {
    fn rest(&self) -> &'p str {
        self.src.get(self.pos..).unwrap_or_default()
    }

    #[inline(never)]
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    #[inline(never)]
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    #[inline(never)]
    fn eat(&mut self, c: char) -> bool {
        let yes = self.peek() == Some(c);
        if yes {
            self.pos += c.len_utf8();
        }
        yes
    }

    /// The pattern text from `from` to the current position, for error messages.
    fn since(&self, from: usize) -> &'p str {
        self.src.get(from..self.pos).unwrap_or_default()
    }

    /// "`what`: `<the pattern from `from` to here>`".
    #[cold]
    #[inline(never)]
    fn error(&self, what: &str, from: usize) -> Error {
        Error::quoting(what, self.since(from))
    }

    /// "`what`: `<the pattern from `from` on>`".
    #[cold]
    #[inline(never)]
    fn error_rest(&self, what: &str, from: usize) -> Error {
        Error::quoting(what, self.src.get(from..).unwrap_or_default())
    }

    /// `a|b|...` up to the end or an unmatched `)`.
    fn alternation(&mut self) -> Result<Node, Error> {
        let mut branches = vec![self.concatenation()?];
        while self.eat('|') {
            branches.push(self.concatenation()?);
        }
        Ok(if branches.len() == 1 { branches.pop().unwrap_or(Node::Empty) } else { Node::Alternate(branches) })
    }

    fn concatenation(&mut self) -> Result<Node, Error> {
        let mut items: Vec<Node> = Vec::new();
        // Whether the last item may take a repetition operator, and whether it just did.
        let mut repeatable = false;
        let mut repeated = false;
        loop {
            let start = self.pos;
            let Some(c) = self.peek() else { break };
            let (min, max) = match c {
                '|' | ')' => break,
                '*' | '+' | '?' => {
                    self.bump();
                    match c {
                        '*' => (0, None),
                        '+' => (1, None),
                        _ => (0, Some(1)),
                    }
                }
                '{' => match self.counted()? {
                    Some(counts) => counts,
                    None => {
                        self.bump();
                        items.push(self.literal('{' as u32));
                        (repeatable, repeated) = (true, false);
                        continue;
                    }
                },
                _ => {
                    let before = items.len();
                    self.atom(&mut items)?;
                    (repeatable, repeated) = (items.len() > before, false);
                    continue;
                }
            };
            self.eat('?');
            let operator = self.since(start);
            if repeated {
                return Err(Error::quoting("invalid nested repetition operator", operator));
            }
            let sub = match items.pop() {
                Some(sub) if repeatable => sub,
                _ => return Err(Error::quoting("missing argument to repetition operator", operator)),
            };
            items.push(Node::Repeat { sub: Box::new(sub), min, max });
            repeated = true;
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    /// `{n}`, `{n,}` or `{n,m}` at the current position, consumed; `None` (nothing consumed)
    /// when the text is not one, and `{` is then a literal, as in RE2.
    fn counted(&mut self) -> Result<Option<(u32, Option<u32>)>, Error> {
        let start = self.pos;
        let text = self.rest();
        let Some(end) = text.find('}') else { return Ok(None) };
        let inner = text.get(1..end).unwrap_or_default();
        let (min, max) = match inner.split_once(',') {
            None => (inner, Some(inner)),
            Some((min, "")) => (min, None),
            Some((min, max)) => (min, Some(max)),
        };
        let number = |s: &str| -> Option<u32> {
            let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            // RE2 takes no leading zeros: `a{01}` is literal text.
            (digits && !(s.len() > 1 && s.starts_with('0'))).then(|| s.parse().unwrap_or(u32::MAX))
        };
        let Some(min) = number(min) else { return Ok(None) };
        let max = match max {
            None => None,
            Some(max) => match number(max) {
                Some(max) => Some(max),
                None => return Ok(None),
            },
        };
        self.pos += end + 1;
        if min > MAX_REPEAT || max.is_some_and(|max| max > MAX_REPEAT || max < min) {
            let what = if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
                "invalid repeat count (at most 1000)"
            } else {
                "invalid repeat count"
            };
            return Err(self.error(what, start));
        }
        Ok(Some((min, max)))
    }

    /// One atom (or, for `\Q..\E`, several literals) appended to `items`; flag groups append
    /// nothing.
    fn atom(&mut self, items: &mut Vec<Node>) -> Result<(), Error> {
        let start = self.pos;
        let Some(c) = self.bump() else { return Ok(()) };
        let node = match c {
            '(' => match self.group(start)? {
                Some(node) => node,
                None => return Ok(()),
            },
            '[' => self.bracket(start)?,
            '.' if self.flags.dot_nl => Node::Any,
            '.' => Node::AnyNotNewline,
            '^' => Node::Look(if self.flags.multi_line { Look::StartLine } else { Look::StartText }),
            '$' => Node::Look(if self.flags.multi_line { Look::EndLine } else { Look::EndText }),
            '\\' => match self.escape(start, false)? {
                Escape::Char(c) => self.literal(c),
                Escape::Set(set) => self.class(set),
                Escape::Look(look) => Node::Look(look),
                Escape::Quote(text) => {
                    for c in text.chars() {
                        items.push(self.literal(c as u32));
                    }
                    return Ok(());
                }
            },
            c => self.literal(c as u32),
        };
        items.push(node);
        Ok(())
    }

    fn literal(&mut self, c: u32) -> Node {
        if !self.flags.case_insensitive {
            return Node::Char(c);
        }
        let mut set = Ranges::from_pairs([(c, c)]);
        fold_ranges(&mut set);
        match set.single() {
            Some(c) => Node::Char(c),
            None => self.class(set),
        }
    }

    fn class(&mut self, set: Ranges) -> Node {
        if let Some(c) = set.single() {
            return Node::Char(c);
        }
        self.classes.push(Class::new(&set));
        Node::Class((self.classes.len() - 1) as u32)
    }

    /// After `(`: a group (its node), or a flag setting `(?i)` (`None`).
    fn group(&mut self, start: usize) -> Result<Option<Node>, Error> {
        let saved = self.flags;
        if self.eat('?') {
            let rest = self.rest();
            if rest.starts_with('=') || rest.starts_with('!') || rest.starts_with("<=") || rest.starts_with("<!") {
                let len = if rest.starts_with('<') { 2 } else { 1 };
                self.pos += len;
                return Err(self.error("look-around is not supported (RE2 syntax)", start));
            }
            if rest.starts_with("P<") || rest.starts_with('<') {
                self.pos += if rest.starts_with('P') { 2 } else { 1 };
                let name_at = self.pos;
                let Some(len) = self.rest().find('>') else {
                    return Err(self.error_rest("invalid named capture", start));
                };
                let name = self.rest().get(..len).unwrap_or_default();
                self.pos = name_at + len + 1;
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(self.error("invalid named capture", start));
                }
                if self.names.contains(&name) {
                    return Err(Error::quoting("duplicate capture group name", name));
                }
                self.names.push(name);
            } else if rest.starts_with("P=") || rest.starts_with("P>") {
                self.pos += 2;
                return Err(self.error("backreferences and recursion are not supported (RE2 syntax)", start));
            } else {
                return self.flag_group(start, saved);
            }
        }
        self.nested(start, saved).map(Some)
    }

    /// The rest of a group up to its `)`, with the flags restored after it.
    fn nested(&mut self, start: usize, saved: Flags) -> Result<Node, Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            // The message names MAX_DEPTH.
            return Err(Error::new("expression nests too deeply (more than 200 groups)"));
        }
        let node = self.alternation()?;
        if !self.eat(')') {
            return Err(self.error_rest("missing closing )", start));
        }
        self.depth -= 1;
        self.flags = saved;
        Ok(node)
    }

    /// After `(?`: `i`, `m`, `s`, `U` (and `-` to clear the ones after it), then `)` (for the
    /// rest of the enclosing group) or `:` (for a non-capturing group).
    fn flag_group(&mut self, start: usize, saved: Flags) -> Result<Option<Node>, Error> {
        let mut flags = self.flags;
        let mut negated = false;
        let mut any = false;
        loop {
            let c = self.bump();
            match c {
                Some('i') => flags.case_insensitive = !negated,
                Some('m') => flags.multi_line = !negated,
                Some('s') => flags.dot_nl = !negated,
                // Greediness does not change whether a pattern matches.
                Some('U') => {}
                Some('-') if !negated => {
                    negated = true;
                    any = false;
                    continue;
                }
                // As in RE2, `(?)` and `(?:` are fine, `(?-)` and `(?i-:` are not.
                Some(':') | Some(')') if any || !negated => {
                    self.flags = flags;
                    if c == Some(')') {
                        return Ok(None);
                    }
                    return self.nested(start, saved).map(Some);
                }
                _ => {
                    return Err(self.error("invalid or unsupported Perl syntax", start));
                }
            }
            any = true;
        }
    }

    /// After `\`: what the escape stands for. `\A`, `\z`, `\b`, `\B` and `\Q` only outside
    /// brackets.
    fn escape(&mut self, start: usize, in_class: bool) -> Result<Escape<'p>, Error> {
        let Some(c) = self.bump() else {
            return Err(Error::new("trailing backslash at end of expression"));
        };
        let octal = |c: Option<char>| c.is_some_and(|c| ('0'..='7').contains(&c));
        Ok(match c {
            '1'..='7' if octal(self.peek()) => self.octal(c),
            '0' => self.octal(c),
            '1'..='9' => {
                return Err(self.error("backreferences are not supported (RE2 syntax)", start));
            }
            'x' => Escape::Char(self.hex(start)?),
            'a' => Escape::Char(0x07),
            'f' => Escape::Char(0x0C),
            't' => Escape::Char(0x09),
            'n' => Escape::Char(0x0A),
            'r' => Escape::Char(0x0D),
            'v' => Escape::Char(0x0B),
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => {
                let ranges = class::perl_class(c).unwrap_or_default();
                Escape::Set(self.set(ranges, c.is_ascii_uppercase()))
            }
            'p' | 'P' => Escape::Set(self.unicode_class(start, c == 'P')?),
            'A' if !in_class => Escape::Look(Look::StartText),
            'z' if !in_class => Escape::Look(Look::EndText),
            'b' if !in_class => Escape::Look(Look::WordBoundary),
            'B' if !in_class => Escape::Look(Look::NotWordBoundary),
            'Q' if !in_class => {
                let rest = self.rest();
                let (text, len) = match find2(rest, b"\\E") {
                    Some(i) => (rest.get(..i).unwrap_or_default(), i + 2),
                    None => (rest, rest.len()),
                };
                self.pos += len;
                Escape::Quote(text)
            }
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Escape::Char(c as u32),
            _ => return Err(self.error("invalid escape sequence", start)),
        })
    }

    /// `\0`, `\012`, `\123`: up to three octal digits, the first already read.
    fn octal(&mut self, first: char) -> Escape<'p> {
        let mut value = first as u32 - '0' as u32;
        for _ in 0..2 {
            match self.peek() {
                Some(d @ '0'..='7') => {
                    self.bump();
                    value = value * 8 + (d as u32 - '0' as u32);
                }
                _ => break,
            }
        }
        Escape::Char(value)
    }

    /// After `\x`: two hex digits, or `{hex}` up to U+10FFFF.
    fn hex(&mut self, start: usize) -> Result<u32, Error> {
        let digits = if self.eat('{') {
            let rest = self.rest();
            let end = rest.find('}').unwrap_or(rest.len());
            let digits = rest.get(..end).unwrap_or_default();
            self.pos += (end + 1).min(rest.len());
            (rest.len() > end).then_some(digits)
        } else {
            let digits = self.rest().get(..2).filter(|d| d.len() == 2);
            self.pos += digits.map_or(0, str::len);
            digits
        };
        digits
            .filter(|d| !d.is_empty() && d.len() <= 8 && d.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|d| d.chars().try_fold(0u32, |value, c| Some(value * 16 + c.to_digit(16)?)))
            .filter(|&c| c <= class::MAX_CHAR)
            .ok_or_else(|| self.error("invalid escape sequence", start))
    }

    /// After `\p` or `\P`: `L`, `{Han}` or `{^Han}`.
    fn unicode_class(&mut self, start: usize, negated: bool) -> Result<Ranges, Error> {
        let name = if self.eat('{') {
            let rest = self.rest();
            let Some(end) = rest.find('}') else {
                return Err(self.error_rest("unclosed Unicode class", start));
            };
            self.pos += end + 1;
            rest.get(..end).unwrap_or_default()
        } else {
            let rest = self.rest();
            match self.bump() {
                Some(c) => rest.get(..c.len_utf8()).unwrap_or_default(),
                None => return Err(self.error("missing Unicode class name", start)),
            }
        };
        let (name, negated) = match name.strip_prefix('^') {
            Some(name) => (name, !negated),
            None => (name, negated),
        };
        let ranges = crate::unicode_classes::lookup(name).map_err(Error)?;
        Ok(self.set(ranges, negated))
    }

    /// `ranges`, case-folded under `(?i)`, then negated if asked (RE2's order).
    fn set(&self, ranges: &[(u32, u32)], negated: bool) -> Ranges {
        let mut set = Ranges::from_pairs(ranges.iter().copied());
        if self.flags.case_insensitive {
            fold_ranges(&mut set);
        }
        if negated {
            set.negate();
        }
        set
    }

    /// After `[`: a bracket class up to its `]`.
    fn bracket(&mut self, start: usize) -> Result<Node, Error> {
        let negated = self.eat('^');
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        let unclosed = |p: &Self| p.error_rest("missing closing ]", start);
        // `]` right after `[` or `[^` is a literal.
        let mut first = true;
        loop {
            let item = self.pos;
            let lo = match self.bump() {
                None => return Err(unclosed(self)),
                Some(']') if !first => break,
                Some('[') if self.peek() == Some(':') => match self.ascii_class(item)? {
                    Some(set) => {
                        pairs.extend_from_slice(set.as_slice());
                        first = false;
                        continue;
                    }
                    None => '[' as u32,
                },
                Some('\\') => match self.escape(item, true)? {
                    Escape::Char(c) => c,
                    Escape::Set(set) => {
                        pairs.extend_from_slice(set.as_slice());
                        first = false;
                        continue;
                    }
                    Escape::Look(_) | Escape::Quote(_) => {
                        return Err(self.error("invalid escape sequence", item));
                    }
                },
                Some(c) => c as u32,
            };
            first = false;
            let rest = self.rest();
            if !(rest.starts_with('-') && rest.len() > 1 && !rest.starts_with("-]")) {
                pairs.push((lo, lo));
                continue;
            }
            self.bump();
            let hi_at = self.pos;
            let hi = match self.bump() {
                None => return Err(unclosed(self)),
                Some('\\') => match self.escape(hi_at, true)? {
                    Escape::Char(c) => c,
                    _ => return Err(self.error("invalid character class range", item)),
                },
                Some(c) => c as u32,
            };
            if hi < lo {
                return Err(self.error("invalid character class range", item));
            }
            pairs.push((lo, hi));
        }
        let mut set = Ranges::from_pairs(pairs);
        if self.flags.case_insensitive {
            fold_ranges(&mut set);
        }
        if negated {
            set.negate();
        }
        Ok(self.class(set))
    }

    /// After `[` inside brackets, at `:`: `[:alpha:]` or `[:^alpha:]` consumed, or `None`
    /// (nothing consumed; the `[` is a literal) when no `:]` follows.
    fn ascii_class(&mut self, start: usize) -> Result<Option<Ranges>, Error> {
        let rest = self.rest();
        let Some(end) = rest.get(1..).and_then(|r| find2(r, b":]")) else { return Ok(None) };
        let name = rest.get(1..end + 1).unwrap_or_default();
        self.pos += end + 3;
        let (name, negated) = match name.strip_prefix('^') {
            Some(name) => (name, true),
            None => (name, false),
        };
        match class::ascii_class(name) {
            Some(ranges) => Ok(Some(self.set(ranges, negated))),
            None => Err(self.error("invalid character class range", start)),
        }
    }
}

/// Where the two bytes `pair` first occur in `text` (a byte scan; `str::find` with a string
/// pattern would bring a general substring searcher into the module).
fn find2(text: &str, pair: &[u8; 2]) -> Option<usize> {
    text.as_bytes().windows(2).position(|w| w == pair)
}
