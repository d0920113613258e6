//! Python crash records: a traceback.
//!
//! ```text
//! Traceback (most recent call last):
//!   File "/app/app/views.py", line 12, in checkout
//!     total = cart.total()
//!   File "/usr/lib/python3.12/site-packages/shop/cart.py", line 40, in total
//!     return sum(self.items) / len(self.items)
//! ZeroDivisionError: division by zero
//! ```
//!
//! A record opens at a line ending with `Traceback (most recent call
//! last):` (after a log line's own text or not) and takes `File "…"`
//! lines, the source and caret lines indented under them, and the final
//! `XxxError: message` line (or a bare `KeyboardInterrupt`), with the
//! indented lines that go on its message. Chained exceptions (`During
//! handling of the above exception, another exception occurred:` / `The
//! above exception was the direct cause of the following exception:`,
//! with blank lines around) stay one record: the blank lines after a final
//! line are held, so a line that does not go on the chain completes the
//! record and the blank lines are passed on as lines.
//!
//! `ty` is the last final line's class (the exception raised last, the
//! outermost), `message` its text; `frame` the innermost frame of that
//! last traceback in the application's own code (not in `site-packages`,
//! `dist-packages` or the standard library), else its innermost frame, as
//! `module.function` (`app.views.checkout`: the file's directory and
//! name, or its path under `site-packages`).

use super::text::{indented, is_blank, starts_with_any};
use super::{Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects Python tracebacks.
pub struct Python;

const HEADER: &str = "Traceback (most recent call last):";

// Phase: state in bits 0-1, flags above.
const STATE: u8 = 0b11;
/// In a traceback: frames and source lines, until the final line.
const TRACE: u8 = 0;
/// After a final line.
const FINAL: u8 = 1;
/// After a final line and blank lines (held).
const FINAL_BLANK: u8 = 2;
/// After a chaining sentence, before the next `Traceback`.
const CHAIN: u8 = 3;
/// A frame in the application's own code was seen in this traceback.
const APP: u8 = 1 << 2;
const BLANK_SHIFT: u8 = 3;
const BLANKS: u8 = 0b11 << BLANK_SHIFT;
/// Most blank lines held after a final line.
const MAX_BLANKS: u8 = 3;

const CHAINS: &[&str] = &[
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
];

/// Whether `line` ends with a traceback's header (white space after it
/// aside): the detector's opening line, and its gate (see
/// [`super::gate`]).
pub(super) fn may_open(line: &str) -> bool {
    let b = line.as_bytes();
    // Most lines end with neither white space nor a colon (a table: one
    // branch, taken the same way on nearly every line).
    static ENDS: [bool; 256] = {
        let mut t = [false; 256];
        t[b':' as usize] = true;
        t[b' ' as usize] = true;
        t[b'\t' as usize] = true;
        t[b'\r' as usize] = true;
        t
    };
    if !b.last().is_some_and(|&c| ENDS[c as usize]) {
        return false;
    }
    let end = b
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r'))
        .map_or(0, |i| i + 1);
    b[..end].ends_with(HEADER.as_bytes())
}

impl Detector for Python {
    fn kind(&self) -> CrashKind {
        CrashKind::Python
    }

    fn open(&self, line: &str, _crash: &mut Crash) -> Option<Opening> {
        if !may_open(line) {
            return None;
        }
        Some(Opening {
            phase: TRACE,
            confirmed: true,
        })
    }

    fn step(&self, phase: &mut u8, line: &str, crash: &mut Crash) -> Step {
        let t = line.trim_start();
        match *phase & STATE {
            TRACE => {
                if let Some(rest) = t.strip_prefix("File \"") {
                    note_frame(phase, rest, crash);
                    Step::Take
                } else if is_blank(t) {
                    Step::Close
                } else if indented(line) {
                    Step::Take
                } else if let Some((ty, message)) = final_line(t.trim_end()) {
                    crash.ty = ty.to_string();
                    crash.message = message.to_string();
                    set_state(phase, FINAL);
                    Step::Take
                } else {
                    Step::Close
                }
            }
            FINAL => {
                if is_blank(t) {
                    set_state(phase, FINAL_BLANK);
                    *phase = (*phase & !BLANKS) | (1 << BLANK_SHIFT);
                    Step::Hold
                } else if starts_with_any(t, CHAINS) {
                    set_state(phase, CHAIN);
                    Step::Take
                } else if indented(line) {
                    Step::Take
                } else {
                    Step::Close
                }
            }
            FINAL_BLANK => {
                if is_blank(t) {
                    let n = (*phase & BLANKS) >> BLANK_SHIFT;
                    if n >= MAX_BLANKS {
                        return Step::Close;
                    }
                    *phase = (*phase & !BLANKS) | ((n + 1) << BLANK_SHIFT);
                    Step::Hold
                } else if starts_with_any(t, CHAINS) {
                    set_state(phase, CHAIN);
                    Step::Take
                } else {
                    Step::Close
                }
            }
            _ => {
                if is_blank(t) {
                    Step::Take
                } else if t.trim_end().ends_with(HEADER) {
                    *phase = TRACE;
                    crash.frame.clear();
                    Step::Take
                } else {
                    Step::Close
                }
            }
        }
    }
}

fn set_state(phase: &mut u8, state: u8) {
    *phase = (*phase & !STATE) | state;
}

/// The class and message of a traceback's final line: `KeyError: 'id'`,
/// `requests.exceptions.ConnectionError: …`, `KeyboardInterrupt`.
fn final_line(t: &str) -> Option<(&str, &str)> {
    let b = t.as_bytes();
    if !b
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
    {
        return None;
    }
    let end = b
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.')))
        .unwrap_or(b.len());
    let class = &t[..end];
    if class.ends_with('.') {
        return None;
    }
    let rest = &t[end..];
    let message = if rest.is_empty() || rest == ":" {
        ""
    } else {
        rest.strip_prefix(": ")?
    };
    Some((class, message))
}

/// Counts the frame of a `File "path", line N, in function` line (`rest`
/// follows `File "`) and keeps it when it is the innermost so far in the
/// application's code, or the innermost while none is.
fn note_frame(phase: &mut u8, rest: &str, crash: &mut Crash) {
    crash.frames = crash.frames.saturating_add(1);
    let Some((path, after)) = rest.split_once('"') else {
        return;
    };
    let func = after.rsplit_once(", in ").map_or("", |(_, f)| f.trim_end());
    let app = is_app(path);
    if app || *phase & APP == 0 {
        crash.frame = frame_name(path, func);
    }
    if app {
        *phase |= APP;
    }
}

fn is_app(path: &str) -> bool {
    !(path.contains("site-packages")
        || path.contains("dist-packages")
        || path.contains("/lib/python")
        || path.contains("/lib64/python")
        || path.contains("\\Lib\\")
        || path.starts_with("<frozen "))
}

/// `module.function` for a frame: the path under `site-packages`, else
/// the file's directory (when it is a package's name) and name.
fn frame_name(path: &str, func: &str) -> String {
    let module = match path
        .rsplit_once("site-packages/")
        .or_else(|| path.rsplit_once("dist-packages/"))
    {
        Some((_, under)) => under.trim_end_matches(".py").replace('/', "."),
        None => {
            let mut parts = path.rsplit(['/', '\\']);
            let file = parts.next().unwrap_or(path);
            let stem = file.strip_suffix(".py").unwrap_or(file);
            let dir = parts.next().filter(|d| is_identifier(d));
            match (dir, stem) {
                (Some(d), "__init__") => d.to_string(),
                (Some(d), s) => format!("{d}.{s}"),
                (None, s) => s.to_string(),
            }
        }
    };
    let module = module.strip_suffix(".__init__").unwrap_or(&module);
    if func.is_empty() {
        module.to_string()
    } else {
        format!("{module}.{func}")
    }
}

fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    b.first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_names() {
        assert_eq!(
            frame_name("/app/app/views.py", "checkout"),
            "app.views.checkout"
        );
        assert_eq!(
            frame_name(
                "/usr/lib/python3/site-packages/django/core/handlers/base.py",
                "get"
            ),
            "django.core.handlers.base.get"
        );
        assert_eq!(
            frame_name("/base/data/home/apps/s~x/1.3787/nearfieldspy.py", "get"),
            "nearfieldspy.get"
        );
        assert_eq!(
            frame_name("/srv/shop/__init__.py", "<module>"),
            "shop.<module>"
        );
        assert_eq!(frame_name("<stdin>", "<module>"), "<stdin>.<module>");
    }

    #[test]
    fn final_lines() {
        assert_eq!(final_line("KeyError: 'id'"), Some(("KeyError", "'id'")));
        assert_eq!(
            final_line("KeyboardInterrupt"),
            Some(("KeyboardInterrupt", ""))
        );
        assert_eq!(
            final_line("requests.exceptions.ConnectionError: refused"),
            Some(("requests.exceptions.ConnectionError", "refused"))
        );
        assert_eq!(final_line("2024-01-01 INFO next"), None);
        assert_eq!(final_line("INFO:root:started"), None);
    }
}
