//! Interned strings numbered in order of first appearance.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// A map keyed by a hash already computed: the key is its own hash.
#[derive(Default, Clone, Copy)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (keys are u64); fold anything else in for completeness.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Interned strings, numbered from 0 in order of first appearance, stored end to end in one
/// `String` (no allocation per string). Looked up by a 64-bit hash; strings whose hash is
/// already taken by another string go to a short list compared one by one.
#[derive(Clone, Default)]
pub(crate) struct StrPool {
    text: String,
    ends: Vec<usize>,
    by_hash: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    collided: Vec<u32>,
    state: foldhash::fast::RandomState,
}

impl StrPool {
    /// Room for about `strings` more strings of `bytes` in all.
    pub fn reserve(&mut self, strings: usize, bytes: usize) {
        self.text.reserve(bytes);
        self.ends.reserve(strings);
        self.by_hash.reserve(strings);
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = match i.checked_sub(1) {
            Some(p) => self.ends.get(p).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.text.get(start..end).unwrap_or("")
    }

    fn add(&mut self, s: &str) -> u32 {
        let i = self.ends.len() as u32;
        self.text.push_str(s);
        self.ends.push(self.text.len());
        i
    }

    /// The number of `s`, interning it the first time.
    pub fn intern(&mut self, s: &str) -> u32 {
        let h = self.state.hash_one(s);
        match self.by_hash.entry(h) {
            Entry::Vacant(e) => {
                let i = self.ends.len() as u32;
                e.insert(i);
                self.text.push_str(s);
                self.ends.push(self.text.len());
                i
            }
            Entry::Occupied(e) => {
                let i = *e.get();
                if self.get(i) == s {
                    return i;
                }
                if let Some(&j) = self.collided.iter().find(|&&j| self.get(j) == s) {
                    return j;
                }
                let j = self.add(s);
                self.collided.push(j);
                j
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_interns_and_numbers_in_order() {
        let mut p = StrPool::default();
        assert_eq!(p.intern("b"), 0);
        assert_eq!(p.intern(""), 1);
        assert_eq!(p.intern("a"), 2);
        assert_eq!(p.intern("b"), 0);
        assert_eq!(p.intern(""), 1);
        assert_eq!((p.get(0), p.get(1), p.get(2), p.get(9)), ("b", "", "a", ""));
        assert_eq!(p.len(), 3);
    }

    /// Two strings with the same hash are still two strings.
    #[test]
    fn pool_survives_hash_collisions() {
        let mut p = StrPool::default();
        assert_eq!(p.intern("x"), 0);
        let h = p.state.hash_one("y");
        // Make "y"'s hash point at "x", as a collision would.
        p.by_hash.insert(h, 0);
        assert_eq!(p.intern("y"), 1);
        assert_eq!(p.intern("y"), 1);
        assert_eq!(p.intern("x"), 0);
        assert_eq!(p.collided, vec![1]);
    }
}
