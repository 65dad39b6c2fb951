//! Decimal text without the formatting machinery: `format!`/`to_string` of an integer costs
//! several hundred wasm instructions, these a few dozen. For request paths (Redis arguments, key
//! names, header values).

/// "00" to "99": two digits per division on the request path.
const DIGIT_PAIRS: &str = "00010203040506070809101112131415161718192021222324252627282930313233343536373839\
                           40414243444546474849505152535455565758596061626364656667686970717273747576777879\
                           8081828384858687888990919293949596979899";

/// Appends `n` in decimal to `out`, without the formatting machinery (request paths use it).
pub fn push_u64(out: &mut String, n: u64) {
    // The pairs of digits, least significant first (a u64 has at most 10).
    let mut pairs = [0u8; 10];
    let mut count = 0;
    let mut rest = n;
    while rest >= 100 {
        pairs[count] = (rest % 100) as u8;
        rest /= 100;
        count += 1;
    }
    let top = usize::from(rest as u8) * 2;
    out.push_str(if rest < 10 { &DIGIT_PAIRS[top + 1..top + 2] } else { &DIGIT_PAIRS[top..top + 2] });
    for &pair in pairs[..count].iter().rev() {
        let at = usize::from(pair) * 2;
        out.push_str(&DIGIT_PAIRS[at..at + 2]);
    }
}

/// `n` in decimal, with a `-` when negative.
pub fn signed_decimal(n: i64) -> String {
    let mut out = String::with_capacity(21);
    if n < 0 {
        out.push('-');
    }
    push_u64(&mut out, n.unsigned_abs());
    out
}

/// `n` in decimal, as [`push_u64`] writes it.
pub fn decimal(n: u64) -> String {
    let mut out = String::with_capacity(20);
    push_u64(&mut out, n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_match_display() {
        for n in [0u64, 1, 9, 10, 99, 100, 101, 999, 1000, 12_345, u64::MAX, u64::MAX - 1, 1 << 40, 1_764_000_000_000] {
            assert_eq!(decimal(n), n.to_string());
        }
        for n in [0i64, -1, 1, -10, i64::MIN, i64::MAX, -12_345] {
            assert_eq!(signed_decimal(n), n.to_string());
        }
    }
}
