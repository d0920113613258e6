//! Node crash records.

use super::{Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects Node crash records.
pub struct Node;

impl Detector for Node {
    fn kind(&self) -> CrashKind {
        CrashKind::Node
    }

    fn open(&self, _line: &str, _crash: &mut Crash) -> Option<Opening> {
        None
    }

    fn step(&self, _phase: &mut u8, _line: &str, _crash: &mut Crash) -> Step {
        Step::Close
    }
}
