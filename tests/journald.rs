//! journald sources against real journal files: each test writes entries in
//! the journal export format, `systemd-journal-remote` turns them into
//! journal files in a temporary directory, and the real binary reads that
//! directory through the real `journalctl`.
//!
//! Needs `journalctl` (Debian package `systemd`) and
//! `systemd-journal-remote` (package `systemd-journal-remote`), which
//! `.ci/run` installs. Without them each test prints a notice and skips,
//! except under `CI=true`, where it fails.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    assert_success, crashes, done_if, stderr_of, stdout_of, value, wait_until, write, Agent,
    ConfigDir,
};

/// Where Debian and others install systemd-journal-remote (not on PATH).
const JOURNAL_REMOTE: [&str; 2] = [
    "/lib/systemd/systemd-journal-remote",
    "/usr/lib/systemd/systemd-journal-remote",
];

/// The boot all test entries belong to.
const BOOT_ID: &str = "0123456789abcdef0123456789abcdef";

/// `__REALTIME_TIMESTAMP` of entry 0: 2023-11-14T22:13:20Z.
const BASE_US: u64 = 1_700_000_000_000_000;

/// The tools, or `None` (with a notice) when one is missing; under
/// `CI=true` a missing tool fails the test.
fn tools(test: &str) -> Option<PathBuf> {
    let journalctl = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("journalctl"))
            .find(|p| p.is_file())
    });
    let remote = JOURNAL_REMOTE
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    match (journalctl, remote) {
        (Some(_), Some(remote)) => Some(remote),
        (j, r) => {
            let missing = match (j, r) {
                (None, None) => "journalctl and systemd-journal-remote",
                (None, _) => "journalctl",
                _ => "systemd-journal-remote",
            };
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but {missing} is missing: .ci/run installs the Debian packages systemd and systemd-journal-remote"
            );
            println!("NOTICE: skipping {test}: {missing} is missing (apt-get install systemd systemd-journal-remote, or run .ci/run)");
            None
        }
    }
}

/// One journal entry: its fields, in order.
#[derive(Clone)]
struct Entry(Vec<(String, Vec<u8>)>);

impl Entry {
    /// Entry number `seq` (which sets its times) with `message`, from
    /// `unit` run by `ident`.
    fn new(seq: u64, message: &str, unit: &str, ident: &str) -> Entry {
        Entry(vec![
            (
                "__REALTIME_TIMESTAMP".into(),
                (BASE_US + seq * 1000).to_string().into(),
            ),
            (
                "__MONOTONIC_TIMESTAMP".into(),
                (1_000_000 + seq * 1000).to_string().into(),
            ),
            ("_BOOT_ID".into(), BOOT_ID.into()),
            ("_HOSTNAME".into(), "testhost".into()),
            ("_SYSTEMD_UNIT".into(), unit.into()),
            ("SYSLOG_IDENTIFIER".into(), ident.into()),
            ("_PID".into(), (100 + seq % 7).to_string().into()),
            ("PRIORITY".into(), (seq % 8).to_string().into()),
            ("MESSAGE".into(), message.into()),
        ])
    }

    /// With the field `name` set to `value` (added again when repeated).
    fn with(mut self, name: &str, value: &[u8]) -> Entry {
        self.0.push((name.into(), value.to_vec()));
        self
    }

    /// Without the field `name`.
    fn without(mut self, name: &str) -> Entry {
        self.0.retain(|(n, _)| n != name);
        self
    }
}

/// Entries `from..to` with `msg=hello n=N batch=B` messages, spread over
/// two units.
fn numbered(from: u64, to: u64, batch: &str) -> Vec<Entry> {
    (from..to)
        .map(|n| {
            let (unit, ident) = if n % 3 == 0 {
                ("a.service", "alpha")
            } else {
                ("b.service", "beta")
            };
            Entry::new(n, &format!("msg=hello n={n} batch={batch}"), unit, ident)
        })
        .collect()
}

/// The journal export format of `entries`: `NAME=value` lines, or the
/// binary form (name, little-endian length, bytes) for values holding a
/// newline or bytes that are not UTF-8; a blank line after each entry.
fn export(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        for (name, v) in &e.0 {
            if v.contains(&b'\n') || std::str::from_utf8(v).is_err() {
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
                out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                out.extend_from_slice(v);
                out.push(b'\n');
            } else {
                out.extend_from_slice(name.as_bytes());
                out.push(b'=');
                out.extend_from_slice(v);
                out.push(b'\n');
            }
        }
        out.push(b'\n');
    }
    out
}

/// Writes `entries` into the journal file `file` (appended when it exists)
/// with systemd-journal-remote.
fn write_journal(remote: &Path, file: &Path, entries: &[Entry]) {
    write_export(remote, file, &export(entries));
}

/// Turns an export stream into the journal file `file`.
fn write_export(remote: &Path, file: &Path, stream: &[u8]) {
    let mut child = Command::new(remote)
        .arg(format!("--output={}", file.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start systemd-journal-remote");
    child.stdin.take().unwrap().write_all(stream).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "systemd-journal-remote failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A configuration reading the journal directory `DIR/journal` with
/// `extra` source keys, counting entries by the `batch` of their logfmt
/// MESSAGE, their unit and their identifier.
fn config(dir: &Path, extra: &str, state: bool) -> String {
    let state = if state {
        format!(
            "[state]\ndir = \"{}/state\"\ninterval = \"50ms\"\n",
            dir.display()
        )
    } else {
        String::new()
    };
    format!(
        r#"
{state}
[[sources]]
name = "journal"
type = "journald"
directory = "{dir}/journal"
read_interval = "50ms"
{extra}

[[pipelines]]
name = "entries"
sources = ["journal"]
parser = "logfmt"

[[pipelines.rules]]
metric = "entries_total"
type = "counter"
labels = {{ batch = "{{batch}}", unit = "{{_journal._SYSTEMD_UNIT}}", ident = "{{_journal.SYSLOG_IDENTIFIER}}" }}
"#,
        dir = dir.display()
    )
}

/// A temporary directory with `c.toml` (see [`config`]) and an empty
/// `journal/` directory.
fn setup(extra: &str, state: bool) -> (ConfigDir, PathBuf) {
    let dir = ConfigDir::new("c.toml", |d| config(d, extra, state));
    let journal = dir.join("journal");
    std::fs::create_dir(&journal).unwrap();
    (dir, journal)
}

/// The sum of every sample of `metric` whose labels contain `labels`.
fn total(m: &str, metric: &str, labels: &str) -> f64 {
    m.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} ")))
        .filter(|l| l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `entries_total` sums to `n`, then checks it stays there.
#[track_caller]
fn wait_entries(agent: &Agent, n: u64) -> String {
    agent.wait_for(&format!("{n} entries"), |m| {
        total(m, "entries_total", "") == n as f64
    });
    // Nothing counted twice arrives late.
    std::thread::sleep(Duration::from_millis(200));
    let m = agent.metrics();
    assert_eq!(total(&m, "entries_total", ""), n as f64, "{m}");
    m
}

/// Runs `logtally once` on `dir`'s configuration.
fn once(dir: &ConfigDir) -> String {
    let out = dir.run("once", &["--self-metrics"]);
    assert_success(&out);
    stdout_of(&out)
}

#[test]
fn every_entry_is_counted_with_its_fields_as_labels() {
    let Some(remote) = tools("every_entry_is_counted_with_its_fields_as_labels") else {
        return;
    };
    let (dir, journal) = setup("start_at = \"beginning\"", false);
    write_journal(
        &remote,
        &journal.join("a.journal"),
        &numbered(0, 300, "one"),
    );
    let agent = dir.start();
    let m = wait_entries(&agent, 300);
    let series = |unit: &str, ident: &str| {
        format!(r#"entries_total{{batch="one",ident="{ident}",unit="{unit}"}}"#)
    };
    assert_eq!(value(&m, &series("a.service", "alpha")), Some(100.0), "{m}");
    assert_eq!(value(&m, &series("b.service", "beta")), Some(200.0), "{m}");
    for (metric, v) in [
        ("logtally_journald_entries_total{source=\"journal\"}", 300.0),
        ("logtally_source_lines_total{source=\"journal\"}", 300.0),
        (
            "logtally_journald_skipped_entries_total{source=\"journal\",reason=\"malformed\"}",
            0.0,
        ),
        (
            "logtally_journald_lost_cursors_total{source=\"journal\",reason=\"not_found\"}",
            0.0,
        ),
        (
            "logtally_journald_journalctl_runs_total{source=\"journal\",result=\"failed\"}",
            0.0,
        ),
        (
            "logtally_journald_last_entry_timestamp_seconds{source=\"journal\"}",
            (BASE_US + 299_000) as f64 / 1e6,
        ),
    ] {
        assert_eq!(value(&m, metric), Some(v), "{metric}\n{m}");
    }
    // Idle: the journal is read again on changes only, not in a loop.
    let runs = |m: &str| {
        value(
            m,
            "logtally_journald_journalctl_runs_total{source=\"journal\",result=\"ok\"}",
        )
        .unwrap()
    };
    let before = runs(&m);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(runs(&agent.metrics()), before, "runs while idle");
    assert!(agent.terminate().success());
}

#[test]
fn appends_and_new_files_are_followed() {
    let Some(remote) = tools("appends_and_new_files_are_followed") else {
        return;
    };
    let (dir, journal) = setup("start_at = \"beginning\"", false);
    let first = journal.join("system.journal");
    write_journal(&remote, &first, &numbered(0, 50, "one"));
    let agent = dir.start();
    wait_entries(&agent, 50);
    // Appended to the same file.
    write_journal(&remote, &first, &numbered(50, 80, "two"));
    wait_entries(&agent, 80);
    // Rotated: a new file in the directory, then the old one archived
    // under another name (as journald renames system.journal).
    write_journal(
        &remote,
        &journal.join("next.journal"),
        &numbered(80, 120, "three"),
    );
    wait_entries(&agent, 120);
    std::fs::rename(&first, journal.join("system@0001-0002.journal")).unwrap();
    write_journal(
        &remote,
        &journal.join("next.journal"),
        &numbered(120, 125, "four"),
    );
    let m = wait_entries(&agent, 125);
    for (batch, n) in [("one", 50.0), ("two", 30.0), ("three", 40.0), ("four", 5.0)] {
        assert_eq!(
            total(&m, "entries_total", &format!("batch=\"{batch}\"")),
            n,
            "{batch}\n{m}"
        );
    }
}

#[test]
fn matches_and_units_select_entries() {
    let Some(remote) = tools("matches_and_units_select_entries") else {
        return;
    };
    let dir = ConfigDir::new("c.toml", |d| {
        let base = config(d, "start_at = \"beginning\"", false).replace(
            "name = \"journal\"\ntype",
            "name = \"journal\"\nmatches = [\"_SYSTEMD_UNIT=a.service\", \"PRIORITY=3\", \"+\", \"SYSLOG_IDENTIFIER=gamma\"]\ntype",
        );
        format!(
            r#"{base}
[[sources]]
name = "units"
type = "journald"
directory = "{}/journal"
units = ["b.service"]

[[pipelines]]
name = "by_unit"
sources = ["units"]
parser = "none"

[[pipelines.rules]]
metric = "unit_entries_total"
type = "counter"
labels = {{ unit = "{{_journal._SYSTEMD_UNIT}}" }}
"#,
            d.display()
        )
    });
    std::fs::create_dir(dir.join("journal")).unwrap();
    let mut entries = numbered(0, 96, "m");
    entries.extend((96..100).map(|n| Entry::new(n, "batch=g", "c.service", "gamma")));
    write_journal(&remote, &dir.join("journal/a.journal"), &entries);
    let m = once(&dir);
    // a.service is every third entry (n % 3 == 0), PRIORITY = n % 8: both
    // hold for n % 24 == 3, 4 of the 96; and the 4 gamma entries.
    assert_eq!(total(&m, "entries_total", "batch=\"m\""), 4.0, "{m}");
    assert_eq!(total(&m, "entries_total", "batch=\"g\""), 4.0, "{m}");
    assert_eq!(
        value(&m, r#"unit_entries_total{unit="b.service"}"#),
        Some(64.0),
        "{m}"
    );
    assert!(
        !m.contains(r#"unit_entries_total{unit="a.service"}"#),
        "{m}"
    );
}

#[test]
fn binary_and_repeated_fields_are_decoded() {
    let Some(remote) = tools("binary_and_repeated_fields_are_decoded") else {
        return;
    };
    let dir = ConfigDir::new("c.toml", |d| {
        format!(
            r#"
[[sources]]
name = "journal"
type = "journald"
directory = "{}/journal"

[[pipelines]]
name = "fields"
parser = {{ type = "regex", pattern = '^(?P<line>.*)$' }}

[[pipelines.rules]]
metric = "entries_total"
type = "counter"
labels = {{ line = "{{line}}", tag = "{{_journal.TAG}}", blob = "{{_journal.BLOB}}", msg = "{{_journal.MESSAGE}}" }}
"#,
            d.display()
        )
    });
    std::fs::create_dir(dir.join("journal")).unwrap();
    let entries = vec![
        Entry::new(0, "", "a.service", "x")
            .without("MESSAGE")
            .with("MESSAGE", b"red \x1b[31mhot\x1b[0m \xff end")
            .with("TAG", b"first")
            .with("TAG", b"second")
            .with("BLOB", b"\x00\x01two\nlines"),
        Entry::new(1, "", "a.service", "x").without("MESSAGE"),
    ];
    write_journal(&remote, &dir.join("journal/a.journal"), &entries);
    let m = once(&dir);
    assert_eq!(
        value(
            &m,
            "entries_total{blob=\"\u{0}\u{1}two\\nlines\",line=\"red \u{1b}[31mhot\u{1b}[0m \u{fffd} end\",msg=\"red \u{1b}[31mhot\u{1b}[0m \u{fffd} end\",tag=\"first\"}"
        ),
        Some(1.0),
        "{m}"
    );
    // An entry without MESSAGE is an empty line.
    assert_eq!(
        value(&m, "entries_total{blob=\"\",line=\"\",msg=\"\",tag=\"\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            "logtally_source_invalid_utf8_lines_total{source=\"journal\"}"
        ),
        Some(1.0),
        "{m}"
    );
}

/// The processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(needle) && c.contains("journalctl") {
                found.push(c);
            }
        }
    }
    found
}

/// The sum of `entries_total` in the checkpoint of `dir`.
fn checkpointed(dir: &ConfigDir) -> f64 {
    let Ok(text) = std::fs::read_to_string(dir.join("state/checkpoint.json")) else {
        return 0.0;
    };
    let c: serde_json::Value = serde_json::from_str(&text).unwrap();
    c["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["metric"] == "entries_total")
        .map(|s| s["value"].as_f64().unwrap())
        .sum()
}

#[test]
fn kill_and_restart_in_the_middle_is_exact_with_state() {
    let Some(remote) = tools("kill_and_restart_in_the_middle_is_exact_with_state") else {
        return;
    };
    let (dir, journal) = setup("start_at = \"beginning\"", true);
    let batches = 24u64;
    let per = 400u64;
    let mut agent = Some(dir.start());
    let mut kills = 0;
    for b in 0..batches {
        // Mostly appends; every sixth batch starts a new file.
        let file = journal.join(format!("j{}.journal", b / 6));
        write_journal(
            &remote,
            &file,
            &numbered(b * per, (b + 1) * per, &format!("b{b}")),
        );
        if b % 3 == 1 {
            // Kill it without warning before, while or after it reads the
            // batch, with or without a checkpoint covering what it read.
            std::thread::sleep(Duration::from_millis([0, 10, 25, 60][(b / 3 % 4) as usize]));
            let a = agent.take().unwrap();
            if let Ok((_, m)) = a.try_get("/metrics") {
                eprintln!(
                    "batch {b}: {} entries counted at the kill",
                    total(&m, "entries_total", "")
                );
            }
            drop(a); // SIGKILL
            eprintln!("batch {b}: the checkpoint holds {}", checkpointed(&dir));
            kills += 1;
            let needle = journal.to_string_lossy().into_owned();
            wait_until(
                Duration::from_secs(10),
                Duration::from_millis(20),
                || {
                    let left = processes_mentioning(&needle);
                    done_if(left.is_empty(), left)
                },
                |left| format!("journalctl left running after the agent was killed: {left:?}"),
            );
            let a = dir.start();
            eprintln!(
                "batch {b}: {} entries restored",
                total(&a.metrics(), "entries_total", "")
            );
            agent = Some(a);
        }
    }
    let agent = agent.unwrap();
    let m = wait_entries(&agent, batches * per);
    for b in 0..batches {
        assert_eq!(
            total(&m, "entries_total", &format!("batch=\"b{b}\"")),
            per as f64,
            "batch {b}\n{m}"
        );
    }
    assert_eq!(kills, 8);
    assert_eq!(
        value(
            &m,
            "logtally_journald_lost_cursors_total{source=\"journal\",reason=\"not_found\"}"
        ),
        Some(0.0),
        "{m}"
    );
}

#[test]
fn reloads_keep_or_restart_the_source_at_its_cursor() {
    let Some(remote) = tools("reloads_keep_or_restart_the_source_at_its_cursor") else {
        return;
    };
    let (dir, journal) = setup("start_at = \"beginning\"", false);
    let file = journal.join("a.journal");
    let agent = dir.start();
    let text = std::fs::read_to_string(dir.file()).unwrap();
    let mut n = 0;
    for (i, interval) in ["50ms", "60ms", "60ms", "50ms"].iter().enumerate() {
        write_journal(&remote, &file, &numbered(n, n + 40, &format!("r{i}")));
        n += 40;
        // A changed read_interval restarts the source; the same one keeps
        // it running with the new pipelines.
        write(
            dir.file(),
            &text.replace(
                "read_interval = \"50ms\"",
                &format!("read_interval = \"{interval}\""),
            ),
        );
        let (status, body) = agent.try_post("/-/reload", "", None).unwrap();
        assert_eq!(status, 200, "{body}");
        write_journal(&remote, &file, &numbered(n, n + 10, &format!("r{i}")));
        n += 10;
        wait_entries(&agent, n);
    }
    let m = wait_entries(&agent, n);
    for i in 0..4 {
        assert_eq!(
            total(&m, "entries_total", &format!("batch=\"r{i}\"")),
            50.0,
            "{m}"
        );
    }
    let restarts = agent
        .stderr()
        .matches("reading the journal source=journal")
        .count();
    assert_eq!(restarts, 3, "started, then restarted by two of the reloads");
}

#[test]
fn start_at_end_counts_new_entries_also_across_a_restart() {
    let Some(remote) = tools("start_at_end_counts_new_entries_also_across_a_restart") else {
        return;
    };
    let (dir, journal) = setup("", true);
    let file = journal.join("a.journal");
    write_journal(&remote, &file, &numbered(0, 20, "old"));
    let agent = dir.start();
    agent.wait_for("the newest entry's cursor checkpointed", |_| {
        std::fs::read_to_string(dir.join("state/checkpoint.json"))
            .is_ok_and(|c| c.contains("\"cursor\":\"s="))
    });
    assert!(agent.terminate().success());
    // Written while it was stopped, before it ever counted an entry.
    write_journal(&remote, &file, &numbered(20, 25, "new"));
    let agent = dir.start();
    let m = wait_entries(&agent, 5);
    assert_eq!(total(&m, "entries_total", "batch=\"old\""), 0.0, "{m}");
    write_journal(&remote, &file, &numbered(25, 27, "new"));
    let m = wait_entries(&agent, 7);
    assert_eq!(total(&m, "entries_total", "batch=\"new\""), 7.0, "{m}");
}

#[test]
fn a_vanished_cursor_is_counted_and_reading_goes_on() {
    let Some(remote) = tools("a_vanished_cursor_is_counted_and_reading_goes_on") else {
        return;
    };
    let (dir, journal) = setup("start_at = \"beginning\"", true);
    write_journal(
        &remote,
        &journal.join("old.journal"),
        &numbered(0, 10, "one"),
    );
    let agent = dir.start();
    wait_entries(&agent, 10);
    assert!(agent.terminate().success());
    // Vacuumed while it was stopped: the file holding the saved cursor's
    // entry is gone; newer entries are in another file.
    std::fs::remove_file(journal.join("old.journal")).unwrap();
    write_journal(
        &remote,
        &journal.join("new.journal"),
        &numbered(10, 25, "two"),
    );
    let agent = dir.start();
    let m = wait_entries(&agent, 25);
    assert_eq!(total(&m, "entries_total", "batch=\"two\""), 15.0, "{m}");
    assert_eq!(
        value(
            &m,
            "logtally_journald_lost_cursors_total{source=\"journal\",reason=\"not_found\"}"
        ),
        Some(1.0),
        "{m}"
    );
    assert!(agent
        .stderr()
        .contains("no longer has the entry at the saved cursor"));
    assert!(agent.terminate().success());

    // A cursor journalctl cannot even parse: counted, and the source
    // starts again per start_at (here: from the beginning, on top of the
    // restored values).
    let state = dir.join("state/checkpoint.json");
    let saved = std::fs::read_to_string(&state).unwrap();
    let start = saved.find("\"cursor\":\"").unwrap() + "\"cursor\":\"".len();
    let end = start + saved[start..].find('"').unwrap();
    write(
        &state,
        &format!("{}garbage{}", &saved[..start], &saved[end..]),
    );
    let agent = dir.start();
    let m = wait_entries(&agent, 40);
    assert_eq!(
        value(
            &m,
            "logtally_journald_lost_cursors_total{source=\"journal\",reason=\"rejected\"}"
        ),
        Some(1.0),
        "{m}"
    );
    assert!(
        agent.stderr().contains("rejects the saved cursor"),
        "{}",
        agent.stderr()
    );
}

#[test]
fn journalctl_failures_are_retried_and_shown() {
    let Some(remote) = tools("journalctl_failures_are_retried_and_shown") else {
        return;
    };
    let (dir, journal) = setup("start_at = \"beginning\"", false);
    let wrapper = dir.join("journalctl-wrapper");
    let flag = dir.join("fail");
    write(
        &wrapper,
        &format!(
            "#!/bin/sh\nif [ -e '{}' ]; then echo 'simulated failure' >&2; exit 1; fi\nexec journalctl \"$@\"\n",
            flag.display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = std::fs::read_to_string(dir.file()).unwrap().replace(
        "read_interval = \"50ms\"",
        &format!(
            "read_interval = \"50ms\"\njournalctl = \"{}\"",
            wrapper.display()
        ),
    );
    write(dir.file(), &text);
    write(&flag, "");
    write_journal(&remote, &journal.join("a.journal"), &numbered(0, 10, "one"));
    let port = common::free_port();
    let mut child = common::bin()
        .args([
            "run",
            "--config",
            dir.arg(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let child = common::KillOnDrop(child);
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let body = wait_until(
        Duration::from_secs(20),
        Duration::from_millis(50),
        || match common::http_get(&url("/metrics")) {
            Ok((200, m))
                if value(
                    &m,
                    "logtally_journald_journalctl_runs_total{source=\"journal\",result=\"failed\"}",
                )
                .is_some_and(|v| v >= 1.0) =>
            {
                Ok(m)
            }
            other => Err(format!("{other:?}")),
        },
        |last| format!("no failed run counted: {last}"),
    );
    assert!(
        value(
            &body,
            "logtally_source_read_errors_total{source=\"journal\"}"
        ) >= Some(1.0)
    );
    let (status, ready) = common::http_get(&url("/ready")).unwrap();
    assert_eq!(status, 503, "{ready}");
    assert!(ready.contains("source `journal` is not ready"), "{ready}");
    // Fixed: the next retry reads everything, and it is ready.
    std::fs::remove_file(&flag).unwrap();
    let started = Instant::now();
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            let m = common::http_get(&url("/metrics"))
                .map(|r| r.1)
                .unwrap_or_default();
            let ready = common::http_get(&url("/ready")).map(|r| r.0).unwrap_or(0);
            done_if(total(&m, "entries_total", "") == 10.0 && ready == 200, m)
        },
        |m| format!("not recovered:\n{m}"),
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    drop(child);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    assert_eq!(
        err.matches("journalctl: simulated failure").count(),
        1,
        "each distinct error line is logged once as a warning:\n{err}"
    );
    assert!(
        err.contains("journalctl failed; retrying from the same cursor"),
        "{err}"
    );
}

#[test]
fn a_missing_journalctl_is_a_clear_error() {
    let dir = ConfigDir::new("c.toml", |d| {
        config(d, "journalctl = \"logtally-no-such-journalctl\"", false)
    });
    let out = dir.run_to_exit();
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("source `journal`: `logtally-no-such-journalctl` was not found on PATH")
            && err.contains("install systemd's journalctl"),
        "{err}"
    );
    let out = dir.run("once", &[]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("was not found on PATH"),
        "{}",
        stderr_of(&out)
    );
}

/// The built-in journal configuration, reading `journal` from its
/// beginning, without the `log` label (as `once` reads a sample).
fn journal_variant(journal: &Path) -> String {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/pipelines/system-journal.toml"
    ))
    .unwrap();
    let source = "type = \"journald\"\n";
    let labels = "labels = { log = \"journal\" }\n";
    assert!(shipped.contains(source) && shipped.contains(labels));
    shipped.replace(labels, "").replace(
        source,
        &format!(
            "{source}directory = \"{}\"\nstart_at = \"beginning\"\n",
            journal.display()
        ),
    )
}

#[test]
fn the_journal_variant_counts_what_the_file_variant_counts() {
    let Some(remote) = tools("the_journal_variant_counts_what_the_file_variant_counts") else {
        return;
    };
    let pipelines = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let dir = ConfigDir::new("system-journal.toml", |d| {
        journal_variant(&d.join("journal"))
    });
    std::fs::create_dir(dir.join("journal")).unwrap();
    // The events of system/sample.log as the journal holds them.
    let stream = std::fs::read(pipelines.join("system-journal/sample.export")).unwrap();
    write_export(&remote, &dir.join("journal/sample.journal"), &stream);
    let out = dir.run("once", &[]);
    assert_success(&out);
    let files = std::fs::read_to_string(pipelines.join("system/expected.prom")).unwrap();
    assert_eq!(stdout_of(&out), files);
    let journal = std::fs::read_to_string(pipelines.join("system-journal/expected.prom")).unwrap();
    assert_eq!(journal, files);

    // sample.log holds exactly the lines the source renders from it, in
    // order (the pipelines test reads it with the same rules).
    let lines = ConfigDir::new("lines.toml", |_| {
        format!(
            r#"
[[sources]]
name = "journal"
type = "journald"
directory = "{}"
format = "syslog"

[[pipelines]]
name = "lines"
parser = {{ type = "regex", pattern = '^(?P<line>.*)$' }}

[[pipelines.rules]]
metric = "lines_total"
type = "counter"
labels = {{ at = "{{_journal.__REALTIME_TIMESTAMP}}", line = "{{line}}" }}
max_series = 100000
"#,
            dir.join("journal").display()
        )
    });
    let out = lines.run("once", &[]);
    assert_success(&out);
    let mut rendered: Vec<(u64, String)> = stdout_of(&out)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("lines_total{at=\"")?;
            let (at, rest) = rest.split_once("\",line=\"")?;
            let line = rest.strip_suffix("\"} 1")?;
            let line = line
                .replace("\\\"", "\"")
                .replace("\\n", "\n")
                .replace("\\\\", "\\");
            Some((at.parse().ok()?, line))
        })
        .collect();
    rendered.sort();
    let sample = std::fs::read_to_string(pipelines.join("system-journal/sample.log")).unwrap();
    let sample: Vec<&str> = sample.lines().collect();
    let rendered: Vec<&str> = rendered.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(rendered, sample);
}

// Multi-line records: a kernel report split over entries (one line each),
// interleaved with a service's entries, through a kill -9 in its middle.

/// The kernel report of the crashes sample (pipelines/NOTICE.md), as the
/// journal holds kernel messages: without the console's time stamps.
fn kernel_lines() -> Vec<String> {
    crashes::sample()
        .iter()
        .filter(|l| l.starts_with('['))
        .map(|l| {
            l.split_once("] ")
                .map_or(l.as_str(), |(_, m)| m)
                .to_string()
        })
        .collect()
}

/// Entries from `seq`: the kernel's `lines` (`_TRANSPORT=kernel`, no
/// process), a line of `shop[42]` after every third.
fn kernel_entries(seq: u64, lines: &[String]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut n = seq;
    for (i, l) in lines.iter().enumerate() {
        out.push(
            Entry::new(n, l, "", "kernel")
                .without("_PID")
                .without("_SYSTEMD_UNIT")
                .with("_TRANSPORT", b"kernel"),
        );
        n += 1;
        if i % 3 == 2 {
            out.push(
                Entry::new(n, &format!("GET /cart 200 {n}ms"), "shop.service", "shop")
                    .with("_PID", b"42"),
            );
            n += 1;
        }
    }
    out
}

#[test]
fn a_kernel_report_split_over_entries_is_counted_once_across_kill_9() {
    let Some(remote) = tools("a_kernel_report_split_over_entries_is_counted_once_across_kill_9")
    else {
        return;
    };
    // The reference: the report read whole from a file.
    let lines = kernel_lines();
    let want = crashes::once(&lines);
    assert_eq!(crashes::crashes(&want), 1.0, "{want:#?}");

    let pipelines = crashes::pipelines();
    let dir = ConfigDir::new("c.toml", |d| {
        format!(
            r#"
[state]
dir = "{dir}/state"
interval = "50ms"

[[sources]]
name = "app"
type = "journald"
directory = "{dir}/journal"
read_interval = "50ms"
start_at = "beginning"
multiline = {{ mode = "auto", timeout = "300ms" }}

{pipelines}
[[pipelines.rules]]
metric = "shop_requests_total"
type = "counter"
when = [{{ field = "_journal.SYSLOG_IDENTIFIER", equals = "shop" }}]
"#,
            dir = d.display()
        )
    });
    let journal = dir.join("journal");
    std::fs::create_dir(&journal).unwrap();
    let jfile = journal.join("a.journal");
    let cut = lines.len() / 2;
    let first = kernel_entries(0, &lines[..cut]);
    let rest = kernel_entries(first.len() as u64, &lines[cut..]);
    write_journal(&remote, &jfile, &first);
    let agent = dir.start();
    // The shop's lines are counted; the report is open, saved in the
    // checkpoint with the cursor.
    let shop = (cut / 3) as f64;
    agent.wait_for_value("the shop's lines", "shop_requests_total", shop);
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            let c = std::fs::read_to_string(dir.join("state/checkpoint.json")).unwrap_or_default();
            done_if(
                c.contains(r#""input":"journal:kernel""#) && c.contains("BUG: KASAN"),
                c,
            )
        },
        |c| format!("no checkpoint with the open report:\n{c}"),
    );
    let m = agent.metrics();
    assert!(
        crashes::series(&m)
            .keys()
            .all(|k| !k.starts_with("crashes_total")),
        "{m}"
    );
    drop(agent); // SIGKILL, within the timeout

    write_journal(&remote, &jfile, &rest);
    let agent = dir.start();
    let m = agent.wait_for("the report, once", |m| crashes::series(m) == want);
    assert_eq!(
        value(&m, "shop_requests_total"),
        Some((cut / 3 + (lines.len() - cut) / 3) as f64),
        "{m}"
    );
    std::thread::sleep(Duration::from_millis(600));
    let m = agent.metrics();
    assert_eq!(crashes::series(&m), want, "counted again\n{m}");
    assert!(agent.terminate().success());
}
