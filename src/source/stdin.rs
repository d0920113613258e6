//! Standard input as a source: read to its end, line by line.

use tracing::{info, warn};

use super::contract::{Control, Sink, Source};

/// Reads standard input to its end.
pub struct StdinSource;

impl Source for StdinSource {
    /// Reads standard input to its end. Pipelines a reload offers take over
    /// between two chunks; the line cut by a chunk's end stays in the
    /// framer, so every line is read once.
    fn run(self: Box<Self>, mut sink: Sink, control: Control) {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut framer = sink.framer();
        let name = control.name();
        let mut lines = 0;
        info!(source = name, "reading standard input");
        loop {
            let n = match framer.fill(&mut input) {
                Ok(n) => n,
                Err(e) => {
                    sink.read_error();
                    warn!(source = name, error = %e, "reading standard input failed");
                    return;
                }
            };
            let batch = sink.batch();
            if n == 0 {
                framer.finish(|l| sink.line(l));
            } else {
                framer.lines(|l| sink.line(l));
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
