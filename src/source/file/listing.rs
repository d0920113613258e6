//! Globs whose directory part is literal (`/var/log/nginx/*.log`, the usual
//! kind), listed by reading that one directory, with the listing kept while
//! the directory is unchanged.
//!
//! Creating, deleting or renaming an entry sets the directory's change time,
//! so a directory whose metadata is that of the last listing (and was
//! settled by then, see [`Stamp`]) still holds the same entries: a scan of
//! an idle directory then costs one `stat` of it, plus one `stat` per
//! matching file (of its open descriptor when the caller follows it).

use std::fs::Metadata;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use super::stamp::Stamp;

/// A directory entry whose name the glob matches.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its path (the directory joined with its name).
    pub path: PathBuf,
    /// Its inode number, as the directory gives it.
    pub ino: u64,
    /// Whether it is a regular file itself (not a symbolic link, which is
    /// followed by a `stat` of its path).
    pub regular: bool,
}

/// A glob of the form `DIR/PATTERN`, DIR literal and clean.
pub struct DirGlob {
    dir: PathBuf,
    pattern: glob::Pattern,
    /// The last listing, with the directory's stamp (if settled enough to
    /// be trusted) and device then.
    cache: Option<(Option<Stamp>, u64, Vec<Entry>)>,
}

impl DirGlob {
    /// The listing form of `glob`, if its directory part is literal and
    /// clean (absolute or plain relative, no `.`, `..` or doubled `/`) and
    /// its last part has wildcards.
    pub fn of(glob: &str) -> Option<DirGlob> {
        let (dir, last) = glob.rsplit_once('/')?;
        let meta = |s: &str| s.contains(['*', '?', '[', ']', '{', '}', '\\']);
        if dir.is_empty() || meta(dir) || !meta(last) || dir.contains("//") || last.is_empty() {
            return None;
        }
        let dir = PathBuf::from(dir);
        if !dir
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        {
            return None;
        }
        Some(DirGlob {
            dir,
            pattern: glob::Pattern::new(glob).ok()?,
            cache: None,
        })
    }

    /// The entries the glob matches now, sorted by path, and the device of
    /// the directory; empty when the directory cannot be read.
    pub fn list(&mut self) -> (&[Entry], u64) {
        let Ok(meta) = std::fs::metadata(&self.dir) else {
            self.cache = None;
            return (&[], 0);
        };
        let stamp = Stamp::of(&meta);
        let unchanged = self
            .cache
            .as_ref()
            .is_some_and(|(trusted, _, _)| *trusted == Some(stamp));
        if !unchanged {
            // Trusted next time only once no change can hide in the same
            // clock tick as this listing.
            let trusted = Some(stamp).filter(Stamp::settled);
            self.cache = Some((trusted, meta.dev(), self.read()));
        }
        match &self.cache {
            Some((_, dev, entries)) => (entries, *dev),
            None => (&[], 0),
        }
    }

    fn read(&self) -> Vec<Entry> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<Entry> = rd
            .flatten()
            .filter_map(|e| {
                let path = self.dir.join(e.file_name());
                if !self.pattern.matches_path(&path) {
                    return None;
                }
                let regular = e.file_type().is_ok_and(|t| t.is_file());
                Some(Entry {
                    path,
                    ino: e.ino(),
                    regular,
                })
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }
}

/// The metadata of a listed entry: from `known` (the open descriptor of a
/// file followed at that path with that inode) when it has it, else by a
/// `stat` of the path (symbolic links followed). `None` when it is not a
/// regular file now.
pub fn metadata_of(
    e: &Entry,
    dev: u64,
    known: &impl Fn(&Path, u64, u64) -> Option<Metadata>,
) -> Option<Metadata> {
    if e.regular {
        if let Some(m) = known(&e.path, dev, e.ino) {
            return Some(m);
        }
    }
    std::fs::metadata(&e.path).ok().filter(Metadata::is_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_globs_are_listed() {
        assert!(DirGlob::of("/var/log/nginx/*.log").is_some());
        assert!(DirGlob::of("logs/app-*.log").is_some());
        for g in [
            "/var/log/syslog",
            "/var/*/x.log",
            "/var/log/**/*.log",
            "*.log",
            "/var//log/*.log",
            "./logs/*.log",
            "/var/log/../x/*.log",
            "/var/log/",
        ] {
            assert!(DirGlob::of(g).is_none(), "{g}");
        }
    }

    #[test]
    fn lists_like_glob_and_sees_changes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in ["b.log", "a.log", ".hidden.log", "c.txt"] {
            std::fs::write(d.join(f), "x").unwrap();
        }
        std::fs::create_dir(d.join("sub.log")).unwrap();
        let pattern = format!("{}/*.log", d.display());
        let mut g = DirGlob::of(&pattern).unwrap();
        let names = |g: &mut DirGlob| -> Vec<PathBuf> {
            g.list().0.iter().map(|e| e.path.clone()).collect()
        };
        let by_glob: Vec<PathBuf> = glob::glob(&pattern).unwrap().flatten().collect();
        assert_eq!(names(&mut g), by_glob);
        assert!(g.list().0.iter().any(|e| e.regular));
        assert!(
            !g.list()
                .0
                .iter()
                .find(|e| e.path.ends_with("sub.log"))
                .unwrap()
                .regular
        );
        // A new entry is seen at once, settled or not.
        std::fs::write(d.join("d.log"), "x").unwrap();
        assert!(names(&mut g).contains(&d.join("d.log")));
        std::fs::remove_file(d.join("a.log")).unwrap();
        assert!(!names(&mut g).contains(&d.join("a.log")));
        // A directory that is gone lists nothing.
        drop(dir);
        assert!(names(&mut g).is_empty());
    }
}
