//! Where a file source's lines go: the source's [`Dispatcher`], or what a
//! test collects them in.

use std::io::Read;

use logtally_parsers::multiline::Group;

use crate::pipeline::record::ContextFields;
use crate::source::framing::{FrameCounts, Framer};
use crate::source::streams::LabelStream;
use crate::source::Dispatcher;

/// Receives the lines a file source reads, and its counts.
pub trait Lines {
    /// One line.
    fn line(&mut self, line: &str);
    /// One line with fields from where it came from.
    fn line_in(&mut self, line: &str, _context: &dyn ContextFields) {
        self.line(line);
    }
    /// The label set `extra` (labels of a file's own, see
    /// [`Dispatcher::stream`]); `None` where lines carry no labels.
    fn stream(&mut self, _extra: &[(String, String)]) -> Option<LabelStream> {
        None
    }
    /// One line of the label set `stream`.
    fn line_for(&mut self, _stream: &LabelStream, line: &str, context: Option<&dyn ContextFields>) {
        match context {
            Some(c) => self.line_in(line, c),
            None => self.line(line),
        }
    }
    /// A multi-line record, of the label set `stream` when given, with the
    /// fields its lines came with (by default its text as one line).
    fn record(
        &mut self,
        stream: Option<&LabelStream>,
        group: &Group<'_>,
        context: Option<&dyn ContextFields>,
    ) {
        match stream {
            Some(s) => self.line_for(s, group.text, context),
            None => match context {
                Some(c) => self.line_in(group.text, c),
                None => self.line(group.text),
            },
        }
    }
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

    fn line_in(&mut self, line: &str, context: &dyn ContextFields) {
        Dispatcher::line_in(self, line, context);
    }

    fn stream(&mut self, extra: &[(String, String)]) -> Option<LabelStream> {
        Some(Dispatcher::stream(self, extra))
    }

    fn line_for(&mut self, stream: &LabelStream, line: &str, context: Option<&dyn ContextFields>) {
        Dispatcher::line_for(self, stream, line, context);
    }

    fn record(
        &mut self,
        stream: Option<&LabelStream>,
        group: &Group<'_>,
        context: Option<&dyn ContextFields>,
    ) {
        match stream {
            Some(s) => Dispatcher::record_for(self, s, group, context),
            None => Dispatcher::record(self, group, context),
        }
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
