//! Standard input as a source: read to its end, line by line.

use tracing::{info, warn};

use super::Dispatcher;

/// Reads standard input to its end on the calling thread.
pub fn run(mut dispatcher: Dispatcher, name: &str, max_line: usize) {
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    info!(source = name, "reading standard input");
    match dispatcher.read_all(&mut lock, max_line) {
        Ok(c) => info!(source = name, lines = c.lines, "standard input closed"),
        Err(e) => {
            dispatcher.read_error();
            warn!(source = name, error = %e, "reading standard input failed");
        }
    }
}
