//! Rust crash records: a thread's panic, with its backtrace or not.
//!
//! ```text
//! thread 'main' panicked at src/main.rs:4:19:
//! index out of bounds: the len is 3 but the index is 5
//! stack backtrace:
//!    0: rust_begin_unwind
//!              at /rustc/…/library/std/src/panicking.rs:645:5
//!    1: shop::cart::total
//!              at ./src/cart.rs:4:19
//! note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
//! ```
//!
//! A record opens at `thread '…' panicked at` (a crash for sure): the
//! location then the message on the lines after it (Rust 1.73 and later),
//! or `'message', location` on the line itself (before). Then the message's
//! lines (held until a `note:` or `stack backtrace:` tells they belong),
//! `stack backtrace:` with its numbered frames and their `at` lines (short
//! or full format), and the closing `note: …` line. `thread '…' has
//! overflowed its stack` and its `fatal runtime error: stack overflow` are
//! one record too.
//!
//! `ty` is the message's first line with numbers, addresses, ids and paths
//! replaced (`index out of bounds: the len is N but the index is N`,
//! ``called `Option::unwrap()` on a `None` value``); `stack overflow` for an
//! overflow. `frame` is the first backtrace frame outside `std`, `core`,
//! `alloc` and the panic machinery, without its hash (`shop::cart::total`),
//! else the panic's location without line and column (`src/cart.rs`).

use super::text::{starts_with_any, strip_line_col, ty_of};
use super::{Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects Rust panics.
pub struct Rust;

// Phase: state in bits 0-1, lines held in bits 2-4, flags above.
const STATE: u8 = 0b11;
/// The message is on the next line.
const MESSAGE: u8 = 0;
/// After the message.
const AFTER: u8 = 1;
/// In the backtrace.
const BACKTRACE: u8 = 2;
/// After `has overflowed its stack`.
const OVERFLOW: u8 = 3;
const HOLD_SHIFT: u8 = 2;
const HOLD: u8 = 0b111 << HOLD_SHIFT;
const MAX_HOLD: u8 = 7;
/// A frame in the application's code was found: `frame` is final.
const BEST: u8 = 1 << 5;

/// Whether a line beginning with `b` may open a record (see
/// [`super::gate`]).
pub(super) fn may_begin(b: u8) -> bool {
    b == b't'
}

/// The gate of [`Rust`] (see [`super::gate`]).
pub(super) fn may_open(line: &str) -> bool {
    line.starts_with("thread '")
}

impl Detector for Rust {
    fn kind(&self) -> CrashKind {
        CrashKind::Rust
    }

    fn open(&self, line: &str, crash: &mut Crash) -> Option<Opening> {
        let rest = line.strip_prefix("thread '")?;
        if rest.trim_end().ends_with("' has overflowed its stack") {
            crash.ty = "stack overflow".to_string();
            crash.message = line.trim_end().to_string();
            return Some(Opening {
                phase: OVERFLOW,
                confirmed: true,
            });
        }
        let at = memchr::memmem::find(rest.as_bytes(), b" panicked at ")?;
        let after = rest[at + " panicked at ".len()..].trim_end();
        let phase = if let Some(quoted) = after.strip_prefix('\'') {
            // `'message', src/main.rs:2:5`
            let (msg, loc) = quoted.rsplit_once("', ")?;
            crash.message = msg.to_string();
            crash.ty = ty_of(msg);
            crash.frame = strip_line_col(loc).to_string();
            AFTER
        } else {
            let loc = after.strip_suffix(':').unwrap_or(after);
            crash.frame = strip_line_col(loc).to_string();
            MESSAGE
        };
        Some(Opening {
            phase,
            confirmed: true,
        })
    }

    fn step(&self, phase: &mut u8, line: &str, crash: &mut Crash) -> Step {
        let t = line.trim_start();
        match *phase & STATE {
            MESSAGE => {
                let msg = line.trim_end();
                crash.message = msg.to_string();
                crash.ty = ty_of(msg);
                set(phase, AFTER, 0);
                Step::Take
            }
            AFTER => {
                if t.starts_with("note: ") {
                    Step::End
                } else if t.trim_end() == "stack backtrace:" {
                    set(phase, BACKTRACE, 0);
                    Step::Take
                } else {
                    let n = (*phase & HOLD) >> HOLD_SHIFT;
                    if n >= MAX_HOLD {
                        return Step::Close;
                    }
                    set(phase, AFTER, n + 1);
                    Step::Hold
                }
            }
            BACKTRACE => {
                if t.starts_with("note: ") {
                    Step::End
                } else if t.starts_with("at ") {
                    Step::Take
                } else if let Some(name) = frame(t) {
                    crash.frames = crash.frames.saturating_add(1);
                    if *phase & BEST == 0 && is_app(name) {
                        crash.frame = name.to_string();
                        *phase |= BEST;
                    } else if crash.frame.is_empty() {
                        crash.frame = name.to_string();
                    }
                    Step::Take
                } else {
                    Step::Close
                }
            }
            _ => {
                if t.starts_with("fatal runtime error: ") {
                    Step::End
                } else {
                    Step::Close
                }
            }
        }
    }
}

fn set(phase: &mut u8, state: u8, holds: u8) {
    *phase = (*phase & !(STATE | HOLD)) | state | (holds << HOLD_SHIFT);
}

/// The function of a backtrace line: `12: shop::main` or, in full
/// format, `12:     0x55d4c5b3c0a3 - shop::main::h0123456789abcdef`.
fn frame(t: &str) -> Option<&str> {
    let (n, rest) = t.split_once(": ")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = rest.trim();
    let name = match rest.strip_prefix("0x") {
        Some(r) => r.split_once(" - ").map_or(r, |(_, n)| n),
        None => rest,
    };
    let name = match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    };
    (!name.is_empty()).then_some(name)
}

fn is_app(name: &str) -> bool {
    !(starts_with_any(
        name,
        &[
            "std::",
            "core::",
            "alloc::",
            "<std::",
            "<core::",
            "<alloc::",
            "rust_begin_unwind",
            "__rust",
            "std_detect::",
            "backtrace::",
            "panic_unwind::",
            "__libc_start",
            "_start",
            "start_thread",
            "clone",
            "__clone",
            "BaseThreadInitThunk",
            "RtlUserThreadStart",
        ],
    ) || name == "main"
        || name == "<unknown>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(frame("0: rust_begin_unwind"), Some("rust_begin_unwind"));
        assert_eq!(
            frame("12:     0x55d4c5b3c0a3 - shop::main::h0123456789abcdef"),
            Some("shop::main")
        );
        assert_eq!(frame("at ./src/main.rs:2:5"), None);
        assert!(is_app("shop::cart::total"));
        assert!(!is_app("core::panicking::panic_fmt"));
        assert!(!is_app("main"));
    }
}
