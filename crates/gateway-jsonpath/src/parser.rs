//! Parsing of the query syntax (RFC 9535, section 2.1-2.3 and 2.5): the root, segments,
//! selectors, string and number literals. Filter expressions are in `filter_parser.rs`.

use crate::ast::{Literal, Segment, Selector};
use crate::error::ParseError;
use crate::node::Number;

/// Integers in indices and slices must be exact in a double (RFC 9535, section 2.1).
const MAX_INT: i64 = (1 << 53) - 1;

/// How deep brackets, parentheses and function calls may nest: keeps recursion bounded.
const MAX_DEPTH: usize = 64;

/// A cursor over the expression being parsed.
pub(crate) struct Parser<'s> {
    /// The whole expression.
    pub src: &'s str,
    /// Byte offset of the next character.
    pub pos: usize,
    /// Current nesting of brackets, parentheses and calls.
    depth: usize,
}

impl<'s> Parser<'s> {
    /// A parser at the start of `src`.
    pub fn new(src: &'s str) -> Self {
        Parser { src, pos: 0, depth: 0 }
    }

    /// `jsonpath-query = root-identifier segments`, and nothing after it.
    pub fn query(mut self) -> Result<Box<[Segment]>, ParseError> {
        if !self.eat(b'$') {
            return Err(self.error("`$` (a JSONPath starts at the root)"));
        }
        let (segments, _) = self.segments()?;
        if self.pos < self.src.len() {
            return Err(self.error("a segment (`.name`, `[...]`, `..name`) or the end"));
        }
        Ok(segments)
    }

    /// The expression from the cursor on (the cursor only ever stops between characters).
    pub fn rest(&self) -> &'s str {
        self.src.get(self.pos..).unwrap_or_default()
    }

    /// The byte at the cursor.
    pub fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    /// Moves past `b` when it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        self.pos += usize::from(found);
        found
    }

    /// Moves past `b`, or fails saying `expected`.
    pub fn expect(&mut self, b: u8, expected: &str) -> Result<(), ParseError> {
        if self.eat(b) { Ok(()) } else { Err(self.error(expected)) }
    }

    /// `S`: optional blank space (space, tab, line feed, carriage return).
    pub fn skip_blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// One more level of nesting, refused past [`MAX_DEPTH`].
    pub fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.pos, format!("at most {MAX_DEPTH} nested brackets, parentheses or calls")));
        }
        Ok(())
    }

    /// Back out of one level of nesting.
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// "expected `expected`, found ..." at the cursor.
    pub fn error(&self, expected: &str) -> ParseError {
        let found = match self.rest().chars().next() {
            None => "the end".to_string(),
            Some(c) if c.is_whitespace() => "blank space".to_string(),
            Some(c) => format!("`{c}`"),
        };
        self.error_at(self.pos, format!("expected {expected}, found {found}"))
    }

    /// An error with its own message at byte offset `pos`.
    pub fn error_at(&self, pos: usize, message: String) -> ParseError {
        let chars = self.src.get(..pos).map_or(pos, |s| s.chars().count());
        ParseError::new(chars, message)
    }

    /// `segments = *(S segment)`, and whether they form a singular query (RFC 9535,
    /// section 2.3.5.1: only `.name`, `['name']` and `[index]`, without blanks in brackets).
    pub fn segments(&mut self) -> Result<(Box<[Segment]>, bool), ParseError> {
        let mut segments = Vec::new();
        let mut singular = true;
        loop {
            let before = self.pos;
            self.skip_blank();
            let descendant = self.rest().starts_with("..");
            let selectors = match self.peek() {
                Some(b'.') if descendant => {
                    self.pos += 2;
                    singular = false;
                    match self.peek() {
                        Some(b'[') => self.bracketed()?.0,
                        _ => self.dotted("a member name, `*` or `[` after `..`")?,
                    }
                }
                Some(b'.') => {
                    self.pos += 1;
                    let selectors = self.dotted("a member name or `*` after `.`")?;
                    singular &= !matches!(*selectors, [Selector::Wildcard]);
                    selectors
                }
                Some(b'[') => {
                    let (selectors, tight) = self.bracketed()?;
                    singular &= tight && matches!(*selectors, [Selector::Name(_) | Selector::Index(_)]);
                    selectors
                }
                _ => {
                    self.pos = before;
                    break;
                }
            };
            segments.push(Segment { descendant, selectors });
        }
        Ok((segments.into_boxed_slice(), singular))
    }

    /// After `.` or `..`: `*` or a member name shorthand.
    fn dotted(&mut self, expected: &str) -> Result<Box<[Selector]>, ParseError> {
        if self.eat(b'*') {
            return Ok(Box::new([Selector::Wildcard]));
        }
        let rest = &self.rest();
        let len = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_alphabetic() || c == '_' || !c.is_ascii() || (i > 0 && c.is_ascii_digit())))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return Err(self.error(expected));
        }
        self.pos += len;
        Ok(Box::new([Selector::Name(rest[..len].into())]))
    }

    /// `[ selector, ... ]`, and whether it held one selector with no blank around it.
    fn bracketed(&mut self) -> Result<(Box<[Selector]>, bool), ParseError> {
        self.pos += 1;
        self.enter()?;
        let open = self.pos;
        self.skip_blank();
        let mut tight = self.pos == open;
        let mut selectors = vec![self.selector()?];
        loop {
            let end = self.pos;
            self.skip_blank();
            if self.eat(b']') {
                tight &= self.pos == end + 1;
                break;
            }
            self.expect(b',', "`,` or `]`")?;
            self.skip_blank();
            selectors.push(self.selector()?);
        }
        self.leave();
        Ok((selectors.into_boxed_slice(), tight))
    }

    /// One selector inside brackets.
    fn selector(&mut self) -> Result<Selector, ParseError> {
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Selector::Name(self.string()?.into())),
            Some(b'*') => {
                self.pos += 1;
                Ok(Selector::Wildcard)
            }
            Some(b'?') => {
                self.pos += 1;
                self.skip_blank();
                Ok(Selector::Filter(Box::new(self.filter()?)))
            }
            Some(b'-' | b'0'..=b'9' | b':') => self.index_or_slice(),
            _ => Err(self.error("a selector (a quoted name, `*`, an index, a slice or a `?` filter)")),
        }
    }

    /// `index` or `[start S] ":" S [end S] [":" [S step]]`.
    fn index_or_slice(&mut self) -> Result<Selector, ParseError> {
        let start = if self.peek() == Some(b':') { None } else { Some(self.int()?) };
        let before = self.pos;
        self.skip_blank();
        if !self.eat(b':') {
            self.pos = before;
            return match start {
                Some(i) => Ok(Selector::Index(i)),
                None => Err(self.error("`:`")),
            };
        }
        self.skip_blank();
        let end = self.optional_int()?;
        self.skip_blank();
        let step = if self.eat(b':') {
            self.skip_blank();
            self.optional_int()?
        } else {
            None
        };
        Ok(Selector::Slice { start, end, step })
    }

    fn optional_int(&mut self) -> Result<Option<i64>, ParseError> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.int().map(Some),
            _ => Ok(None),
        }
    }

    /// `int = "0" / (["-"] DIGIT1 *DIGIT)`, within ±(2^53 - 1).
    fn int(&mut self) -> Result<i64, ParseError> {
        let start = self.pos;
        let negative = self.eat(b'-');
        match self.peek() {
            Some(b'0') if !negative => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.error_at(start, "an integer without leading zeros".into()));
                }
                return Ok(0);
            }
            Some(b'1'..=b'9') => {}
            _ if negative => return Err(self.error("a digit 1-9 after `-` (`-0` is not an index)")),
            _ => return Err(self.error("an integer")),
        }
        let mut value: i64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            value = value.saturating_mul(10).saturating_add(i64::from(d - b'0'));
            self.pos += 1;
        }
        if value > MAX_INT {
            return Err(self.error_at(start, "an integer between -(2^53-1) and 2^53-1".into()));
        }
        Ok(if negative { -value } else { value })
    }

    /// `number = (int / "-0") [ frac ] [ exp ]` as a JSON number.
    pub fn number(&mut self) -> Result<Literal, ParseError> {
        let start = self.pos;
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.error_at(start, "a number without leading zeros".into()));
                }
            }
            Some(b'1'..=b'9') => self.digits("a digit")?,
            _ => return Err(self.error("a digit")),
        }
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            self.digits("a digit after `.`")?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            float = true;
            if !self.eat(b'-') {
                self.eat(b'+');
            }
            self.digits("a digit in the exponent")?;
        }
        let text = self.src.get(start..self.pos).unwrap_or_default();
        let integer = if float { None } else { text.parse::<i64>().map(i128::from).ok() };
        let integer = integer.or_else(|| if float { None } else { text.parse::<u64>().map(i128::from).ok() });
        // The grammar admits any exponent: `1e400` becomes the largest double, which is as far
        // as a document's numbers go too.
        let float = || text.parse::<f64>().ok().map(|f| f.clamp(-f64::MAX, f64::MAX)).filter(|f| f.is_finite());
        match integer.map(Number::Int).or_else(|| float().map(Number::Float)) {
            Some(n) => Ok(Literal::Number(n)),
            None => Err(self.error_at(start, "a number within the range of a 64-bit float".into())),
        }
    }

    /// One or more decimal digits.
    fn digits(&mut self, expected: &str) -> Result<(), ParseError> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        if self.pos == start { Err(self.error(expected)) } else { Ok(()) }
    }

    /// A string literal in single or double quotes, with JSON-like escapes (section 2.3.1.1).
    pub fn string(&mut self) -> Result<String, ParseError> {
        let quote = self.peek().map_or('"', char::from);
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.rest().chars().next() else {
                return Err(self.error(if quote == '"' { "the closing `\"`" } else { "the closing `'`" }));
            };
            match c {
                c if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    self.pos += 1;
                    out.push(self.escape(quote)?);
                }
                '\0'..='\u{1f}' => return Err(self.error("a printable character (escape control characters)")),
                c => {
                    self.pos += c.len_utf8();
                    out.push(c);
                }
            }
        }
    }

    /// What follows a backslash in a string literal.
    fn escape(&mut self, quote: char) -> Result<char, ParseError> {
        let c = match self.peek().map(char::from) {
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some(c @ ('/' | '\\')) => c,
            Some(c) if c == quote => c,
            Some('u') => {
                self.pos += 1;
                return self.unicode_escape();
            }
            _ => return Err(self.error("an escape (`b`, `f`, `n`, `r`, `t`, `/`, `\\`, `u` or the quote)")),
        };
        self.pos += 1;
        Ok(c)
    }

    /// `XXXX` after `\u`, with a surrogate pair as `\uD83D\uDE00`.
    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let start = self.pos;
        let high = self.hex4()?;
        let code = match high {
            0xD800..=0xDBFF => {
                if !self.rest().starts_with("\\u") {
                    return Err(self.error("`\\u` and a low surrogate after a high surrogate"));
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.error_at(self.pos - 4, "a low surrogate (DC00-DFFF)".into()));
                }
                0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error_at(start, "a low surrogate without a high one".into())),
            code => code,
        };
        char::from_u32(code).ok_or_else(|| self.error_at(start, "a Unicode scalar value".into()))
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self.src.get(self.pos..self.pos + 4).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        match digits.and_then(|d| u32::from_str_radix(d, 16).ok()) {
            Some(v) => {
                self.pos += 4;
                Ok(v)
            }
            None => Err(self.error("four hexadecimal digits after `\\u`")),
        }
    }
}
