//! Kernel crash records.

use super::{Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects Kernel crash records.
pub struct Kernel;

impl Detector for Kernel {
    fn kind(&self) -> CrashKind {
        CrashKind::Kernel
    }

    fn open(&self, _line: &str, _crash: &mut Crash) -> Option<Opening> {
        None
    }

    fn step(&self, _phase: &mut u8, _line: &str, _crash: &mut Crash) -> Step {
        Step::Close
    }
}
