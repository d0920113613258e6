//! Bytes to lines: splitting on `\n`, dropping a trailing `\r`, reading
//! invalid UTF-8 lossily and cutting lines longer than a bound.
//!
//! The [`Framer`] reads straight into its own buffer and hands out lines
//! borrowed from it. It never holds more than `max_line_bytes` of one line
//! plus one read's worth of bytes: a longer line is passed on cut to the
//! bound (and counted), the rest of it skipped up to its newline.

use std::borrow::Cow;
use std::io::{self, Read};

/// Most bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;

/// Fewest bytes asked per `read` call. A stream's read size doubles while
/// reads fill it (up to [`READ_CHUNK`]) and halves while they bring a
/// quarter of it or less: a file written a line at a time holds a few KiB
/// of buffer, not 64 KiB (thousands of container logs on a node).
const MIN_CHUNK: usize = 4 * 1024;

/// Consumed bytes remembered (see [`Framer::tail`]).
pub const TAIL_KEPT: usize = 64;

/// Leading bytes of the stream remembered (see [`Framer::head`]).
pub const HEAD_KEPT: usize = 256;

/// What the framer has seen since the counts were last taken.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FrameCounts {
    /// Lines passed on.
    pub lines: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Lines that were not valid UTF-8.
    pub invalid_utf8: u64,
    /// Lines cut at the bound.
    pub truncated: u64,
}

impl FrameCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: FrameCounts) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.invalid_utf8 += other.invalid_utf8;
        self.truncated += other.truncated;
    }
}

/// Splits a byte stream into lines.
#[derive(Debug)]
pub struct Framer {
    /// Read bytes are `buf[..end]`; the rest is room for the next read,
    /// zeroed once when the buffer grows rather than at every read.
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    /// End of the bytes read.
    end: usize,
    max_line: usize,
    /// Bytes asked at the next read (see [`MIN_CHUNK`]).
    chunk: usize,
    /// Skipping the rest of a line that was cut.
    discarding: bool,
    /// Stream offset of `buf[start]`: bytes fully consumed (lines passed on
    /// or skipped).
    consumed: u64,
    /// The last consumed bytes (up to [`TAIL_KEPT`]).
    tail: Vec<u8>,
    /// The stream's first bytes as read (up to [`HEAD_KEPT`]), when it was
    /// read from offset 0.
    head: Vec<u8>,
    counts: FrameCounts,
}

impl Framer {
    /// A framer that cuts lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            end: 0,
            max_line: max_line.max(1),
            chunk: MIN_CHUNK,
            discarding: false,
            consumed: 0,
            tail: Vec::with_capacity(2 * TAIL_KEPT),
            head: Vec::new(),
            counts: FrameCounts::default(),
        }
    }

    /// The last bytes consumed (up to [`TAIL_KEPT`], fewer only at the start
    /// of the stream or after [`Framer::reset`] until [`Framer::set_tail`]):
    /// what identifies the content before [`Framer::consumed`].
    pub fn tail(&self) -> &[u8] {
        &self.tail
    }

    /// The first bytes of the stream, as read (up to [`HEAD_KEPT`]; empty
    /// when reading started past offset 0).
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Sets the bytes before the consumed offset (when resuming mid-stream).
    pub fn set_tail(&mut self, bytes: &[u8]) {
        self.tail.clear();
        self.tail
            .extend_from_slice(&bytes[bytes.len().saturating_sub(TAIL_KEPT)..]);
    }

    /// Records `buf[from..self.start]` as consumed bytes in the tail.
    fn note_consumed(&mut self, from: usize) {
        let done = &self.buf[from..self.start];
        if done.len() >= TAIL_KEPT {
            self.tail.clear();
            self.tail.extend_from_slice(&done[done.len() - TAIL_KEPT..]);
        } else {
            self.tail.extend_from_slice(done);
            let excess = self.tail.len().saturating_sub(TAIL_KEPT);
            self.tail.drain(..excess);
        }
    }

    /// Offset in the stream of the first byte not yet passed on as (part of)
    /// a complete line.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Bytes held for an incomplete last line.
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Adds `c` to the counts (lines passed on by the caller).
    pub fn count(&mut self, c: FrameCounts) {
        self.counts.add(c);
    }

    /// Takes and resets the counts.
    pub fn take_counts(&mut self) -> FrameCounts {
        std::mem::take(&mut self.counts)
    }

    /// Reads once from `r` into the buffer; returns the bytes read (0 at EOF).
    pub fn fill(&mut self, r: &mut impl Read) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let len = self.end;
        let chunk = self.chunk;
        if self.buf.len() < len + chunk {
            self.buf.resize(len + chunk, 0);
        }
        let n = loop {
            match r.read(&mut self.buf[len..len + chunk]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.end = len + n;
        self.counts.bytes += n as u64;
        if n == chunk {
            self.chunk = (chunk * 2).min(READ_CHUNK);
        } else if n <= chunk / 4 && chunk > MIN_CHUNK {
            self.chunk = chunk / 2;
            // Give back what a burst grew the buffer to.
            let keep = self.end + self.chunk;
            if self.buf.len() >= 2 * keep {
                self.buf.truncate(keep);
                self.buf.shrink_to(keep);
            }
        }
        // Stream offset of the bytes just read.
        let at = self.consumed + (len - self.start) as u64;
        if at == self.head.len() as u64 && self.head.len() < HEAD_KEPT {
            let take = n.min(HEAD_KEPT - self.head.len());
            self.head.extend_from_slice(&self.buf[len..len + take]);
        }
        Ok(n)
    }

    /// Passes every complete line in the buffer to `f`; keeps the incomplete
    /// last one (cutting it if it is already over the bound).
    pub fn lines(&mut self, f: impl FnMut(&str)) {
        let from = self.start;
        self.split(f);
        self.note_consumed(from);
    }

    fn split(&mut self, mut f: impl FnMut(&str)) {
        if !self.discarding {
            self.split_valid(&mut f);
        }
        loop {
            let rest = &self.buf[self.start..self.end];
            match memchr::memchr(b'\n', rest) {
                Some(nl) => {
                    if self.discarding {
                        self.discarding = false;
                    } else {
                        let line = &rest[..nl];
                        emit(line, self.max_line, &mut self.counts, &mut f);
                    }
                    self.start += nl + 1;
                    self.consumed += nl as u64 + 1;
                }
                None => {
                    if self.discarding {
                        self.consumed += rest.len() as u64;
                        self.start = self.end;
                    } else if rest.len() > self.max_line {
                        emit(rest, self.max_line, &mut self.counts, &mut f);
                        self.discarding = true;
                        self.consumed += rest.len() as u64;
                        self.start = self.end;
                    }
                    return;
                }
            }
        }
    }

    /// Fast path of [`split`](Self::split): when the complete lines in the
    /// buffer are valid UTF-8 as a whole (the usual case), checks them once
    /// (`simdutf8`: vector instructions, several times faster than the
    /// standard library's check on log text) and hands them out without
    /// checking each line again. Leaves the
    /// buffer untouched otherwise, for the line-by-line path.
    #[inline]
    fn split_valid(&mut self, f: &mut impl FnMut(&str)) {
        let rest = &self.buf[self.start..self.end];
        let Some(last) = memchr::memrchr(b'\n', rest) else {
            return;
        };
        let Ok(text) = simdutf8::basic::from_utf8(&rest[..last]) else {
            return;
        };
        let mut at = 0;
        for nl in memchr::memchr_iter(b'\n', text.as_bytes()).chain([text.len()]) {
            let line = &text[at..nl];
            if line.len() > self.max_line {
                emit(line.as_bytes(), self.max_line, &mut self.counts, f);
            } else {
                self.counts.lines += 1;
                f(line.strip_suffix('\r').unwrap_or(line));
            }
            at = nl + 1;
        }
        self.start += last + 1;
        self.consumed += last as u64 + 1;
    }

    /// Passes every complete record in the buffer to `f` as raw bytes (no
    /// UTF-8 check, nothing dropped, no line counted): its stream offset,
    /// its bytes without the newline, whether it was cut at the bound, and
    /// the counts to add to. For lines that wrap others (container logs),
    /// whose contents are checked once unwrapped. Keeps the incomplete last
    /// one (cutting it if it is already over the bound).
    pub fn records(&mut self, mut f: impl FnMut(u64, &[u8], bool, &mut FrameCounts)) {
        let from = self.start;
        self.split_records(&mut f);
        self.note_consumed(from);
    }

    /// [`Framer::records`], then the incomplete last record, if any (at the
    /// end of a stream that does not end with a newline).
    pub fn finish_records(&mut self, mut f: impl FnMut(u64, &[u8], bool, &mut FrameCounts)) {
        let from = self.start;
        self.split_records(&mut f);
        let rest = &self.buf[self.start..self.end];
        if !rest.is_empty() && !self.discarding {
            f(self.consumed, rest, false, &mut self.counts);
        }
        self.consumed += rest.len() as u64;
        self.start = self.end;
        self.discarding = false;
        self.note_consumed(from);
    }

    fn split_records(&mut self, f: &mut impl FnMut(u64, &[u8], bool, &mut FrameCounts)) {
        loop {
            let rest = &self.buf[self.start..self.end];
            match memchr::memchr(b'\n', rest) {
                Some(nl) => {
                    if self.discarding {
                        self.discarding = false;
                    } else {
                        let (rec, cut) = match rest[..nl].get(..self.max_line) {
                            Some(r) if nl > self.max_line => (r, true),
                            _ => (&rest[..nl], false),
                        };
                        f(self.consumed, rec, cut, &mut self.counts);
                    }
                    self.start += nl + 1;
                    self.consumed += nl as u64 + 1;
                }
                None => {
                    if self.discarding {
                        self.consumed += rest.len() as u64;
                        self.start = self.end;
                    } else if rest.len() > self.max_line {
                        f(
                            self.consumed,
                            &rest[..self.max_line],
                            true,
                            &mut self.counts,
                        );
                        self.discarding = true;
                        self.consumed += rest.len() as u64;
                        self.start = self.end;
                    }
                    return;
                }
            }
        }
    }

    /// Passes on the incomplete last line, if any (at the end of a stream
    /// that does not end with a newline).
    pub fn finish(&mut self, mut f: impl FnMut(&str)) {
        let from = self.start;
        self.split(&mut f);
        let rest = &self.buf[self.start..self.end];
        if !rest.is_empty() && !self.discarding {
            emit(rest, self.max_line, &mut self.counts, &mut f);
        }
        self.consumed += rest.len() as u64;
        self.start = self.end;
        self.discarding = false;
        self.note_consumed(from);
    }

    /// Forgets buffered bytes and restarts at stream offset `offset` (after a
    /// truncation or when switching files).
    pub fn reset(&mut self, offset: u64) {
        self.start = 0;
        self.end = 0;
        self.discarding = false;
        self.consumed = offset;
        self.tail.clear();
        self.head.clear();
    }
}

/// Passes `line` on under the framing policy: cut to `max` bytes (a
/// character split by the cut is dropped), a trailing `\r` dropped, invalid
/// UTF-8 read lossily; every case counted.
#[inline]
pub(crate) fn emit(line: &[u8], max: usize, counts: &mut FrameCounts, f: &mut impl FnMut(&str)) {
    let mut line = line;
    let cut = line.len() > max;
    if cut {
        counts.truncated += 1;
        line = &line[..max];
    }
    if let [head @ .., b'\r'] = line {
        line = head;
    }
    counts.lines += 1;
    match std::str::from_utf8(line) {
        Ok(s) => f(s),
        Err(e) if cut && e.error_len().is_none() => {
            // Only the character the cut split is incomplete.
            let valid = &line[..e.valid_up_to()];
            f(std::str::from_utf8(valid).unwrap_or_default())
        }
        Err(_) => {
            counts.invalid_utf8 += 1;
            let s: Cow<'_, str> = String::from_utf8_lossy(line);
            f(&s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(input: &[u8], max: usize) -> (Vec<String>, FrameCounts, u64) {
        frame_in(input, max, 3)
    }

    /// Frames `input` fed `piece` bytes at a time.
    fn frame_in(input: &[u8], max: usize, piece: usize) -> (Vec<String>, FrameCounts, u64) {
        let mut fr = Framer::new(max);
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            let mut r = chunk;
            fr.fill(&mut r).unwrap();
            fr.lines(|l| out.push(l.to_string()));
        }
        fr.finish(|l| out.push(l.to_string()));
        (out, fr.take_counts(), fr.consumed())
    }

    #[test]
    fn splits_lines_and_strips_cr() {
        let (lines, c, consumed) = frame(b"a\r\nbb\n\nccc", 100);
        assert_eq!(lines, vec!["a", "bb", "", "ccc"]);
        assert_eq!(c.lines, 4);
        assert_eq!(c.bytes, 10);
        assert_eq!(consumed, 10);
    }

    #[test]
    fn whole_chunks_frame_like_small_pieces() {
        // Whole reads take the path that checks UTF-8 once per read; three
        // bytes at a time, nearly every line goes line by line.
        let valid = b"a\r\nbb\n\n0123456789abcdef\n\xc3\xa9t\xc3\xa9\r\nlast";
        let invalid = b"ok\n\xff\xfebad\nfine\r\n0123456789abcdef\ntail";
        for input in [&valid[..], &invalid[..]] {
            let small = frame_in(input, 8, 3);
            let whole = frame_in(input, 8, input.len());
            assert_eq!(whole, small, "{input:?}");
        }
        let (lines, c, consumed) = frame_in(valid, 8, valid.len());
        assert_eq!(lines, vec!["a", "bb", "", "01234567", "été", "last"]);
        assert_eq!((c.lines, c.truncated, c.invalid_utf8), (6, 1, 0));
        assert_eq!(consumed, valid.len() as u64);
    }

    #[test]
    fn cuts_long_lines_and_skips_their_rest() {
        let (lines, c, _) = frame(b"0123456789abcdef\nok\n", 8);
        assert_eq!(lines, vec!["01234567", "ok"]);
        assert_eq!(c.truncated, 1);
    }

    #[test]
    fn memory_stays_bounded_on_a_huge_line() {
        let mut fr = Framer::new(1024);
        let mut n = 0;
        let mut src = std::io::repeat(b'x').take(10 << 20);
        while fr.fill(&mut src).unwrap() > 0 {
            fr.lines(|_| n += 1);
            assert!(fr.pending() <= 1024 + READ_CHUNK);
        }
        assert_eq!(n, 1);
    }

    #[test]
    fn invalid_utf8_is_read_lossily_and_counted() {
        let (lines, c, _) = frame(b"ok\n\xff\xfebad\n", 100);
        assert_eq!(lines[1], "\u{fffd}\u{fffd}bad");
        assert_eq!(c.invalid_utf8, 1);
    }

    #[test]
    fn tail_holds_the_last_consumed_bytes() {
        let mut fr = Framer::new(100);
        fr.fill(&mut &b"abc\nde"[..]).unwrap();
        fr.lines(|_| {});
        assert_eq!(fr.tail(), b"abc\n");
        let long: Vec<u8> = (0..200)
            .map(|i| b'a' + (i % 26) as u8)
            .chain([b'\n'])
            .collect();
        fr.fill(&mut &long[..]).unwrap();
        fr.lines(|_| {});
        assert_eq!(fr.tail().len(), TAIL_KEPT);
        assert_eq!(fr.tail(), &long[long.len() - TAIL_KEPT..]);
        fr.fill(&mut &b"x\n"[..]).unwrap();
        fr.finish(|_| {});
        assert_eq!(&fr.tail()[TAIL_KEPT - 2..], b"x\n");
        assert_eq!(&fr.head()[..6], b"abc\nde");
        assert_eq!(fr.head().len(), 6 + 201 + 2);
        fr.reset(0);
        assert!(fr.tail().is_empty());
        assert!(fr.head().is_empty());
        fr.reset(10);
        fr.fill(&mut &b"zz\n"[..]).unwrap();
        assert!(fr.head().is_empty(), "no head when not read from the start");
    }

    #[test]
    fn records_are_raw_bytes_with_their_offsets() {
        let input = b"ab\xff\n\n0123456789abcdef\nx\r\nlast";
        let mut fr = Framer::new(8);
        let mut out = Vec::new();
        for chunk in input.chunks(3) {
            fr.fill(&mut &chunk[..]).unwrap();
            fr.records(|at, r, cut, _| out.push((at, r.to_vec(), cut)));
        }
        assert_eq!(fr.consumed(), 25);
        fr.finish_records(|at, r, cut, _| out.push((at, r.to_vec(), cut)));
        assert_eq!(
            out,
            vec![
                (0, b"ab\xff".to_vec(), false),
                (4, b"".to_vec(), false),
                (5, b"01234567".to_vec(), true),
                (22, b"x\r".to_vec(), false),
                (25, b"last".to_vec(), false),
            ]
        );
        let c = fr.take_counts();
        assert_eq!((c.lines, c.bytes), (0, input.len() as u64));
        assert_eq!(fr.consumed(), input.len() as u64);
        assert_eq!(fr.tail(), &input[..]);
    }

    #[test]
    fn the_read_size_follows_what_reads_bring() {
        let mut fr = Framer::new(1 << 20);
        let mut big = std::io::repeat(b'x').take(1 << 20);
        for _ in 0..8 {
            fr.fill(&mut big).unwrap();
            fr.lines(|_| {});
        }
        assert_eq!(fr.chunk, READ_CHUNK, "full reads grow the read size");
        let grown = fr.buf.capacity();
        assert!(grown >= READ_CHUNK, "{grown}");
        // A line at a time: the read size and the buffer come down.
        for _ in 0..8 {
            fr.fill(&mut &b"a line\n"[..]).unwrap();
            fr.lines(|_| {});
        }
        assert_eq!(fr.chunk, MIN_CHUNK);
        assert!(
            fr.buf.capacity() < grown / 4,
            "{} of {grown}",
            fr.buf.capacity()
        );
    }

    #[test]
    fn incomplete_line_waits_for_its_newline() {
        let mut fr = Framer::new(100);
        let mut out = Vec::new();
        fr.fill(&mut &b"abc"[..]).unwrap();
        fr.lines(|l| out.push(l.to_string()));
        assert!(out.is_empty());
        assert_eq!(fr.consumed(), 0);
        fr.fill(&mut &b"def\n"[..]).unwrap();
        fr.lines(|l| out.push(l.to_string()));
        assert_eq!(out, vec!["abcdef"]);
        assert_eq!(fr.consumed(), 7);
    }
}
