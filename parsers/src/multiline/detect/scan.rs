//! The end of a line's first word, as the gates (see [`super::gate`]) read
//! it on most lines: its first 16 bytes classified at once (SSE2 on
//! x86-64, through `safe_arch`), so that the word's length costs no
//! branch. A byte at a time, the loop's end would be mispredicted on most
//! lines, whose first words differ in length.

/// The bytes a word is made of, for [`word_end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Word {
    /// A class's name: letters, digits, `_$.`+` (Java, .NET, Node.js).
    Class,
    /// A PHP class's name: letters, digits, `_\`.
    Php,
}

/// Whether `c` may be part of a `word`.
#[inline(always)]
pub(super) fn in_word(c: u8, word: Word) -> bool {
    c.is_ascii_alphanumeric()
        || match word {
            Word::Class => matches!(c, b'_' | b'$' | b'.' | b'`' | b'+'),
            Word::Php => matches!(c, b'_' | b'\\'),
        }
}

/// The length of the `word` `hay` begins with.
#[inline(always)]
pub(super) fn word_end(hay: &[u8], word: Word) -> usize {
    imp::word_end(hay, word)
}

/// A byte at a time: where SSE2 is not there, and for words longer than a
/// vector.
mod portable {
    use super::{in_word, Word};

    pub(super) fn word_end(hay: &[u8], word: Word) -> usize {
        hay.iter()
            .position(|&c| !in_word(c, word))
            .unwrap_or(hay.len())
    }
}

#[cfg(not(target_arch = "x86_64"))]
use portable as imp;

#[cfg(target_arch = "x86_64")]
mod imp {
    use safe_arch::{
        bitand_m128i, bitor_m128i, cmp_eq_mask_i8_m128i, cmp_gt_mask_i8_m128i,
        cmp_lt_mask_i8_m128i, load_unaligned_m128i, m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };

    use super::{portable, Word};

    #[inline(always)]
    pub(super) fn word_end(hay: &[u8], word: Word) -> usize {
        let head: [u8; 16] = match hay.first_chunk::<16>() {
            Some(h) => *h,
            None => {
                // Zeros after a short line: no word has them.
                let mut h = [0; 16];
                h[..hay.len()].copy_from_slice(hay);
                h
            }
        };
        let v = load_unaligned_m128i(&head);
        let splat = |c: u8| set_splat_i8_m128i(c as i8);
        let within = |v: m128i, lo: u8, hi: u8| {
            bitand_m128i(
                cmp_gt_mask_i8_m128i(v, splat(lo - 1)),
                cmp_lt_mask_i8_m128i(v, splat(hi + 1)),
            )
        };
        let eq = |c: u8| cmp_eq_mask_i8_m128i(v, splat(c));
        // Bytes of 0x80 and above are negative: in no range.
        let letters = within(bitor_m128i(v, splat(0x20)), b'a', b'z');
        let alnum = bitor_m128i(letters, within(v, b'0', b'9'));
        let others = match word {
            Word::Class => bitor_m128i(
                bitor_m128i(eq(b'_'), eq(b'$')),
                bitor_m128i(bitor_m128i(eq(b'.'), eq(b'`')), eq(b'+')),
            ),
            Word::Php => bitor_m128i(eq(b'_'), eq(b'\\')),
        };
        let outside = !(move_mask_i8_m128i(bitor_m128i(alnum, others)) as u32);
        let end = outside.trailing_zeros() as usize;
        if end < 16 {
            return end.min(hay.len());
        }
        16 + portable::word_end(&hay[16..], word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words of every byte, of every length up to a few vectors, against
    /// the plain reading.
    #[test]
    fn word_ends_agree_with_the_plain_ones() {
        let mut seed = 7u64;
        for len in 0..60 {
            for _ in 0..1_000 {
                let hay: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        // Mostly word bytes, so that words run long.
                        let r = (seed >> 33) as u8;
                        match seed >> 62 {
                            0 => r,
                            _ => b"aZ09_$.`+\\"[r as usize % 10],
                        }
                    })
                    .collect();
                for word in [Word::Class, Word::Php] {
                    assert_eq!(
                        word_end(&hay, word),
                        portable::word_end(&hay, word),
                        "{word:?} {hay:?}"
                    );
                }
            }
        }
        // Every byte, alone and before a word's byte.
        for c in 0..=255u8 {
            for word in [Word::Class, Word::Php] {
                let hay = [c, b'a'];
                assert_eq!(word_end(&hay, word), portable::word_end(&hay, word), "{c}");
                assert_eq!(word_end(&hay[..1], word), usize::from(in_word(c, word)));
            }
        }
    }
}
