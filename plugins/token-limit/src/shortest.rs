//! A finite `f64` as serde_json writes it (the shortest text that reads back as the same
//! double, laid out as its `zmij` lays it out: `1500.0`, `0.25`, `1e-7`, `1.5e+300`), without
//! core's float formatting, which would add some 14 KB to the module. Slow and simple: the
//! exact decimal expansion, then the shortest rounding of it that parses back. For error
//! messages and the rare float in a re-written log entry, never per request.

/// Appends `f` in serde_json's form; a non-finite `f` as `null`, as serde_json writes it.
pub fn push_f64(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    let f = f.abs();
    if f == 0.0 {
        out.push_str("0.0");
        return;
    }
    let (digits, exponent) = shortest(f);
    layout(out, &digits, exponent);
}

/// The shortest digits `d` (no leading or trailing zeros) and exponent `k` with `d × 10^k`
/// reading back as `f` (positive, finite), the nearest such when several are as short.
fn shortest(f: f64) -> (Vec<u8>, i32) {
    let (exact, point) = exact_decimal(f);
    // `exact` is the whole expansion: `0.d1d2d3... × 10^point`.
    for p in 1..exact.len() {
        let down = (exact[..p].to_vec(), point);
        let (up_digits, carry) = round_up(&exact[..p]);
        let up = (up_digits, point + carry);
        // The nearer first; on an exact tie the even one.
        let tie = exact[p] == b'5' && exact[p + 1..].iter().all(|&d| d == b'0');
        let up_first = if tie { (exact[p - 1] - b'0') % 2 == 1 } else { exact[p] >= b'5' };
        let candidates = if up_first { [up, down] } else { [down, up] };
        for (digits, at) in candidates {
            if reads_back(&digits, at, f) {
                return trimmed(digits, at);
            }
        }
    }
    trimmed(exact, point)
}

/// `digits` (all `0`-`9`) plus one in the last place, and how far the point moved (1 when
/// all nines became `1` and zeros).
fn round_up(digits: &[u8]) -> (Vec<u8>, i32) {
    let mut out = digits.to_vec();
    for d in out.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return (out, 0);
        }
    }
    out.insert(0, b'1');
    out.pop();
    (out, 1)
}

/// Whether `0.digits × 10^point` parses as `f`.
fn reads_back(digits: &[u8], point: i32, f: f64) -> bool {
    let mut text = String::with_capacity(digits.len() + 16);
    text.push_str("0.");
    text.extend(digits.iter().map(|&d| char::from(d)));
    text.push('e');
    push_i32(&mut text, point);
    text.parse::<f64>().ok() == Some(f)
}

/// Without trailing zeros, as `(d, k)` for `d × 10^k`.
fn trimmed(mut digits: Vec<u8>, point: i32) -> (Vec<u8>, i32) {
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    (digits, point - len)
}

/// The exact decimal expansion of `f` (positive, finite) as significant digits (no leading
/// zeros) and the position of the point: `f = 0.digits × 10^point`.
fn exact_decimal(f: f64) -> (Vec<u8>, i32) {
    let bits = f.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exponent) = if biased == 0 { (fraction, -1074) } else { (fraction | (1 << 52), biased - 1075) };
    // f = mantissa × 2^exponent = mantissa × 5^-exponent / 10^-exponent when negative.
    let mut n = Big::from(mantissa);
    let mut point_shift = 0;
    if exponent >= 0 {
        n.times_pow(2, exponent);
    } else {
        n.times_pow(5, -exponent);
        point_shift = exponent;
    }
    let digits = n.digits();
    let point = i32::try_from(digits.len()).unwrap_or(i32::MAX) + point_shift;
    (digits, point)
}

/// A non-negative integer in base 10^9, least significant limb first.
struct Big(Vec<u32>);

impl Big {
    const BASE: u64 = 1_000_000_000;

    fn from(mut n: u64) -> Big {
        let mut limbs = Vec::with_capacity(40);
        while n > 0 {
            limbs.push((n % Self::BASE) as u32);
            n /= Self::BASE;
        }
        Big(limbs)
    }

    /// Multiplies by `base^times` (`base` 2 or 5), in steps that fit a limb product.
    fn times_pow(&mut self, base: u64, mut times: i32) {
        let (step, factor) = if base == 2 { (29, 1u64 << 29) } else { (12, 244_140_625u64) };
        while times > 0 {
            let (k, m) = if times >= step { (step, factor) } else { (times, base.pow(times.unsigned_abs())) };
            self.times(m);
            times -= k;
        }
    }

    fn times(&mut self, m: u64) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let v = u64::from(*limb) * m + carry;
            *limb = (v % Self::BASE) as u32;
            carry = v / Self::BASE;
        }
        while carry > 0 {
            self.0.push((carry % Self::BASE) as u32);
            carry /= Self::BASE;
        }
    }

    /// The decimal digits, most significant first, without leading zeros.
    fn digits(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * 9);
        for (i, limb) in self.0.iter().rev().enumerate() {
            let mut chunk = [b'0'; 9];
            let mut v = *limb;
            for d in chunk.iter_mut().rev() {
                *d = b'0' + (v % 10) as u8;
                v /= 10;
            }
            let skip = if i == 0 { chunk.iter().take_while(|&&d| d == b'0').count().min(8) } else { 0 };
            out.extend_from_slice(&chunk[skip..]);
        }
        out
    }
}

/// `digits × 10^k` as serde_json's `zmij` lays it out: plain from 10^-5 to below 10^16,
/// else with an exponent.
fn layout(out: &mut String, digits: &[u8], k: i32) {
    let push = |out: &mut String, d: &[u8]| out.extend(d.iter().map(|&b| char::from(b)));
    let length = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let kk = length + k;
    if 0 <= k && kk <= 16 {
        push(out, digits);
        (0..k).for_each(|_| out.push('0'));
        out.push_str(".0");
    } else if 0 < kk && kk <= 16 {
        let (whole, fraction) = digits.split_at(kk.unsigned_abs() as usize);
        push(out, whole);
        out.push('.');
        push(out, fraction);
    } else if -5 < kk && kk <= 0 {
        out.push_str("0.");
        (0..-kk).for_each(|_| out.push('0'));
        push(out, digits);
    } else {
        push(out, &digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            push(out, &digits[1..]);
        }
        out.push('e');
        if kk > 0 {
            out.push('+');
        }
        push_i32(out, kk - 1);
    }
}

fn push_i32(out: &mut String, n: i32) {
    if n < 0 {
        out.push('-');
    }
    gateway_sdk::decimal::push_u64(out, u64::from(n.unsigned_abs()));
}

#[cfg(test)]
mod tests {
    use super::push_f64;

    fn ours(f: f64) -> String {
        let mut out = String::new();
        push_f64(&mut out, f);
        out
    }

    #[test]
    fn doubles_are_written_as_serde_json_writes_them() {
        let mut samples = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            1500.0,
            1000.5,
            0.1,
            -0.1,
            0.3,
            1e-7,
            1.5e-7,
            1e21,
            1e16,
            1e15,
            123456789.125,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            2f64.powi(60),
            2f64.powi(-60),
            9007199254740993.0,
            1e-5,
            1e-4,
            0.001,
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Random bits, and random short decimals (where a shorter neighbour may also read back).
            let f = if i % 2 == 0 {
                f64::from_bits(seed)
            } else {
                (seed % 100_000) as f64 / 10f64.powi((seed >> 40) as i32 % 12)
            };
            if f.is_finite() {
                samples.push(f);
            }
        }
        // Powers of two, where the doubles below are closer together than those above.
        samples.extend((-1074..1024).map(|e| 2f64.powi(e)));
        for f in samples {
            let theirs = serde_json::Number::from_f64(f).map(|n| n.to_string()).unwrap();
            assert_eq!(ours(f), theirs, "{f:e}");
        }
        assert_eq!(ours(f64::NAN), "null");
    }
}
