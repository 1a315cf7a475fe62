//! A small seeded PRNG (xoshiro256++ seeded through SplitMix64).
//!
//! Hand-written rather than taken from `rand` so that the byte stream for a seed can never
//! change under a dependency upgrade: generated corpora and their ground truth are meant to be
//! reproducible across versions of this crate's dependencies.

/// Deterministic random number generator.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes a seed and a stream number into one 64-bit value (used to derive sub-generators and
/// stable per-object values such as secret versions).
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut x = a ^ b.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    splitmix(&mut x)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        Rng {
            s: [
                splitmix(&mut x),
                splitmix(&mut x),
                splitmix(&mut x),
                splitmix(&mut x),
            ],
        }
    }

    /// An independent generator for one purpose (`stream`) of one seed.
    pub fn derive(seed: u64, stream: u64) -> Rng {
        Rng::new(mix(seed, stream))
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    #[inline]
    pub fn u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// Uniform in `0..n` (`0` when `n == 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    #[inline]
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    #[inline]
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// One element of a non-empty slice (`None` when empty).
    #[inline]
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.index(items.len()))
        }
    }

    /// Index chosen by integer weights (`0` for an empty or all-zero table).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            return 0;
        }
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            let w = u64::from(w);
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len().saturating_sub(1)
    }
}

/// Cumulative weights for repeated O(log n) weighted picks from a large table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cumulative {
    cum: Vec<u64>,
}

impl Cumulative {
    pub fn new(weights: impl IntoIterator<Item = u64>) -> Cumulative {
        let mut acc = 0u64;
        let cum = weights
            .into_iter()
            .map(|w| {
                acc += w;
                acc
            })
            .collect();
        Cumulative { cum }
    }

    pub fn is_empty(&self) -> bool {
        self.cum.last().copied().unwrap_or(0) == 0
    }

    /// An index drawn with probability proportional to its weight (`None` if all weights are 0).
    pub fn sample(&self, rng: &mut Rng) -> Option<usize> {
        let total = *self.cum.last()?;
        if total == 0 {
            return None;
        }
        let r = rng.below(total);
        Some(self.cum.partition_point(|&c| c <= r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let va: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va[0], Rng::new(43).next_u64());
        // Pinned so an accidental change of the algorithm is noticed (it changes every corpus).
        assert_eq!(Rng::new(0).next_u64(), 0x53175d61490b23df);
    }

    #[test]
    fn bounded_helpers_stay_in_bounds() {
        let mut r = Rng::new(7);
        for _ in 0..10_000 {
            assert!(r.below(10) < 10);
            let x = r.range(5, 7);
            assert!((5..=7).contains(&x));
            let f = r.f64();
            assert!((0.0..1.0).contains(&f));
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.weighted(&[0, 0, 5]), 2);
        let c = Cumulative::new([0, 3, 0, 1]);
        for _ in 0..1000 {
            let i = c.sample(&mut r).unwrap();
            assert!(i == 1 || i == 3);
        }
        assert_eq!(Cumulative::new([0, 0]).sample(&mut r), None);
    }
}
