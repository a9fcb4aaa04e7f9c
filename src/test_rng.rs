//! A deterministic pseudo-random generator for the seeded fuzz-style unit tests, so a failing
//! case replays from its seed and tests need no extra dependency.

/// xorshift64*.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// One of `items` (`b'a'` when empty).
    pub fn pick(&mut self, items: &[u8]) -> u8 {
        items.get(self.below(items.len())).copied().unwrap_or(b'a')
    }
}
