//! Standard input as a source: read to its end, line by line.

use tracing::{info, warn};

use super::framing::Framer;
use super::{Dispatcher, Handoff};

/// Reads standard input to its end on the calling thread. A dispatcher
/// offered through `handoff` (a configuration reload) replaces `dispatcher`
/// between two chunks; the line cut by a chunk's end stays in the framer,
/// so every line is read once.
pub fn run(mut dispatcher: Dispatcher, handoff: &Handoff, name: &str, max_line: usize) {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut framer = Framer::new(max_line);
    let mut lines = 0;
    info!(source = name, "reading standard input");
    loop {
        let n = match framer.fill(&mut input) {
            Ok(n) => n,
            Err(e) => {
                dispatcher.read_error();
                warn!(source = name, error = %e, "reading standard input failed");
                return;
            }
        };
        handoff.take_into(&mut dispatcher);
        let d = &mut dispatcher;
        if n == 0 {
            framer.finish(|l| d.line(l));
        } else {
            framer.lines(|l| d.line(l));
        }
        let c = framer.take_counts();
        lines += c.lines;
        d.flush(c);
        if n == 0 {
            info!(source = name, lines, "standard input closed");
            return;
        }
    }
}
