//! A rule's per-source map from rendered label values to its series.
//!
//! Label values are short: a method and a status, a level, a program name.
//! Keys of up to [`SHORT`] bytes are read, with their length, as integers:
//! looking one up hashes and compares three integers, with no call to
//! compare byte strings and no allocation per key. Longer keys go to
//! an ordinary map of byte strings.
//!
//! Rules whose labels are plain field values (`labels = ["method",
//! "status"]`) need not join them first: up to [`VALUES`] values of up to
//! 8 bytes each are read as one integer apiece, and the integers are the
//! key ([`pack_value`]).

use hashbrown::HashMap;

/// Longest key packed into integers.
const SHORT: usize = 16;

/// A short key: its bytes in two words (see [`pack`]) and its length.
type Packed = (u64, u64, u32);

/// How many label values a [`Values`] key holds.
pub const VALUES: usize = 3;

/// The longest label value a [`Values`] key holds.
const VALUE_BYTES: usize = 8;

/// Up to [`VALUES`] label values, one integer each, and their lengths
/// (a byte each) in the last integer.
pub type Values = [u64; VALUES + 1];

/// A [`Values`] key in the map: hashed as one integer folded from its
/// integers (equal keys are still told apart by all of them), where an
/// array would be hashed as a length and a byte string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ValuesKey(Values);

impl std::hash::Hash for ValuesKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The map's hasher mixes the folded integer.
        state.write_u64(fold(&self.0));
    }
}

/// The integers of `key` folded into one; odd multipliers keep each
/// integer's bits, and its top bits depend on all of them.
#[inline(always)]
fn fold(key: &Values) -> u64 {
    let [a, b, c, lengths] = *key;
    (a ^ lengths).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F).rotate_left(21)
        ^ c.wrapping_mul(0x1656_67B1_9E37_79F9).rotate_left(42)
}

/// log2 of the number of packed keys remembered in front of the map.
const RECENT_BITS: u32 = 6;

/// A `recent` slot that holds no key.
const EMPTY: usize = usize::MAX;

/// Rendered label values → index of the series among a rule state's.
#[derive(Debug, Default)]
pub struct SeriesCache {
    short: HashMap<Packed, usize>,
    long: HashMap<Box<[u8]>, usize>,
    values: HashMap<ValuesKey, usize>,
    /// Packed keys found lately, with their index, by the top bits of
    /// their [`fold`]: a line whose labels were seen lately is found with
    /// one comparison of its key, without probing the map.
    recent: Box<[(Values, usize)]>,
}

impl SeriesCache {
    /// The series index stored for label values packed by [`pack_value`].
    #[inline]
    pub fn get_values(&mut self, key: &Values) -> Option<usize> {
        let slot = (fold(key) >> (64 - RECENT_BITS)) as usize;
        let found = |values: &HashMap<ValuesKey, usize>| values.get(&ValuesKey(*key)).copied();
        let Some(recent) = self.recent.get_mut(slot) else {
            return found(&self.values);
        };
        if recent.0 == *key && recent.1 != EMPTY {
            return Some(recent.1);
        }
        let i = found(&self.values)?;
        *recent = (*key, i);
        Some(i)
    }

    /// Stores `index` for packed label values.
    pub fn insert_values(&mut self, key: Values, index: usize) {
        if self.recent.is_empty() {
            // Made with the first key: rules without plain-value labels
            // never need it.
            self.recent = vec![([0; VALUES + 1], EMPTY); 1 << RECENT_BITS].into();
        }
        self.values.insert(ValuesKey(key), index);
    }

    /// The series index stored for `key`.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<usize> {
        match pack(key) {
            Some(k) => self.short.get(&k).copied(),
            None => self.long.get(key).copied(),
        }
    }

    /// Stores `index` for `key`.
    pub fn insert(&mut self, key: &[u8], index: usize) {
        match pack(key) {
            Some(k) => self.short.insert(k, index),
            None => self.long.insert(key.into(), index),
        };
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Adds label value `v`, the `n`th of its key, to `key`; `false` when it
/// is too long to be packed (or `n` is past [`VALUES`]).
///
/// The value is read as one integer whose bytes, given the value's length,
/// include every byte of the value: keys whose lengths are equal are equal
/// exactly when their values are.
#[inline]
pub fn pack_value(key: &mut Values, n: usize, v: &[u8]) -> bool {
    let len = v.len();
    if len > VALUE_BYTES || n >= VALUES {
        return false;
    }
    key[n] = word_of(v);
    key[VALUES] |= (len as u64) << (8 * n);
    true
}

/// Up to 8 bytes read as one integer, overlapping when there are fewer:
/// given their number, the integer tells every byte string apart.
#[inline(always)]
fn word_of(v: &[u8]) -> u64 {
    let n = v.len();
    debug_assert!(n <= 8);
    let half = |at: usize| u32::from_le_bytes([v[at], v[at + 1], v[at + 2], v[at + 3]]);
    match n {
        0 => 0,
        1..=3 => u64::from(v[0]) | u64::from(v[n / 2]) << 8 | u64::from(v[n - 1]) << 16,
        _ => u64::from(half(0)) | u64::from(half(n - 4)) << 32,
    }
}

/// `key` and its length as integers, when it is short enough. The words
/// are read straight from the key, overlapping when it is shorter than
/// they are: with the length, they still tell every key apart.
#[inline]
fn pack(key: &[u8]) -> Option<Packed> {
    let n = key.len();
    let word = |at: usize| u64::from_le_bytes(key[at..at + 8].try_into().expect("8 bytes"));
    let words = match n {
        0..=8 => (word_of(key), 0),
        9..=SHORT => (word(0), word(n - 8)),
        _ => return None,
    };
    Some((words.0, words.1, n as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_every_length_stay_apart() {
        let mut c = SeriesCache::default();
        // Keys that are prefixes of one another, with trailing zero bytes,
        // on both sides of every length where the packing changes.
        let mut keys: Vec<Vec<u8>> = (0..=20).map(|n| vec![b'a'; n]).collect();
        keys.extend((0..=17).map(|n| {
            let mut k = vec![b'a'; n];
            k.push(0);
            k
        }));
        keys.push(b"GET\xff200".to_vec());
        keys.push(b"GET\xff20".to_vec());
        // Every byte counts, at every position and length.
        for n in 1..=SHORT {
            for at in 0..n {
                let mut k = vec![b'x'; n];
                k[at] = b'y';
                keys.push(k);
            }
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(c.get(k), None, "{k:?} before insertion");
            c.insert(k, i);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(c.get(k), Some(i), "{k:?}");
        }
        assert_eq!(c.len(), keys.len());
        assert!(!c.short.is_empty() && !c.long.is_empty());
    }

    /// Values of every length up to 8 over a small alphabet (all of them
    /// up to 4 bytes, a sample of the longer ones).
    fn small_values() -> Vec<Vec<u8>> {
        let mut out = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for len in 1..=VALUE_BYTES {
            let mut next = Vec::new();
            for v in &last {
                for b in [b'a', b'b', 0] {
                    let mut w: Vec<u8> = v.clone();
                    w.push(b);
                    next.push(w);
                }
            }
            if len > 4 {
                next = next.into_iter().step_by(3).collect();
            }
            out.extend(next.iter().cloned());
            last = next;
        }
        out
    }

    #[test]
    fn packed_values_find_their_index_again_and_again() {
        let mut c = SeriesCache::default();
        // Far more keys than `recent` holds, so that slots are shared.
        let keys: Vec<Values> = small_values()
            .iter()
            .take(600)
            .map(|v| {
                let mut key = [0; VALUES + 1];
                assert!(pack_value(&mut key, 0, v) && pack_value(&mut key, 2, b"x"));
                key
            })
            .collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(c.get_values(k), None);
            c.insert_values(*k, i);
        }
        for _ in 0..2 {
            for (i, k) in keys.iter().enumerate().rev() {
                assert_eq!(c.get_values(k), Some(i), "{k:?}");
            }
        }
        // The empty key (all values empty) is a key like any other.
        let empty = [0; VALUES + 1];
        assert_eq!(c.get_values(&empty), None);
        c.insert_values(empty, 7);
        assert_eq!(c.get_values(&empty), Some(7));
        assert_eq!(c.get_values(&empty), Some(7));
    }

    #[test]
    fn packed_values_are_equal_exactly_when_the_values_are() {
        let values = small_values();
        let mut seen = std::collections::HashMap::new();
        for a in &values {
            for b in values.iter().take(40) {
                let mut key = [0; VALUES + 1];
                assert!(pack_value(&mut key, 0, a) && pack_value(&mut key, 1, b));
                if let Some((a0, b0)) = seen.insert(key, (a, b)) {
                    panic!("{a:?},{b:?} packs like {a0:?},{b0:?}");
                }
            }
        }
        assert!(seen.len() > 10_000, "{}", seen.len());
        let mut key = [0; VALUES + 1];
        assert!(!pack_value(&mut key, 0, b"123456789"));
        assert!(!pack_value(&mut key, VALUES, b"1"));
    }
}
