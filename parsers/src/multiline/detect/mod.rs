//! The detectors of `auto`: one per runtime, each telling whether a line
//! opens a crash record of its kind and how the following lines go on it.
//!
//! A detector is a small state machine over lines. [`Detector::open`] is
//! asked whether a line that no record holds opens one; [`Detector::step`]
//! is asked about each line that follows while its record is open, with
//! the record's `phase` (the detector's own small state, saved in
//! checkpoints).
//!
//! `auto` asks a built-in detector's `open` only about the lines that pass
//! its gate: a test of a few of the line's bytes that every line it opens
//! passes (its first byte, its last, its first word; a search of the line
//! for the two detectors that look past its start), made for all the
//! detectors at once, once per line. Most lines pass no gate: they cost
//! `auto` the gates alone, and no detector builds a [`Crash`] for them. A
//! gate must stay a necessary condition of its detector's `open` (a test
//! checks it on every line of the detectors' tests and of the shared logs);
//! `open` itself turns down what passes the gate but is no crash's start.

mod dotnet;
pub(crate) mod gate;
mod go;
mod jvm;
mod kernel;
mod node;
mod php;
mod python;
mod rust;
mod scan;
mod stack;
mod text;

use super::crash::{Crash, CrashKind};

/// How a detector opens a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opening {
    /// The detector's first phase.
    pub phase: u8,
    /// Whether the line is a crash's start for sure; `false`: only a
    /// candidate, held until a following line is taken ([`Step::Take`] or
    /// [`Step::End`] confirm it), passed on as a plain line otherwise.
    pub confirmed: bool,
}

/// How a line goes on an open record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The line belongs to the record (and so do the lines held before it).
    Take,
    /// The line may belong: it is held until a later line is taken (then it
    /// belongs too) or the record closes (then it is passed on as a line of
    /// its own, looked at afresh).
    Hold,
    /// The line belongs to the record and is its last: the record is
    /// complete.
    End,
    /// The line does not belong: the record is complete without it (and
    /// without the lines held), and the line is looked at afresh.
    Close,
}

/// A runtime's crash shapes.
pub trait Detector: Send + Sync {
    /// The kind of the records it opens.
    fn kind(&self) -> CrashKind;

    /// Whether `line` opens a record of this kind; if so, what `line` tells
    /// of the crash goes into `crash` (whose kind the detector may change,
    /// e.g. a stack trace whose frames tell .NET from Java).
    fn open(&self, line: &str, crash: &mut Crash) -> Option<Opening>;

    /// How `line` goes on a record in `phase` (which it may change); what a
    /// taken line tells goes into `crash`.
    fn step(&self, phase: &mut u8, line: &str, crash: &mut Crash) -> Step;
}

/// The built-in detector of `kind`.
pub fn builtin(kind: CrashKind) -> &'static dyn Detector {
    match kind {
        CrashKind::Jvm => &jvm::Jvm,
        CrashKind::Python => &python::Python,
        CrashKind::Go => &go::Go,
        CrashKind::Rust => &rust::Rust,
        CrashKind::Dotnet => &dotnet::Dotnet,
        CrashKind::Node => &node::Node,
        CrashKind::Php => &php::Php,
        CrashKind::Kernel => &kernel::Kernel,
    }
}

#[cfg(test)]
mod tests;
