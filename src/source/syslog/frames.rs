//! A TCP syslog stream cut into messages (RFC 6587): octet-counted frames
//! (`LENGTH SP MESSAGE`, section 3.4.1) and newline-terminated ones
//! (section 3.4.2).
//!
//! [`Decoder::feed`] takes the bytes of each read as they come and hands
//! out every complete message, straight from the read when it lies whole in
//! it, else from the connection's own buffer, which never holds more than
//! `keep` bytes of one message (plus the at most 10 digits of a length): a
//! longer message is handed out cut to `keep` bytes once complete, the rest
//! of it skipped as it arrives. `keep` is one more than the longest line
//! passed on, so the framing policy sees that the message was cut and
//! counts it.
//!
//! With [`SyslogFraming::Auto`] each message decides for itself, as
//! rsyslog's and Vector's receivers do: one that starts with a length
//! (`[1-9][0-9]{0,9}` then a space) is octet-counted, any other ends at its
//! newline. With [`SyslogFraming::OctetCounting`] a message that does not
//! start with a length is a framing error: the stream cannot be
//! resynchronised, so the connection is closed.
//!
//! Empty messages (blank lines, a line feed between octet-counted frames)
//! are skipped; one trailing line feed of an octet-counted message is
//! dropped, as it is for a datagram.

use crate::source::spec::SyslogFraming;

/// Most digits in a message length (lengths up to 9,999,999,999).
const MAX_DIGITS: u32 = 10;

/// Capacity a connection's buffer keeps between messages; a larger one
/// (grown for a long message) is given back.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Where the decoder stands in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first byte of a message.
    Start,
    /// In the length of an octet-counted message, `value` so far, its
    /// digits also in the buffer (with `Auto`, they may turn out to be the
    /// start of a line).
    Length { value: u64, digits: u32 },
    /// In the body of an octet-counted message, `remaining` bytes to go.
    Body { remaining: u64 },
    /// In a newline-terminated message.
    Line,
}

/// Why a stream cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError {
    /// What was found instead of a message length, for the log.
    pub found: String,
}

/// A message left incomplete when the stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incomplete {
    /// Bytes of it received.
    pub received: u64,
    /// Bytes its length announced.
    pub announced: u64,
}

/// Cuts one connection's stream into messages.
#[derive(Debug)]
pub struct Decoder {
    framing: SyslogFraming,
    /// Most bytes of one message kept.
    keep: usize,
    state: State,
    /// The message (or length digits) spread over several reads.
    buf: Vec<u8>,
    /// Bytes of the current octet-counted message received so far.
    body_received: u64,
    /// Its announced length.
    body_length: u64,
}

impl Decoder {
    /// A decoder for `framing` keeping at most `keep` bytes of a message.
    pub fn new(framing: SyslogFraming, keep: usize) -> Self {
        Self {
            framing,
            keep: keep.max(1),
            state: State::Start,
            buf: Vec::new(),
            body_received: 0,
            body_length: 0,
        }
    }

    /// Bytes held for a message not complete yet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Bytes of memory held.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Feeds the bytes of one read; each complete message goes to `f`.
    /// After an error the rest of the stream cannot be framed.
    pub fn feed(&mut self, mut data: &[u8], f: &mut impl FnMut(&[u8])) -> Result<(), FramingError> {
        while !data.is_empty() {
            match self.state {
                State::Start => {
                    let b = data[0];
                    match b {
                        b'\n' | b'\r' => data = &data[1..],
                        b'1'..=b'9' if self.framing != SyslogFraming::Newline => {
                            self.state = State::Length {
                                value: u64::from(b - b'0'),
                                digits: 1,
                            };
                            self.buf.push(b);
                            data = &data[1..];
                        }
                        _ if self.framing == SyslogFraming::OctetCounting => {
                            return Err(self.error(data));
                        }
                        _ => self.state = State::Line,
                    }
                }
                State::Length { value, digits } => {
                    let b = data[0];
                    if b.is_ascii_digit() && digits < MAX_DIGITS {
                        self.state = State::Length {
                            value: value * 10 + u64::from(b - b'0'),
                            digits: digits + 1,
                        };
                        self.buf.push(b);
                        data = &data[1..];
                    } else if b == b' ' {
                        self.buf.clear();
                        self.state = State::Body { remaining: value };
                        self.body_received = 0;
                        self.body_length = value;
                        data = &data[1..];
                    } else if self.framing == SyslogFraming::OctetCounting {
                        return Err(self.error(data));
                    } else {
                        // Not a length after all: the digits start a line.
                        self.state = State::Line;
                    }
                }
                State::Body { remaining } => {
                    let take = remaining.min(data.len() as u64) as usize;
                    let (part, rest) = data.split_at(take);
                    data = rest;
                    self.body_received += take as u64;
                    if take as u64 == remaining && self.buf.is_empty() {
                        // Whole in this read.
                        emit_message(&part[..part.len().min(self.keep)], f);
                    } else {
                        self.keep_bytes(part);
                        if take as u64 == remaining {
                            emit_message(&self.buf, f);
                            self.clear();
                        }
                    }
                    self.state = if take as u64 == remaining {
                        State::Start
                    } else {
                        State::Body {
                            remaining: remaining - take as u64,
                        }
                    };
                }
                State::Line => match memchr::memchr(b'\n', data) {
                    Some(nl) => {
                        let line = &data[..nl];
                        data = &data[nl + 1..];
                        if self.buf.is_empty() {
                            emit_line(&line[..line.len().min(self.keep)], f);
                        } else {
                            self.keep_bytes(line);
                            emit_line(&self.buf, f);
                            self.clear();
                        }
                        self.state = State::Start;
                    }
                    None => {
                        self.keep_bytes(data);
                        data = &[];
                    }
                },
            }
        }
        Ok(())
    }

    /// The stream ended: hands out its last line if it had no newline;
    /// returns an octet-counted message left incomplete (dropped).
    pub fn finish(&mut self, f: &mut impl FnMut(&[u8])) -> Option<Incomplete> {
        let state = std::mem::replace(&mut self.state, State::Start);
        let incomplete = match state {
            State::Start => None,
            State::Line => {
                emit_line(&self.buf, f);
                None
            }
            State::Length { .. } if self.framing == SyslogFraming::Auto => {
                // Digits with nothing after them: a line, as far as can be told.
                emit_line(&self.buf, f);
                None
            }
            State::Length { .. } => Some(Incomplete {
                received: 0,
                announced: 0,
            }),
            State::Body { .. } => Some(Incomplete {
                received: self.body_received,
                announced: self.body_length,
            }),
        };
        self.clear();
        incomplete
    }

    /// The stream is given up (the source stops, the connection idled out
    /// or failed): forgets a message begun and not complete; returns
    /// whether there was one.
    pub fn abandon(&mut self) -> bool {
        let begun = self.state != State::Start;
        self.state = State::Start;
        self.clear();
        begun
    }

    /// Appends what fits of `bytes` under the bound to the buffer.
    fn keep_bytes(&mut self, bytes: &[u8]) {
        let room = self.keep.saturating_sub(self.buf.len());
        let take = &bytes[..bytes.len().min(room)];
        if !take.is_empty() {
            // Exact growth: the bound is on memory, not only on content.
            self.buf.reserve_exact(take.len());
            self.buf.extend_from_slice(take);
        }
    }

    /// Empties the buffer, giving back memory grown for a long message.
    fn clear(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
    }

    /// The error for a message that should start with a length but starts
    /// with `data` (after the digits in the buffer, if any).
    fn error(&mut self, data: &[u8]) -> FramingError {
        let mut seen = std::mem::take(&mut self.buf);
        seen.extend_from_slice(&data[..data.len().min(16)]);
        self.state = State::Start;
        FramingError {
            found: String::from_utf8_lossy(&seen).escape_debug().to_string(),
        }
    }
}

/// Hands out a newline-terminated message, unless it is empty.
fn emit_line(line: &[u8], f: &mut impl FnMut(&[u8])) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.is_empty() {
        f(line);
    }
}

/// Hands out an octet-counted message without one trailing line feed,
/// unless it is empty.
fn emit_message(msg: &[u8], f: &mut impl FnMut(&[u8])) {
    let msg = msg.strip_suffix(b"\n").unwrap_or(msg);
    if !msg.is_empty() {
        f(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `input` fed `piece` bytes at a time; the messages, the error
    /// if any, and what `finish` reported.
    fn decode(
        framing: SyslogFraming,
        keep: usize,
        input: &[u8],
        piece: usize,
    ) -> (Vec<String>, Option<FramingError>, Option<Incomplete>) {
        let mut d = Decoder::new(framing, keep);
        let mut out = Vec::new();
        let mut f = |m: &[u8]| out.push(String::from_utf8_lossy(m).into_owned());
        for chunk in input.chunks(piece.max(1)) {
            if let Err(e) = d.feed(chunk, &mut f) {
                return (out, Some(e), None);
            }
            assert!(d.pending() <= keep + MAX_DIGITS as usize);
        }
        let inc = d.finish(&mut f);
        (out, None, inc)
    }

    /// The same, for every piece size from 1 to the whole input: the
    /// result must not depend on how the stream was cut into reads.
    fn decode_all_ways(
        framing: SyslogFraming,
        keep: usize,
        input: &[u8],
    ) -> (Vec<String>, Option<FramingError>, Option<Incomplete>) {
        let whole = decode(framing, keep, input, input.len());
        for piece in 1..input.len() {
            assert_eq!(
                decode(framing, keep, input, piece),
                whole,
                "pieces of {piece}: {}",
                String::from_utf8_lossy(input)
            );
        }
        whole
    }

    #[test]
    fn newline_frames() {
        let (m, e, i) = decode_all_ways(
            SyslogFraming::Newline,
            100,
            b"<13>one\r\n\n<14>two\n123 three\nlast",
        );
        assert_eq!(m, ["<13>one", "<14>two", "123 three", "last"]);
        assert_eq!((e, i), (None, None));
    }

    #[test]
    fn octet_counted_frames_may_hold_newlines() {
        let input = b"9 <13>a\nb c5 <14>x\n12 <15>hello!!\n";
        let (m, e, i) = decode_all_ways(SyslogFraming::OctetCounting, 100, input);
        assert_eq!(m, ["<13>a\nb c", "<14>x", "<15>hello!!"]);
        assert_eq!((e, i), (None, None));
        // The same under `auto`.
        assert_eq!(decode_all_ways(SyslogFraming::Auto, 100, input).0, m);
    }

    #[test]
    fn auto_decides_message_by_message() {
        let (m, e, i) = decode_all_ways(
            SyslogFraming::Auto,
            100,
            b"<13>line one\n7 <14>abc<15>line two\n2024-01-01 no pri\n42\n6 <16>x\n",
        );
        assert_eq!(
            m,
            [
                "<13>line one",
                "<14>abc",
                "<15>line two",
                "2024-01-01 no pri",
                "42",
                "<16>x"
            ]
        );
        assert_eq!((e, i), (None, None));
        // Digits at the very end are a line without its newline.
        assert_eq!(decode_all_ways(SyslogFraming::Auto, 100, b"12").0, ["12"]);
        // Eleven digits cannot be a length.
        assert_eq!(
            decode_all_ways(SyslogFraming::Auto, 100, b"12345678901 x\n").0,
            ["12345678901 x"]
        );
    }

    #[test]
    fn long_messages_are_kept_to_the_bound_and_their_rest_skipped() {
        let mut input = b"30 ".to_vec();
        input.extend([b'a'; 30]);
        input.extend(b"3 <1>");
        input.extend([b'b'; 25]);
        input.extend(b"\nok\n");
        let (m, e, i) = decode_all_ways(SyslogFraming::Auto, 11, &input);
        assert_eq!(
            m,
            ["a".repeat(11), "<1>".into(), "b".repeat(11), "ok".into()]
        );
        assert_eq!((e, i), (None, None));
    }

    #[test]
    fn memory_stays_bounded_whatever_the_announced_length() {
        let mut d = Decoder::new(SyslogFraming::OctetCounting, 1024);
        let mut n = 0;
        d.feed(b"9999999999 ", &mut |_| n += 1).unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..100 {
            d.feed(&chunk, &mut |_| n += 1).unwrap();
            assert!(d.capacity() <= 1024);
        }
        assert_eq!(n, 0);
        assert_eq!(
            d.finish(&mut |_| n += 1),
            Some(Incomplete {
                received: 100 * 64 * 1024,
                announced: 9_999_999_999
            })
        );
        // A newline-framed line without an end, the same.
        let mut d = Decoder::new(SyslogFraming::Newline, 1024);
        for _ in 0..100 {
            d.feed(&chunk, &mut |_| n += 1).unwrap();
            assert!(d.capacity() <= 1024);
        }
        d.feed(b"\n", &mut |m| {
            assert_eq!(m.len(), 1024);
            n += 1
        })
        .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn strict_octet_counting_refuses_what_is_not_a_length() {
        for (input, found) in [
            (&b"5 <13>a<13>no length\n"[..], "<13>no length\\n"),
            (&b"0 x"[..], "0 x"),
            (&b"12x34 "[..], "12x34 "),
            (&b"12345678901 "[..], "12345678901 "),
        ] {
            let (_, e, _) = decode(SyslogFraming::OctetCounting, 100, input, input.len());
            assert_eq!(e.map(|e| e.found), Some(found.to_string()), "{input:?}");
            for piece in 1..input.len() {
                let (_, e, _) = decode(SyslogFraming::OctetCounting, 100, input, piece);
                assert!(e.is_some(), "{input:?} in pieces of {piece}");
            }
        }
        let (m, e, _) = decode(SyslogFraming::OctetCounting, 100, b"5 <13>aXYZ", 100);
        assert_eq!(m, ["<13>a"]);
        assert_eq!(e.unwrap().found, "XYZ");
    }

    #[test]
    fn an_incomplete_octet_counted_message_is_reported() {
        let (m, e, i) = decode_all_ways(SyslogFraming::Auto, 100, b"5 <13>a20 <14>partial");
        assert_eq!(m, ["<13>a"]);
        assert_eq!(e, None);
        assert_eq!(
            i,
            Some(Incomplete {
                received: 11,
                announced: 20
            })
        );
        let (_, _, i) = decode_all_ways(SyslogFraming::OctetCounting, 100, b"5 <13>a20");
        assert_eq!(
            i,
            Some(Incomplete {
                received: 0,
                announced: 0
            })
        );
    }

    #[test]
    fn empty_messages_are_skipped() {
        let (m, _, _) = decode_all_ways(SyslogFraming::Auto, 100, b"\n\r\n1 \n3 <1>\n\n");
        assert_eq!(m, ["<1>"]);
    }

    #[test]
    fn abandon_tells_whether_a_message_was_begun() {
        let mut d = Decoder::new(SyslogFraming::Auto, 100);
        let mut n = 0;
        d.feed(b"<13>whole\n", &mut |_| n += 1).unwrap();
        assert!(!d.abandon());
        d.feed(b"<13>half", &mut |_| n += 1).unwrap();
        assert!(d.abandon());
        d.feed(b"<13>again\n", &mut |_| n += 1).unwrap();
        assert_eq!(n, 2);
    }
}
