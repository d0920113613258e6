//! Filesystem events, sorted into what they ask of a file source.
//!
//! A source watches the directories its globs start from. The watcher also
//! reports what logtally itself does there (opening the directory to list
//! it, opening and reading files): those events are dropped here, so that a
//! source's own scans never wake it again. What is left:
//! - data written to a file ([`Wake::Written`]): read the files named;
//! - a file created, moved, deleted or its attributes changed, or events
//!   lost ([`Wake::Scan`]): look at the directories again.
//!
//! The tailer decides from the paths whether an event concerns it (see
//! [`Wake::concerns`]); a scan every `poll_interval` catches anything that
//! the events miss.

use std::path::{Path, PathBuf};

use notify::event::{CreateKind, EventKind, ModifyKind, RemoveKind};

/// What an event asks of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// Data was written to (or truncated from) these files.
    Written(Vec<PathBuf>),
    /// The directory entries or attributes of these paths changed (none:
    /// events were lost or the watcher failed): scan again.
    Scan(Vec<PathBuf>),
}

/// What `event` asks of the source, or `None` for events that change
/// nothing (opens, reads, closes: the source's own included).
pub fn classify(event: notify::Result<notify::Event>) -> Option<Wake> {
    let Ok(event) = event else {
        // The watcher failed or its queue overflowed: events were lost.
        return Some(Wake::Scan(Vec::new()));
    };
    if event.need_rescan() {
        return Some(Wake::Scan(Vec::new()));
    }
    match event.kind {
        EventKind::Access(_) => None,
        EventKind::Modify(ModifyKind::Data(_)) => Some(Wake::Written(event.paths)),
        EventKind::Modify(ModifyKind::Metadata(notify::event::MetadataKind::AccessTime)) => None,
        // A directory that appears or goes may hold selected files.
        EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder) => {
            Some(Wake::Scan(Vec::new()))
        }
        EventKind::Create(_)
        | EventKind::Remove(_)
        | EventKind::Modify(_)
        | EventKind::Any
        | EventKind::Other => Some(Wake::Scan(event.paths)),
    }
}

impl Wake {
    /// The same wake with paths under `cwd` made relative to it (relative
    /// globs select relative paths; events name absolute ones).
    pub fn relative_to(self, cwd: Option<&Path>) -> Wake {
        let Some(cwd) = cwd else { return self };
        let rel = |paths: Vec<PathBuf>| -> Vec<PathBuf> {
            paths
                .into_iter()
                .map(|p| match p.strip_prefix(cwd) {
                    Ok(r) if !r.as_os_str().is_empty() => r.to_path_buf(),
                    _ => p,
                })
                .collect()
        };
        match self {
            Wake::Written(p) => Wake::Written(rel(p)),
            Wake::Scan(p) => Wake::Scan(rel(p)),
        }
    }

    /// Whether this concerns a source whose globs select the paths for
    /// which `selected` is true and which follows files at the paths for
    /// which `followed` is true. A directory may hold selected files; an
    /// event without paths concerns every source.
    pub fn concerns(
        &self,
        selected: impl Fn(&Path) -> bool,
        followed: impl Fn(&Path) -> bool,
    ) -> bool {
        match self {
            Wake::Written(paths) => paths.iter().any(|p| followed(p) || selected(p)),
            Wake::Scan(paths) => {
                paths.is_empty()
                    || paths
                        .iter()
                        .any(|p| followed(p) || selected(p) || p.is_dir())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, Flag, MetadataKind, RemoveKind, RenameMode,
    };
    use notify::Event;

    fn ev(kind: EventKind) -> notify::Result<Event> {
        Ok(Event::new(kind).add_path(PathBuf::from("/l/a.log")))
    }

    #[test]
    fn own_opens_and_reads_wake_nothing() {
        for k in [
            AccessKind::Open(AccessMode::Any),
            AccessKind::Read,
            AccessKind::Close(AccessMode::Read),
            AccessKind::Close(AccessMode::Write),
            AccessKind::Any,
        ] {
            assert_eq!(classify(ev(EventKind::Access(k))), None, "{k:?}");
        }
        assert_eq!(
            classify(ev(EventKind::Modify(ModifyKind::Metadata(
                MetadataKind::AccessTime
            )))),
            None
        );
    }

    #[test]
    fn changes_wake() {
        let a = vec![PathBuf::from("/l/a.log")];
        assert_eq!(
            classify(ev(EventKind::Modify(ModifyKind::Data(DataChange::Any)))),
            Some(Wake::Written(a.clone()))
        );
        for k in [
            EventKind::Create(CreateKind::File),
            EventKind::Remove(RemoveKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
            EventKind::Any,
            EventKind::Other,
        ] {
            assert_eq!(classify(ev(k)), Some(Wake::Scan(a.clone())), "{k:?}");
        }
        let lost = Event::new(EventKind::Other).set_flag(Flag::Rescan);
        assert_eq!(classify(Ok(lost)), Some(Wake::Scan(Vec::new())));
        assert_eq!(
            classify(Err(notify::Error::generic("queue overflow"))),
            Some(Wake::Scan(Vec::new()))
        );
    }

    #[test]
    fn concerns_by_path() {
        let other = PathBuf::from("/nonexistent/other.txt");
        for w in [Wake::Written(vec![other.clone()]), Wake::Scan(vec![other])] {
            assert!(!w.concerns(|_| false, |_| false));
            assert!(w.concerns(|p| p.ends_with("other.txt"), |_| false));
            assert!(w.concerns(|_| false, |p| p.ends_with("other.txt")));
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(Wake::Scan(vec![dir.path().to_path_buf()]).concerns(|_| false, |_| false));
        assert!(Wake::Scan(Vec::new()).concerns(|_| false, |_| false));
        let abs = Wake::Written(vec![
            PathBuf::from("/w/logs/a.log"),
            PathBuf::from("/x/b.log"),
        ]);
        assert_eq!(
            abs.relative_to(Some(Path::new("/w"))),
            Wake::Written(vec![PathBuf::from("logs/a.log"), PathBuf::from("/x/b.log")])
        );
        assert_eq!(
            classify(ev(EventKind::Create(CreateKind::Folder))),
            Some(Wake::Scan(Vec::new()))
        );
    }
}
