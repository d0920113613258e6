//! Which detectors may open a record at a line, told before any of them is
//! asked.
//!
//! `auto` asks its detectors about every line that no record holds, and
//! nearly all of them are ordinary lines that no detector opens. Asked one
//! after the other, each detector would look at the line afresh (trim it,
//! search it, fill a [`Crash`](crate::multiline::Crash) of its own).
//! Instead each detector has a gate: a test of a few of the line's bytes
//! that every line it opens passes (a *necessary* condition of its `open`,
//! not a sufficient one: a line that passes is then asked to the
//! detector, which decides). The gates share what they can: a table by
//! first byte tells which gates a line may pass at all (three to six of
//! eight on most lines), and whether the line begins with an exception's
//! class, which three gates ask, is found once.
//!
//! Most gates look at the line's first bytes, or its last. Two search it,
//! and are most of what `auto` costs an ordinary line: the kernel's (its
//! first 128 bytes, for a console timestamp after other text) and the
//! JVM's (the whole line, for `: ` after a class's ending: a header in
//! the middle of a log line).
//!
//! The test `gates_turn_down_no_line_a_detector_opens` checks that `auto`
//! opens the same records through the gates as when every detector is
//! asked, on the lines the detectors' tests are made of, variants of them
//! and random lines (and on the shared logs).

use super::{go, kernel, php, python, rust, stack};
use crate::multiline::crash::CrashKind;

/// The gates of a set of detectors (tried in [`CrashKind::ALL`]'s order).
pub(crate) struct Gates {
    kinds: Vec<CrashKind>,
    /// For each first byte of a line, the detectors (bit `i`: the `i`-th
    /// kind of [`CrashKind::ALL`]) of the set whose gate a line beginning
    /// with it may pass.
    by_first: [u8; 256],
}

/// The bit of `kind` in [`Gates::by_first`].
const fn bit(kind: CrashKind) -> u8 {
    let mut i = 0;
    while i < CrashKind::ALL.len() {
        if CrashKind::ALL[i] as u8 == kind as u8 {
            return 1 << i;
        }
        i += 1;
    }
    0
}

impl Gates {
    /// The gates of `kinds` (tried in [`CrashKind::ALL`]'s order whatever
    /// theirs).
    pub(crate) fn new(kinds: Vec<CrashKind>) -> Self {
        let mut by_first = [0u8; 256];
        for &kind in &kinds {
            for (b, bits) in by_first.iter_mut().enumerate() {
                if may_begin(kind, b as u8) {
                    *bits |= bit(kind);
                }
            }
        }
        Self { kinds, by_first }
    }

    /// The detectors, in the order they are tried.
    pub(crate) fn kinds(&self) -> &[CrashKind] {
        &self.kinds
    }

    /// The first of the detectors (in order) whose gate `line` passes and
    /// for which `open` returns something, with what it returned.
    #[inline]
    pub(crate) fn first_open<T>(
        &self,
        line: &str,
        mut open: impl FnMut(CrashKind) -> Option<T>,
    ) -> Option<T> {
        let &first = line.as_bytes().first()?;
        let bits = self.by_first[first as usize];
        if bits == 0 {
            return None;
        }
        let mut asked = Asked { line, head: None };
        // Each gate in turn, written out so that each is inlined where it
        // is asked.
        macro_rules! gate {
            ($i:literal) => {
                let kind = CrashKind::ALL[$i];
                if bits & (1 << $i) != 0 && asked.passes(kind) {
                    if let Some(t) = open(kind) {
                        return Some(t);
                    }
                }
            };
        }
        gate!(0);
        gate!(1);
        gate!(2);
        gate!(3);
        gate!(4);
        gate!(5);
        gate!(6);
        gate!(7);
        None
    }
}

// `first_open` asks the gates of `CrashKind::ALL` by their index.
const _: () = assert!(CrashKind::ALL.len() == 8);

/// A line, and what more than one gate asks of it, found when first asked.
struct Asked<'a> {
    line: &'a str,
    /// Whether it may begin with an exception's header (the gates of the
    /// three detectors of [`stack`]).
    head: Option<bool>,
}

impl Asked<'_> {
    /// Whether the line passes `kind`'s gate.
    #[inline(always)]
    fn passes(&mut self, kind: CrashKind) -> bool {
        let line = self.line;
        match kind {
            CrashKind::Kernel => kernel::may_open(line),
            CrashKind::Python => python::may_open(line),
            CrashKind::Go => go::may_open(line),
            CrashKind::Rust => rust::may_open(line),
            CrashKind::Php => php::may_open(line),
            CrashKind::Dotnet | CrashKind::Node => self.head(),
            CrashKind::Jvm => self.head() || stack::may_hold_header(line),
        }
    }

    #[inline(always)]
    fn head(&mut self) -> bool {
        let line = self.line;
        *self
            .head
            .get_or_insert_with(|| stack::may_begin_with_header(line))
    }
}

/// Whether a line whose first byte is `b` may pass `kind`'s gate.
fn may_begin(kind: CrashKind, b: u8) -> bool {
    match kind {
        CrashKind::Go => go::may_begin(b),
        CrashKind::Rust => rust::may_begin(b),
        CrashKind::Php => php::may_begin(b),
        CrashKind::Dotnet | CrashKind::Node => stack::may_begin(b),
        // A console timestamp may follow any text; a traceback's header
        // and a header in the middle of a line may follow any text.
        CrashKind::Kernel | CrashKind::Python | CrashKind::Jvm => true,
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::multiline::detect::{builtin, Opening};
    use crate::multiline::Crash;

    type Opened = Option<(CrashKind, Opening, Crash)>;

    /// What `auto` of `kinds` opens at `line` when every detector is asked.
    fn asking_all(kinds: &[CrashKind], line: &str) -> Opened {
        kinds.iter().find_map(|&kind| {
            let mut crash = Crash::new(kind);
            let o = builtin(kind).open(line, &mut crash)?;
            Some((kind, o, crash))
        })
    }

    /// What it opens when only the detectors whose gate `line` passes are.
    fn through_gates(gates: &Gates, line: &str) -> Opened {
        gates.first_open(line, |kind| {
            let mut crash = Crash::new(kind);
            let o = builtin(kind).open(line, &mut crash)?;
            Some((kind, o, crash))
        })
    }

    /// Every detector together, and each alone.
    fn sets() -> Vec<(Vec<CrashKind>, Gates)> {
        std::iter::once(CrashKind::ALL.to_vec())
            .chain(CrashKind::ALL.iter().map(|&k| vec![k]))
            .map(|kinds| (kinds.clone(), Gates::new(kinds)))
            .collect()
    }

    /// The files under `dir`, recursively.
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path);
            }
        }
    }

    /// The text of the string literals of Rust source `src` (most escapes
    /// undone), roughly: the crash lines the detectors' tests are made of.
    fn literals(src: &str) -> Vec<String> {
        let mut out = Vec::new();
        let b = src.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let raw = b[i] == b'r' && matches!(b.get(i + 1), Some(b'#' | b'"'));
            if raw {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let open = i + 1 + hashes;
                if b.get(open) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                match src[open + 1..].find(&close) {
                    Some(end) => {
                        out.push(src[open + 1..open + 1 + end].to_string());
                        i = open + 1 + end + close.len();
                    }
                    None => break,
                }
            } else if b[i] == b'"' {
                let mut text = String::new();
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' && j + 1 < b.len() {
                        match b[j + 1] {
                            b'n' => text.push('\n'),
                            b't' => text.push('\t'),
                            b'r' => text.push('\r'),
                            b'0' => text.push('\0'),
                            b'\n' => {
                                // A continued line: its leading spaces go.
                                j += 2;
                                while j < b.len() && b[j].is_ascii_whitespace() {
                                    j += 1;
                                }
                                continue;
                            }
                            c => text.push(c as char),
                        }
                        j += 2;
                        continue;
                    }
                    let n = src[j..].chars().next().map_or(1, char::len_utf8);
                    text.push_str(&src[j..j + n]);
                    j += n;
                }
                out.push(text);
                i = j + 1;
            } else {
                i += 1;
            }
        }
        out
    }

    /// Lines: the crash samples, the kernel reports, the lines of the
    /// detectors' tests, the pipelines' samples.
    fn corpus() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = Vec::new();
        files(&root.join("src/multiline"), &mut paths);
        files(&root.join("../pipelines"), &mut paths);
        paths.sort();
        let mut lines = Vec::new();
        for p in paths {
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let texts = if p.extension().is_some_and(|e| e == "rs") {
                literals(&text)
            } else {
                vec![text]
            };
            for t in texts {
                lines.extend(t.split('\n').map(str::to_string));
            }
        }
        lines
    }

    /// The same line with white space (Unicode's too) or text around it,
    /// and cut short.
    fn variants(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (before, after) in [
            (" ", ""),
            ("\t", ""),
            ("\u{a0}", ""),
            ("\u{3000}", ""),
            ("\u{b}", ""),
            ("", " "),
            ("", "\r"),
            ("", "\u{a0}"),
            ("", "\u{2028}"),
            ("", ":"),
            ("", ": "),
            ("", "5"),
            ("x ", ""),
            ("host login: ", ""),
            ("<4>", ""),
            ("[   12.345678] ", ""),
            ("Mar 27 13:06:56 host kernel: [ 1.5] ", ""),
        ] {
            out.push(format!("{before}{line}{after}"));
        }
        for (i, _) in line.char_indices().skip(1) {
            out.push(line[..i].to_string());
            out.push(line[i..].to_string());
        }
        out
    }

    /// Lines of words that crash lines are made of, at random.
    fn random_lines() -> Vec<String> {
        const WORDS: &[&str] = &[
            "Error",
            "Exception",
            "Throwable",
            "Failure",
            "ExceptionInfo",
            ": ",
            ":",
            " ",
            "\t",
            "[",
            "]",
            "<4>",
            " [ ",
            "12",
            ".",
            "345",
            "com.foo.",
            "Bar",
            "java.lang.",
            "System.",
            "Unhandled exception. ",
            "Exception in thread \"main\" ",
            "at ",
            "panic: ",
            "fatal error: ",
            "runtime: ",
            "SIGSEGV",
            "thread '",
            "main",
            "' panicked at ",
            "src/main.rs:2:5",
            "PHP ",
            "Fatal error",
            " in ",
            "/x.php",
            "Traceback (most recent call last):",
            "BUG: ",
            "WARNING: ",
            "Oops",
            "KASAN: ",
            "------------[ cut here ]",
            "====================",
            "\u{a0}",
            "é",
            "=",
            "\"",
            "http: panic serving ",
            "2019/01/15 07:48:05 ",
            "[2024-01-01 00:00:00] ",
            "local.ERROR: ",
            "{\"exception\":\"[object] (",
            "(code: 0): ",
            "rcu: INFO: ",
            "Kernel panic - not syncing",
            "general protection fault",
            "list_add corruption",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        (0..20_000)
            .map(|_| {
                let n = 1 + next() % 8;
                (0..n)
                    .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    /// Asserts that the gates change nothing on `lines`; returns how many
    /// lines each set's detectors open.
    fn check(lines: &[String], sets: &[(Vec<CrashKind>, Gates)]) -> Vec<usize> {
        let mut opened = vec![0; sets.len()];
        for line in lines {
            for (n, (kinds, gates)) in opened.iter_mut().zip(sets) {
                let all = asking_all(kinds, line);
                assert_eq!(through_gates(gates, line), all, "{kinds:?}: {line:?}");
                *n += usize::from(all.is_some());
            }
        }
        opened
    }

    /// A line that a detector opens passes its gate, whichever detectors
    /// are together: on the lines the detectors' tests are made of, on
    /// variants of those that open, and on random lines.
    #[test]
    fn gates_turn_down_no_line_a_detector_opens() {
        let sets = sets();
        let corpus = corpus();
        let opened = check(&corpus, &sets);
        for ((kinds, _), n) in sets.iter().zip(&opened) {
            // The corpus holds crash lines of every kind.
            assert!(*n >= 3, "{kinds:?} opens {n} lines of the corpus");
        }
        let all = &sets[..1];
        let variants: Vec<String> = corpus
            .iter()
            .filter(|l| sets.iter().any(|(kinds, _)| asking_all(kinds, l).is_some()))
            .flat_map(|l| variants(l))
            .collect();
        check(&variants, &sets);
        let opened = check(&random_lines(), all);
        assert!(opened[0] > 100, "{opened:?}");
    }

    /// The same on every line of the real logs kept next to the repository.
    #[test]
    fn gates_turn_down_no_line_of_the_shared_logs_a_detector_opens() {
        let Some(texts) = crate::shared_logs::texts("gates_on_shared_logs") else {
            return;
        };
        let sets = sets();
        let lines: Vec<String> = texts
            .iter()
            .flat_map(|t| t.lines())
            .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
            .collect();
        let opened = check(&lines, &sets);
        assert!(opened[0] > 0, "{opened:?}");
    }
}
