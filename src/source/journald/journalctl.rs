//! Running journalctl: finding the program, its arguments, and one run read
//! to its end, its standard error logged.
//!
//! Each run reads the journal from a position to its current end and exits
//! (no `--follow`, see the module documentation of [`super`]). Its standard
//! output is read on a thread of its own in chunks handed over a bounded
//! queue, so the source can stop (and kill the run) at any time; its
//! standard error on another, each line logged once as a warning (repeats
//! at debug level: the same hint comes with every run).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use tracing::{debug, warn};

use crate::source::spec::{JournalSelection, JournaldSpec};

/// Bytes of standard output read at once.
const CHUNK: usize = 64 * 1024;

/// Chunks read ahead of the source, at most.
const CHUNKS_QUEUED: usize = 4;

/// Longest standard error line kept, in bytes.
const STDERR_LINE: usize = 1024;

/// Standard error lines remembered to log each once.
const STDERR_REMEMBERED: usize = 32;

/// Last standard error lines of a run kept to explain its failure.
const STDERR_TAIL: usize = 4;

/// The journalctl program `program` names: a path, or a name looked up in
/// `PATH`; the error says what to do.
pub fn resolve(program: &str) -> Result<PathBuf, String> {
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return if runnable(&p) {
            Ok(p)
        } else {
            Err(format!(
                "journalctl `{program}` is not an executable file: set `journalctl` to the path of systemd's journalctl"
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| runnable(p))
        .ok_or_else(|| {
            format!(
                "`{program}` was not found on PATH ({}): install systemd's journalctl (Debian and Ubuntu: package `systemd`), or set `journalctl` to its path",
                path.to_string_lossy()
            )
        })
}

/// Where a run starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start<'a> {
    /// The oldest entry.
    Beginning,
    /// The entry at this cursor (or, when the journal no longer has it, the
    /// first one after its place).
    At(&'a str),
    /// Only the newest entry (to learn where the journal ends).
    Last,
}

/// journalctl's arguments for a run of `spec` from `start`.
pub fn args(spec: &JournaldSpec, start: Start<'_>) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["--output=json".into(), "--all".into(), "--no-pager".into()];
    match &spec.journal {
        JournalSelection::System => {}
        JournalSelection::Directory(d) => {
            let mut arg = OsString::from("--directory=");
            arg.push(d);
            a.push(arg);
        }
        JournalSelection::Files(files) => {
            a.extend(files.iter().map(|f| OsString::from(format!("--file={f}"))));
        }
    }
    a.extend(
        spec.units
            .iter()
            .map(|u| OsString::from(format!("--unit={u}"))),
    );
    match start {
        Start::Beginning => {}
        Start::At(cursor) => a.push(format!("--cursor={cursor}").into()),
        Start::Last => a.push("--lines=1".into()),
    }
    // Matches are FIELD=value (checked): never taken for an option.
    a.extend(spec.matches.iter().map(OsString::from));
    a
}

/// Standard error lines already logged as warnings (shared by the runs of
/// one source).
#[derive(Debug, Default)]
pub struct Seen(VecDeque<String>);

impl Seen {
    /// Logs `line` of source `source`: as a warning the first time.
    fn log(&mut self, source: &str, line: &str) {
        if self.0.iter().any(|l| l == line) {
            debug!(source, "journalctl: {line}");
            return;
        }
        warn!(source, "journalctl: {line}");
        if self.0.len() == STDERR_REMEMBERED {
            self.0.pop_front();
        }
        self.0.push_back(line.to_string());
    }
}

/// What [`Run::next`] got.
#[derive(Debug)]
pub enum Next {
    /// Bytes of standard output.
    Chunk(Vec<u8>),
    /// Nothing within the wait.
    Idle,
    /// Standard output ended.
    End,
    /// Reading standard output failed.
    Failed(io::Error),
}

/// How a run ended.
#[derive(Debug)]
pub struct Ended {
    /// Its exit status, or why it is unknown.
    pub status: io::Result<ExitStatus>,
    /// Its last lines of standard error.
    pub stderr: Vec<String>,
}

impl Ended {
    /// Whether journalctl exited successfully.
    pub fn success(&self) -> bool {
        self.status.as_ref().is_ok_and(|s| s.success())
    }

    /// What went wrong, for a log line: exit status and last error lines.
    pub fn describe(&self) -> String {
        let status = match &self.status {
            Ok(s) => s.to_string(),
            Err(e) => format!("unknown exit status ({e})"),
        };
        if self.stderr.is_empty() {
            status
        } else {
            format!("{status}: {}", self.stderr.join(" / "))
        }
    }
}

/// A running journalctl. Dropping it kills the process.
pub struct Run {
    child: Child,
    chunks: Option<Receiver<io::Result<Vec<u8>>>>,
    pump: Option<JoinHandle<()>>,
    errors: Option<JoinHandle<Vec<String>>>,
}

impl Run {
    /// Starts `program` with `args` for the source `source`.
    pub fn spawn(
        program: &Path,
        args: &[OsString],
        source: &str,
        seen: Arc<Mutex<Seen>>,
    ) -> io::Result<Run> {
        let mut child = Command::new(program)
            .args(args)
            .env("SYSTEMD_COLORS", "0")
            .env("SYSTEMD_PAGER", "cat")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdout = child.stdout.take().expect("standard output is piped");
        let stderr = child.stderr.take().expect("standard error is piped");
        let (tx, rx) = mpsc::sync_channel(CHUNKS_QUEUED);
        let spawned = std::thread::Builder::new()
            .name(format!("journalctl-{source}"))
            .spawn(move || loop {
                let mut buf = vec![0u8; CHUNK];
                match stdout.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.send(Ok(buf)).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            })
            .and_then(|pump| {
                let name = source.to_string();
                std::thread::Builder::new()
                    .name(format!("journalctl-err-{source}"))
                    .spawn(move || read_stderr(stderr, &name, &seen))
                    .map(|errors| (pump, errors))
            });
        match spawned {
            Ok((pump, errors)) => Ok(Run {
                child,
                chunks: Some(rx),
                pump: Some(pump),
                errors: Some(errors),
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Waits up to `wait` for standard output.
    pub fn next(&self, wait: Duration) -> Next {
        let Some(rx) = &self.chunks else {
            return Next::End;
        };
        match rx.recv_timeout(wait) {
            Ok(Ok(chunk)) => Next::Chunk(chunk),
            Ok(Err(e)) => Next::Failed(e),
            Err(RecvTimeoutError::Timeout) => Next::Idle,
            Err(RecvTimeoutError::Disconnected) => Next::End,
        }
    }

    /// Kills the process (its output is not wanted any more).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits for the process to exit (after its output ended, or after
    /// [`Run::kill`]) and for its threads.
    pub fn finish(mut self) -> Ended {
        self.end()
    }

    fn end(&mut self) -> Ended {
        // Unblock the reader if it waits for room in the queue.
        self.chunks = None;
        let status = self.child.wait();
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
        let stderr = self
            .errors
            .take()
            .and_then(|e| e.join().ok())
            .unwrap_or_default();
        Ended { status, stderr }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.pump.is_some() {
            self.kill();
            self.end();
        }
    }
}

/// Logs the lines of journalctl's standard error; returns the last ones.
fn read_stderr(mut stderr: impl Read, source: &str, seen: &Mutex<Seen>) -> Vec<String> {
    let mut tail = VecDeque::new();
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    let emit = |line: &mut Vec<u8>, tail: &mut VecDeque<String>| {
        let text = String::from_utf8_lossy(line).trim_end().to_string();
        line.clear();
        if text.is_empty() {
            return;
        }
        seen.lock().log(source, &text);
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(text);
    };
    loop {
        let n = match stderr.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                emit(&mut line, &mut tail);
            } else if line.len() < STDERR_LINE {
                line.push(b);
            }
        }
    }
    emit(&mut line, &mut tail);
    tail.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::spec::{JournalFormat, StartAt};

    fn spec(journal: JournalSelection) -> JournaldSpec {
        JournaldSpec {
            journal,
            matches: vec![
                "_SYSTEMD_UNIT=a.service".into(),
                "+".into(),
                "PRIORITY=3".into(),
            ],
            units: vec!["b.service".into()],
            start_at: StartAt::End,
            format: JournalFormat::Message,
            journalctl: "journalctl".into(),
            read_interval: Duration::from_secs(1),
        }
    }

    fn strings(a: Vec<OsString>) -> Vec<String> {
        a.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn arguments_select_the_journal_the_start_and_the_entries() {
        let d = spec(JournalSelection::Directory("/j".into()));
        assert_eq!(
            strings(args(&d, Start::At("s=1;i=2"))),
            [
                "--output=json",
                "--all",
                "--no-pager",
                "--directory=/j",
                "--unit=b.service",
                "--cursor=s=1;i=2",
                "_SYSTEMD_UNIT=a.service",
                "+",
                "PRIORITY=3"
            ]
        );
        let f = spec(JournalSelection::Files(vec![
            "/a.journal".into(),
            "/b/*.journal".into(),
        ]));
        let a = strings(args(&f, Start::Last));
        assert!(a.contains(&"--file=/a.journal".to_string()), "{a:?}");
        assert!(a.contains(&"--file=/b/*.journal".to_string()), "{a:?}");
        assert!(a.contains(&"--lines=1".to_string()), "{a:?}");
        let s = strings(args(&spec(JournalSelection::System), Start::Beginning));
        assert!(
            !s.iter().any(|a| a.starts_with("--directory")
                || a.starts_with("--file")
                || a.starts_with("--cursor")
                || a.starts_with("--lines")),
            "{s:?}"
        );
    }

    #[test]
    fn programs_are_found_on_path_or_refused_clearly() {
        let e = resolve("logtally-no-such-journalctl").unwrap_err();
        assert!(e.contains("was not found on PATH"), "{e}");
        let e = resolve("/nonexistent/journalctl").unwrap_err();
        assert!(e.contains("is not an executable file"), "{e}");
        assert_eq!(resolve("/bin/sh").unwrap(), PathBuf::from("/bin/sh"));
        assert!(resolve("sh").is_ok());
    }

    #[test]
    fn a_run_is_read_to_its_end_with_its_errors() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let run = Run::spawn(
            Path::new("/bin/sh"),
            &[
                "-c".into(),
                "printf 'a\\nb\\n'; echo oops >&2; exit 3".into(),
            ],
            "t",
            seen.clone(),
        )
        .unwrap();
        let mut out = Vec::new();
        loop {
            match run.next(Duration::from_secs(5)) {
                Next::Chunk(c) => out.extend(c),
                Next::End => break,
                other => panic!("{other:?}"),
            }
        }
        let ended = run.finish();
        assert_eq!(out, b"a\nb\n");
        assert!(!ended.success());
        assert_eq!(ended.stderr, ["oops"]);
        assert!(ended.describe().contains("oops"), "{}", ended.describe());
        assert_eq!(seen.lock().0.len(), 1);
    }

    #[test]
    fn a_run_is_killed_on_request_and_when_dropped() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut run = Run::spawn(
            Path::new("/bin/sh"),
            &["-c".into(), "exec sleep 30".into()],
            "t",
            seen.clone(),
        )
        .unwrap();
        assert!(matches!(run.next(Duration::from_millis(20)), Next::Idle));
        let started = std::time::Instant::now();
        run.kill();
        let ended = run.finish();
        assert!(!ended.success());
        let dropped = Run::spawn(
            Path::new("/bin/sh"),
            &["-c".into(), "exec sleep 30".into()],
            "t",
            seen,
        )
        .unwrap();
        drop(dropped);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
