//! A small, fast, deterministic hasher for interning ids (the Fx hash of rustc).
//!
//! The standard SipHash is built to resist hash flooding; interning customer ids
//! from a file the user owns does not need that, and Fx is several times faster
//! per row. Deterministic (no random seed), so runs are reproducible.

use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0xf135_7aea_2e62_a9c5;

/// Fx-style hasher: multiply-rotate over 8-byte words.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(26) ^ w).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(le_word(rest) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // A final avalanche so that the low bits (used by hash tables) mix well.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// Up to 8 bytes as a little-endian word, the missing high bytes 0 (what copying
/// them into a zeroed `[u8; 8]` gives), from at most three loads instead of a
/// variable-length copy through the stack, whose byte stores the next word load
/// had to wait for.
#[inline]
pub(crate) fn le_word(b: &[u8]) -> u64 {
    let n = b.len();
    match n {
        0 => 0,
        1..=3 => u64::from(b[0]) | (u64::from(b[n / 2]) << (n / 2 * 8)) | (u64::from(b[n - 1]) << ((n - 1) * 8)),
        4..=7 => {
            let first = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            let last = u64::from(u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]));
            // The two halves overlap on the same bytes: OR keeps them.
            first | (last << ((n - 4) * 8))
        }
        _ => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
    }
}

/// `BuildHasher` for [`FxHasher`].
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;
/// A `HashMap` with [`FxHasher`].
pub(crate) type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;

/// Hash of a byte string, for choosing a long id's partition.
#[inline]
pub(crate) fn hash_bytes(seed: u64, b: &[u8]) -> u64 {
    let mut h = FxHasher { hash: seed };
    h.write(b);
    h.write_u8(0xff); // terminator: "ab","c" differs from "a","bc"
    h.finish()
}

/// murmur3's 64-bit finalizer: one to one, and every input bit moves every
/// output bit.
#[inline]
fn fmix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// A hash that decides identity — a purchase's key, a line's content, a name's
/// text — rather than a table slot: each word is folded in as `fmix(h ^ w)`, one
/// to one in `h` and in `w`, so two inputs of one length that differ in one word
/// never collide, and others only by a 64-bit accident. [`FxHasher`] (multiply and
/// rotate) moves a difference only towards higher bits, so numeric ids that differ
/// in two places collided by their text: with the day in its seed, `50-10` on day
/// 19182 and `50-17` on day 19246 shared a purchase key, and its 7-byte tail
/// marker equals a last byte `8` (`1234567` and `12345678`).
#[derive(Clone, Copy)]
pub(crate) struct Mixer(u64);

impl Mixer {
    pub(crate) fn new(seed: u64) -> Self {
        Mixer(seed)
    }

    #[inline]
    pub(crate) fn word(self, w: u64) -> Self {
        Mixer(fmix(self.0 ^ w))
    }

    /// The bytes as little-endian words (the last one zero-padded), then their length.
    #[inline]
    pub(crate) fn bytes(self, b: &[u8]) -> Self {
        let mut m = self;
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            m = m.word(le_word(c));
        }
        if !chunks.remainder().is_empty() {
            m = m.word(le_word(chunks.remainder()));
        }
        m.word(b.len() as u64)
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

/// The purchase key of an order id on a day.
#[inline]
pub(crate) fn order_key(day: i32, order: &[u8]) -> u64 {
    Mixer::new(0x9e37_79b9).word(u64::from(day as u32)).bytes(order).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The word loads give what the zero-padded copy gives, for every length.
        #[test]
        fn le_word_is_the_zero_padded_copy(bytes in proptest::collection::vec(any::<u8>(), 0..=8)) {
            let mut w = [0u8; 8];
            w[..bytes.len()].copy_from_slice(&bytes);
            prop_assert_eq!(le_word(&bytes), u64::from_le_bytes(w));
        }
    }

    proptest! {
        /// Hashes are what the byte-copying version gave (order keys and
        /// partitions of earlier runs are unchanged).
        #[test]
        fn write_is_the_copying_version(bytes in proptest::collection::vec(any::<u8>(), 0..40), seed in any::<u64>()) {
            let mut h = FxHasher { hash: seed };
            let mut chunks = bytes.chunks_exact(8);
            for c in &mut chunks {
                h.add(u64::from_le_bytes(c.try_into().unwrap()));
            }
            let rest = chunks.remainder();
            if !rest.is_empty() {
                let mut w = [0u8; 8];
                w[..rest.len()].copy_from_slice(rest);
                h.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
            }
            h.write_u8(0xff);
            prop_assert_eq!(hash_bytes(seed, &bytes), h.finish());
        }
    }

    /// Order ids that shared a key under the old, day-seeded hash do not.
    #[test]
    fn order_keys_of_different_orders_differ() {
        assert_ne!(order_key(19182, b"50-10"), order_key(19246, b"50-17"));
        assert_ne!(order_key(100, b"1234567"), order_key(100, b"12345678"));
        assert_ne!(order_key(100, b"abc"), order_key(100, b"abc\0"));
    }

    proptest! {
        /// On one day, ids of one length that differ in one byte never share a key.
        #[test]
        fn order_keys_of_one_length_never_collide(a in proptest::collection::vec(any::<u8>(), 1..20), flip in any::<prop::sample::Index>(), bit in 0u8..8, day in -719_162i32..2_932_897) {
            let mut b = a.clone();
            let i = flip.index(b.len());
            b[i] ^= 1 << bit;
            prop_assert_ne!(order_key(day, &a), order_key(day, &b));
        }
    }
}
