//! Precision and recall of crash detection on real logs: every input
//! labelled in `tests/crashes/labels.toml` (files of the shared real-log
//! collection, `../shared/logs` next to the repository) is fed to its own
//! [`Joiner`] with [`Spec::auto`], and the crash records found are matched
//! with the labelled ones, kind by kind. Skipped, with a notice, where the
//! collection is absent.
//!
//! The table is printed (`cargo test --test crash_corpus -- --nocapture`)
//! and written to `target/crash-corpus.md`. The labels are checked against
//! the files whatever happens; the floors below are checked unless
//! `LOGTALLY_CRASH_FLOORS=off`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use logtally_parsers::multiline::{CrashKind, Joiner, Piece, Spec};
use serde::Deserialize;

/// Least recall of a kind with at least [`MIN_LABELLED`] labelled crashes.
const MIN_RECALL: f64 = 0.95;
/// Least precision of a kind with at least [`MIN_LABELLED`] labelled or
/// found crashes.
const MIN_PRECISION: f64 = 0.95;
/// Fewest labelled (or found) crashes of a kind for its floors to apply.
const MIN_LABELLED: usize = 5;
/// Most crashes found in healthy logs.
const MAX_FALSE_ON_HEALTHY: usize = 0;
/// `off` reports without checking the floors.
const FLOORS_ENV: &str = "LOGTALLY_CRASH_FLOORS";
/// Lines of each list (misses, false crashes) printed; the file has all.
const PRINTED_ITEMS: usize = 40;

/// The shared real-log collection, next to the repository.
fn shared_logs() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/logs");
    dir.is_dir().then_some(dir)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Labels {
    input: Vec<Input>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    path: String,
    #[serde(default)]
    append: Vec<String>,
    #[serde(default)]
    split: Split,
    service: Option<String>,
    lines: usize,
    class: Class,
    note: Option<String>,
    #[serde(default)]
    crashes: Vec<Label>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Split {
    #[default]
    Whole,
    Compose,
    Syzkaller,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Class {
    Crashes,
    Healthy,
    Other,
    Excluded,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Label {
    kind: String,
    at: usize,
    to: usize,
    head: String,
    ty: Option<String>,
}

impl Input {
    /// How the input is named in the report.
    fn name(&self) -> String {
        match &self.service {
            Some(s) => format!("{} [{s}]", self.path),
            None => self.path.clone(),
        }
    }
}

/// A file's lines as the sources frame them: split at `\n`, a trailing
/// `\r` dropped, bytes that are not UTF-8 replaced.
fn file_lines(path: &Path) -> Vec<String> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines: Vec<String> = raw
        .split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l.strip_suffix(b"\r").unwrap_or(l)).into_owned())
        .collect();
    if raw.last() == Some(&b'\n') || raw.is_empty() {
        lines.pop();
    }
    lines
}

/// The `docker compose logs` prefix of `line` (`service  | `, any ANSI
/// colour before it): the service and the rest of the line.
fn compose_prefix(line: &str) -> Option<(&str, &str)> {
    let mut rest = line;
    while let Some(r) = rest.strip_prefix("\x1b[") {
        let end = r.find(|c: char| c.is_ascii_alphabetic())?;
        rest = &r[end + 1..];
    }
    let name_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or(rest.len());
    let (service, after) = rest.split_at(name_len);
    let spaced = after.trim_start_matches(' ');
    if service.is_empty() || spaced.len() == after.len() {
        return None;
    }
    let after = spaced.strip_prefix('|')?;
    Some((service, after.strip_prefix(' ').unwrap_or(after)))
}

/// The lines an input is made of (see the labels file's header).
fn input_lines(logs: &Path, input: &Input) -> Vec<String> {
    let mut lines = file_lines(&logs.join(&input.path));
    for more in &input.append {
        lines.extend(file_lines(&logs.join(more)));
    }
    match input.split {
        Split::Whole => lines,
        Split::Compose => {
            let service = input
                .service
                .as_deref()
                .expect("compose input with a service");
            lines
                .iter()
                .filter_map(|l| compose_prefix(l))
                .filter(|(s, _)| *s == service)
                .map(|(_, rest)| rest.to_string())
                .collect()
        }
        Split::Syzkaller => {
            let header = lines.iter().position(|l| l.is_empty()).map_or(0, |i| i + 1);
            let report = lines
                .iter()
                .position(|l| l == "REPORT:")
                .unwrap_or(lines.len());
            lines[header..report.max(header)].to_vec()
        }
    }
}

/// Checks an input's labels against its lines; panics with the reason.
fn check_labels(input: &Input, lines: &[String]) {
    let name = input.name();
    assert_eq!(
        lines.len(),
        input.lines,
        "{name}: {} lines, labelled with {} (has the file changed?)",
        lines.len(),
        input.lines
    );
    assert_eq!(
        input.split == Split::Compose,
        input.service.is_some(),
        "{name}: `service` goes with `split = \"compose\"` and only with it"
    );
    assert_eq!(
        input.class == Class::Crashes,
        !input.crashes.is_empty(),
        "{name}: crashes are listed for class `crashes` and only for it"
    );
    if matches!(input.class, Class::Other | Class::Excluded) {
        assert!(
            input.note.is_some(),
            "{name}: an `other` or `excluded` input says why in `note`"
        );
    }
    let mut last = 0;
    for c in &input.crashes {
        assert!(
            CrashKind::from_name(&c.kind).is_some(),
            "{name}: unknown kind {:?}",
            c.kind
        );
        assert!(
            c.at > last && c.at <= c.to && c.to <= lines.len(),
            "{name}: crash at {}..{} out of order or out of the input",
            c.at,
            c.to
        );
        assert!(
            lines[c.at - 1].contains(&c.head),
            "{name}: line {} does not hold {:?}: {:?}",
            c.at,
            c.head,
            lines[c.at - 1]
        );
        last = c.to;
    }
}

/// A crash record found: its kind, lines (1-based, inclusive) and type.
struct Found {
    kind: CrashKind,
    from: usize,
    to: usize,
    ty: String,
}

/// Feeds `lines` to a fresh joiner; the crash records it hands out. Checks
/// that every line comes out once, in order (records hold the lines they
/// are placed at).
fn detect(spec: &Arc<Spec>, lines: &[String], name: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let mut next = 1usize;
    let mut out = |p: Piece<'_>| match p {
        Piece::Line(l) => {
            assert_eq!(
                Some(l),
                lines.get(next - 1).map(String::as_str),
                "{name}: line {next} out of place"
            );
            next += 1;
        }
        Piece::Record(g) => {
            let n = g.lines as usize;
            let from = next;
            let to = from + n - 1;
            assert!(
                to <= lines.len(),
                "{name}: a record of {n} lines at line {from} runs past the input"
            );
            let expected = lines[from - 1..to].join("\n");
            assert_eq!(
                g.text, expected,
                "{name}: the record at line {from} is not the input's lines"
            );
            if let Some(c) = g.crash {
                found.push(Found {
                    kind: c.kind,
                    from,
                    to,
                    ty: c.ty.clone(),
                });
            }
            next = to + 1;
        }
    };
    let mut joiner = Joiner::new(spec.clone());
    for line in lines {
        joiner.push(line, &mut out);
    }
    joiner.finish(&mut out);
    assert_eq!(
        next - 1,
        lines.len(),
        "{name}: {} lines in, {} out",
        lines.len(),
        next - 1
    );
    found
}

/// An input's labelled crashes, as if a detector had found them.
fn as_found(input: &Input) -> Vec<Found> {
    input
        .crashes
        .iter()
        .map(|c| Found {
            kind: CrashKind::from_name(&c.kind).expect("checked kind"),
            from: c.at,
            to: c.to,
            ty: c.ty.clone().unwrap_or_default(),
        })
        .collect()
}

/// One kind's counts.
#[derive(Default)]
struct Score {
    labelled: usize,
    found: usize,
    true_pos: usize,
    split: usize,
    false_pos: usize,
    ty_checked: usize,
    ty_agreed: usize,
}

impl Score {
    fn precision(&self) -> Option<f64> {
        (self.found > 0).then(|| self.true_pos as f64 / self.found as f64)
    }

    fn recall(&self) -> Option<f64> {
        (self.labelled > 0).then(|| self.true_pos as f64 / self.labelled as f64)
    }
}

/// Inputs of one class, taken together.
#[derive(Default)]
struct Group {
    inputs: usize,
    lines: usize,
    crashes: usize,
}

#[derive(Default)]
struct Report {
    kinds: BTreeMap<usize, Score>,
    healthy: Group,
    other: Group,
    excluded: Group,
    missed: Vec<String>,
    false_pos: Vec<String>,
    split: Vec<String>,
    ty_differs: Vec<String>,
    excluded_found: Vec<String>,
}

fn kind_index(kind: CrashKind) -> usize {
    CrashKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("a kind of ALL")
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("–".to_string(), |r| format!("{r:.3}"))
}

/// Matches the crashes found in one input with its labels.
fn score(report: &mut Report, input: &Input, lines: &[String], found: &[Found]) {
    let name = input.name();
    let group = match input.class {
        Class::Crashes => None,
        Class::Healthy => Some(&mut report.healthy),
        Class::Other => Some(&mut report.other),
        Class::Excluded => Some(&mut report.excluded),
    };
    if let Some(g) = group {
        g.inputs += 1;
        g.lines += lines.len();
        g.crashes += found.len();
    }
    if input.class == Class::Excluded {
        if !found.is_empty() {
            let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
            for f in found {
                *kinds.entry(f.kind.as_str()).or_default() += 1;
            }
            let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            report.excluded_found.push(format!(
                "{name}: {} ({})",
                kinds.join(", "),
                input.note.as_deref().unwrap_or("")
            ));
        }
        return;
    }
    let labels: Vec<(CrashKind, &Label)> = input
        .crashes
        .iter()
        .map(|c| (CrashKind::from_name(&c.kind).expect("checked kind"), c))
        .collect();
    for (kind, _) in &labels {
        report.kinds.entry(kind_index(*kind)).or_default().labelled += 1;
    }
    let mut matched = vec![false; labels.len()];
    for f in found {
        let overlaps = |c: &Label| f.from <= c.to && c.at <= f.to;
        let s = report.kinds.entry(kind_index(f.kind)).or_default();
        s.found += 1;
        let free = labels
            .iter()
            .enumerate()
            .find(|(i, (k, c))| !matched[*i] && *k == f.kind && overlaps(c));
        let what = format!("{name}:{}-{} {} {:?}", f.from, f.to, f.kind.as_str(), f.ty);
        if let Some((i, (_, c))) = free {
            matched[i] = true;
            s.true_pos += 1;
            if let Some(ty) = &c.ty {
                s.ty_checked += 1;
                if *ty == f.ty {
                    s.ty_agreed += 1;
                } else {
                    report.ty_differs.push(format!("{what}, labelled {ty:?}"));
                }
            }
        } else if labels.iter().any(|(k, c)| *k == f.kind && overlaps(c)) {
            s.split += 1;
            report.split.push(what);
        } else {
            s.false_pos += 1;
            let other = labels.iter().find(|(_, c)| overlaps(c));
            report.false_pos.push(match other {
                Some((k, c)) => format!("{what} (on a {} crash at {})", k.as_str(), c.at),
                None => what,
            });
        }
    }
    for (i, (kind, c)) in labels.iter().enumerate() {
        if !matched[i] {
            report.missed.push(format!(
                "{name}:{}-{} {} {:?}",
                c.at,
                c.to,
                kind.as_str(),
                c.head
            ));
        }
    }
}

impl Report {
    fn table(&self) -> String {
        let mut t = String::new();
        t.push_str("| kind | labelled | found | true | split | false | precision | recall | type agrees |\n");
        t.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        let mut all = Score::default();
        for (i, s) in &self.kinds {
            let ty = if s.ty_checked > 0 {
                format!("{}/{}", s.ty_agreed, s.ty_checked)
            } else {
                "–".to_string()
            };
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {ty} |",
                CrashKind::ALL[*i].as_str(),
                s.labelled,
                s.found,
                s.true_pos,
                s.split,
                s.false_pos,
                fmt_ratio(s.precision()),
                fmt_ratio(s.recall()),
            );
            all.labelled += s.labelled;
            all.found += s.found;
            all.true_pos += s.true_pos;
            all.split += s.split;
            all.false_pos += s.false_pos;
        }
        let _ = writeln!(
            t,
            "| **all** | {} | {} | {} | {} | {} | {} | {} | |",
            all.labelled,
            all.found,
            all.true_pos,
            all.split,
            all.false_pos,
            fmt_ratio(all.precision()),
            fmt_ratio(all.recall()),
        );
        let _ = writeln!(
            t,
            "\nHealthy logs: {} inputs, {} lines, {} crashes found.  ",
            self.healthy.inputs, self.healthy.lines, self.healthy.crashes
        );
        let _ = writeln!(
            t,
            "Crashes of runtimes not detected, and failures without crash text: {} inputs, {} lines, \
             {} crashes found (counted false above).  ",
            self.other.inputs, self.other.lines, self.other.crashes
        );
        let _ = writeln!(
            t,
            "Ambiguous inputs, not scored: {} ({} lines).",
            self.excluded.inputs, self.excluded.lines
        );
        t
    }

    fn lists(&self, limit: usize) -> String {
        let mut t = String::new();
        for (title, items) in [
            ("Labelled crashes missed", &self.missed),
            ("False crashes (kind, lines, type)", &self.false_pos),
            (
                "Crashes split into several records (the records after the first)",
                &self.split,
            ),
            ("Types that differ from the label", &self.ty_differs),
            (
                "Found in ambiguous inputs (not scored)",
                &self.excluded_found,
            ),
        ] {
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(t, "\n{title}: {}\n", items.len());
            for item in items.iter().take(limit) {
                let _ = writeln!(t, "- {item}");
            }
            if items.len() > limit {
                let _ = writeln!(
                    t,
                    "- … {} more (see target/crash-corpus.md)",
                    items.len() - limit
                );
            }
        }
        t
    }

    /// The floors not met.
    fn failures(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for (i, s) in &self.kinds {
            let kind = CrashKind::ALL[*i].as_str();
            if s.labelled >= MIN_LABELLED {
                let r = s.recall().unwrap_or(0.0);
                if r < MIN_RECALL {
                    failed.push(format!("{kind}: recall {r:.3} < {MIN_RECALL}"));
                }
            }
            if s.labelled >= MIN_LABELLED || s.found >= MIN_LABELLED {
                if let Some(p) = s.precision() {
                    if p < MIN_PRECISION {
                        failed.push(format!("{kind}: precision {p:.3} < {MIN_PRECISION}"));
                    }
                }
            }
        }
        if self.healthy.crashes > MAX_FALSE_ON_HEALTHY {
            failed.push(format!(
                "{} crashes found in healthy logs (at most {MAX_FALSE_ON_HEALTHY})",
                self.healthy.crashes
            ));
        }
        failed
    }
}

#[test]
fn crash_detection_on_labelled_real_logs() {
    let Some(logs) = shared_logs() else {
        eprintln!("skipped: ../shared/logs is absent (the shared real-log collection)");
        return;
    };
    let labels_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crashes/labels.toml");
    let text = std::fs::read_to_string(&labels_path).expect("tests/crashes/labels.toml");
    let labels: Labels =
        toml::from_str(&text).unwrap_or_else(|e| panic!("tests/crashes/labels.toml: {e}"));

    let spec = Arc::new(Spec::auto());
    let mut report = Report::default();
    for kind in CrashKind::ALL {
        report.kinds.entry(kind_index(kind)).or_default();
    }
    // The labels themselves, scored as if found: a check of the matching.
    let mut itself = Report::default();
    for input in &labels.input {
        let lines = input_lines(&logs, input);
        check_labels(input, &lines);
        let found = detect(&spec, &lines, &input.name());
        score(&mut report, input, &lines, &found);
        score(&mut itself, input, &lines, &as_found(input));
    }
    assert!(
        itself.failures().is_empty() && itself.missed.is_empty() && itself.false_pos.is_empty(),
        "the labels do not match themselves: {:?} {:?} {:?}",
        itself.failures(),
        itself.missed,
        itself.false_pos
    );

    let table = report.table();
    println!("{table}{}", report.lists(PRINTED_ITEMS));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("crash-corpus.md");
    let file = format!(
        "# Crash detection on labelled real logs\n\n{table}{}",
        report.lists(usize::MAX)
    );
    if let Err(e) = std::fs::write(&target, file) {
        eprintln!("cannot write {}: {e}", target.display());
    }

    let failed = report.failures();
    if std::env::var(FLOORS_ENV).is_ok_and(|v| v == "off") {
        if !failed.is_empty() {
            eprintln!(
                "floors not checked ({FLOORS_ENV}=off); not met: {}",
                failed.join("; ")
            );
        }
        return;
    }
    assert!(
        failed.is_empty(),
        "floors not met (set {FLOORS_ENV}=off to report only):\n{}",
        failed.join("\n")
    );
}

/// The matching rules, on made-up findings.
#[test]
fn matching_counts_true_split_false_and_missed() {
    let label = |kind: &str, at, to, ty: Option<&str>| Label {
        kind: kind.to_string(),
        at,
        to,
        head: String::new(),
        ty: ty.map(str::to_string),
    };
    let input = Input {
        path: "made-up".to_string(),
        append: Vec::new(),
        split: Split::Whole,
        service: None,
        lines: 40,
        class: Class::Crashes,
        note: None,
        crashes: vec![
            label("jvm", 2, 5, Some("java.io.IOException")),
            label("jvm", 10, 12, None),
            label("python", 20, 25, Some("KeyError")),
            label("go", 30, 35, None),
        ],
    };
    let found = |kind, from, to, ty: &str| Found {
        kind,
        from,
        to,
        ty: ty.to_string(),
    };
    let lines = vec![String::new(); 40];
    let mut r = Report::default();
    score(
        &mut r,
        &input,
        &lines,
        &[
            // The log line before the exception, then the trace: true.
            found(CrashKind::Jvm, 1, 5, "java.io.IOException"),
            // The second half of the same trace: split.
            found(CrashKind::Jvm, 4, 5, ""),
            // Both of the next two: one true (wrong type), one false.
            found(CrashKind::Jvm, 11, 11, ""),
            found(CrashKind::Jvm, 14, 15, ""),
            // The Python traceback taken for Go: false, and a miss.
            found(CrashKind::Go, 20, 25, ""),
            found(CrashKind::Python, 26, 27, "KeyError"),
        ],
    );
    let jvm = &r.kinds[&kind_index(CrashKind::Jvm)];
    assert_eq!(
        (
            jvm.labelled,
            jvm.found,
            jvm.true_pos,
            jvm.split,
            jvm.false_pos
        ),
        (2, 4, 2, 1, 1)
    );
    assert_eq!((jvm.ty_checked, jvm.ty_agreed), (1, 1));
    let python = &r.kinds[&kind_index(CrashKind::Python)];
    assert_eq!(
        (
            python.labelled,
            python.found,
            python.true_pos,
            python.false_pos
        ),
        (1, 1, 0, 1)
    );
    let go = &r.kinds[&kind_index(CrashKind::Go)];
    assert_eq!(
        (go.labelled, go.found, go.true_pos, go.false_pos),
        (1, 1, 0, 1)
    );
    assert_eq!(r.missed.len(), 2, "{:?}", r.missed);
    assert!(
        r.false_pos
            .iter()
            .any(|f| f.contains("on a python crash at 20")),
        "{:?}",
        r.false_pos
    );
    assert_eq!(jvm.precision(), Some(0.5));
    assert_eq!(jvm.recall(), Some(1.0));
    let failed = r.failures();
    assert!(failed.is_empty(), "too few labelled for floors: {failed:?}");

    // Healthy inputs: any crash is false, and counted apart.
    let healthy = Input {
        class: Class::Healthy,
        crashes: Vec::new(),
        ..input
    };
    score(
        &mut r,
        &healthy,
        &lines,
        &[found(CrashKind::Rust, 3, 4, "")],
    );
    assert_eq!(r.healthy.crashes, 1);
    assert_eq!(r.kinds[&kind_index(CrashKind::Rust)].false_pos, 1);
    assert_eq!(r.failures().len(), 1, "{:?}", r.failures());
}

#[test]
fn input_splitting() {
    assert_eq!(
        compose_prefix("accounting  | fail: x"),
        Some(("accounting", "fail: x"))
    );
    assert_eq!(
        compose_prefix("web-1  |  * Serving"),
        Some(("web-1", " * Serving"))
    );
    assert_eq!(
        compose_prefix("\x1b[2Kweb-1  | \x1b[31mWARNING"),
        Some(("web-1", "\x1b[31mWARNING"))
    );
    assert_eq!(compose_prefix("cart  |"), Some(("cart", "")));
    assert_eq!(compose_prefix("no prefix | here"), None);
    assert_eq!(compose_prefix("x| y"), None);
    assert_eq!(compose_prefix(""), None);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r"),
        b"TITLE: panic: x\nTYPE: DoS\n\nlog\r\npanic: x\n\xffgoroutine 1\nREPORT:\npanic: x\n",
    )
    .unwrap();
    let input = Input {
        path: "r".to_string(),
        append: Vec::new(),
        split: Split::Syzkaller,
        service: None,
        lines: 3,
        class: Class::Crashes,
        note: None,
        crashes: Vec::new(),
    };
    assert_eq!(
        input_lines(dir.path(), &input),
        ["log", "panic: x", "\u{fffd}goroutine 1"]
    );
    std::fs::write(dir.path().join("w"), b"a\n\nb").unwrap();
    let input = Input {
        path: "w".to_string(),
        split: Split::Whole,
        ..input
    };
    assert_eq!(input_lines(dir.path(), &input), ["a", "", "b"]);
}
