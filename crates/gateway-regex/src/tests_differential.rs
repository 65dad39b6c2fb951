//! The differential test of the `regexp:` engine: thousands of generated patterns, each
//! rendered twice (in RE2 syntax for us, and in the `regex` crate's syntax with RE2's
//! meanings spelled out: ASCII `\d \w \s \b`, `\s` without `\v`), matched against generated
//! inputs (Unicode text, case variants, newlines) by both; every answer must agree.

use super::Regex;

/// xorshift64*: a fixed sequence, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Characters of patterns and inputs: ASCII, case folding orbits beyond ASCII (`k K K`,
/// `s S ſ`, `σ Σ ς`, `ß ẞ`), other scripts, and white space.
const LITERALS: &[char] = &[
    'a', 'b', 'c', 'A', 'B', 'k', 'K', 's', 'S', 'ſ', '\u{212A}', 'é', 'É', 'σ', 'Σ', 'ς', 'ß', 'ẞ', '用', '\n', ' ',
    '_', '1', '2', '-', '.',
];
const EXTRA_INPUT: &[char] = &['x', '\t', '\x0b', '\r', 'Ω', 'Я', '中', 'ö', '9', 'z', 'Z', '!'];

#[derive(Debug, Clone, Copy)]
enum Item {
    Char(char),
    Range(char, char),
    /// `\d`, `\w`, `\s` (letter), negated or not.
    Perl(char, bool),
    /// `[:name:]`, negated or not.
    Ascii(&'static str, bool),
    /// `\p{Name}`, negated or not.
    Unicode(&'static str, bool),
}

#[derive(Debug, Clone)]
enum Gen {
    Lit(char),
    Dot,
    /// A bracket class, negated or not.
    Bracket(Vec<Item>, bool),
    /// An escape class outside brackets.
    Single(Item),
    Look(&'static str),
    Cat(Vec<Gen>),
    Alt(Vec<Gen>),
    /// A group: `(`, `(?:`, `(?i:`, `(?P<gN>` ... and `)`.
    Group(Box<Gen>, &'static str),
    /// A flag setting for the rest of the group, `(?i)`.
    Flags(&'static str),
    Rep(Box<Gen>, u32, Option<u32>, &'static str),
}

fn perl_ranges(letter: char) -> &'static str {
    match letter {
        'd' => "0-9",
        'w' => "0-9A-Za-z_",
        _ => r"\t\n\x0C\r ",
    }
}

fn ascii_ranges(name: &str) -> &'static str {
    match name {
        "alpha" => "A-Za-z",
        "digit" => "0-9",
        "upper" => "A-Z",
        "lower" => "a-z",
        "space" => r"\t\n\x0B\x0C\r ",
        "punct" => r"!-/:-@\[-`{-~",
        _ => "0-9A-Za-z_",
    }
}

fn escape_char(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str(r"\n"),
        '.' | '-' | '[' | ']' | '\\' | '^' | '$' | '|' | '(' | ')' | '*' | '+' | '?' | '{' | '}' => {
            out.push('\\');
            out.push(c);
        }
        c => out.push(c),
    }
}

impl Item {
    /// Inside brackets.
    fn render(&self, ours: bool, out: &mut String) {
        match *self {
            Item::Char(c) => escape_char(c, out),
            Item::Range(a, b) => {
                escape_char(a, out);
                out.push('-');
                escape_char(b, out);
            }
            Item::Perl(letter, negated) if ours => {
                out.push('\\');
                out.push(if negated { letter.to_ascii_uppercase() } else { letter });
            }
            Item::Perl(letter, negated) => {
                out.push_str(if negated { "[^" } else { "[" });
                out.push_str(perl_ranges(letter));
                out.push(']');
            }
            Item::Ascii(name, negated) if ours => {
                out.push_str(if negated { "[:^" } else { "[:" });
                out.push_str(name);
                out.push_str(":]");
            }
            Item::Ascii(name, negated) => {
                out.push_str(if negated { "[^" } else { "[" });
                out.push_str(ascii_ranges(name));
                out.push(']');
            }
            Item::Unicode(name, negated) => {
                out.push_str(if negated { r"\P{" } else { r"\p{" });
                out.push_str(name);
                out.push('}');
            }
        }
    }
}

impl Gen {
    fn render(&self, ours: bool, out: &mut String) {
        match self {
            Gen::Lit(c) => escape_char(*c, out),
            Gen::Dot => out.push('.'),
            Gen::Bracket(items, negated) => {
                out.push_str(if *negated { "[^" } else { "[" });
                for item in items {
                    item.render(ours, out);
                }
                out.push(']');
            }
            Gen::Single(item @ (Item::Perl(..) | Item::Ascii(..))) if !ours => {
                out.push('[');
                item.render(ours, out);
                out.push(']');
            }
            Gen::Single(Item::Ascii(..)) => unreachable!("ASCII classes only inside brackets"),
            Gen::Single(item) => item.render(ours, out),
            Gen::Look(look) if !ours && look.starts_with(r"\b") => out.push_str(r"(?-u:\b)"),
            Gen::Look(look) if !ours && look.starts_with(r"\B") => out.push_str(r"(?-u:\B)"),
            Gen::Look(look) => out.push_str(look),
            Gen::Cat(items) => items.iter().for_each(|g| g.render(ours, out)),
            Gen::Alt(branches) => {
                for (i, b) in branches.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    b.render(ours, out);
                }
            }
            Gen::Group(sub, open) => {
                out.push_str(open);
                sub.render(ours, out);
                out.push(')');
            }
            Gen::Flags(flags) => out.push_str(flags),
            Gen::Rep(sub, min, max, lazy) => {
                sub.render(ours, out);
                match (min, max) {
                    (0, None) => out.push('*'),
                    (1, None) => out.push('+'),
                    (0, Some(1)) => out.push('?'),
                    (n, None) => out.push_str(&format!("{{{n},}}")),
                    (n, Some(m)) if n == m => out.push_str(&format!("{{{n}}}")),
                    (n, Some(m)) => out.push_str(&format!("{{{n},{m}}}")),
                }
                out.push_str(lazy);
            }
        }
    }

    /// A string the pattern may well match (classes and case are hit or miss).
    fn sample(&self, rng: &mut Rng, out: &mut String) {
        match self {
            Gen::Lit(c) => out.push(*c),
            Gen::Dot | Gen::Bracket(..) | Gen::Single(_) => {
                let items: Vec<Item> = match self {
                    Gen::Bracket(items, _) => items.clone(),
                    Gen::Single(item) => vec![*item],
                    _ => vec![],
                };
                match items.get(rng.below(items.len().max(1))) {
                    Some(Item::Char(c)) => out.push(*c),
                    Some(Item::Range(a, b)) => out.push(
                        char::from_u32(*a as u32 + rng.below((*b as u32 - *a as u32 + 1) as usize) as u32)
                            .unwrap_or('a'),
                    ),
                    _ => out.push(random_char(rng)),
                }
            }
            Gen::Look(look) => {
                if look.contains('^') || look.contains('$') {
                    if rng.chance(30) {
                        out.push('\n');
                    }
                } else if rng.chance(30) {
                    out.push(' ');
                }
            }
            Gen::Cat(items) => items.iter().for_each(|g| g.sample(rng, out)),
            Gen::Alt(branches) => branches[rng.below(branches.len())].sample(rng, out),
            Gen::Group(sub, _) => sub.sample(rng, out),
            Gen::Flags(_) => {}
            Gen::Rep(sub, min, max, _) => {
                let extra = max.map_or(3, |m| m - min) as usize;
                for _ in 0..*min as usize + rng.below(extra + 1) {
                    sub.sample(rng, out);
                }
            }
        }
    }
}

fn random_char(rng: &mut Rng) -> char {
    if rng.chance(75) { rng.pick(LITERALS) } else { rng.pick(EXTRA_INPUT) }
}

const UNICODE: &[&str] = &["L", "N", "Greek", "Latin", "Han", "Cyrillic"];
const ASCII: &[&str] = &["alpha", "digit", "upper", "lower", "space", "punct", "word"];
const LOOKS: &[&str] = &["^", "$", r"\A", r"\z", r"\b", r"\B"];
const GROUPS: &[&str] = &["(", "(?:", "(?i:", "(?-i:", "(?m:", "(?s:", "(?P<g>", "(?<h>", "(?U:", "(?is:"];
const FLAGS: &[&str] = &["(?i)", "(?m)", "(?s)", "(?-i)", "(?im)", "(?U)"];

fn item(rng: &mut Rng) -> Item {
    match rng.below(10) {
        0..=2 => Item::Char(rng.pick(LITERALS)),
        3..=4 => rng.pick(&[
            Item::Range('a', 'c'),
            Item::Range('A', 'Z'),
            Item::Range('0', '9'),
            Item::Range('ß', 'ö'),
            Item::Range('ο', 'τ'),
            Item::Range('j', 'l'),
        ]),
        5..=6 => Item::Perl(rng.pick(&['d', 'w', 's']), rng.chance(40)),
        7 => Item::Ascii(rng.pick(ASCII), rng.chance(30)),
        _ => Item::Unicode(rng.pick(UNICODE), rng.chance(30)),
    }
}

fn generate(rng: &mut Rng, depth: u32) -> Gen {
    let leaf = depth == 0 || rng.chance(35);
    if leaf {
        return match rng.below(12) {
            0..=4 => Gen::Lit(rng.pick(LITERALS)),
            5 => Gen::Dot,
            6..=7 => Gen::Bracket((0..1 + rng.below(3)).map(|_| item(rng)).collect(), rng.chance(25)),
            8 => Gen::Single(match item(rng) {
                Item::Ascii(..) | Item::Char(_) | Item::Range(..) => {
                    Item::Perl(rng.pick(&['d', 'w', 's']), rng.chance(40))
                }
                other => other,
            }),
            9..=10 => Gen::Look(rng.pick(LOOKS)),
            _ => Gen::Flags(rng.pick(FLAGS)),
        };
    }
    match rng.below(10) {
        0..=3 => Gen::Cat((0..2 + rng.below(3)).map(|_| generate(rng, depth - 1)).collect()),
        4..=5 => Gen::Alt((0..2 + rng.below(2)).map(|_| generate(rng, depth - 1)).collect()),
        6 => Gen::Group(Box::new(generate(rng, depth - 1)), rng.pick(GROUPS)),
        _ => {
            let sub = generate(rng, depth - 1);
            // Only single atoms and groups take an operator (no `a**`, no `(?i)*`).
            let sub = match sub {
                Gen::Lit(_) | Gen::Dot | Gen::Bracket(..) | Gen::Single(_) | Gen::Group(..) => sub,
                other => Gen::Group(Box::new(other), "(?:"),
            };
            let (min, max) =
                rng.pick(&[(0, None), (1, None), (0, Some(1)), (2, Some(2)), (1, Some(3)), (2, None), (0, Some(2))]);
            Gen::Rep(Box::new(sub), min, max, if rng.chance(20) { "?" } else { "" })
        }
    }
}

/// The named groups `g` and `h` once each at most, or RE2 rightly refuses the pattern.
fn rename(pattern: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut rest = pattern;
    while let Some(i) = [rest.find("(?P<g>"), rest.find("(?<h>")].into_iter().flatten().min() {
        let open = if rest[i..].starts_with("(?P<g>") { "(?P<g" } else { "(?<h" };
        out.push_str(&rest[..i]);
        out.push_str(&format!("{open}{n}>"));
        n += 1;
        rest = &rest[i + open.len() + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn generated_patterns_match_as_the_regex_crate_matches() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut compared = 0u64;
    let mut matched = 0u64;
    for round in 0..5000 {
        let generated = generate(&mut rng, 1 + (round % 5) as u32);
        let (mut ours, mut theirs) = (String::new(), String::new());
        generated.render(true, &mut ours);
        generated.render(false, &mut theirs);
        let (ours, theirs) = (rename(&ours), rename(&theirs));
        let reference = regex::RegexBuilder::new(&theirs)
            .build()
            .unwrap_or_else(|e| panic!("the reference refuses {theirs} (ours: {ours}): {e}"));
        let engine = Regex::new(&ours).unwrap_or_else(|e| panic!("{ours}: {e}"));
        let mut inputs: Vec<String> = vec![String::new()];
        for _ in 0..24 {
            let mut s = String::new();
            generated.sample(&mut rng, &mut s);
            if rng.chance(40) {
                let mut chars: Vec<char> = s.chars().collect();
                let at = rng.below(chars.len() + 1);
                chars.insert(at, random_char(&mut rng));
                s = chars.into_iter().collect();
            }
            if rng.chance(20) {
                s = format!("{}{s}{}", random_char(&mut rng), random_char(&mut rng));
            }
            inputs.push(s);
        }
        for _ in 0..12 {
            inputs.push((0..rng.below(8)).map(|_| random_char(&mut rng)).collect());
        }
        for input in &inputs {
            // `find`, not `is_match`: regex 1.13's `is_match` misses matches when `(?-u:\B)`
            // could match inside a multi-byte character (`ſc|(?-u:\B)` on "Uſc" is false,
            // while `find` finds "ſc").
            let expected = reference.find(input).is_some();
            assert_eq!(engine.is_match(input), expected, "pattern {ours} (regex: {theirs}) on {input:?}");
            compared += 1;
            matched += expected as u64;
        }
    }
    // Both answers are well represented.
    assert!(matched > compared / 5 && matched < compared * 4 / 5, "{matched} of {compared} matched");
}

/// Counted repetitions, case folding and Unicode classes in combination, on longer inputs.
#[test]
fn fixed_patterns_match_as_the_regex_crate_matches() {
    let patterns = [
        r"^(?i)[a-z]+\d{2,4}$",
        r"(?i)^(?:straße|strasse)$",
        r"(?i)\p{Greek}+ς",
        r"(?i)[^\P{Latin}k]",
        r"^(?:\pL|\pN){3,}$",
        r"(?m)^\s*#",
        r"(?s)a.{3}b",
        r"^(a+|b+)*c$",
        r"^([^,]*,){2}[^,]*$",
        r"^(?:(?:a|b)(?:c|d))*$",
        r"x*y*z*",
        r"(?i)^[\p{Cyrillic}]+$",
        r"^[\x{1F600}-\x{1F64F}]+$",
    ];
    let inputs = [
        "",
        "abc12",
        "ABC1234",
        "STRASSE",
        "straße",
        "ΣΊΣΥΦΟΣ",
        "σς",
        "Kk",
        "\u{212A}",
        "abc, 3,x",
        "  #x\n#",
        "a\n\nxb",
        "aabbc",
        "acbd",
        "Привет",
        "😀😃",
        "zzz",
        "a,b,c",
    ];
    for pattern in patterns {
        let theirs = pattern.replace(r"\d", "[0-9]").replace(r"\s", r"[\t\n\x0C\r ]");
        let reference = regex::Regex::new(&theirs).unwrap();
        let engine = Regex::new(pattern).unwrap();
        for input in inputs {
            assert_eq!(engine.is_match(input), reference.is_match(input), "{pattern} on {input:?}");
        }
    }
}
