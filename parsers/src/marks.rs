//! Where a line holds its delimiters, as bit masks.
//!
//! A record such as an access-log line is found by its delimiters: spaces,
//! quotes, a closing bracket. Searching for each one in turn (`memchr`, or a
//! word at a time) pays a set-up per field; [`Marks`] instead compares the
//! whole line with each delimiter once, 16 bytes at a time (SSE2 on x86-64,
//! through `safe_arch`), and keeps one bit per byte, so that the next
//! delimiter after any position is a shift and a count of trailing zeros.
//! This is the structural index of simdjson, for short lines.

/// The longest line [`Marks::of`] takes, in bytes.
const CAPACITY: usize = 512;
const WORDS: usize = CAPACITY / 64;

/// One bit per byte of a line: bit `i % 64` of word `i / 64` is set when
/// byte `i` is marked.
pub(crate) type Mask = [u64; WORDS];

/// Where a line has spaces, and where it has double quotes, closing
/// brackets or backslashes (the bytes that end or escape a bracketed or
/// quoted part: one mask, so that a quoted part is known to hold no escape
/// when the next of them after its opening quote is its closing one).
pub(crate) struct Marks {
    /// `' '`.
    pub(crate) space: Mask,
    /// `'"'`, `']'` and `'\\'`.
    pub(crate) delimiter: Mask,
}

impl Marks {
    /// The marks of `line`, or `None` when it is shorter than 64 bytes or
    /// longer than [`CAPACITY`].
    #[inline(always)]
    pub(crate) fn of(line: &[u8]) -> Option<Marks> {
        if !(64..=CAPACITY).contains(&line.len()) {
            return None;
        }
        let mut m = Marks {
            space: [0; WORDS],
            delimiter: [0; WORDS],
        };
        let mut blocks = line.chunks_exact(64);
        let mut word = 0;
        for block in &mut blocks {
            m.set(word, block_bits(block.try_into().unwrap_or(&[0; 64])), 0);
            word += 1;
        }
        let rest = blocks.remainder().len();
        if rest > 0 {
            // The line's last 64 bytes, of which the blocks above have
            // already seen the first `64 - rest`: their bits are shifted out.
            let tail = line.get(line.len() - 64..).unwrap_or_default();
            m.set(
                word,
                block_bits(tail.try_into().unwrap_or(&[0; 64])),
                64 - rest,
            );
        }
        Some(m)
    }

    /// Sets word `word` of each mask to its bits shifted right by `drop`.
    #[inline(always)]
    fn set(&mut self, word: usize, [space, delimiter]: [u64; 2], drop: usize) {
        if let (Some(s), Some(d)) = (self.space.get_mut(word), self.delimiter.get_mut(word)) {
            *s = space >> drop;
            *d = delimiter >> drop;
        }
    }
}

/// The first marked position at or after `from`, if any.
#[inline(always)]
pub(crate) fn next(mask: &Mask, from: usize) -> Option<usize> {
    let mut word = from / 64;
    let mut bits = mask.get(word)? & (u64::MAX << (from % 64));
    loop {
        if bits != 0 {
            return Some(word * 64 + bits.trailing_zeros() as usize);
        }
        word += 1;
        bits = *mask.get(word)?;
    }
}

/// The two masks of 64 bytes: spaces, and delimiters.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_bits(block: &[u8; 64]) -> [u64; 2] {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let chunk = |k: usize| {
        let bytes: &[u8; 16] = block
            .get(16 * k..16 * k + 16)
            .and_then(|c| c.try_into().ok())
            .unwrap_or(&[0; 16]);
        load_unaligned_m128i(bytes)
    };
    let (space, quote) = (
        set_splat_i8_m128i(b' ' as i8),
        set_splat_i8_m128i(b'"' as i8),
    );
    // `]` and `\` differ in their lowest bit only.
    let (one, close) = (set_splat_i8_m128i(1), set_splat_i8_m128i(b']' as i8));
    let mut masks = [0; 2];
    for k in 0..4 {
        let v = chunk(k);
        let spaces = move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, space));
        let delimiters = bitor_m128i(
            cmp_eq_mask_i8_m128i(v, quote),
            cmp_eq_mask_i8_m128i(bitor_m128i(v, one), close),
        );
        masks[0] |= u64::from(spaces as u16) << (16 * k);
        masks[1] |= u64::from(move_mask_i8_m128i(delimiters) as u16) << (16 * k);
    }
    masks
}

/// The two masks of 64 bytes, a byte at a time: where SSE2 is not there
/// (and in the tests, to check the vector version).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn portable_block_bits(block: &[u8; 64]) -> [u64; 2] {
    block.iter().enumerate().fold([0; 2], |[s, d], (i, &b)| {
        [
            s | u64::from(b == b' ') << i,
            d | u64::from(matches!(b, b'"' | b']' | b'\\')) << i,
        ]
    })
}

#[cfg(not(target_arch = "x86_64"))]
use portable_block_bits as block_bits;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every position of one of `bytes` in `line`, the plain way.
    fn positions(line: &[u8], bytes: &[u8]) -> Vec<usize> {
        (0..line.len())
            .filter(|&i| bytes.contains(&line[i]))
            .collect()
    }

    /// Every position [`next`] finds, walking from 0.
    fn walked(mask: &Mask) -> Vec<usize> {
        let mut found = Vec::new();
        let mut from = 0;
        while let Some(p) = next(mask, from) {
            found.push(p);
            from = p + 1;
        }
        found
    }

    #[test]
    fn marks_are_the_delimiters_positions_at_every_length() {
        let alphabet = b"a \"]\\x[\\|";
        let mut seed = 7u64;
        for len in 0..=CAPACITY + 20 {
            for _ in 0..4 {
                let line: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        alphabet[(seed >> 33) as usize % alphabet.len()]
                    })
                    .collect();
                let Some(m) = Marks::of(&line) else {
                    assert!(!(64..=CAPACITY).contains(&len), "no marks at {len}");
                    continue;
                };
                assert_eq!(walked(&m.space), positions(&line, b" "), "{len}");
                assert_eq!(walked(&m.delimiter), positions(&line, b"\"]\\"), "{len}");
            }
        }
    }

    #[test]
    fn vector_and_portable_masks_agree() {
        let mut seed = 11u64;
        for _ in 0..2_000 {
            let block: [u8; 64] = std::array::from_fn(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Every byte value, the delimiters more often.
                match (seed >> 60) as u8 {
                    0 => b' ',
                    1 => b'"',
                    2 => b']',
                    3 => b'\\',
                    _ => (seed >> 33) as u8,
                }
            });
            assert_eq!(block_bits(&block), portable_block_bits(&block), "{block:?}");
        }
    }

    #[test]
    fn next_starts_at_its_position_and_stops_at_the_end() {
        let mut line = vec![b'a'; CAPACITY];
        line[0] = b' ';
        line[63] = b' ';
        line[64] = b' ';
        line[CAPACITY - 1] = b' ';
        let m = Marks::of(&line).unwrap();
        assert_eq!(next(&m.space, 0), Some(0));
        assert_eq!(next(&m.space, 1), Some(63));
        assert_eq!(next(&m.space, 64), Some(64));
        assert_eq!(next(&m.space, 65), Some(CAPACITY - 1));
        assert_eq!(next(&m.space, CAPACITY), None);
        assert_eq!(next(&m.space, CAPACITY + 100), None);
        assert_eq!(next(&m.delimiter, 0), None);
    }
}
