//! Python crash records.

use super::{Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects Python crash records.
pub struct Python;

impl Detector for Python {
    fn kind(&self) -> CrashKind {
        CrashKind::Python
    }

    fn open(&self, _line: &str, _crash: &mut Crash) -> Option<Opening> {
        None
    }

    fn step(&self, _phase: &mut u8, _line: &str, _crash: &mut Crash) -> Step {
        Step::Close
    }
}
