//! Multi-line records: the lines of one input grouped into records (a stack
//! trace, a traceback, a panic with its goroutines, a kernel oops), each
//! told apart from the lines around it and, when it is a crash, described
//! ([`Crash`]).
//!
//! A [`Joiner`] holds the one open record of one input (a file, a
//! container's stream, a Kafka partition) and is fed that input's lines in
//! order. It hands out [`Piece`]s: lines that belong to no record, passed
//! through as they are (borrowed, nothing copied), and complete records,
//! their lines joined with `\n`. It keeps no clock: its owner completes an
//! open record with [`Joiner::finish`] when the input has been idle long
//! enough, ends, or is handed to another configuration.
//!
//! Records are told by a [`Spec`]:
//! - **`auto`**: the built-in [`detect`]ors, one per runtime; a line that no
//!   detector takes for a crash's start is passed through at once;
//! - **patterns**: a start pattern (a line matching it begins a record;
//!   lines that do not continue it), a continuation pattern (lines
//!   matching it continue the record; any other line begins one), or both
//!   (a line matching neither is a line of its own). A record of one line
//!   is passed on as a line unless it is a crash; records are described
//!   by the built-in detectors.
//!
//! A record is bounded by lines and bytes: the line that would go past a
//! bound completes the record, which is marked truncated, and is looked at
//! afresh. The open record can be saved ([`Joiner::save`]) and restored, so
//! a record cut by a restart is completed once, whole.

pub mod crash;
pub mod detect;

use std::sync::{Arc, OnceLock};

use regex::Regex;

pub use crash::{Crash, CrashKind};
use detect::gate::Gates;
use detect::{Opening, Step};

/// Most lines of a record, unless configured.
pub const DEFAULT_MAX_LINES: u32 = 500;

/// Most bytes of a record (its lines and the newlines between them),
/// unless configured.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;

/// How lines are grouped into records.
// One per configuration; the gates' table is read on every line, so it is
// kept in place rather than boxed.
#[allow(clippy::large_enum_variant)]
enum Mode {
    /// The built-in detectors, tried in this order, behind their gates.
    Auto(Gates),
    /// Start and/or continuation patterns; records are described by
    /// `classifier`.
    Patterns {
        start: Option<Regex>,
        cont: Option<Regex>,
        classifier: Arc<Spec>,
    },
}

/// How one input's lines are grouped into records: built once, shared by
/// the joiners of every input.
pub struct Spec {
    mode: Mode,
    /// Leading text of each line the detectors and patterns do not look at
    /// (a syslog header, a timestamp); anchored at the line's start.
    prefix: Option<Regex>,
    max_lines: u32,
    max_bytes: usize,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.mode {
            Mode::Auto(g) => format!("auto({})", g.kinds().len()),
            Mode::Patterns { start, cont, .. } => format!(
                "patterns(start={:?}, continue={:?})",
                start.as_ref().map(Regex::as_str),
                cont.as_ref().map(Regex::as_str)
            ),
        };
        f.debug_struct("Spec")
            .field("mode", &mode)
            .field("prefix", &self.prefix.as_ref().map(Regex::as_str))
            .field("max_lines", &self.max_lines)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Spec {
    /// Every built-in detector.
    pub fn auto() -> Self {
        Self::auto_of(&CrashKind::ALL)
    }

    /// The built-in detectors of `kinds` (tried in [`CrashKind::ALL`]'s
    /// order).
    pub fn auto_of(kinds: &[CrashKind]) -> Self {
        let kinds = CrashKind::ALL
            .into_iter()
            .filter(|k| kinds.contains(k))
            .collect();
        Self::with_mode(Mode::Auto(Gates::new(kinds)))
    }

    /// Records told by a start pattern, a continuation pattern, or both
    /// (`None, None` groups nothing: every line is its own).
    pub fn patterns(start: Option<Regex>, cont: Option<Regex>) -> Self {
        Self::with_mode(Mode::Patterns {
            start,
            cont,
            classifier: classifier(None),
        })
    }

    fn with_mode(mode: Mode) -> Self {
        Self {
            mode,
            prefix: None,
            max_lines: DEFAULT_MAX_LINES,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// Skips the text `prefix` matches at the start of each line (it must
    /// match there) before the detectors or patterns look at it; the
    /// record keeps whole lines.
    pub fn with_prefix(mut self, prefix: Regex) -> Self {
        if let Mode::Patterns { classifier: c, .. } = &mut self.mode {
            *c = classifier(Some(prefix.clone()));
        }
        self.prefix = Some(prefix);
        self
    }

    /// Bounds each record to `max_lines` lines and `max_bytes` bytes (at
    /// least one line: a record's first line is kept whole).
    pub fn with_bounds(mut self, max_lines: u32, max_bytes: usize) -> Self {
        self.max_lines = max_lines.max(1);
        self.max_bytes = max_bytes;
        self
    }

    /// Most lines of a record.
    pub fn max_lines(&self) -> u32 {
        self.max_lines
    }

    /// Most bytes of a record.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The part of `line` the detectors and patterns look at.
    #[inline]
    fn body<'a>(&self, line: &'a str) -> &'a str {
        match &self.prefix {
            None => line,
            Some(p) => match p.find(line) {
                Some(m) if m.start() == 0 => &line[m.end()..],
                _ => line,
            },
        }
    }

    /// What `text` (a record's lines joined with `\n`) says of a crash,
    /// as the built-in detectors read it.
    pub fn classify(&self, text: &str) -> Option<Crash> {
        let spec = match &self.mode {
            Mode::Auto(_) => None,
            Mode::Patterns { classifier, .. } => Some(classifier.clone()),
        };
        let spec = spec.unwrap_or_else(|| classifier(self.prefix.clone()));
        let mut j = Joiner::new(spec);
        let mut found = None;
        let mut keep = |p: Piece<'_>| {
            if let (None, Piece::Record(g)) = (&found, p) {
                found = g.crash.cloned();
            }
        };
        for line in text.split('\n') {
            j.push(line, &mut keep);
        }
        j.finish(&mut keep);
        found
    }
}

/// The spec that describes records: every detector, unbounded in practice.
fn classifier(prefix: Option<Regex>) -> Arc<Spec> {
    static PLAIN: OnceLock<Arc<Spec>> = OnceLock::new();
    let unbounded = |s: Spec| s.with_bounds(u32::MAX, usize::MAX);
    match prefix {
        None => PLAIN
            .get_or_init(|| Arc::new(unbounded(Spec::auto())))
            .clone(),
        Some(p) => Arc::new(unbounded(Spec::auto()).with_prefix(p)),
    }
}

/// What a joiner hands out.
#[derive(Debug, Clone, Copy)]
pub enum Piece<'a> {
    /// A line that belongs to no record.
    Line(&'a str),
    /// A complete record.
    Record(Group<'a>),
}

/// A complete record.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    /// Its lines, joined with `\n`.
    pub text: &'a str,
    /// Bytes of its first line in `text`.
    pub head_len: usize,
    /// Its lines.
    pub lines: u32,
    /// It went past a bound: the lines after it were not joined.
    pub truncated: bool,
    /// What it says of a crash; `None` when it is not one.
    pub crash: Option<&'a Crash>,
}

/// The open record of an input, as saved in a checkpoint and restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The lines taken, joined with `\n`.
    pub text: String,
    /// Bytes of the first line in `text`.
    pub head_len: usize,
    /// Lines in `text`.
    pub lines: u32,
    /// Lines held after them (see [`Step::Hold`]), each ended by `\n`.
    pub held: String,
    /// Lines in `held`.
    pub held_lines: u32,
    /// Whether the record is a crash's for sure (see [`Opening`]).
    pub confirmed: bool,
    /// The detector that steps it (`auto`); `None` with patterns.
    pub detector: Option<CrashKind>,
    /// The detector's phase.
    pub phase: u8,
    /// What its lines have said of a crash so far (`auto`).
    pub crash: Option<Crash>,
}

/// The open record of one input, fed that input's lines in order.
pub struct Joiner {
    spec: Arc<Spec>,
    open: Option<Box<Saved>>,
}

impl Joiner {
    /// A joiner with no open record.
    pub fn new(spec: Arc<Spec>) -> Self {
        Self { spec, open: None }
    }

    /// A joiner resuming `saved` (see [`Joiner::save`]).
    pub fn restore(spec: Arc<Spec>, saved: Saved) -> Self {
        Self {
            spec,
            open: Some(Box::new(saved)),
        }
    }

    /// The open record, to be saved; `None` when none is.
    pub fn save(&self) -> Option<Saved> {
        self.open.as_deref().cloned()
    }

    /// Whether a record is open (lines are held).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Bytes held.
    pub fn held_bytes(&self) -> usize {
        self.open
            .as_ref()
            .map_or(0, |o| o.text.len() + o.held.len())
    }

    /// Takes the next line of the input, handing out what it completes.
    #[inline]
    pub fn push(&mut self, line: &str, out: &mut dyn FnMut(Piece<'_>)) {
        if self.open.is_some() {
            self.go_on(line, out);
        } else {
            self.fresh(line, out);
        }
    }

    /// Completes the open record, if any (the input was idle long enough,
    /// or ended), handing it out.
    pub fn finish(&mut self, out: &mut dyn FnMut(Piece<'_>)) {
        while self.open.is_some() {
            self.close(out);
        }
    }

    /// A line while no record is open.
    #[inline]
    fn fresh(&mut self, line: &str, out: &mut dyn FnMut(Piece<'_>)) {
        let spec = &*self.spec;
        let body = spec.body(line);
        match &spec.mode {
            Mode::Auto(gates) => {
                // Only the detectors whose gate the line passes are asked
                // (most lines pass none), each with a crash of its own.
                let opened = gates.first_open(body, |kind| {
                    let mut crash = Crash::new(kind);
                    let o = detect::builtin(kind).open(body, &mut crash)?;
                    Some((kind, o, crash))
                });
                match opened {
                    Some((kind, o, crash)) => self.begin(line, Some(kind), o, Some(crash)),
                    None => out(Piece::Line(line)),
                }
            }
            Mode::Patterns { start, cont, .. } => {
                let begins = match (start, cont) {
                    (Some(s), _) => s.is_match(body),
                    (None, Some(c)) => !c.is_match(body),
                    (None, None) => false,
                };
                if begins {
                    let o = Opening {
                        phase: 0,
                        confirmed: true,
                    };
                    self.begin(line, None, o, None);
                } else {
                    out(Piece::Line(line));
                }
            }
        }
    }

    fn begin(&mut self, line: &str, detector: Option<CrashKind>, o: Opening, crash: Option<Crash>) {
        self.open = Some(Box::new(Saved {
            text: line.to_string(),
            head_len: line.len(),
            lines: 1,
            held: String::new(),
            held_lines: 0,
            confirmed: o.confirmed,
            detector,
            phase: o.phase,
            crash,
        }));
    }

    /// A line while a record is open.
    fn go_on(&mut self, line: &str, out: &mut dyn FnMut(Piece<'_>)) {
        let spec = self.spec.clone();
        let body = spec.body(line);
        let o = self.open.as_deref_mut().expect("open record");
        let step = match (&spec.mode, o.detector) {
            (Mode::Auto(_), Some(kind)) => {
                let crash = o.crash.get_or_insert_with(|| Crash::new(kind));
                detect::builtin(kind).step(&mut o.phase, body, crash)
            }
            (Mode::Patterns { start, cont, .. }, _) => match (start, cont) {
                (_, Some(c)) if c.is_match(body) => Step::Take,
                (Some(_), Some(_)) => Step::Close,
                (Some(s), None) if !s.is_match(body) => Step::Take,
                _ => Step::Close,
            },
            (Mode::Auto(_), None) => Step::Close,
        };
        match step {
            Step::Take | Step::End => {
                let (lines, bytes) = (
                    o.lines + o.held_lines + 1,
                    o.text.len() + o.held.len() + 1 + line.len(),
                );
                if lines > spec.max_lines || bytes > spec.max_bytes {
                    self.truncate(line, out);
                    return;
                }
                if o.held_lines > 0 {
                    o.text.push('\n');
                    // Each held line ends with `\n`: only the last one
                    // goes (a held blank line is a line).
                    o.text
                        .push_str(o.held.strip_suffix('\n').unwrap_or(&o.held));
                    o.lines += o.held_lines;
                    o.held.clear();
                    o.held_lines = 0;
                }
                o.text.push('\n');
                o.text.push_str(line);
                o.lines += 1;
                o.confirmed = true;
                if step == Step::End {
                    self.close(out);
                }
            }
            Step::Hold => {
                let lines = o.lines + o.held_lines + 1;
                let bytes = o.text.len() + o.held.len() + 1 + line.len();
                if lines > spec.max_lines || bytes > spec.max_bytes {
                    self.close(out);
                    self.push(line, out);
                    return;
                }
                o.held.push_str(line);
                o.held.push('\n');
                o.held_lines += 1;
            }
            Step::Close => {
                self.close(out);
                self.push(line, out);
            }
        }
    }

    /// `line` would take the open record past a bound: the record is
    /// handed out as it is, marked truncated, and `line` is looked at
    /// afresh.
    fn truncate(&mut self, line: &str, out: &mut dyn FnMut(Piece<'_>)) {
        let o = self.open.take().expect("open record");
        self.hand_out(&o, true, out);
        self.replay(&o.held, out);
        self.push(line, out);
    }

    /// Hands out the open record (its held lines are looked at afresh).
    fn close(&mut self, out: &mut dyn FnMut(Piece<'_>)) {
        let Some(o) = self.open.take() else {
            return;
        };
        if o.confirmed {
            self.hand_out(&o, false, out);
        } else {
            // A candidate never confirmed: its first line is a line.
            out(Piece::Line(&o.text[..o.head_len]));
        }
        self.replay(&o.held, out);
    }

    fn replay(&mut self, held: &str, out: &mut dyn FnMut(Piece<'_>)) {
        if held.is_empty() {
            return;
        }
        for line in held.strip_suffix('\n').unwrap_or(held).split('\n') {
            self.push(line, out);
        }
    }

    fn hand_out(&self, o: &Saved, truncated: bool, out: &mut dyn FnMut(Piece<'_>)) {
        let described;
        let crash = match (&self.spec.mode, o.detector) {
            (Mode::Auto(_), _) => o.crash.as_ref(),
            (Mode::Patterns { .. }, _) => {
                described = self.spec.classify(&o.text);
                described.as_ref()
            }
        };
        if o.lines == 1 && crash.is_none() {
            out(Piece::Line(&o.text));
            return;
        }
        out(Piece::Record(Group {
            text: &o.text,
            head_len: o.head_len,
            lines: o.lines,
            truncated,
            crash,
        }));
    }
}

#[cfg(test)]
mod tests;
