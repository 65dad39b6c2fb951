//! A map of a handful of entries kept in a vector, for per-worker registries that are looked up
//! rarely (a Redis cluster initialised, a log cause throttled, an unavailability counter): a
//! linear scan over a few entries, and none of a hash map's code in the module.

use std::borrow::Borrow;

/// Entries in insertion order, keys unique.
#[derive(Debug)]
pub(crate) struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> VecMap<K, V> {
    /// An empty map (usable in a `const` thread-local initialiser).
    pub(crate) const fn new() -> Self {
        VecMap { entries: Vec::new() }
    }

    /// The value under `key`.
    pub(crate) fn get<Q: PartialEq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.entries.iter().find(|(k, _)| k.borrow() == key).map(|(_, v)| v)
    }

    /// The value under `key`, to change it.
    pub(crate) fn get_mut<Q: PartialEq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.entries.iter_mut().find(|(k, _)| k.borrow() == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value`.
    pub(crate) fn insert(&mut self, key: K, value: V)
    where
        K: PartialEq,
    {
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Removes every entry.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_found_by_borrowed_form() {
        let mut m: VecMap<String, u32> = VecMap::new();
        m.insert("a".into(), 1);
        m.insert("b".into(), 2);
        m.insert("a".into(), 3);
        assert_eq!(m.get("a"), Some(&3));
        assert_eq!(m.get("b"), Some(&2));
        assert_eq!(m.get("c"), None);
        if let Some(v) = m.get_mut("b") {
            *v += 1;
        }
        assert_eq!(m.get("b"), Some(&3));
        assert_eq!(m.entries.len(), 2);
        m.clear();
        assert_eq!(m.get("a"), None);
    }
}
