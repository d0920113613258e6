//! The torture test: a writer appends numbered lines to two files while
//! rotating them every way logrotate and applications do (rename + create,
//! copytruncate, truncate and rewrite, delete + recreate), and the agent is
//! killed with SIGKILL (sometimes SIGTERM) and restarted again and again. At
//! the end the counters equal exactly the lines written, per file and in
//! total.
//!
//! Rotations that destroy unread bytes (truncate-and-rewrite, delete) can
//! only be exact if the bytes were read before they were destroyed, by any
//! reader: before those two, the writer waits until the agent's checkpoint
//! covers the whole file. Renames and copytruncate need no such wait.
//!
//! `LOGTALLY_TORTURE_LINES` sets the number of lines (default 200,000).

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{done_if, truncate, value, wait_until, write, Agent, ConfigDir};

const FILES: [&str; 2] = ["a", "b"];

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn config(dir: &Path) -> String {
    format!(
        r#"
[state]
dir = "{dir}/state"
interval = "100ms"

[[sources]]
name = "app"
type = "file"
include = ["{dir}/*.log*"]
start_at = "beginning"
poll_interval = "50ms"

[[pipelines]]
name = "app"
parser = "logfmt"

[[pipelines.rules]]
metric = "torture_lines_total"
type = "counter"
labels = ["file"]
"#,
        dir = dir.display()
    )
}

/// Counts scraped from `agent`, per file.
fn scrape(agent: &Agent) -> Option<[f64; 2]> {
    let (status, body) = agent.try_get("/metrics").ok()?;
    if status != 200 {
        return None;
    }
    let get =
        |f: &str| value(&body, &format!(r#"torture_lines_total{{file="{f}"}}"#)).unwrap_or(0.0);
    Some([get("a"), get("b")])
}

/// Whether the checkpoint on disk covers `path` up to its current size.
fn checkpoint_covers(state: &Path, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(state.join("checkpoint.json")) else {
        return false;
    };
    let Ok(cp) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    cp["sources"]["app"].as_array().is_some_and(|ps| {
        ps.iter().any(|p| {
            p["ino"].as_u64() == Some(meta.ino()) && p["offset"].as_u64() == Some(meta.len())
        })
    })
}

struct Writer {
    dir: PathBuf,
    written: [u64; 2],
    rotations: [u64; 4],
    next_suffix: u64,
}

impl Writer {
    fn path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}.log", FILES[i]))
    }

    fn append(&mut self, i: usize, n: u64) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(i))
            .unwrap();
        let mut buf = String::new();
        for _ in 0..n {
            buf.push_str(&format!(
                "file={} n={} pad=xxxxxxxxxxxxxxxx\n",
                FILES[i], self.written[i]
            ));
            self.written[i] += 1;
        }
        f.write_all(buf.as_bytes()).unwrap();
    }

    /// Waits until the agent's checkpoint holds every byte of file `i`.
    fn wait_checkpointed(&self, i: usize) {
        wait_until(
            Duration::from_secs(120),
            Duration::from_millis(20),
            || {
                done_if(
                    checkpoint_covers(&self.dir.join("state"), &self.path(i)),
                    (),
                )
            },
            |()| format!("the agent never caught up with {}", FILES[i]),
        );
    }

    fn rotate(&mut self, i: usize, kind: u64) {
        let path = self.path(i);
        self.next_suffix += 1;
        let aside = self
            .dir
            .join(format!("{}.log.{}", FILES[i], self.next_suffix));
        match kind {
            // rename + create
            0 => {
                std::fs::rename(&path, &aside).unwrap();
                // The application still holds the old file for a moment.
                let mut old = OpenOptions::new().append(true).open(&aside).unwrap();
                let line = format!("file={} n={} pad=late\n", FILES[i], self.written[i]);
                self.written[i] += 1;
                old.write_all(line.as_bytes()).unwrap();
                write(&path, "");
            }
            // copytruncate
            1 => {
                std::fs::copy(&path, &aside).unwrap();
                truncate(&path);
            }
            // truncate, then quickly write past the old size
            2 => {
                self.wait_checkpointed(i);
                truncate(&path);
                let before = self.written[i];
                self.append(i, 64);
                assert!(self.written[i] > before);
            }
            // delete + recreate
            _ => {
                self.wait_checkpointed(i);
                std::fs::remove_file(&path).unwrap();
                write(&path, "");
            }
        }
        self.rotations[kind as usize] += 1;
    }
}

#[test]
fn counts_stay_exact_through_rotations_and_kills() {
    let total: u64 = std::env::var("LOGTALLY_TORTURE_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    // Rotation kinds to use (0 rename, 1 copytruncate, 2 truncate+rewrite,
    // 3 delete+recreate); all by default.
    let kinds: Vec<u64> = std::env::var("LOGTALLY_TORTURE_KINDS")
        .ok()
        .map(|v| v.split(',').filter_map(|k| k.trim().parse().ok()).collect())
        .filter(|k: &Vec<u64>| !k.is_empty())
        .unwrap_or_else(|| vec![0, 1, 2, 3]);
    let dir = ConfigDir::new("torture.toml", config);
    for f in FILES {
        write(&dir.join(format!("{f}.log")), "");
    }

    let port = Arc::new(AtomicU16::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let dir = dir.path().to_path_buf();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
            let mut w = Writer {
                dir,
                written: [0, 0],
                rotations: [0; 4],
                next_suffix: 0,
            };
            let mut since_rotation = 0;
            while w.written[0] + w.written[1] < total {
                let i = rng.below(2) as usize;
                let left = total - w.written[0] - w.written[1];
                let n = (1 + rng.below(400)).min(left);
                w.append(i, n);
                since_rotation += n;
                if since_rotation >= 5_000 && w.written[0] + w.written[1] < total {
                    since_rotation = 0;
                    let kind = kinds[rng.below(kinds.len() as u64) as usize];
                    w.rotate(rng.below(2) as usize, kind);
                }
                // About 20 s of writing for 200,000 lines, so that the agent
                // is killed many times while lines arrive.
                std::thread::sleep(Duration::from_micros(
                    rng.below(40_000) * total.min(200_000) / 200_000,
                ));
            }
            done.store(true, Ordering::SeqCst);
            w
        })
    };

    // Kill and restart the agent until the writer is done.
    let mut rng = Xorshift(0x2545_f491_4f6c_dd1d);
    let mut restarts = 0;
    let mut agent;
    let mut history = String::new();
    loop {
        agent = dir.start();
        port.store(agent.port, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300 + rng.below(900)));
        if done.load(Ordering::SeqCst) && restarts >= 5 {
            break;
        }
        restarts += 1;
        history.push_str(&agent.stderr());
        history.push_str("---- restart\n");
        if rng.below(4) == 0 {
            assert!(agent.terminate().success());
        } else {
            drop(agent); // SIGKILL
        }
    }
    let w = writer.join().unwrap();
    assert_eq!(w.written[0] + w.written[1], total);

    let caught_up = Instant::now();
    let expected = [w.written[0] as f64, w.written[1] as f64];
    wait_until(
        Duration::from_secs(120),
        Duration::from_millis(20),
        || {
            let last = scrape(&agent);
            done_if(last == Some(expected), last)
        },
        |last| {
            history.push_str(&agent.stderr());
            let _ = std::fs::write("/tmp/logtally-torture.log", &history);
            format!(
                "counts {last:?}, written {expected:?}; stderr:\n{}",
                agent.stderr()
            )
        },
    );
    let lag = caught_up.elapsed();
    // Stays exact: nothing more arrives later, and a last restart changes nothing.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(scrape(&agent), Some(expected));
    assert!(agent.terminate().success());
    let agent = dir.start();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(scrape(&agent), Some(expected));
    println!(
        "torture: {total} lines ({} in a, {} in b), rotations: {} rename, {} copytruncate, {} truncate+rewrite, {} delete+recreate; {} restarts; caught up {:?} after the writer stopped",
        w.written[0], w.written[1], w.rotations[0], w.rotations[1], w.rotations[2], w.rotations[3], restarts + 1, lag
    );
}
