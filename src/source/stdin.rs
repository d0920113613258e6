//! Standard input as a source: read to its end, line by line.

use std::time::Instant;

use logtally_parsers::multiline::Piece;
use tracing::{info, warn};

use super::contract::{Control, Sink, Source};
use super::records::{RecordStats, Records, Why};
use super::spec::MultilineSpec;

/// Reads standard input to its end.
#[derive(Default)]
pub struct StdinSource {
    /// How lines are grouped into records, if they are.
    multiline: Option<MultilineSpec>,
}

impl StdinSource {
    /// Standard input, its lines grouped into records as `multiline` says
    /// (one input: the open record is completed at the end of input).
    pub fn new(multiline: Option<MultilineSpec>) -> Self {
        Self { multiline }
    }
}

/// Hands `p` to `sink`: a line, or a record.
fn deliver(sink: &mut Sink, p: Piece<'_>) {
    match p {
        Piece::Line(l) => sink.line(l),
        Piece::Record(g) => sink.record(&g, None),
    }
}

impl Source for StdinSource {
    /// Reads standard input to its end. Pipelines a reload offers take over
    /// between two chunks; the line cut by a chunk's end stays in the
    /// framer, so every line is read once.
    fn run(self: Box<Self>, mut sink: Sink, control: Control) {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut framer = sink.framer();
        let name = control.name();
        let mut records = self
            .multiline
            .as_ref()
            .map(|m| Records::new(m, RecordStats::new(name), Instant::now()));
        let mut lines = 0;
        info!(source = name, "reading standard input");
        loop {
            let n = match framer.fill(&mut input) {
                Ok(n) => n,
                Err(e) => {
                    sink.read_error();
                    warn!(source = name, error = %e, "reading standard input failed");
                    end_on_error(&mut sink, records.as_mut());
                    return;
                }
            };
            let batch = sink.batch();
            match records.as_mut() {
                None if n == 0 => framer.finish(|l| sink.line(l)),
                None => framer.lines(|l| sink.line(l)),
                Some(r) => {
                    let now = Instant::now();
                    let mut take = |l: &str| r.push(l, now, &mut |p| deliver(&mut sink, p));
                    if n == 0 {
                        framer.finish(&mut take);
                        r.finish(Why::End, &mut |p| deliver(&mut sink, p));
                    } else {
                        framer.lines(&mut take);
                    }
                }
            }
            let c = framer.take_counts();
            lines += c.lines;
            sink.count(c);
            sink.commit(&batch, |_| {});
            if n == 0 {
                info!(source = name, lines, "standard input closed");
                return;
            }
        }
    }

    fn may_block(&self) -> bool {
        true
    }
}

/// Completes the open record, if any, when standard input fails.
fn end_on_error(sink: &mut Sink, records: Option<&mut Records>) {
    if let Some(r) = records {
        let batch = sink.batch();
        r.finish(Why::End, &mut |p| deliver(sink, p));
        sink.commit(&batch, |_| {});
    }
}
