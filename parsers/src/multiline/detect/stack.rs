//! The shape the JVM, .NET and Node.js share: an exception's header line
//! (`com.shop.CartException: msg`, `System.InvalidOperationException:
//! msg`, `TypeError: msg`), then `at` frames.
//!
//! A header alone seldom tells the runtime, and a line naming an exception
//! is not a crash: a header opens a candidate that its first frame
//! confirms, and that frame's shape tells the runtime (`at
//! pkg.Class.method(File.java:12)`, `at Ns.Class.Method(Type arg) in
//! /x.cs:line 12`, `at fn (/app/x.js:1:2)`). So the three detectors share
//! this module: whichever opens a record, its frames set `crash.kind`.
//! Headers that tell their runtime themselves (`Exception in thread
//! "main" …`, `Unhandled exception. …`, a `java.`/`System.` class) are
//! opened only by their own runtime's detector.
//!
//! What the lines tell:
//! - `ty`: the class on the header line (the outermost exception for the
//!   JVM, whose causes follow it; .NET's header names the outer exception
//!   first too), `message` the text after it on that line;
//! - `frame`: the first frame in the application's own code, in the order
//!   printed (for .NET, one with a source file is preferred), else the
//!   first frame. The JVM prints the outer exception's frames first, .NET
//!   and Node.js the innermost's.
//!
//! Lines between a header and its first frame (a message on several
//! lines, a `Caused by:` whose message goes on: blank or indented lines,
//! lines ending with a colon and the line after each) are held, a few at
//! most: a frame takes them into the record, anything else ends it
//! without them.

use std::sync::OnceLock;

use memchr::memmem;

use super::text::{indented, is_blank, starts_with_any, strip_line_col};
use super::{scan, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

// Phase: state in bits 0-1, lines held in bits 2-4, flags in 5-7.
const STATE: u8 = 0b11;
/// After a header (or a `Caused by:`), before its first frame.
const HEAD: u8 = 0;
/// After a frame.
const FRAMES: u8 = 1;
/// Inside Node.js's `{ … }` of an error's own properties.
const PROPS: u8 = 2;
/// After the blank line that follows Node.js frames.
const TAIL: u8 = 3;
const HOLD_SHIFT: u8 = 2;
const HOLD: u8 = 0b111 << HOLD_SHIFT;
/// Most lines held in a row.
const MAX_HOLD: u8 = 7;
/// Lines a header at a line's start may be followed by before its first
/// frame (one in the middle of a log line must be followed by a frame at
/// once).
const CONT_LINES: u8 = 6;
/// The last line held ends with a colon (`nested exception is:`): what
/// follows goes on the message.
const COLON: u8 = 1 << 5;
/// The runtime is told (by the header or a frame).
const FIXED: u8 = 1 << 6;
/// The best frame there can be was found: no frame replaces it.
const BEST: u8 = 1 << 7;

/// How the last word of an exception class ends.
const SUFFIXES: &[&str] = &[
    "Exception",
    "Error",
    "Throwable",
    "Failure",
    "ExceptionInfo",
];

/// A header line's exception.
struct Header<'a> {
    class: &'a str,
    message: &'a str,
    /// The class begins the line (after white space).
    at_start: bool,
    /// The runtime, when the header tells it.
    kind: Option<CrashKind>,
    /// The line is a crash for sure (an uncaught exception's banner).
    confirmed: bool,
}

/// Opens a record when `line` is an exception's header, for the detector
/// of `own`. Only the JVM's looks for a header in the middle of a line
/// (after a log line's own text: java.util.logging, Android, Hadoop), which
/// costs a search of the line: a header there opens a record whatever its
/// class, and the frames tell the kind.
pub(super) fn open(line: &str, crash: &mut Crash, own: CrashKind) -> Option<Opening> {
    let h = header(line, own == CrashKind::Jvm)?;
    match h.kind {
        Some(k) if k != own && h.at_start => return None,
        Some(k) => crash.kind = k,
        None => crash.kind = own,
    }
    crash.ty = h.class.to_string();
    crash.message = h.message.to_string();
    let mut phase = HEAD;
    if h.kind.is_some() {
        phase |= FIXED;
    }
    set_holds(
        &mut phase,
        if h.at_start {
            MAX_HOLD - CONT_LINES
        } else {
            MAX_HOLD
        },
    );
    Some(Opening {
        phase,
        confirmed: h.confirmed,
    })
}

/// Whether a line beginning with `b` may begin with a header (see
/// [`super::gate`]): a letter or `_`, after white space or not.
pub(super) fn may_begin(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b.is_ascii_whitespace() || b == 0x0B || b >= 0x80
}

/// Whether `line` may begin with a header (white space before it aside),
/// as [`header`] reads one there: the gate of .NET's and Node.js's
/// detectors, and half the JVM's (see [`super::gate`]).
pub(super) fn may_begin_with_header(line: &str) -> bool {
    let t = match line.as_bytes().first() {
        Some(&c) if CLASS_STARTS[c as usize] => line,
        Some(c) if c.is_ascii_graphic() => return false,
        Some(_) => line.trim_start(),
        None => return false,
    };
    let b = t.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    if !CLASS_STARTS[first as usize] {
        return false;
    }
    if (first == b'E' && t.starts_with("Exception in thread \""))
        || (first == b'U' && t.starts_with("Unhandled "))
    {
        return true;
    }
    // A class, which must end as exceptions do, and what may follow it.
    let end = scan::word_end(b, scan::Word::Class);
    let rest = &t[end..];
    let follows = match rest.as_bytes().first() {
        None | Some(b':') => true,
        Some(b' ') if rest.as_bytes().get(1) == Some(&b'[') => true,
        Some(c) if c.is_ascii_graphic() => false,
        // White space (or the start of a character that may be white
        // space): the end of the line if only white space follows.
        Some(_) => rest.trim_start().is_empty(),
    };
    follows && SUFFIXES.iter().any(|s| t[..end].ends_with(s))
}

/// Whether `line` may hold a header after other text, as [`within`] finds
/// one: the other half of the JVM's gate (see [`super::gate`]). One
/// search of the line for `: ` (a header's class ends before one, or
/// before a colon that ends the line).
pub(super) fn may_hold_header(line: &str) -> bool {
    let b = line.as_bytes();
    let ends_as_class = |p: usize| SUFFIXES.iter().any(|s| line[..p].ends_with(s));
    let mut from = 0;
    while let Some(i) = find_colon_space(&b[from..]) {
        let p = from + i;
        if ends_as_class(p) {
            return true;
        }
        from = p + 2;
    }
    // A header whose class ends the line: `… MakeLog: RuntimeException:`.
    let t = match b.last() {
        Some(b':') => line,
        Some(c) if c.is_ascii_graphic() => return false,
        _ => line.trim_end(),
    };
    t.ends_with(':') && ends_as_class(t.len() - 1)
}

/// The first `: ` in `b`. On x86-64 with AVX2 (most lines are long enough
/// for its vectors), `memchr`'s searcher of a pair of bytes, called
/// directly: the general searcher's set-up costs as much as its search of
/// a log line.
#[inline]
fn find_colon_space(b: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use memchr::arch::x86_64::avx2::packedpair::Finder;
        static AVX2: OnceLock<Option<Finder>> = OnceLock::new();
        if let Some(f) = AVX2.get_or_init(|| Finder::new(b": ")) {
            if b.len() >= f.min_haystack_len() {
                return f.find(b, b": ");
            }
        }
    }
    static COLON_SPACE: OnceLock<memmem::Finder<'static>> = OnceLock::new();
    COLON_SPACE
        .get_or_init(|| memmem::Finder::new(": "))
        .find(b)
}

/// How `line` goes on a record in `phase`.
pub(super) fn step(phase: &mut u8, line: &str, crash: &mut Crash) -> Step {
    let t = line.trim_start();
    match *phase & STATE {
        PROPS => {
            if t.starts_with('}') {
                set_state(phase, FRAMES);
                return Step::Take;
            }
            return if indented(line) {
                Step::Take
            } else {
                Step::Close
            };
        }
        TAIL => {
            if t.starts_with("Node.js v") {
                return Step::End;
            }
            return if is_blank(t) {
                hold(phase)
            } else {
                Step::Close
            };
        }
        _ => {}
    }
    if let Some(rest) = t.strip_prefix("at ") {
        let rest = rest.trim_end();
        let style = style_of(rest);
        if !rest.starts_with('[') && (style.is_some() || indented(line)) {
            if *phase & FIXED == 0 {
                if let Some(k) = style {
                    crash.kind = k;
                    *phase |= FIXED;
                }
            }
            note_frame(phase, rest, crash);
            let props = crash.kind == CrashKind::Node && rest.ends_with('{');
            set_state(phase, if props { PROPS } else { FRAMES });
            set_holds(phase, 0);
            return Step::Take;
        }
    }
    // After a frame, or in a cause after frames: the trace's own lines.
    if crash.frames > 0 {
        if t.starts_with("... ") || t.starts_with("--- End of ") || t.trim_end() == "<---" {
            set_state(phase, FRAMES);
            set_holds(phase, 0);
            return Step::Take;
        }
        if starts_with_any(t, &["Caused by: ", "Suppressed: ", "Wrapped by: ", "---> "]) {
            set_state(phase, HEAD);
            set_holds(phase, MAX_HOLD - CONT_LINES);
            return Step::Take;
        }
    }
    if *phase & STATE == HEAD {
        // Lines that may go on a message before its first frame: blank or
        // indented ones, ones ending with a colon and the line after them
        // (`  nested exception is:` then the nested exception); another
        // line ends the record.
        let te = t.trim_end();
        if !(is_blank(t) || indented(line) || te.ends_with(':') || *phase & COLON != 0) {
            return Step::Close;
        }
        let step = hold(phase);
        *phase &= !COLON;
        if te.ends_with(':') {
            *phase |= COLON;
        }
        return step;
    }
    // After a frame.
    if crash.kind == CrashKind::Node {
        if t.starts_with("Node.js v") {
            return Step::End;
        }
        if is_blank(t) {
            set_state(phase, TAIL);
            set_holds(phase, MAX_HOLD - 2);
            return Step::Hold;
        }
    }
    Step::Close
}

fn set_state(phase: &mut u8, state: u8) {
    *phase = (*phase & !(STATE | COLON)) | state;
}

fn set_holds(phase: &mut u8, n: u8) {
    *phase = (*phase & !HOLD) | (n.min(MAX_HOLD) << HOLD_SHIFT);
}

/// Holds the line, unless as many lines as may be are held already.
fn hold(phase: &mut u8) -> Step {
    let n = (*phase & HOLD) >> HOLD_SHIFT;
    if n >= MAX_HOLD {
        return Step::Close;
    }
    set_holds(phase, n + 1);
    Step::Hold
}

/// The exception header in `line`, if it is one (in the middle of the
/// line too with `inline`).
fn header(line: &str, inline: bool) -> Option<Header<'_>> {
    let t = line.trim();
    let first = *t.as_bytes().first()?;
    if first == b'E' {
        if let Some(rest) = t.strip_prefix("Exception in thread \"") {
            let q = rest.find("\" ")?;
            let (class, message) = class_and_message(&rest[q + 2..], true)?;
            return Some(Header {
                class,
                message,
                at_start: true,
                kind: Some(CrashKind::Jvm),
                confirmed: true,
            });
        }
    }
    if first == b'U' {
        for prefix in ["Unhandled exception. ", "Unhandled Exception: "] {
            if let Some(rest) = t.strip_prefix(prefix) {
                let (class, message) = class_and_message(rest, true)?;
                return Some(Header {
                    class,
                    message,
                    at_start: true,
                    kind: Some(CrashKind::Dotnet),
                    confirmed: true,
                });
            }
        }
    }
    if first.is_ascii_alphabetic() || first == b'_' {
        if let Some((class, message)) = class_and_message(t, false) {
            return Some(Header {
                class,
                message,
                at_start: true,
                kind: kind_of_class(class),
                confirmed: false,
            });
        }
    }
    if inline {
        within(t)
    } else {
        None
    }
}

/// A header in the middle of a line: `… MakeLog: RuntimeException: msg`.
fn within(t: &str) -> Option<Header<'_>> {
    static COLON_SPACE: OnceLock<memmem::Finder<'static>> = OnceLock::new();
    let finder = COLON_SPACE.get_or_init(|| memmem::Finder::new(": "));
    let b = t.as_bytes();
    let ends = b.last() == Some(&b':');
    for p in finder.find_iter(b).chain(ends.then_some(b.len() - 1)) {
        let before = &t[..p];
        if !SUFFIXES.iter().any(|s| before.ends_with(s)) {
            continue;
        }
        let start = before
            .bytes()
            .rposition(|c| !is_class_byte(c))
            .map_or(0, |i| i + 1);
        if start == 0 {
            continue;
        }
        let class = &before[start..];
        if !valid_class(class, false) {
            continue;
        }
        return Some(Header {
            class,
            message: t[p + 1..].trim_start(),
            at_start: false,
            kind: kind_of_class(class),
            confirmed: false,
        });
    }
    None
}

/// The class `s` begins with and the message after it: `Class`,
/// `Class: message`, `Error [CODE]: message`. With `any`, the class may
/// end with any word (the line told already that it is an exception).
fn class_and_message(s: &str, any: bool) -> Option<(&str, &str)> {
    let end = s.bytes().position(|c| !is_class_byte(c)).unwrap_or(s.len());
    let mut rest = &s[end..];
    // What may follow a class, checked first: most lines fail here.
    if !(rest.is_empty() || rest.starts_with(':') || rest.starts_with(" [")) {
        return None;
    }
    let mut class = &s[..end];
    if !valid_class(class, any) {
        return None;
    }
    if rest.starts_with(" [") {
        // Node.js: `Error [ERR_MODULE_NOT_FOUND]: message`; the code is
        // part of the type.
        let close = end + rest.find(']')? + 1;
        class = &s[..close];
        rest = &s[close..];
    }
    let message = if rest.is_empty() || rest == ":" {
        ""
    } else {
        rest.strip_prefix(": ")?
    };
    Some((class, message))
}

/// Whether `c` may be part of a class's name: a letter, a digit, or one of
/// `_$.`+`.
fn is_class_byte(c: u8) -> bool {
    scan::in_word(c, scan::Word::Class)
}

/// Whether a class may begin with a byte: a letter or `_`.
static CLASS_STARTS: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphabetic() || b == b'_';
        c += 1;
    }
    t
};

/// Whether `class` reads as an exception class: dotted words, the last
/// capitalised (and, unless `any`, ending as exceptions do).
fn valid_class(class: &str, any: bool) -> bool {
    if !(any || SUFFIXES.iter().any(|s| class.ends_with(s))) {
        return false;
    }
    let b = class.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == b'_') || class.ends_with('.') {
        return false;
    }
    if b.windows(2).any(|w| w == b"..") {
        return false;
    }
    let last = b.iter().rposition(|&c| c == b'.').map_or(0, |i| i + 1);
    b.get(last).is_some_and(u8::is_ascii_uppercase)
}

/// The runtime a class's namespace tells.
fn kind_of_class(class: &str) -> Option<CrashKind> {
    if starts_with_any(class, &["System.", "Microsoft."]) {
        Some(CrashKind::Dotnet)
    } else if starts_with_any(
        class,
        &[
            "java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "kotlinx.", "scala.",
            "jakarta.",
        ],
    ) {
        Some(CrashKind::Jvm)
    } else {
        None
    }
}

/// What JVM frames hold in their parentheses besides `File.java:12`.
const JVM_SOURCES: &[&str] = &["Native Method", "Unknown Source", "Unknown source"];

/// The runtime a frame (the text after `at `) comes from, by its shape.
fn style_of(r: &str) -> Option<CrashKind> {
    if r.contains(") in ") || r.contains(" [0x") || r.ends_with(":line 0") || dotnet_line(r) {
        return Some(CrashKind::Dotnet);
    }
    if let Some(p) = r.find('(') {
        let name = &r[..p];
        if !name.is_empty() && !name.contains(' ') {
            let q = p + 1 + r[p + 1..].find(')')?;
            let inside = &r[p + 1..q];
            let after = &r[q + 1..];
            let jvm_source = JVM_SOURCES.contains(&inside)
                || (!inside.is_empty() && !inside.contains([' ', ',']));
            if jvm_source
                && (after.is_empty() || after.starts_with(" ~[") || after.starts_with(" ["))
            {
                return Some(CrashKind::Jvm);
            }
            if inside.is_empty() || inside.contains(' ') {
                return Some(CrashKind::Dotnet);
            }
        }
    }
    if r.ends_with(')') && r.contains(" (") {
        return Some(CrashKind::Node);
    }
    if strip_line_col(r).len() < r.len()
        || starts_with_any(r, &["/", "file://", "node:", "<anonymous>"])
    {
        return Some(CrashKind::Node);
    }
    None
}

/// Whether `r` ends with `:line <digits>` (a .NET source line).
fn dotnet_line(r: &str) -> bool {
    r.rsplit_once(":line ")
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Counts a frame and keeps its name when it is the best so far.
fn note_frame(phase: &mut u8, r: &str, crash: &mut Crash) {
    crash.frames = crash.frames.saturating_add(1);
    if *phase & BEST != 0 {
        return;
    }
    let (name, rank) = frame_name(crash.kind, r);
    let current = if crash.frame.is_empty() {
        None
    } else {
        Some(u8::from(is_app(crash.kind, &crash.frame)))
    };
    if current.is_none_or(|c| rank > c) {
        crash.frame = name;
    }
    let best = if crash.kind == CrashKind::Dotnet {
        2
    } else {
        1
    };
    if rank >= best {
        *phase |= BEST;
    }
}

/// A frame's name and rank: 0 outside the application's code, 1 inside,
/// 2 inside with a source file (.NET).
fn frame_name(kind: CrashKind, r: &str) -> (String, u8) {
    match kind {
        CrashKind::Node => {
            let (name, loc) = match r.strip_suffix(')').and_then(|s| s.rsplit_once(" (")) {
                Some((name, loc)) => (name.strip_prefix("async ").unwrap_or(name), loc),
                None => ("", r.trim_end_matches('{').trim_end()),
            };
            let loc = strip_line_col(loc);
            let rank = u8::from(node_app(loc));
            let name = if name.is_empty() {
                loc.to_string()
            } else {
                format!("{name} ({loc})")
            };
            (name, rank)
        }
        CrashKind::Dotnet => {
            let name = r.split('(').next().unwrap_or(r).trim_end();
            let file = r.contains(") in ") && !r.contains("<filename unknown>");
            let rank = match (dotnet_app(name), file) {
                (false, _) => 0,
                (true, false) => 1,
                (true, true) => 2,
            };
            (name.to_string(), rank)
        }
        _ => {
            let name = r.split('(').next().unwrap_or(r).trim_end();
            // `java.base/java.lang.Thread.run`, `app//org.foo.Bar.baz`.
            let name = name.rsplit('/').next().unwrap_or(name);
            (name.to_string(), u8::from(jvm_app(name)))
        }
    }
}

/// Whether a kept frame name is in the application's own code.
fn is_app(kind: CrashKind, frame: &str) -> bool {
    match kind {
        CrashKind::Node => {
            let loc = frame
                .strip_suffix(')')
                .and_then(|s| s.rsplit_once(" ("))
                .map_or(frame, |(_, loc)| loc);
            node_app(loc)
        }
        CrashKind::Dotnet => dotnet_app(frame),
        _ => jvm_app(frame),
    }
}

fn jvm_app(name: &str) -> bool {
    !starts_with_any(
        name,
        &[
            "java.",
            "javax.",
            "jdk.",
            "sun.",
            "com.sun.",
            "kotlin.",
            "kotlinx.",
            "scala.",
            "jakarta.",
            "org.springframework.",
            "org.apache.",
            "org.eclipse.jetty.",
            "org.mortbay.",
            "org.junit.",
            "org.hibernate.",
            "io.netty.",
            "reactor.",
            "akka.",
            "groovy.",
            "org.codehaus.groovy.",
            "clojure.",
            "com.fasterxml.",
            "ch.qos.logback.",
            "org.slf4j.",
        ],
    )
}

fn dotnet_app(name: &str) -> bool {
    !starts_with_any(
        name,
        &[
            "System.",
            "Microsoft.",
            "Mono.",
            "Interop.",
            "Internal.",
            "lambda_method",
        ],
    )
}

fn node_app(loc: &str) -> bool {
    loc.contains(['/', '\\'])
        && !loc.contains("node_modules")
        && !starts_with_any(loc, &["node:", "internal/"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let header = |l| header(l, true);
        let h = header("java.lang.IllegalStateException: boom").unwrap();
        assert_eq!(
            (h.class, h.message, h.at_start),
            ("java.lang.IllegalStateException", "boom", true)
        );
        assert_eq!(h.kind, Some(CrashKind::Jvm));
        let h = header("Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space")
            .unwrap();
        assert!(h.confirmed);
        assert_eq!(h.class, "java.lang.OutOfMemoryError");
        let h = header("kotlin.KotlinNullPointerException").unwrap();
        assert_eq!(
            (h.class, h.message),
            ("kotlin.KotlinNullPointerException", "")
        );
        let h = header("Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'x'").unwrap();
        assert_eq!(
            (h.class, h.message),
            ("Error [ERR_MODULE_NOT_FOUND]", "Cannot find package 'x'")
        );
        let h =
            header("Jul 09, 2015 3:23:29 PM com.google.MakeLog: RuntimeException: Run!").unwrap();
        assert_eq!(
            (h.class, h.message, h.at_start),
            ("RuntimeException", "Run!", false)
        );
        let h = header("Unhandled exception. System.InvalidOperationException: nope").unwrap();
        assert_eq!(h.kind, Some(CrashKind::Dotnet));
        for plain in [
            "",
            "   ",
            "Consume error: Subscribed topic not available: orders",
            "error: the thing failed",
            "2024-01-01 12:00:00 INFO started",
            r#"{"level":"error","msg":"x"}"#,
            "Exception in thread",
            "com.foo.Bar: not an exception",
            "It sounds tympanic: a word which means like a drum.",
        ] {
            assert!(header(plain).is_none(), "{plain}");
        }
        assert_eq!(header("Error").map(|h| h.class), Some("Error"));
    }

    #[test]
    fn frame_styles() {
        use CrashKind::*;
        for (frame, kind) in [
            ("com.foo.Bar.baz(Bar.java:12)", Jvm),
            ("java.base/java.lang.Thread.run(Thread.java:748)", Jvm),
            ("sun.reflect.X.invoke(Unknown Source)", Jvm),
            ("com.foo.Bar.baz(Bar.java:12) ~[app.jar:1.0]", Jvm),
            ("Ns.Class.Method(String[] args) in /x.cs:line 12", Dotnet),
            (
                "Confluent.Kafka.Consumer`2.Consume(Int32 millisecondsTimeout)",
                Dotnet,
            ),
            ("Ns.Class.Method()", Dotnet),
            (
                "System.Threading.Thread.StartInternal () [0x00000] in <filename unknown>:0",
                Dotnet,
            ),
            (
                "next (/app/node_modules/express/lib/router/index.js:256:14)",
                Node,
            ),
            ("/app/app.js:52:3", Node),
            ("async Promise.all (index 0)", Node),
            ("new Foo (/x.js:1:2)", Node),
            ("Object.<anonymous> (/app/index.js:5:11)", Node),
        ] {
            assert_eq!(style_of(frame), Some(kind), "{frame}");
        }
        assert_eq!(style_of("a_function_name"), None);
    }
}
