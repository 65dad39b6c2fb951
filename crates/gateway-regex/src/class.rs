//! Sets of code points for `regexp:` keys: the ranges behind `[...]`, `\d`, `[[:alpha:]]`,
//! `\p{Han}` and case-folded literals, and the compiled form the matcher tests a character
//! against (an ASCII bitmap plus sorted ranges).

/// The largest code point.
pub(super) const MAX_CHAR: u32 = 0x10FFFF;

/// Code points as inclusive ranges, always sorted, not overlapping and not adjacent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Ranges(Vec<(u32, u32)>);

impl Ranges {
    /// The set of `pairs` (in any order, each `lo <= hi`).
    pub(super) fn from_pairs(pairs: impl IntoIterator<Item = (u32, u32)>) -> Self {
        let mut ranges = Ranges::default();
        ranges.extend(pairs);
        ranges
    }

    pub(super) fn as_slice(&self) -> &[(u32, u32)] {
        &self.0
    }

    /// Adds `pairs` to the set.
    pub(super) fn extend(&mut self, pairs: impl IntoIterator<Item = (u32, u32)>) {
        for (lo, hi) in pairs {
            self.insert(lo, hi);
        }
    }

    /// Adds `lo..=hi`, merged with the ranges it overlaps or touches. (Sorted insertion, not
    /// a sort: sets are built from sorted tables and a few items, and it keeps the module
    /// small.)
    fn insert(&mut self, lo: u32, hi: u32) {
        let first = self.0.partition_point(|&(_, h)| h.saturating_add(1) < lo);
        let mut last = first;
        let (mut lo, mut hi) = (lo, hi);
        while let Some(&(l, h)) = self.0.get(last) {
            if l > hi.saturating_add(1) {
                break;
            }
            (lo, hi) = (lo.min(l), hi.max(h));
            last += 1;
        }
        if last == first {
            self.0.insert(first, (lo, hi));
        } else {
            self.0[first] = (lo, hi);
            self.0.drain(first + 1..last);
        }
    }

    /// The code points not in the set.
    pub(super) fn negate(&mut self) {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        let mut next = 0u32;
        for &(lo, hi) in &self.0 {
            if lo > next {
                out.push((next, lo - 1));
            }
            next = hi.saturating_add(1);
        }
        if next <= MAX_CHAR {
            out.push((next, MAX_CHAR));
        }
        self.0 = out;
    }

    /// The only code point of the set, if it has exactly one.
    pub(super) fn single(&self) -> Option<u32> {
        match self.0.as_slice() {
            [(lo, hi)] if lo == hi => Some(*lo),
            _ => None,
        }
    }
}

/// A compiled class: ASCII by bitmap, the rest by binary search.
#[derive(Debug, Clone)]
pub(super) struct Class {
    ascii: u128,
    /// The ranges at or above U+0080.
    rest: Box<[(u32, u32)]>,
}

impl Class {
    pub(super) fn new(ranges: &Ranges) -> Self {
        let mut ascii = 0u128;
        let mut rest = Vec::new();
        for &(lo, hi) in ranges.as_slice() {
            for c in lo..=hi.min(0x7F) {
                ascii |= 1 << c;
            }
            if hi >= 0x80 {
                rest.push((lo.max(0x80), hi));
            }
        }
        Class { ascii, rest: rest.into_boxed_slice() }
    }

    #[inline]
    pub(super) fn contains(&self, c: char) -> bool {
        let c = c as u32;
        if c < 0x80 {
            return self.ascii & (1 << c) != 0;
        }
        let i = self.rest.partition_point(|&(_, hi)| hi < c);
        self.rest.get(i).is_some_and(|&(lo, _)| lo <= c)
    }
}

/// The ASCII word characters of `\w` and `\b`.
pub(super) const WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)];

/// `\d`, `\s`, `\w` (and their upper case negations) as RE2 defines them: ASCII only, and
/// `\s` without `\v`.
pub(super) fn perl_class(letter: char) -> Option<&'static [(u32, u32)]> {
    match letter.to_ascii_lowercase() {
        'd' => Some(&[(0x30, 0x39)]),
        's' => Some(&[(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)]),
        'w' => Some(WORD),
        _ => None,
    }
}

/// The ASCII classes of `[[:name:]]`.
pub(super) fn ascii_class(name: &str) -> Option<&'static [(u32, u32)]> {
    Some(match name {
        "alnum" => &[(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
        "alpha" => &[(0x41, 0x5A), (0x61, 0x7A)],
        "ascii" => &[(0x00, 0x7F)],
        "blank" => &[(0x09, 0x09), (0x20, 0x20)],
        "cntrl" => &[(0x00, 0x1F), (0x7F, 0x7F)],
        "digit" => &[(0x30, 0x39)],
        "graph" => &[(0x21, 0x7E)],
        "lower" => &[(0x61, 0x7A)],
        "print" => &[(0x20, 0x7E)],
        "punct" => &[(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
        "space" => &[(0x09, 0x0D), (0x20, 0x20)],
        "upper" => &[(0x41, 0x5A)],
        "word" => WORD,
        "xdigit" => &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
        _ => return None,
    })
}

/// Whether `c` is an ASCII word character (for `\b`, `\B`).
#[inline]
pub(super) fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_negate_and_compile() {
        let mut r = Ranges::from_pairs([(5, 9), (0, 3), (4, 4), (20, 30), (25, 40)]);
        assert_eq!(Ranges::from_pairs([(7, 7), (1, 2), (9, 12), (4, 5), (3, 3), (0, 20)]).as_slice(), &[(0, 20)]);
        assert_eq!(
            Ranges::from_pairs([(9, 9), (1, 2), (5, 5), (4, 4), (11, 12)]).as_slice(),
            &[(1, 2), (4, 5), (9, 9), (11, 12)]
        );
        assert_eq!(r.as_slice(), &[(0, 9), (20, 40)]);
        r.negate();
        assert_eq!(r.as_slice(), &[(10, 19), (41, MAX_CHAR)]);
        r.negate();
        assert_eq!(r.as_slice(), &[(0, 9), (20, 40)]);
        let mut all = Ranges::from_pairs([(0, MAX_CHAR)]);
        all.negate();
        assert_eq!(all.as_slice(), &[]);
        let class = Class::new(&Ranges::from_pairs([(0x41, 0x5A), (0x7F, 0x100), (0x4E00, 0x9FFF)]));
        for (c, expected) in [('A', true), ('@', false), ('\x7f', true), ('ā', false), ('Ā', true), ('中', true)] {
            assert_eq!(class.contains(c), expected, "{c:?}");
        }
    }
}
