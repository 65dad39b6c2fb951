//! Parsing of filter expressions (`[?...]`, RFC 9535, section 2.3.5) and of function calls,
//! with the type rules of section 2.4.3: what may be compared, tested or passed to a function.

use crate::ast::{CmpOp, Comparable, FilterQuery, Literal, Logical, Pattern, Selector};
use crate::error::ParseError;
use crate::iregexp;
use crate::parser::Parser;

/// A parsed sub-expression whose use (test, comparison, argument) is not known yet.
enum Term {
    /// `@...` or `$...`: a nodelist, also a value when singular.
    Query(FilterQuery),
    /// A literal or a function returning a value (`length`, `count`, `value`).
    Value(Comparable),
    /// A comparison, `!`, `&&`, `||`, parentheses, `match()` or `search()`.
    Logical(Logical),
}

impl Parser<'_> {
    /// `logical-expr` of a filter selector.
    pub fn filter(&mut self) -> Result<Logical, ParseError> {
        let at = self.pos;
        let term = self.or()?;
        self.logical(term, at)
    }

    /// `logical-or-expr = logical-and-expr *(S "||" S logical-and-expr)`.
    fn or(&mut self) -> Result<Term, ParseError> {
        let at = self.pos;
        let first = self.and()?;
        if !self.operator("||") {
            return Ok(first);
        }
        let mut all = vec![self.logical(first, at)?];
        loop {
            let at = self.pos;
            let next = self.and()?;
            all.push(self.logical(next, at)?);
            if !self.operator("||") {
                return Ok(Term::Logical(Logical::Or(all.into_boxed_slice())));
            }
        }
    }

    /// `logical-and-expr = basic-expr *(S "&&" S basic-expr)`.
    fn and(&mut self) -> Result<Term, ParseError> {
        let at = self.pos;
        let first = self.basic()?;
        if !self.operator("&&") {
            return Ok(first);
        }
        let mut all = vec![self.logical(first, at)?];
        loop {
            let at = self.pos;
            let next = self.basic()?;
            all.push(self.logical(next, at)?);
            if !self.operator("&&") {
                return Ok(Term::Logical(Logical::And(all.into_boxed_slice())));
            }
        }
    }

    /// Moves past `S token S` when it is next.
    fn operator(&mut self, token: &str) -> bool {
        let before = self.pos;
        self.skip_blank();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            self.skip_blank();
            true
        } else {
            self.pos = before;
            false
        }
    }

    /// `basic-expr = paren-expr / comparison-expr / test-expr`.
    fn basic(&mut self) -> Result<Term, ParseError> {
        let at = self.pos;
        if self.eat(b'!') {
            self.skip_blank();
            let inner_at = self.pos;
            let inner = match self.peek() {
                Some(b'(') => self.paren()?,
                _ => match self.operand()? {
                    Term::Value(_) => return Err(self.error_at(inner_at, NOT_A_TEST.into())),
                    term => self.logical(term, inner_at)?,
                },
            };
            return Ok(Term::Logical(Logical::Not(Box::new(inner))));
        }
        if self.peek() == Some(b'(') {
            return Ok(Term::Logical(self.paren()?));
        }
        let lhs = self.operand()?;
        let before = self.pos;
        self.skip_blank();
        let Some(op) = self.comparison_op() else {
            self.pos = before;
            return Ok(lhs);
        };
        let lhs = self.value(lhs, at)?;
        self.skip_blank();
        let rhs_at = self.pos;
        let rhs = self.operand()?;
        let rhs = self.value(rhs, rhs_at)?;
        Ok(Term::Logical(Logical::Compare(Box::new(lhs), op, Box::new(rhs))))
    }

    /// `"(" S logical-expr S ")"`.
    fn paren(&mut self) -> Result<Logical, ParseError> {
        self.pos += 1;
        self.enter()?;
        self.skip_blank();
        let inner = self.filter()?;
        self.skip_blank();
        self.expect(b')', "`)`, `&&` or `||`")?;
        self.leave();
        Ok(inner)
    }

    fn comparison_op(&mut self) -> Option<CmpOp> {
        let rest = self.rest().as_bytes();
        let (op, len) = match rest {
            [b'=', b'=', ..] => (CmpOp::Eq, 2),
            [b'!', b'=', ..] => (CmpOp::Ne, 2),
            [b'<', b'=', ..] => (CmpOp::Le, 2),
            [b'>', b'=', ..] => (CmpOp::Ge, 2),
            [b'<', ..] => (CmpOp::Lt, 1),
            [b'>', ..] => (CmpOp::Gt, 1),
            _ => return None,
        };
        self.pos += len;
        Some(op)
    }

    /// A query, a literal or a function call.
    fn operand(&mut self) -> Result<Term, ParseError> {
        match self.peek() {
            Some(c @ (b'@' | b'$')) => {
                self.pos += 1;
                let (segments, singular) = self.segments()?;
                Ok(Term::Query(FilterQuery { absolute: c == b'$', singular, segments }))
            }
            Some(b'\'' | b'"') => Ok(Term::Value(Comparable::Literal(Literal::String(self.string()?.into())))),
            Some(b'-' | b'0'..=b'9') => Ok(Term::Value(Comparable::Literal(self.number()?))),
            Some(b'a'..=b'z') => self.word(),
            _ => Err(self.error("a query (`@...` or `$...`), a literal or a function call")),
        }
    }

    /// `true`, `false`, `null` or `name(...)`.
    fn word(&mut self) -> Result<Term, ParseError> {
        let at = self.pos;
        let rest = self.rest();
        let len = rest.bytes().take_while(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_')).count();
        let name = rest.get(..len).unwrap_or_default();
        self.pos += len;
        if self.peek() == Some(b'(') {
            return self.function(name, at);
        }
        let literal = match name {
            "true" => Literal::Bool(true),
            "false" => Literal::Bool(false),
            "null" => Literal::Null,
            _ => {
                let message = format!("expected `true`, `false`, `null` or a function call, found `{name}`");
                return Err(self.error_at(at, message));
            }
        };
        Ok(Term::Value(Comparable::Literal(literal)))
    }

    /// `name "(" S [argument *(S "," S argument)] S ")"` for the functions of section 2.4.
    fn function(&mut self, name: &'_ str, at: usize) -> Result<Term, ParseError> {
        let arity = match name {
            "length" | "count" | "value" => 1,
            "match" | "search" => 2,
            _ => {
                let message = format!("unknown function `{name}` (known: length, count, value, match, search)");
                return Err(self.error_at(at, message));
            }
        };
        self.pos += 1;
        self.enter()?;
        self.skip_blank();
        let mut args = Vec::with_capacity(arity);
        if self.peek() != Some(b')') {
            loop {
                let arg_at = self.pos;
                args.push((self.or()?, arg_at));
                self.skip_blank();
                if !self.eat(b',') {
                    break;
                }
                self.skip_blank();
            }
        }
        self.expect(b')', "`,` or `)`")?;
        self.leave();
        if args.len() != arity {
            let plural = if arity == 1 { "" } else { "s" };
            let message = format!("`{name}()` takes {arity} argument{plural}, got {}", args.len());
            return Err(self.error_at(at, message));
        }
        let mut args = args.into_iter();
        let (Some((first, first_at)), second) = (args.next(), args.next()) else {
            return Err(self.error_at(at, format!("`{name}()` is missing its argument")));
        };
        Ok(match (name, second) {
            ("length", _) => Term::Value(Comparable::Length(Box::new(self.value(first, first_at)?))),
            ("count", _) => Term::Value(Comparable::Count(self.nodes(first, first_at, name)?)),
            ("value", _) => Term::Value(Comparable::Value(self.nodes(first, first_at, name)?)),
            (_, Some((second, second_at))) => {
                let subject = Box::new(self.value(first, first_at)?);
                let whole = name == "match";
                let pattern = match self.value(second, second_at)? {
                    Comparable::Literal(Literal::String(p)) => Pattern::Fixed(
                        iregexp::compile(&p, whole).map_err(|e| self.error_at(second_at, e.to_string()))?,
                    ),
                    other => Pattern::Dynamic(Box::new(other)),
                };
                Term::Logical(Logical::Regex { subject, pattern, whole })
            }
            _ => return Err(self.error_at(at, format!("`{name}()` takes 2 arguments"))),
        })
    }

    /// A term used as a test: a query (true when it selects something) or a logical expression.
    fn logical(&self, term: Term, at: usize) -> Result<Logical, ParseError> {
        match term {
            Term::Logical(l) => Ok(l),
            Term::Query(q) => Ok(Logical::Exists(q)),
            Term::Value(_) => Err(self.error_at(at, NOT_A_TEST.into())),
        }
    }

    /// A term used as a value: a literal, a singular query or a value function.
    fn value(&self, term: Term, at: usize) -> Result<Comparable, ParseError> {
        match term {
            Term::Value(c) => Ok(c),
            Term::Query(q) if q.singular => Ok(Comparable::Query(q)),
            Term::Query(q)
                if q.segments
                    .iter()
                    .all(|s| !s.descendant && matches!(*s.selectors, [Selector::Name(_) | Selector::Index(_)])) =>
            {
                Err(self.error_at(at, BLANK_IN_SINGULAR.into()))
            }
            Term::Query(_) => Err(self.error_at(at, NOT_SINGULAR.into())),
            Term::Logical(_) => Err(self.error_at(at, "a logical expression is not a value".into())),
        }
    }

    /// A term passed to `count()` or `value()`: a query.
    fn nodes(&self, term: Term, at: usize, name: &str) -> Result<FilterQuery, ParseError> {
        match term {
            Term::Query(q) => Ok(q),
            _ => Err(self.error_at(at, format!("`{name}()` takes a query (`@...` or `$...`)"))),
        }
    }
}

const NOT_A_TEST: &str =
    "a literal or a value (`length()`, `count()`, `value()`) is not a test: compare it with `==`, `<`, ...";

const NOT_SINGULAR: &str = "a query that can select several nodes (`*`, `..`, slices, filters, unions) is not a \
     value: use a singular query such as `@.a[0]`, or count() / value()";

const BLANK_IN_SINGULAR: &str =
    "a singular query has no blank space inside its brackets (`@['a']`, not `@[ 'a' ]`), so this is not a value";
