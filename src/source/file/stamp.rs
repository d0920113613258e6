//! Whether a file changed since it was last checked, from its metadata.
//!
//! Every write or truncation sets a file's change time (ctime), which user
//! space cannot set back. A file whose size, modification time and change
//! time are those seen when its bytes were last checked has therefore not
//! changed since, and a scan need not read its bytes again. The one gap is
//! the timestamps' granularity: a write in the same clock tick as the check
//! may leave them equal. So a stamp is only trusted once the change time is
//! [`SETTLE`] in the past at the check: any write after that moves it.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far in the past a file's change time must be for its stamp to be
/// trusted (far more than any filesystem's timestamp granularity).
pub const SETTLE: Duration = Duration::from_secs(2);

/// A file's size, modification time and change time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    dev: u64,
}

impl Stamp {
    /// The stamp of a file's metadata.
    pub fn of(m: &Metadata) -> Stamp {
        Stamp {
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
        }
    }

    /// Whether the change time lies at least [`SETTLE`] before now, so that
    /// any later change to the file gives another stamp.
    pub fn settled(&self) -> bool {
        self.settled_at(SystemTime::now())
    }

    fn settled_at(&self, now: SystemTime) -> bool {
        let Ok(now) = now.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let (secs, nanos) = self.ctime;
        let Ok(secs) = u64::try_from(secs) else {
            // Before 1970: nothing to trust.
            return false;
        };
        let ctime = Duration::new(secs, u32::try_from(nanos).unwrap_or(0).min(999_999_999));
        now.checked_sub(ctime).is_some_and(|age| age >= SETTLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "one\n").unwrap();
        let before = Stamp::of(&std::fs::metadata(&p).unwrap());
        assert_eq!(before, Stamp::of(&std::fs::metadata(&p).unwrap()));
        // Fresh: not trusted yet; trusted once SETTLE has passed.
        assert!(!before.settled());
        assert!(before.settled_at(SystemTime::now() + SETTLE + Duration::from_millis(10)));
        // Same size, other bytes: the change time moves (after a tick).
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&p, "two\n").unwrap();
        assert_ne!(before, Stamp::of(&std::fs::metadata(&p).unwrap()));
    }

    #[test]
    fn odd_times_are_not_trusted() {
        let s = Stamp {
            len: 0,
            mtime: (-5, 0),
            ctime: (-5, 0),
            ino: 1,
            dev: 1,
        };
        assert!(!s.settled());
        let future = Stamp {
            ctime: (i64::MAX, 0),
            ..s
        };
        assert!(!future.settled());
    }
}
