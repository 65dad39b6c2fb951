//! SHA-256 (FIPS 180-4) of a whole message as lower-case hex: the padding written here over
//! sha2's block function, without the streaming wrapper, whose buffering cost more than a
//! block's compression for the short inputs cache keys hash.

use sha2::compress256;
use sha2::digest::generic_array::GenericArray;

/// The initial hash value (FIPS 180-4, 5.3.3).
const H0: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// Two hex digits per byte value, for writing a digest a byte at a time.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
        i += 1;
    }
    table
};

/// The SHA-256 digest of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut state = H0;
    let whole = data.len() - data.len() % 64;
    let (blocks, rest) = data.split_at(whole);
    for block in blocks.chunks_exact(64) {
        compress256(&mut state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
    // The rest, a 1 bit, zeros, and the message length in bits: one block, or two when the
    // length no longer fits behind the rest.
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let tail_len = if rest.len() < 56 { 64 } else { 128 };
    let bits = (data.len() as u64).wrapping_mul(8);
    tail[tail_len - 8..tail_len].copy_from_slice(&bits.to_be_bytes());
    for block in tail[..tail_len].chunks_exact(64) {
        compress256(&mut state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
    let mut out = [0u8; 32];
    for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Appends the lower-case hex SHA-256 of `data` to `out`.
pub fn push_sha256_hex(out: &mut String, data: &[u8]) {
    let mut hex = [0u8; 64];
    for (pair, b) in hex.chunks_exact_mut(2).zip(sha256(data)) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
    // Only hex digits were written.
    out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    push_sha256_hex(&mut out, data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn matches_the_streaming_implementation_at_every_length_around_the_block_edges() {
        // Lengths 0..=300 cover empty input, one and two padding blocks, and several full blocks.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..=300usize {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let want: String = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(sha256_hex(&data), want, "length {len}");
        }
    }

    #[test]
    fn known_vectors() {
        // FIPS 180-4 examples.
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }
}
