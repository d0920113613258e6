//! Jvm crash records.

use super::{Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects Jvm crash records.
pub struct Jvm;

impl Detector for Jvm {
    fn kind(&self) -> CrashKind {
        CrashKind::Jvm
    }

    fn open(&self, _line: &str, _crash: &mut Crash) -> Option<Opening> {
        None
    }

    fn step(&self, _phase: &mut u8, _line: &str, _crash: &mut Crash) -> Step {
        Step::Close
    }
}
