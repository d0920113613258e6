//! Go crash records: a panic or fatal error with its goroutines, and the
//! race detector's reports.
//!
//! ```text
//! panic: runtime error: index out of range [5] with length 3
//!
//! goroutine 1 [running]:
//! main.lookup(...)
//!     /app/main.go:12
//! main.main()
//!     /app/main.go:7 +0x1d
//! exit status 2
//! ```
//!
//! A record opens at:
//! - `panic: …` (with ` [recovered]` or not) and `fatal error: …`, both
//!   crashes for sure, and the `runtime: …` lines the runtime prints just
//!   before a fatal error (held until the `fatal error:` line);
//! - `SIGSEGV: segmentation violation` (any `SIGxxx: `) when `PC=…` follows;
//! - `http: panic serving addr: msg` (net/http's recovered handler panic,
//!   after its log prefix), when its goroutine follows;
//! - the race detector's `==================` / `WARNING: DATA RACE`,
//!   until its closing `==================`.
//!
//! Then `[signal SIGSEGV: …]`, nested `panic:` lines, the message's
//! indented lines, blank lines (held), `goroutine N [state]:` and each
//! goroutine's frames (`pkg.fn(args)` then an indented `/path/file.go:12
//! +0x1d`), `created by …`, `runtime stack:`, register dumps, and the
//! closing `exit status 2`. Unindented lines between the head and the
//! first goroutine (a message on several lines) are held, a few at most.
//!
//! `ty`: for `panic: runtime error: …` the runtime error without its
//! bracketed values (`runtime error: index out of range`); for a fatal
//! error its text (`concurrent map writes`); for any other panic its
//! message with numbers, addresses, ids and paths replaced by `N` and
//! `PATH` (`ptrace set regs failed`, `user N not found`), so a custom
//! panic is told apart from the next, stably; `SIGSEGV: segmentation
//! violation`; `DATA RACE`. `message` is the text after `panic: ` /
//! `fatal error: `. `frame` is the first frame of the first goroutine (or
//! of the race's first stack) outside the standard library (`runtime.`,
//! `sync.`, `net/http.`…) and `golang.org/x/`, else its first frame, as
//! the function's full name (`main.main`, `github.com/x/y.(*T).M`).

use super::text::{indented, is_blank, starts_with_any, ty_of};
use super::{Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects Go panics, fatal errors and race reports.
pub struct Go;

// Phase: state in bits 0-2, lines held in bits 3-5, flags in 6-7.
const STATE: u8 = 0b111;
/// After `runtime: ` lines, before their `fatal error:` (unconfirmed).
const PRE: u8 = 0;
/// After the head, before the first goroutine.
const HEAD: u8 = 1;
/// In the goroutines.
const GOROUTINES: u8 = 2;
/// After a race report's opening `==================` (unconfirmed).
const RACE_PRE: u8 = 3;
/// In a race report.
const RACE: u8 = 4;
/// In the `runtime stack:` a fatal error prints before the goroutines:
/// its frames are the runtime's, and the first goroutine comes after it.
const SYSTEM_STACK: u8 = 5;
const HOLD_SHIFT: u8 = 3;
const HOLD: u8 = 0b111 << HOLD_SHIFT;
const MAX_HOLD: u8 = 7;
/// Past the first goroutine (or the race's first stack): frames no longer
/// name the crash.
const LATER: u8 = 1 << 6;
/// A `SIGxxx:` head waits for its `PC=` line.
const SIGNAL: u8 = 1 << 7;

const RACE_RULE: &str = "==================";
const RACE_HEAD: &str = "WARNING: DATA RACE";

/// Whether a line beginning with `b` may open a record (see
/// [`super::gate`]).
pub(super) fn may_begin(b: u8) -> bool {
    matches!(b, b'p' | b'f' | b'r' | b'S' | b'=' | b'W' | b'h') || b.is_ascii_digit()
}

/// The gate of [`Go`] (see [`super::gate`]): the first test of each
/// opening [`Detector::open`] tells.
pub(super) fn may_open(line: &str) -> bool {
    let b = line.as_bytes();
    match b.first() {
        Some(b'p') => line.starts_with("panic: "),
        Some(b'f') => line.starts_with("fatal error: "),
        Some(b'r') => line.starts_with("runtime: "),
        Some(b'S') => line.starts_with("SIG"),
        Some(b'=') => line.trim_end() == RACE_RULE,
        Some(b'W') => line.trim_end() == RACE_HEAD,
        Some(b'h') => line.starts_with("http"),
        Some(c) if c.is_ascii_digit() => b.len() > 20 && b[4] == b'/' && b[7] == b'/',
        _ => false,
    }
}

impl Detector for Go {
    fn kind(&self) -> CrashKind {
        CrashKind::Go
    }

    fn open(&self, line: &str, crash: &mut Crash) -> Option<Opening> {
        let b = line.as_bytes();
        let confirmed = |phase| {
            Some(Opening {
                phase,
                confirmed: true,
            })
        };
        let candidate = |phase| {
            Some(Opening {
                phase,
                confirmed: false,
            })
        };
        match *b.first()? {
            b'p' => {
                let msg = line.strip_prefix("panic: ")?;
                head(crash, msg, true);
                confirmed(HEAD)
            }
            b'f' => {
                let msg = line.strip_prefix("fatal error: ")?;
                head(crash, msg, false);
                confirmed(HEAD)
            }
            b'r' => {
                line.strip_prefix("runtime: ")?;
                candidate(PRE)
            }
            b'S' => {
                let rest = line.strip_prefix("SIG")?;
                let colon = rest.find(": ")?;
                if colon == 0 || !rest[..colon].bytes().all(|c| c.is_ascii_uppercase()) {
                    return None;
                }
                crash.ty = ty_of(line.trim_end());
                crash.message = line.trim_end().to_string();
                candidate(HEAD | SIGNAL)
            }
            b'=' if line.trim_end() == RACE_RULE => candidate(RACE_PRE),
            b'W' if line.trim_end() == RACE_HEAD => {
                crash.ty = "DATA RACE".to_string();
                confirmed(RACE)
            }
            b'h' if line.starts_with("http") => {
                http_panic(line, crash)?;
                candidate(HEAD)
            }
            c if c.is_ascii_digit() && b.len() > 20 && b[4] == b'/' && b[7] == b'/' => {
                // `2019/01/15 07:48:05 http: panic serving …`
                http_panic(line, crash)?;
                candidate(HEAD)
            }
            _ => None,
        }
    }

    fn step(&self, phase: &mut u8, line: &str, crash: &mut Crash) -> Step {
        let t = line.trim_start();
        match *phase & STATE {
            PRE => {
                if t.starts_with("runtime: ") {
                    hold(phase)
                } else if let Some(msg) = line.strip_prefix("fatal error: ") {
                    head(crash, msg, false);
                    set(phase, HEAD, 0);
                    Step::Take
                } else if let Some(msg) = line.strip_prefix("panic: ") {
                    head(crash, msg, true);
                    set(phase, HEAD, 0);
                    Step::Take
                } else {
                    Step::Close
                }
            }
            HEAD => {
                if *phase & SIGNAL != 0 {
                    if t.starts_with("PC=") {
                        *phase &= !SIGNAL;
                        return Step::Take;
                    }
                    return Step::Close;
                }
                if is_goroutine(t) {
                    set(phase, GOROUTINES, 0);
                    return Step::Take;
                }
                if t.trim_end() == "runtime stack:" {
                    set(phase, SYSTEM_STACK, 0);
                    return Step::Take;
                }
                if t.starts_with("exit status ") {
                    return Step::End;
                }
                if is_blank(t) {
                    return hold(phase);
                }
                if indented(line)
                    || starts_with_any(
                        t,
                        &[
                            "[signal ",
                            "panic: ",
                            "fatal error: ",
                            "PC=",
                            "signal arrived",
                        ],
                    )
                {
                    set(phase, HEAD, 0);
                    return Step::Take;
                }
                hold(phase)
            }
            GOROUTINES | SYSTEM_STACK => {
                let state = *phase & STATE;
                if is_blank(t) {
                    return hold(phase);
                }
                if t.starts_with("exit status ") {
                    return Step::End;
                }
                if is_goroutine(t) {
                    if state == GOROUTINES {
                        *phase |= LATER;
                    }
                    set(phase, GOROUTINES, 0);
                    return Step::Take;
                } else if indented(line)
                    || t.starts_with("created by ")
                    || t.trim_end() == "...additional frames elided..."
                    || is_register(t)
                {
                    // A file line, or the end of a stack.
                } else if let Some(name) = func_name(line) {
                    if state == GOROUTINES {
                        note_frame(phase, name, crash);
                    } else {
                        crash.frames = crash.frames.saturating_add(1);
                    }
                } else {
                    return Step::Close;
                }
                set(phase, state, 0);
                Step::Take
            }
            RACE_PRE => {
                if t.trim_end() == RACE_HEAD {
                    crash.ty = "DATA RACE".to_string();
                    set(phase, RACE, 0);
                    Step::Take
                } else {
                    Step::Close
                }
            }
            _ => {
                let te = t.trim_end();
                if te == RACE_RULE {
                    return Step::End;
                }
                if te.is_empty() {
                    *phase |= LATER;
                } else if indented(line) {
                    if !(te.starts_with('/') || te.contains(".go:")) {
                        if let Some(name) = func_name(te) {
                            note_frame(phase, name, crash);
                        }
                    }
                } else if !te.ends_with(':') {
                    return Step::Close;
                }
                Step::Take
            }
        }
    }
}

fn set(phase: &mut u8, state: u8, holds: u8) {
    *phase = (*phase & !(STATE | HOLD)) | state | (holds << HOLD_SHIFT);
}

/// Holds the line, unless as many lines as may be are held already.
fn hold(phase: &mut u8) -> Step {
    let n = (*phase & HOLD) >> HOLD_SHIFT;
    if n >= MAX_HOLD {
        return Step::Close;
    }
    *phase = (*phase & !HOLD) | ((n + 1) << HOLD_SHIFT);
    Step::Hold
}

/// What a `panic: ` / `fatal error: ` line tells.
fn head(crash: &mut Crash, msg: &str, panic: bool) {
    let msg = msg.trim_end();
    crash.message = msg.to_string();
    crash.ty = if panic { panic_ty(msg) } else { ty_of(msg) };
}

/// A panic's type (see the module's documentation).
fn panic_ty(msg: &str) -> String {
    let msg = msg.find(" [recovered").map_or(msg, |i| &msg[..i]);
    match msg.strip_prefix("runtime error: ") {
        Some(err) => {
            let err = err.find(" [").map_or(err, |i| &err[..i]);
            format!("runtime error: {}", ty_of(err))
        }
        None => ty_of(msg),
    }
}

/// net/http's `http: panic serving 10.0.0.1:5000: msg` (or `http2: `),
/// after a log prefix or not.
fn http_panic(line: &str, crash: &mut Crash) -> Option<()> {
    let i = memchr::memmem::find(line.as_bytes(), b": panic serving ")?;
    if !(line[..i].ends_with("http") || line[..i].ends_with("http2")) {
        return None;
    }
    let rest = &line[i + ": panic serving ".len()..];
    let msg = rest.split_once(": ").map_or("", |(_, m)| m).trim_end();
    crash.message = msg.to_string();
    crash.ty = panic_ty(msg);
    Some(())
}

/// `goroutine 1 [running]:` (`goroutine 1 gp=… m=0 [running]:` too).
fn is_goroutine(t: &str) -> bool {
    t.strip_prefix("goroutine ").is_some_and(|r| {
        r.starts_with(|c: char| c.is_ascii_digit())
            && r.contains(" [")
            && r.trim_end().ends_with(':')
    })
}

/// A register of a dump: `rax    0x0`.
fn is_register(t: &str) -> bool {
    let Some((name, value)) = t.split_once([' ', '\t']) else {
        return false;
    };
    (2..=6).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && value.trim_start().starts_with("0x")
}

/// The function a frame line calls, without its arguments:
/// `main.(*T).M(0xc000010000, 0x1)` → `main.(*T).M`.
fn func_name(line: &str) -> Option<&str> {
    let l = line.trim_end();
    if !l.ends_with(')') {
        return None;
    }
    let b = l.as_bytes();
    let mut depth = 0usize;
    for i in (0..b.len()).rev() {
        match b[i] {
            b')' => depth += 1,
            b'(' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let name = &l[..i];
                    return (!name.is_empty() && !name.contains([' ', '\t'])).then_some(name);
                }
            }
            _ => {}
        }
    }
    None
}

/// Counts a frame and keeps its name when it is the first in the
/// application's code of the first goroutine.
fn note_frame(phase: &mut u8, name: &str, crash: &mut Crash) {
    crash.frames = crash.frames.saturating_add(1);
    if *phase & LATER != 0 {
        return;
    }
    if crash.frame.is_empty() || (!is_app(&crash.frame) && is_app(name)) {
        crash.frame = name.to_string();
    }
}

/// The first elements of the standard library's import paths.
const STD: &[&str] = &[
    "runtime",
    "sync",
    "net",
    "reflect",
    "syscall",
    "testing",
    "internal",
    "os",
    "io",
    "fmt",
    "encoding",
    "crypto",
    "context",
    "time",
    "strings",
    "bytes",
    "bufio",
    "sort",
    "strconv",
    "errors",
    "math",
    "database",
    "log",
    "path",
    "regexp",
    "text",
    "html",
    "mime",
    "compress",
    "archive",
    "container",
    "debug",
    "embed",
    "expvar",
    "flag",
    "go",
    "hash",
    "image",
    "index",
    "plugin",
    "unicode",
    "unsafe",
    "vendor",
    "maps",
    "slices",
    "iter",
    "cmp",
    "unique",
    "weak",
    "structs",
    "panic",
];

fn is_app(name: &str) -> bool {
    if name.starts_with("golang.org/x/") {
        return false;
    }
    let first = match name.find('/') {
        Some(i) => &name[..i],
        None => name.split(['.', '(']).next().unwrap_or(name),
    };
    !STD.contains(&first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_types() {
        assert_eq!(
            panic_ty("runtime error: index out of range [5] with length 3"),
            "runtime error: index out of range"
        );
        assert_eq!(
            panic_ty("runtime error: slice bounds out of range [:5] with capacity 3 [recovered]"),
            "runtime error: slice bounds out of range"
        );
        assert_eq!(panic_ty("foo 123"), "foo N");
    }

    #[test]
    fn frames() {
        assert_eq!(func_name("main.main()"), Some("main.main"));
        assert_eq!(
            func_name("net/http.(*conn).serve(0xc00007eaa0, 0x12f10a0)"),
            Some("net/http.(*conn).serve")
        );
        assert_eq!(func_name("panic({0x4b2c20, 0x4f2b50})"), Some("panic"));
        assert_eq!(func_name("exit status 2"), None);
        assert_eq!(func_name("x) (y)"), None);
        assert!(is_app("main.main"));
        assert!(is_app("gvisor.googlesource.com/gvisor/pkg/sentry/fs.Async"));
        assert!(!is_app("runtime.goexit"));
        assert!(!is_app("net/http.(*conn).serve"));
        assert!(!is_app("sync.(*WaitGroup).Wait"));
        assert!(!is_app("panic"));
        assert!(is_register("rax    0x0"));
        assert!(!is_register("main.main()"));
    }
}
