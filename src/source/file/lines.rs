//! Where a file source's lines go: the source's [`Dispatcher`], or what a
//! test collects them in.

use std::io::Read;

use crate::source::framing::{FrameCounts, Framer};
use crate::source::Dispatcher;

/// Receives the lines a file source reads, and its counts.
pub trait Lines {
    /// One line.
    fn line(&mut self, line: &str);
    /// Framing counts gathered since the last flush; the lines passed on so
    /// far are to be published.
    fn flush(&mut self, counts: FrameCounts);
    /// A read failed.
    fn read_error(&mut self);
}

impl Lines for Dispatcher {
    fn line(&mut self, line: &str) {
        Dispatcher::line(self, line);
    }

    fn flush(&mut self, counts: FrameCounts) {
        Dispatcher::flush(self, counts);
    }

    fn read_error(&mut self) {
        Dispatcher::read_error(self);
    }
}

/// Reads `input` to its end through `framer`, passing every line to `out`
/// (the last one too, without its newline).
pub fn read_to_end(
    out: &mut impl Lines,
    input: &mut impl Read,
    framer: &mut Framer,
) -> std::io::Result<()> {
    loop {
        let n = framer.fill(input)?;
        if n == 0 {
            framer.finish(|l| out.line(l));
        } else {
            framer.lines(|l| out.line(l));
        }
        out.flush(framer.take_counts());
        if n == 0 {
            return Ok(());
        }
    }
}
