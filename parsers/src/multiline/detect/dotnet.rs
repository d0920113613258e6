//! Dotnet crash records.

use super::{Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects Dotnet crash records.
pub struct Dotnet;

impl Detector for Dotnet {
    fn kind(&self) -> CrashKind {
        CrashKind::Dotnet
    }

    fn open(&self, _line: &str, _crash: &mut Crash) -> Option<Opening> {
        None
    }

    fn step(&self, _phase: &mut u8, _line: &str, _crash: &mut Crash) -> Step {
        Step::Close
    }
}
