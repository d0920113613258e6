//! The detectors on the real logs kept next to the repository: gVisor's
//! Go crash reports, a .NET service's logged exception, Laravel's and
//! Kafka's logged exceptions, a Python traceback in a vdsm log, and
//! healthy logs that must yield no crash.

use std::path::Path;

use regex::Regex;

use super::*;
use crate::multiline::detect::text::ty_of;

use crate::shared_logs::{dir as shared_logs, files};

/// A file's lines (invalid UTF-8 replaced, CRLF ends cut).
fn read_lines(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect()
}

fn strs(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

/// The record holding each line of the input (`None`: a line of its own).
fn owners(out: &[Out]) -> Vec<Option<usize>> {
    let mut v = Vec::new();
    for (i, o) in out.iter().enumerate() {
        match o {
            Out::Line(_) => v.push(None),
            Out::Record { lines, .. } => v.extend(std::iter::repeat_n(Some(i), *lines as usize)),
        }
    }
    v
}

/// A syzkaller title, with its placeholders, as [`ty_of`] writes a type.
fn canon(title: &str) -> String {
    let placeholders = Regex::new(r"\b(NUM|ADDR|IP|NAME|X)\b").unwrap();
    ty_of(&placeholders.replace_all(title, "0"))
}

/// Each gVisor crash report (its log, without syzkaller's header lines
/// and the `REPORT:` part that repeats the crash) is one Go record whose
/// type agrees with the report's title, and which holds every goroutine
/// of the dump.
#[test]
fn gvisor_reports_are_one_go_record_each() {
    let Some(dir) = shared_logs("gvisor_reports_are_one_go_record_each") else {
        return;
    };
    let spec = auto();
    let mut checked = 0;
    for path in files(&dir.join("syzkaller/gvisor_report")) {
        let all = read_lines(&path);
        let title = all[0].strip_prefix("TITLE: ").expect("a title").to_string();
        let body = all.iter().position(|l| l.is_empty()).map_or(0, |i| i + 1);
        let end = all.iter().position(|l| l == "REPORT:").unwrap_or(all.len());
        let log = strs(&all[body..end]);
        let got = run(&spec, &log);
        let found = crashes(&got);
        let name = path.display();
        let go_crash = ["panic: ", "fatal error: ", "SIGSEGV: ", "DATA RACE in "]
            .iter()
            .any(|p| title.starts_with(p));
        if !go_crash {
            // gVisor's own `FATAL ERROR:` log lines and warnings with a
            // stack dump: not Go runtime crashes.
            assert!(found.is_empty(), "{name}: {found:#?}");
            continue;
        }
        assert_eq!(found.len(), 1, "{name}: {found:#?}");
        let c = found[0];
        assert_eq!(c.kind, CrashKind::Go, "{name}");
        if let Some(f) = title.strip_prefix("DATA RACE in ") {
            assert_eq!(c.ty, "DATA RACE", "{name}");
            assert!(c.frame.ends_with(&format!("/{f}")), "{name}: {}", c.frame);
        } else if title.starts_with("SIGSEGV: ") {
            assert_eq!(c.ty, title, "{name}");
        } else {
            let t = title.split_once(": ").unwrap().1;
            // syzkaller names stuck-task panics with words of its own.
            let t = match t {
                "Sentry detected stuck tasks" => "Sentry detected N stuck task(s)".to_string(),
                t => canon(t),
            };
            let ours = &c.ty;
            // Titles are cut at a length of their own, in a word.
            let whole_words = t.rfind(' ').map_or(&t[..], |i| &t[..i]);
            assert!(
                ours.starts_with(&t)
                    || t.starts_with(ours.as_str())
                    || ours.starts_with(whole_words),
                "{name}: {ours:?} against {t:?}"
            );
        }
        // The record holds every goroutine of the dump, and begins at the
        // crash's first line.
        let owner = owners(&got);
        let rec = got.iter().position(|o| o.crash().is_some()).unwrap();
        for (i, l) in log.iter().enumerate() {
            if l.starts_with("goroutine ") && l.ends_with("]:") {
                assert_eq!(owner[i], Some(rec), "{name}: line {i} {l}");
            }
        }
        let first = owner.iter().position(|o| *o == Some(rec)).unwrap();
        assert!(
            [
                "panic: ",
                "fatal error: ",
                "runtime: ",
                "SIG",
                "=================="
            ]
            .iter()
            .any(|p| log[first].starts_with(p)),
            "{name}: {}",
            log[first]
        );
        checked += 1;
    }
    assert!(checked >= 20, "{checked} reports");
}

/// A .NET service's exception as its console logger writes it, under the
/// entry's `fail:` line and indented: one record from the class line.
#[test]
fn a_dotnet_logged_exception() {
    let Some(dir) = shared_logs("a_dotnet_logged_exception") else {
        return;
    };
    let all = read_lines(&dir.join("otel-demo/accounting.log"));
    // `docker compose logs` puts `service  | ` before each line.
    let prefix = Regex::new(r"^\S+\s+\| ").unwrap();
    let lines: Vec<String> = all
        .iter()
        .map(|l| prefix.replace(l, "").into_owned())
        .collect();
    let got = run(&auto(), &strs(&lines));
    let recs = records(&got);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let Out::Record {
        text,
        lines: n,
        crash,
        ..
    } = recs[0]
    else {
        unreachable!()
    };
    assert_eq!(*n, 4, "{text}");
    assert!(text
        .trim_start()
        .starts_with("Confluent.Kafka.ConsumeException: "));
    let c = crash.as_ref().unwrap();
    assert_eq!(c.kind, CrashKind::Dotnet);
    assert_eq!(c.ty, "Confluent.Kafka.ConsumeException");
    assert_eq!(c.frame, "Accounting.Consumer.StartListening");
    assert_eq!(c.frames, 3);

    // The same with the prefix left on the lines and skipped by the spec.
    let spec = Arc::new(Spec::auto().with_prefix(prefix));
    let got = run(&spec, &strs(&all));
    let found = crashes(&got);
    assert_eq!(found, [c]);
}

/// Laravel entries that carry an exception are one PHP record each, from
/// the entry's `[date] env.LEVEL:` line to the `"}` that closes its
/// context; other entries are lines.
#[test]
fn laravel_exceptions() {
    let Some(dir) = shared_logs("laravel_exceptions") else {
        return;
    };
    let entry =
        Regex::new(r"^\[\d{4}-\d\d-\d\d [\d:]+\] \w+\.(ERROR|CRITICAL|ALERT|EMERGENCY): ").unwrap();
    for file in ["lnav/logfile_laravel.0", "lnav/logfile_laravel.1"] {
        let lines = read_lines(&dir.join(file));
        // What each line should be part of, told from the entries alone.
        let mut expected = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let l = &lines[i];
            let starts = entry.is_match(l)
                && (l.contains("{\"exception\":\"[object] (")
                    || lines.get(i + 1).is_some_and(|n| n == "Stack trace:"));
            let close = lines[i..].iter().position(|x| x.trim_end() == "\"}");
            match (starts, close) {
                (true, Some(c)) => {
                    expected.push(c as u32 + 1);
                    i += c + 1;
                }
                _ => {
                    expected.push(0);
                    i += 1;
                }
            }
        }
        let got = run(&auto(), &strs(&lines));
        assert_eq!(pieces(&got), expected, "{file}");
        let found = crashes(&got);
        assert!(found.len() >= 2, "{file}");
        for c in found {
            assert_eq!(c.kind, CrashKind::Php, "{file}");
            assert!(!c.ty.is_empty() && !c.ty.contains("\\\\"), "{file}: {c:?}");
            assert!(c.frames > 0 && !c.frame.is_empty(), "{file}: {c:?}");
        }
    }
    let lines = read_lines(&dir.join("lnav/logfile_laravel.0"));
    let got = run(&auto(), &strs(&lines));
    let c = crashes(&got)[0];
    assert_eq!(
        c.ty,
        "Illuminate\\Contracts\\Container\\BindingResolutionException"
    );
    assert_eq!(c.frame, "index.php");
}

/// Kafka's logged Java exceptions: every frame line is in a JVM record
/// that begins at its exception's line, not at the log line before it.
#[test]
fn kafka_logged_exceptions() {
    let Some(dir) = shared_logs("kafka_logged_exceptions") else {
        return;
    };
    let spec = auto();
    let mut frames = 0;
    for path in files(&dir.join("elastic-examples")) {
        let name = path.display().to_string();
        if !name.contains("/kafka") || name.ends_with("gc.log") {
            continue;
        }
        let lines = read_lines(&path);
        let got = run(&spec, &strs(&lines));
        let owner = owners(&got);
        for (i, l) in lines.iter().enumerate() {
            if l.starts_with("\tat ") {
                frames += 1;
                let rec = owner[i].unwrap_or_else(|| panic!("{name}: line {i}: {l}"));
                assert_eq!(got[rec].crash().map(|c| c.kind), Some(CrashKind::Jvm));
            }
        }
        for o in records(&got) {
            let Out::Record { text, crash, .. } = o else {
                unreachable!()
            };
            assert!(!text.starts_with('['), "{name}: {text}");
            let c = crash.as_ref().unwrap();
            assert!(text.starts_with(&c.ty), "{name}: {text}");
            assert!(c.frames > 0);
        }
    }
    assert!(frames > 1000, "{frames}");
}

/// A traceback logged by vdsm after its log prefix, with frames not
/// indented.
#[test]
fn a_python_traceback_after_a_log_prefix() {
    let Some(dir) = shared_logs("a_python_traceback_after_a_log_prefix") else {
        return;
    };
    let lines = read_lines(&dir.join("lnav/logfile_vdsm.0"));
    let got = run(&auto(), &strs(&lines));
    assert_eq!(pieces(&got), [0, 12, 0, 0, 0]);
    let c = crashes(&got)[0];
    assert_eq!(c.kind, CrashKind::Python);
    assert_eq!(c.ty, "libvirtError");
    assert_eq!(c.frame, "vdsm.libvirtconnection.get");
    assert_eq!(c.frames, 5);
}

/// Healthy logs: no crash. (The collection's logs with crashes are read
/// by the tests above; loghub's HDFS, Spark, Zookeeper, OpenStack and the
/// others hold no stack trace, only exception names within log lines.)
#[test]
fn healthy_logs_yield_no_crash() {
    let Some(dir) = shared_logs("healthy_logs_yield_no_crash") else {
        return;
    };
    let with_crashes = [
        "crashes/",
        "syzkaller/gvisor_report/",
        "elastic-examples/kafka",
        "lnav/logfile_laravel",
        "lnav/logfile_vdsm",
        "otel-demo/accounting.log",
        // Every service's lines interleaved, the accounting trace's too.
        "otel-demo/all.log",
    ];
    let prefix = Regex::new(r"^\S+\s+\| ").unwrap();
    let spec = auto();
    let mut bad = Vec::new();
    let mut read = 0;
    for path in files(&dir) {
        let rel = path.strip_prefix(&dir).unwrap().display().to_string();
        if with_crashes.iter().any(|w| rel.starts_with(w))
            || rel.ends_with(".csv")
            || rel.ends_with(".md")
            || rel.ends_with("LICENSE")
        {
            continue;
        }
        let mut lines = read_lines(&path);
        if rel.starts_with("otel-demo/") {
            for l in &mut lines {
                *l = prefix.replace(l, "").into_owned();
            }
        }
        let got = run(&spec, &strs(&lines));
        read += lines.len();
        for o in records(&got) {
            let Out::Record { text, crash, .. } = o else {
                unreachable!()
            };
            if rel.starts_with("syzkaller/linux_report/")
                && crash.as_ref().is_some_and(|c| c.kind == CrashKind::Kernel)
            {
                continue;
            }
            bad.push(format!("{rel}: {crash:?}\n{text}"));
        }
    }
    for b in &bad {
        eprintln!("{b}\n");
    }
    assert!(bad.is_empty(), "{} false crashes", bad.len());
    assert!(read > 50_000, "{read} lines");
}
