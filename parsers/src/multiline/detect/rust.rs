//! Rust crash records.

use super::{Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects Rust crash records.
pub struct Rust;

impl Detector for Rust {
    fn kind(&self) -> CrashKind {
        CrashKind::Rust
    }

    fn open(&self, _line: &str, _crash: &mut Crash) -> Option<Opening> {
        None
    }

    fn step(&self, _phase: &mut u8, _line: &str, _crash: &mut Crash) -> Step {
        Step::Close
    }
}
