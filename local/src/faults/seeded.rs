//! Seeded decisions: the same seed, kind, subject and call number always draw the same.

use std::hash::Hasher as _;

use rand::{Rng as _, SeedableRng as _};

/// A number in `[0, 1)` fixed by `(seed, kind, subject, n)`. FNV-1a of those seeds a
/// `StdRng`; std's own hasher is not guaranteed stable across Rust releases, and a replay must
/// draw the same numbers.
pub fn draw(seed: u64, kind: &str, subject: &str, n: u64) -> f64 {
    let mut h = Fnv1a::default();
    h.write_u64(seed);
    h.write(kind.as_bytes());
    h.write_u8(0);
    h.write(subject.as_bytes());
    h.write_u8(0);
    h.write_u64(n);
    rand::rngs::StdRng::seed_from_u64(h.finish()).random::<f64>()
}

struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    // Fixed byte order, so a replay on another machine draws the same.
    fn write_u64(&mut self, n: u64) {
        self.write(&n.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_fixed_by_their_inputs() {
        let a = draw(7, "crash_mid", "Fn", 3);
        assert_eq!(a, draw(7, "crash_mid", "Fn", 3));
        assert!((0.0..1.0).contains(&a));
        assert_ne!(a, draw(8, "crash_mid", "Fn", 3));
        assert_ne!(a, draw(7, "timeout", "Fn", 3));
        assert_ne!(a, draw(7, "crash_mid", "Other", 3));
        assert_ne!(a, draw(7, "crash_mid", "Fn", 4));
        // Roughly uniform: a 10 % rate strikes about 10 % of 10 000 calls.
        let hits = (1..=10_000).filter(|n| draw(1, "k", "f", *n) < 0.1).count();
        assert!((800..1200).contains(&hits), "{hits}");
    }
}
