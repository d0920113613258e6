//! PHP crash records: fatal errors, uncaught exceptions with their stack
//! traces, and exceptions that reached Laravel's handler.
//!
//! ```text
//! PHP Fatal error:  Uncaught RuntimeException: Cart is empty in /app/src/Cart.php:12
//! Stack trace:
//! #0 /app/public/index.php(8): Cart->checkout()
//! #1 {main}
//!   thrown in /app/src/Cart.php on line 12
//! ```
//!
//! A record opens at:
//! - `PHP Fatal error:` (and `Parse error`, `Catchable fatal error`,
//!   `Recoverable fatal error`, `Core error`, `Compile error`, with or
//!   without `PHP ` and the error log's `[date] `): a crash for sure, one
//!   line when nothing follows (`Allowed memory size … exhausted`);
//! - an exception's text as PHP writes it (`exception 'Foo' with message
//!   '…' in /x.php:5`, `Foo\Bar: msg in /x.php:5`), when `Stack trace:`
//!   follows;
//! - Laravel's `[date] env.ERROR: msg {"exception":"[object] (Class(code:
//!   0): msg at /x.php:12)` (levels ERROR, CRITICAL, ALERT, EMERGENCY),
//!   and its `[date] env.ERROR: Uncaught Foo: msg in …` when `Stack
//!   trace:` follows. A Laravel entry that carries an exception is an
//!   exception that reached the framework's handler: the record goes from
//!   its `[date] env.LEVEL:` line to the `"}` that closes its context,
//!   through `[stacktrace]`, `[previous exception]` and blank lines.
//!
//! Then `Stack trace:` / `[stacktrace]`, the `#N …` frames, `#N {main}`,
//! `  thrown in … on line N` (the record's last line), and `Next Foo: …`
//! for chained exceptions.
//!
//! `ty` is the exception's class (`RuntimeException`,
//! `Illuminate\Database\QueryException`); for a fatal error that is no
//! exception, its message without its location and with numbers and
//! paths replaced (`Allowed memory size of N bytes exhausted (tried to
//! allocate N bytes)`, `syntax error, unexpected '}'`). `frame` is the
//! function whose code holds the innermost place in the application's own
//! files (outside `vendor/`). PHP prints each frame as a call, the place it
//! was made from and the function called, so that function is the one the
//! next frame calls (`App\Http\Middleware\Trace->handle`), or the file's
//! name when the place is a script's top level (`index.php`); when an
//! internal function threw, the place of its call counts. Without such a
//! place, `frame` is the top frame's function.

use super::text::{starts_with_any, ty_of};
use super::{scan, Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects PHP fatal errors and stack traces.
pub struct Php;

// Phase: state in bits 0-1, flags above.
const STATE: u8 = 0b11;
/// After a header, before `Stack trace:`.
const HEAD: u8 = 0;
/// In a stack trace.
const TRACE: u8 = 1;
/// After `{main}`.
const AFTER: u8 = 2;
/// A Laravel entry: it ends at `"}`.
const LARAVEL: u8 = 1 << 2;
/// The last place seen is in the application's code: the next frame's
/// function is the one that encloses it.
const PENDING: u8 = 1 << 3;
/// `frame` is final.
const BEST: u8 = 1 << 4;
/// The pending place is the header's (`frame` holds it as `file:line`): a
/// first frame called from that very place is an internal function's,
/// which threw there.
const HEADER_PLACE: u8 = 1 << 5;

const FATAL_LEVELS: &[&str] = &[
    "Fatal error",
    "Parse error",
    "Catchable fatal error",
    "Recoverable fatal error",
    "Core error",
    "Compile error",
];

/// Whether a line beginning with `b` may open a record (see
/// [`super::gate`]).
pub(super) fn may_begin(b: u8) -> bool {
    b == b'[' || b.is_ascii_alphabetic() || b == b'\\' || b == b'_'
}

/// The gate of [`Php`] (see [`super::gate`]): a dated line is left to
/// [`Detector::open`]; another opens at a fatal error's level or, ending
/// with a digit, at an exception's text.
pub(super) fn may_open(line: &str) -> bool {
    let b = line.as_bytes();
    match b.first() {
        Some(b'[') => true,
        Some(b'P' | b'F' | b'C' | b'R') if fatal_level(line) => true,
        Some(&c) if c.is_ascii_alphabetic() || c == b'\\' || c == b'_' => {
            may_be_exception(line) && ends_with_digit(line)
        }
        _ => false,
    }
}

/// Whether `s` may be an exception's text as [`exception`] reads it: its
/// class followed by `: ` or ` in `, or PHP 5's `exception '`.
fn may_be_exception(s: &str) -> bool {
    let b = s.as_bytes();
    let r = &b[scan::word_end(b, scan::Word::Php)..];
    r.starts_with(b": ") || r.starts_with(b" in ") || s.starts_with("exception '")
}

/// Whether `s` begins with a fatal error's level and its colon, as
/// [`fatal`] reads it.
fn fatal_level(s: &str) -> bool {
    let s = s.strip_prefix("PHP ").unwrap_or(s);
    FATAL_LEVELS
        .iter()
        .any(|l| s.starts_with(l) && s.as_bytes().get(l.len()) == Some(&b':'))
}

/// Whether `s` ends with a digit, white space after it aside.
fn ends_with_digit(s: &str) -> bool {
    match s.as_bytes().last() {
        Some(c) if c.is_ascii_digit() => true,
        // Neither a digit nor white space (nor the end of a character,
        // which may be white space).
        Some(c) if c.is_ascii_graphic() => false,
        _ => s.trim_end().ends_with(|c: char| c.is_ascii_digit()),
    }
}

impl Detector for Php {
    fn kind(&self) -> CrashKind {
        CrashKind::Php
    }

    fn open(&self, line: &str, crash: &mut Crash) -> Option<Opening> {
        let b = line.as_bytes();
        let mut rest = line;
        let mut dated = false;
        if *b.first()? == b'[' {
            let close = memchr::memchr(b']', &b[..b.len().min(64)])?;
            rest = line[close + 1..].strip_prefix(' ')?;
            if let Some(o) = laravel(rest, crash) {
                return Some(o);
            }
            dated = true;
        }
        let first = *rest.as_bytes().first()?;
        if matches!(first, b'P' | b'F' | b'C' | b'R') {
            if let Some(o) = fatal(rest, crash) {
                return Some(o);
            }
        }
        if dated || !(first.is_ascii_alphabetic() || first == b'\\' || first == b'_') {
            return None;
        }
        // An exception's text, confirmed by its `Stack trace:`.
        if !ends_with_digit(rest) {
            return None;
        }
        let (class, message, loc) = exception(rest.trim_end())?;
        if !(loc.contains(".php") || loc.starts_with("Command line code")) {
            return None;
        }
        let mut phase = HEAD;
        tell(crash, &mut phase, class, message, loc);
        Some(Opening {
            phase,
            confirmed: false,
        })
    }

    fn step(&self, phase: &mut u8, line: &str, crash: &mut Crash) -> Step {
        let t = line.trim_start();
        let te = t.trim_end();
        let laravel = *phase & LARAVEL != 0;
        if laravel && te == "\"}" {
            return Step::End;
        }
        match *phase & STATE {
            HEAD => {
                if te == "Stack trace:" || te == "[stacktrace]" {
                    set_state(phase, TRACE);
                    Step::Take
                } else {
                    Step::Close
                }
            }
            TRACE => match frame(te) {
                Some("{main}") => {
                    if *phase & PENDING != 0 {
                        settle(phase, crash, None);
                    }
                    crash.frames = crash.frames.saturating_add(1);
                    set_state(phase, AFTER);
                    Step::Take
                }
                Some(body) => {
                    note_frame(phase, body, crash);
                    Step::Take
                }
                None => Step::Close,
            },
            _ => {
                if t.starts_with("thrown in ") {
                    if laravel {
                        Step::Take
                    } else {
                        Step::End
                    }
                } else if laravel && t.starts_with("thrown ") {
                    // `  thrown {"exception":"[object] (…` opens the
                    // context's copy of the trace; `  thrown at …)` ends it.
                    if t.contains("{\"exception\":") {
                        set_state(phase, HEAD);
                    }
                    Step::Take
                } else if t.starts_with("Next ") {
                    set_state(phase, HEAD);
                    Step::Take
                } else if laravel && te.is_empty() {
                    Step::Take
                } else if laravel && te.starts_with("[previous exception]") {
                    set_state(phase, HEAD);
                    Step::Take
                } else if laravel && te == "[stacktrace]" {
                    set_state(phase, TRACE);
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

/// `Fatal error: msg` (after `PHP ` or not).
fn fatal(s: &str, crash: &mut Crash) -> Option<Opening> {
    let s = s.strip_prefix("PHP ").unwrap_or(s);
    let (level, msg) = s.split_once(':')?;
    if !FATAL_LEVELS.contains(&level) {
        return None;
    }
    let msg = msg.trim();
    let mut phase = HEAD;
    match msg.strip_prefix("Uncaught ").and_then(exception) {
        Some((class, message, loc)) => tell(crash, &mut phase, class, message, loc),
        None => {
            crash.message = msg.to_string();
            crash.ty = ty_of(without_location(msg));
        }
    }
    Some(Opening {
        phase,
        confirmed: true,
    })
}

/// `msg` without its trailing ` in /x.php on line 12` / ` in /x.php:12`.
fn without_location(msg: &str) -> &str {
    match msg.rfind(" in ") {
        Some(i) if msg.ends_with(|c: char| c.is_ascii_digit()) => &msg[..i],
        _ => msg,
    }
}

/// Laravel's `env.LEVEL: message {"exception":"[object] (…` or
/// `env.LEVEL: Uncaught Foo: msg in …` (`s` follows the `[date] `).
fn laravel(s: &str, crash: &mut Crash) -> Option<Opening> {
    let dot = s.as_bytes().iter().take(40).position(|&c| c == b'.')?;
    if dot == 0
        || !s.as_bytes()[..dot]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
    {
        return None;
    }
    let (level, msg) = s[dot + 1..].split_once(": ")?;
    if !["ERROR", "CRITICAL", "ALERT", "EMERGENCY"].contains(&level) {
        return None;
    }
    let mut phase = HEAD | LARAVEL;
    const CONTEXT: &str = "{\"exception\":\"[object] (";
    if let Some(i) = memchr::memmem::find(msg.as_bytes(), CONTEXT.as_bytes()) {
        // `Class(code: 0): message at /path/x.php:12)`
        let object = &msg[i + CONTEXT.len()..];
        let (class, rest) = object.split_once("(code: ")?;
        let (_, rest) = rest.split_once("): ")?;
        let rest = rest.trim_end().strip_suffix(')').unwrap_or(rest);
        let (message, loc) = rest.rsplit_once(" at ").unwrap_or((rest, ""));
        let class = class.replace("\\\\", "\\");
        tell(crash, &mut phase, &class, message, loc);
        return Some(Opening {
            phase,
            confirmed: true,
        });
    }
    let (class, message, loc) = exception(msg.strip_prefix("Uncaught ")?.trim_end())?;
    tell(crash, &mut phase, class, message, loc);
    Some(Opening {
        phase,
        confirmed: false,
    })
}

/// An exception's class, message and location as PHP writes them:
/// `Foo\Bar: message in /x.php:5`, `Foo in /x.php:5` (no message),
/// `exception 'Foo' with message 'message' in /x.php:5` (PHP 5).
fn exception(s: &str) -> Option<(&str, &str, &str)> {
    if let Some(r) = s.strip_prefix("exception '") {
        let (class, r) = r.split_once('\'')?;
        let r = r.strip_prefix(" with message '")?;
        let (message, loc) = r.rsplit_once("' in ")?;
        return Some((class, message, loc));
    }
    let end = s
        .bytes()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'\\')))
        .unwrap_or(s.len());
    let class = &s[..end];
    if class.is_empty() || class.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let r = &s[end..];
    let (message, loc) = match r.strip_prefix(": ") {
        Some(r) => r.rsplit_once(" in ")?,
        None => ("", r.strip_prefix(" in ")?),
    };
    Some((class, message, loc))
}

/// What a header tells: its class and message, and its place.
fn tell(crash: &mut Crash, phase: &mut u8, class: &str, message: &str, loc: &str) {
    crash.ty = class.to_string();
    crash.message = message.to_string();
    let (file, line) = loc
        .rsplit_once(':')
        .or_else(|| loc.rsplit_once(" on line "))
        .unwrap_or((loc, ""));
    if !file.is_empty() && is_app(file) {
        crash.frame = format!("{}:{line}", base_name(file));
        *phase |= PENDING | HEADER_PLACE;
    }
}

/// The text of a `#N …` frame line after its number.
fn frame(t: &str) -> Option<&str> {
    let r = t.strip_prefix('#')?;
    let (n, body) = r.split_once(' ')?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(body)
}

/// Counts a frame (`/x.php(12): Foo->bar(args)`, `[internal function]:
/// Foo->bar()`) and follows the application's innermost place.
fn note_frame(phase: &mut u8, body: &str, crash: &mut Crash) {
    crash.frames = crash.frames.saturating_add(1);
    if *phase & BEST != 0 {
        return;
    }
    let sep = if body.starts_with('[') { "]: " } else { "): " };
    let (place, call) = match body.find(sep) {
        Some(i) => (&body[..=i], &body[i + 3..]),
        None => ("", body),
    };
    let func = call.split('(').next().unwrap_or(call).replace("\\\\", "\\");
    let (file, line) = place
        .strip_suffix(')')
        .and_then(|p| p.rsplit_once('('))
        .unwrap_or((place, ""));
    if *phase & HEADER_PLACE != 0 {
        *phase &= !HEADER_PLACE;
        if crash.frame == format!("{}:{line}", base_name(file)) {
            // Called from where the exception was thrown: an internal
            // function threw it; the place is this frame's.
            crash.frame = base_name(file).to_string();
            return;
        }
    }
    if *phase & PENDING != 0 {
        settle(phase, crash, Some(func));
        return;
    }
    if crash.frame.is_empty() {
        crash.frame = func;
    }
    if !file.is_empty() && is_app(file) {
        crash.frame = base_name(file).to_string();
        *phase |= PENDING;
    }
}

/// The pending place's enclosing function is `func` (`None`: the script's
/// top level): it names the crash, unless it is a script's inclusion, then
/// the place's file does.
fn settle(phase: &mut u8, crash: &mut Crash, func: Option<String>) {
    match func {
        Some(f)
            if !matches!(
                f.as_str(),
                "require" | "require_once" | "include" | "include_once"
            ) =>
        {
            crash.frame = f;
        }
        _ => {
            let file = crash
                .frame
                .rsplit_once(':')
                .map_or(&crash.frame[..], |(f, _)| f);
            crash.frame = file.to_string();
        }
    }
    *phase = (*phase & !(PENDING | HEADER_PLACE)) | BEST;
}

fn is_app(file: &str) -> bool {
    !(file.contains("/vendor/") || file.contains("\\vendor\\") || starts_with_any(file, &["["]))
}

fn base_name(file: &str) -> &str {
    file.rsplit(['/', '\\']).next().unwrap_or(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions() {
        assert_eq!(
            exception("Exception: boom in /x/y.php:12"),
            Some(("Exception", "boom", "/x/y.php:12"))
        );
        assert_eq!(
            exception("exception 'Exception' with message 'Custom exception' in /t.php:5"),
            Some(("Exception", "Custom exception", "/t.php:5"))
        );
        assert_eq!(
            exception("Foo\\Bar in /x.php:3"),
            Some(("Foo\\Bar", "", "/x.php:3"))
        );
        assert_eq!(exception("12 things in /x.php:3"), None);
        assert_eq!(
            without_location("Allowed memory size of 1 bytes exhausted in /x.php on line 12"),
            "Allowed memory size of 1 bytes exhausted"
        );
    }
}
