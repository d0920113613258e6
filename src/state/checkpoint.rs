//! The checkpoint file: source positions and the metric values derived from
//! the lines before them, written atomically, read strictly.
//!
//! The file is JSON tagged with a format version. Writing goes to a
//! temporary file that is synced and then renamed over the checkpoint, and
//! the directory is synced, so a crash at any moment leaves either the old
//! or the new checkpoint, whole. Reading refuses a file it does not fully
//! understand: an unknown version or a damaged file is an error that names
//! the file, never a silent fresh start.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use logtally_parsers::multiline;
use serde::{Deserialize, Serialize};

/// Name of the checkpoint file in the state directory.
pub const FILE_NAME: &str = "checkpoint.json";

/// The format version this build writes.
pub const VERSION: u32 = 1;

/// Where a source stands: what it has read and applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Position {
    /// A followed file.
    File(FilePosition),
    /// A Kafka partition: the next offset to consume.
    Kafka {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Next offset to read.
        offset: i64,
    },
    /// A position given by an opaque cursor (a journal's).
    Cursor {
        /// What the cursor is in (e.g. `journal`).
        stream: String,
        /// The cursor of the last entry applied.
        cursor: String,
    },
    /// A multi-line record open at the checkpoint: its lines are past the
    /// input's position, not applied yet; it is resumed (and completed
    /// once, whole) when the input resumes at that position.
    Record {
        /// The input it belongs to, in the source's words (a file's
        /// `file:<dev>:<ino>[:<stream>]`).
        input: String,
        /// The record.
        record: SavedRecord,
    },
}

/// A file's identity and the offset up to which its lines were applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    /// Where the file was last seen (its directory is searched for it after
    /// a restart if it was renamed meanwhile).
    pub path: PathBuf,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// How many leading bytes `head` covers.
    pub head_len: u32,
    /// Hash of the leading bytes.
    pub head: u64,
    /// Hash of the bytes just before `offset` (up to 64).
    pub tail: u64,
    /// Bytes whose lines were applied.
    pub offset: u64,
    /// Container log files: where the lines still being joined at `offset`
    /// begin (their parts before `offset` are read again after a restart,
    /// the other records there are not). Absent when none is.
    #[serde(default, skip_serializing_if = "OpenLines::is_empty")]
    pub open: OpenLines,
}

/// Where the partial lines of a container log file being joined begin,
/// per stream: the offset of the first record of each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpenLines {
    /// The open standard output line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<u64>,
    /// The open standard error line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<u64>,
}

impl OpenLines {
    /// Whether no line is open.
    pub fn is_empty(&self) -> bool {
        self.stdout.is_none() && self.stderr.is_none()
    }

    /// The offset of the first open line, if any.
    pub fn first(&self) -> Option<u64> {
        match (self.stdout, self.stderr) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A multi-line record still open at a checkpoint (a serde mirror of
/// [`multiline::Saved`]), completed once, whole, after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRecord {
    /// The lines taken, joined with `\n`.
    pub text: String,
    /// Bytes of the first line in `text`.
    pub head_len: usize,
    /// Lines in `text`.
    pub lines: u32,
    /// Lines held after them, each ended by `\n`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub held: String,
    /// Lines in `held`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held_lines: u32,
    /// Whether the record is a crash's for sure.
    pub confirmed: bool,
    /// The detector stepping it, by kind name (`auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
    /// The detector's phase.
    #[serde(default)]
    pub phase: u8,
    /// What its lines said of a crash so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<SavedCrash>,
    /// Records made of a field of JSON lines: the lines themselves, in
    /// order (the record is made of the first one's object).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub originals: Vec<String>,
    /// Container logs: the time its first line came with.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub time: String,
}

/// What a saved record said of a crash (a mirror of [`multiline::Crash`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedCrash {
    /// The kind's name.
    pub kind: String,
    /// Type.
    #[serde(default)]
    pub ty: String,
    /// Message.
    #[serde(default)]
    pub message: String,
    /// Top frame.
    #[serde(default)]
    pub frame: String,
    /// Frames seen.
    #[serde(default)]
    pub frames: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SavedRecord {
    /// The saved form of `saved` (and of the original lines of a record
    /// made of a JSON field).
    pub fn of(saved: multiline::Saved, originals: Vec<String>) -> Self {
        Self {
            text: saved.text,
            head_len: saved.head_len,
            lines: saved.lines,
            held: saved.held,
            held_lines: saved.held_lines,
            confirmed: saved.confirmed,
            detector: saved.detector.map(|k| k.as_str().to_string()),
            phase: saved.phase,
            crash: saved.crash.map(|c| SavedCrash {
                kind: c.kind.as_str().to_string(),
                ty: c.ty,
                message: c.message,
                frame: c.frame,
                frames: c.frames,
            }),
            originals,
            time: String::new(),
        }
    }

    /// The joiner's form of it, and its original lines. A kind this build
    /// does not know leaves the record without a detector (it is
    /// completed at its next line) or without a crash.
    pub fn into_saved(self) -> (multiline::Saved, Vec<String>) {
        let crash = self.crash.and_then(|c| {
            Some(multiline::Crash {
                kind: multiline::CrashKind::from_name(&c.kind)?,
                ty: c.ty,
                message: c.message,
                frame: c.frame,
                frames: c.frames,
            })
        });
        // Bytes counts that do not fit the text are cut to it.
        let mut head_len = self.head_len.min(self.text.len());
        while !self.text.is_char_boundary(head_len) {
            head_len -= 1;
        }
        let saved = multiline::Saved {
            head_len,
            lines: self.lines.max(1),
            held: self.held,
            held_lines: self.held_lines,
            confirmed: self.confirmed,
            detector: self
                .detector
                .as_deref()
                .and_then(multiline::CrashKind::from_name),
            phase: self.phase,
            crash,
            text: self.text,
        };
        (saved, self.originals)
    }
}

/// A metric value as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SavedValue {
    /// A counter's value.
    Counter {
        /// Value.
        value: f64,
    },
    /// A gauge's value.
    Gauge {
        /// Value.
        value: f64,
    },
    /// A histogram.
    Histogram {
        /// Upper bounds (the last, `+Inf`, is left out).
        bounds: Vec<f64>,
        /// Cumulative counts, one per bound plus `+Inf`.
        counts: Vec<u64>,
        /// Sum of observations.
        sum: f64,
    },
}

/// One saved series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSeries {
    /// Metric name.
    pub metric: String,
    /// Labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Its value.
    #[serde(flatten)]
    pub value: SavedValue,
}

/// A consistent snapshot: positions and the values derived up to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version.
    pub version: u32,
    /// When it was taken, in milliseconds since the Unix epoch.
    pub taken_at_ms: u64,
    /// Positions by source name.
    pub sources: BTreeMap<String, Vec<Position>>,
    /// Every series of the rule metrics.
    pub series: Vec<SavedSeries>,
}

/// Why a checkpoint could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint this build can read.
    #[error("{path}: not a readable checkpoint ({reason}); logtally will not guess. Move the file away to start from scratch (counters restart at 0 and files are read per start_at)")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Just the version, read before the rest.
#[derive(Deserialize)]
struct VersionOnly {
    version: Option<serde_json::Value>,
}

impl Checkpoint {
    /// Reads the checkpoint in `dir`; `Ok(None)` when there is none.
    pub fn load(dir: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = dir.join(FILE_NAME);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        let unreadable = |reason: String| CheckpointError::Unreadable {
            path: path.clone(),
            reason,
        };
        let v: VersionOnly =
            serde_json::from_slice(&bytes).map_err(|e| unreadable(format!("damaged: {e}")))?;
        match v.version {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(VERSION)) => {}
            Some(other) => {
                return Err(unreadable(format!(
                    "format version {other}, this logtally reads version {VERSION}"
                )))
            }
            None => return Err(unreadable("no format version".into())),
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| unreadable(format!("damaged: {e}")))
    }

    /// Writes the checkpoint into `dir` atomically.
    pub fn store(&self, dir: &Path) -> Result<(), CheckpointError> {
        let path = dir.join(FILE_NAME);
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        let io = |source, path: &Path| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        };
        let body = serde_json::to_vec(self).map_err(|e| CheckpointError::Unreadable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut f = File::create(&tmp).map_err(|e| io(e, &tmp))?;
        f.write_all(&body).map_err(|e| io(e, &tmp))?;
        f.sync_all().map_err(|e| io(e, &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(|e| io(e, &path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(e, dir))?;
        Ok(())
    }

    /// The Kafka positions saved for `source`: (topic, partition) → next
    /// offset.
    pub fn kafka_positions(&self, source: &str) -> BTreeMap<(String, i32), i64> {
        self.sources
            .get(source)
            .into_iter()
            .flatten()
            .filter_map(|p| match p {
                Position::Kafka {
                    topic,
                    partition,
                    offset,
                } => Some(((topic.clone(), *partition), *offset)),
                _ => None,
            })
            .collect()
    }

    /// The file positions saved for `source`.
    pub fn file_positions(&self, source: &str) -> Vec<FilePosition> {
        file_positions(self.sources.get(source).map_or(&[], Vec::as_slice))
    }
}

/// The file positions among `positions`.
pub fn file_positions(positions: &[Position]) -> Vec<FilePosition> {
    positions
        .iter()
        .filter_map(|p| match p {
            Position::File(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        let mut sources = BTreeMap::new();
        sources.insert(
            "app".to_string(),
            vec![Position::File(FilePosition {
                path: "/var/log/app.log".into(),
                dev: 1,
                ino: 2,
                head_len: 10,
                head: 3,
                tail: 4,
                offset: 5,
                open: OpenLines::default(),
            })],
        );
        Checkpoint {
            version: VERSION,
            taken_at_ms: 1,
            sources,
            series: vec![SavedSeries {
                metric: "x_total".into(),
                labels: vec![("a".into(), "b".into())],
                value: SavedValue::Counter { value: 7.5 },
            }],
        }
    }

    #[test]
    fn round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Checkpoint::load(dir.path()).unwrap().is_none());
        let c = sample();
        c.store(dir.path()).unwrap();
        assert_eq!(Checkpoint::load(dir.path()).unwrap(), Some(c.clone()));
        assert!(!dir.path().join("checkpoint.json.tmp").exists());
        assert_eq!(c.file_positions("app").len(), 1);
        assert!(c.file_positions("other").is_empty());
    }

    #[test]
    fn open_records_round_trip_and_older_checkpoints_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = sample();
        let saved = multiline::Saved {
            text: "Traceback (most recent call last):\n  File \"a.py\"".into(),
            head_len: 34,
            lines: 2,
            held: "  x\n".into(),
            held_lines: 1,
            confirmed: true,
            detector: Some(multiline::CrashKind::Python),
            phase: 3,
            crash: Some(multiline::Crash {
                kind: multiline::CrashKind::Python,
                ty: "KeyError".into(),
                message: String::new(),
                frame: "a.f".into(),
                frames: 1,
            }),
        };
        let record = SavedRecord::of(saved.clone(), vec!["{}".into()]);
        c.sources.get_mut("app").unwrap().push(Position::Record {
            input: "file:1:2".into(),
            record: record.clone(),
        });
        c.store(dir.path()).unwrap();
        let back = Checkpoint::load(dir.path()).unwrap().unwrap();
        assert_eq!(back, c);
        assert_eq!(c.file_positions("app").len(), 1);
        assert_eq!(record.into_saved(), (saved, vec!["{}".to_string()]));
        // As builds without multi-line records wrote them.
        let old = r#"{"version":1,"taken_at_ms":1,"sources":{"app":[{"kind":"file","path":"/var/log/app.log","dev":1,"ino":2,"head_len":10,"head":3,"tail":4,"offset":5},{"kind":"kafka","topic":"t","partition":0,"offset":7}]},"series":[]}"#;
        fs::write(dir.path().join(FILE_NAME), old).unwrap();
        let back = Checkpoint::load(dir.path()).unwrap().unwrap();
        assert_eq!(back.file_positions("app"), sample().file_positions("app"));
        // A record naming a kind this build does not know: no detector.
        let odd = SavedRecord {
            detector: Some("cobol".into()),
            head_len: 999,
            ..SavedRecord::of(
                multiline::Saved {
                    text: "é".into(),
                    head_len: 2,
                    lines: 0,
                    held: String::new(),
                    held_lines: 0,
                    confirmed: true,
                    detector: None,
                    phase: 0,
                    crash: None,
                },
                Vec::new(),
            )
        };
        let (s, _) = odd.into_saved();
        // The head cut to the text, the lines at least one.
        assert_eq!((s.detector, s.head_len, s.lines), (None, 2, 1));
    }

    #[test]
    fn refuses_unknown_versions_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, r#"{"version": 99, "sources": {}}"#).unwrap();
        let e = Checkpoint::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("format version 99"), "{e}");
        fs::write(&path, r#"{"version": 1, "sources": {"#).unwrap();
        let e = Checkpoint::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("damaged"), "{e}");
        fs::write(&path, r#"{"sources": {}}"#).unwrap();
        let e = Checkpoint::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no format version"), "{e}");
    }
}
