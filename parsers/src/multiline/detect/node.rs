//! Node.js crash records: an error with its `at` frames.
//!
//! ```text
//! TypeError: Cannot read properties of undefined (reading 'id')
//!     at checkout (/app/src/cart.js:12:9)
//!     at async Promise.all (index 0)
//!     at /app/src/server.js:40:3
//!
//! Node.js v18.17.0
//! ```
//!
//! A record opens at a line naming an error (`Error: msg`, `TypeError:
//! x`, `Error [ERR_CODE]: msg`, a bare `Error`), which only a following
//! `at` frame confirms. Then frames (`at fn (/path:1:2)`, `at async fn
//! (…)`, `at new Foo (…)`, `at /path:1:2`), the error's own properties in
//! `{ … }` after the last frame (with a `[cause]` in them), and Node.js's
//! closing `Node.js v18.x` after a blank line. The source excerpt Node.js
//! prints before an uncaught error (`/app/x.js:5`, the line, a caret)
//! stays lines of their own. Read by [`super::stack`], shared with the JVM
//! and .NET (an error named in the middle of a log line, as old Node.js
//! versions print `UnhandledPromiseRejectionWarning: Error: x`, is found
//! by the JVM's detector only, and its frames make it Node.js's). `ty` is
//! the error's class, with its code when it has one (`Error
//! [ERR_MODULE_NOT_FOUND]`); `frame` the first frame outside
//! `node:internal` and `node_modules`, as `fn (/path/file.js)`.

use super::{stack, Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects Node.js errors with their frames.
pub struct Node;

impl Detector for Node {
    fn kind(&self) -> CrashKind {
        CrashKind::Node
    }

    fn open(&self, line: &str, crash: &mut Crash) -> Option<Opening> {
        stack::open(line, crash, CrashKind::Node)
    }

    fn step(&self, phase: &mut u8, line: &str, crash: &mut Crash) -> Step {
        stack::step(phase, line, crash)
    }
}
