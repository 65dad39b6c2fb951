//! Hash maps keyed by ids the SDK or the host hands out (task ids, callback tokens, context
//! ids): a multiplicative hash instead of SipHash, which costs hundreds of wasm instructions per
//! lookup. Only for keys a client cannot choose; client-chosen keys keep std's keyed hasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Fibonacci hashing of one integer id; other input (never produced by integer keys) is
/// folded in byte by byte (FNV-1a style).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.write_u64(u64::from(id));
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = (self.0 ^ id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A `HashMap` keyed by an SDK- or host-assigned id.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_spread_over_the_high_bits_hashbrown_uses() {
        let tops: std::collections::HashSet<u64> = (0u64..64)
            .map(|id| {
                let mut h = IdHasher::default();
                h.write_u64(id);
                h.finish() >> 57
            })
            .collect();
        assert!(tops.len() > 32, "{}", tops.len());
        let mut map: IdMap<u32, u32> = IdMap::default();
        for id in 0..1000 {
            map.insert(id, id * 2);
        }
        assert!((0..1000).all(|id| map.get(&id) == Some(&(id * 2))));
    }
}
