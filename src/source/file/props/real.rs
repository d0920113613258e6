//! The real tailer on a temporary directory, driven step by step: a look
//! is what one round of [`FileTailer::run`] does (a scan and a read, a
//! read, or the check and read of the files written to), positions are
//! taken after each, and time passes by moving the tailer's clock.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::{Look, Setup, World, IDLE_FLUSH};
use crate::source::file::identity::FileId;
use crate::source::file::lines::Lines;
use crate::source::file::FileTailer;
use crate::source::framing::FrameCounts;
use crate::source::spec::{FileSpec, StartAt};
use crate::state::checkpoint::{FilePosition, Position};

/// Lines as delivered.
#[derive(Default)]
struct Collect(Vec<String>);

impl Lines for Collect {
    fn line(&mut self, line: &str) {
        self.0.push(line.to_string());
    }

    fn flush(&mut self, _: FrameCounts) {}

    fn read_error(&mut self) {
        panic!("a read failed");
    }
}

/// A temporary directory and a tailer following files in it.
pub struct RealWorld {
    dir: tempfile::TempDir,
    spec: FileSpec,
    tailer: FileTailer,
    scanned: bool,
    published: Option<Vec<FilePosition>>,
    handles: Vec<Option<File>>,
    out: Collect,
}

impl RealWorld {
    /// An empty directory and a tailer that never ran.
    pub fn new(setup: Setup) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let glob = if setup.wide { "*.log*" } else { "*.log" };
        let spec = FileSpec {
            include: vec![format!("{}/{glob}", dir.path().display())],
            exclude: Vec::new(),
            start_at: if setup.start_at_end {
                StartAt::End
            } else {
                StartAt::Beginning
            },
            poll_interval: Duration::from_millis(100),
            idle_flush: IDLE_FLUSH,
            max_open_files: 1024,
            format: crate::source::spec::LineFormat::Plain,
        };
        let tailer = FileTailer::new("props", &spec, 1 << 20, None);
        RealWorld {
            dir,
            spec,
            tailer,
            scanned: false,
            published: None,
            handles: Vec::new(),
            out: Collect::default(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Reads as `run` does: once (only the files in `only`, if given), and
    /// again while a file has more.
    fn read_all(&mut self, only: Option<&HashSet<FileId>>) {
        let mut more = self.tailer.read(&mut self.out, only);
        for _ in 0..8 {
            if !more {
                break;
            }
            more = self.tailer.read(&mut self.out, None);
        }
    }
}

impl World for RealWorld {
    fn open(&mut self, name: &str) -> usize {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .expect("open for appending");
        self.handles.push(Some(f));
        self.handles.len() - 1
    }

    fn close(&mut self, w: usize) {
        self.handles[w] = None;
    }

    fn append(&mut self, w: usize, bytes: &[u8]) {
        let f = self.handles[w].as_mut().expect("open handle");
        f.write_all(bytes).expect("append");
    }

    fn create(&mut self, name: &str, bytes: &[u8]) {
        let mut f = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(self.path(name))
            .expect("create");
        f.write_all(bytes).expect("write");
    }

    fn append_to(&mut self, name: &str, bytes: &[u8]) {
        let mut f = OpenOptions::new()
            .append(true)
            .open(self.path(name))
            .expect("open for appending");
        f.write_all(bytes).expect("append");
    }

    fn truncate(&mut self, name: &str) {
        let f = OpenOptions::new()
            .write(true)
            .open(self.path(name))
            .expect("open to truncate");
        f.set_len(0).expect("truncate");
    }

    fn rename(&mut self, from: &str, to: &str) {
        assert!(!self.path(to).exists(), "{to} exists");
        std::fs::rename(self.path(from), self.path(to)).expect("rename");
    }

    fn remove(&mut self, name: &str) {
        std::fs::remove_file(self.path(name)).expect("remove");
    }

    fn read(&mut self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read")
    }

    fn look(&mut self, how: Look, written: &[String]) -> bool {
        let mut scan = !self.scanned || how == Look::Scan;
        let mut only = None;
        if how == Look::Written && !scan {
            // What `FileTailer::note` makes of write events for these paths.
            let t = &self.tailer;
            let finishing = t.files.iter().any(|f| f.path.is_none());
            let mut paths = HashSet::new();
            let mut read_finishing = false;
            for p in written.iter().map(|n| self.path(n)) {
                if t.files.iter().any(|f| f.is_at(&p)) {
                    paths.insert(p);
                } else if t.globs.matches(&p) {
                    scan = true;
                } else if finishing {
                    read_finishing = true;
                }
            }
            if !scan {
                let mut ids = self.tailer.check_written(&paths, &mut self.out);
                if read_finishing {
                    let t = &self.tailer;
                    ids.extend(t.files.iter().filter(|f| f.path.is_none()).map(|f| f.id));
                }
                only = Some(ids);
            }
        }
        if scan {
            self.tailer.scan(&mut self.out);
            self.scanned = true;
        }
        self.read_all(only.as_ref());
        let positions = self.tailer.positions().into_iter();
        self.published = Some(
            positions
                .filter_map(|p| match p {
                    Position::File(f) => Some(f),
                    _ => None,
                })
                .collect(),
        );
        scan
    }

    fn restart(&mut self) {
        self.tailer = FileTailer::new("props", &self.spec, 1 << 20, self.published.clone());
        self.scanned = false;
    }

    fn wait(&mut self, d: Duration) {
        self.tailer.clock.advance(d);
    }

    fn delivered(&self) -> &[String] {
        &self.out.0
    }
}
