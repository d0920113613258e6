//! Globs whose directory part is literal (`/var/log/nginx/*.log`, the usual
//! kind), listed by reading that one directory, with the listing kept while
//! the directory is unchanged.
//!
//! Creating, deleting or renaming an entry sets the directory's change time,
//! so a directory whose metadata is that of the last listing (and was
//! settled by then, see [`Stamp`]) still holds the same entries: a scan of
//! an idle directory then costs one `stat` of it, plus one `stat` per
//! matching file (of its open descriptor when the caller follows it).

use std::collections::HashMap;
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
        out.sort_by(|a, b| a.path.as_os_str().cmp(b.path.as_os_str()));
        out
    }
}

/// A glob of the form `DIR/P1/…/PN` (N ≥ 2), DIR literal and clean and
/// each `Pi` a pattern of one path component (`/var/log/pods/*/*/*.log`):
/// listed level by level, each directory's listing kept while the
/// directory is unchanged (as [`DirGlob`] keeps its one), so that a scan of
/// an idle tree costs one `stat` per directory.
pub struct TreeGlob {
    root: PathBuf,
    parts: Vec<glob::Pattern>,
    /// Per directory listed: its stamp (if settled enough to be trusted),
    /// its device, the entries matching its level's pattern, and the scan
    /// that last listed it.
    cache: HashMap<PathBuf, Listing>,
    scan: u64,
    out: Vec<(Entry, u64)>,
}

struct Listing {
    trusted: Option<Stamp>,
    dev: u64,
    entries: Vec<Entry>,
    scan: u64,
}

impl TreeGlob {
    /// The listing form of `glob`, if its directory part starts with a
    /// literal, clean directory followed by at least two components, each
    /// a pattern of its own (no `**`).
    pub fn of(glob: &str) -> Option<TreeGlob> {
        let meta = |s: &str| s.contains(['*', '?', '[', ']', '{', '}', '\\']);
        let comps: Vec<&str> = glob.split('/').collect();
        let first = comps.iter().position(|c| meta(c))?;
        let (root, rest) = comps.split_at(first);
        let root = root.join("/");
        if rest.len() < 2
            || root.is_empty()
            || root.contains("//")
            || rest
                .iter()
                .any(|c| c.is_empty() || c.contains("**") || c.contains(['{', '}']))
        {
            return None;
        }
        let root = PathBuf::from(if root.is_empty() { "/" } else { root.as_str() });
        if !root
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        {
            return None;
        }
        let parts = rest
            .iter()
            .map(|c| glob::Pattern::new(c).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(TreeGlob {
            root,
            parts,
            cache: HashMap::new(),
            scan: 0,
            out: Vec::new(),
        })
    }

    /// The files (entries of the last level) the glob matches now and that
    /// `admit` admits, sorted by path, each with the device of its
    /// directory. `admit` is asked once per entry when its directory is
    /// listed, not at every call: it must not change.
    pub fn list(&mut self, admit: &dyn Fn(&Path) -> bool) -> &[(Entry, u64)] {
        self.scan += 1;
        self.out.clear();
        let root = self.root.clone();
        self.walk(&root, 0, admit);
        let scan = self.scan;
        self.cache.retain(|_, l| l.scan == scan);
        self.out
            .sort_by(|a, b| a.0.path.as_os_str().cmp(b.0.path.as_os_str()));
        &self.out
    }

    fn walk(&mut self, dir: &Path, level: usize, admit: &dyn Fn(&Path) -> bool) {
        let Ok(meta) = std::fs::metadata(dir) else {
            return;
        };
        if !meta.is_dir() {
            return;
        }
        let stamp = Stamp::of(&meta);
        let last = level + 1 == self.parts.len();
        let listing = match self.cache.remove(dir) {
            Some(l) if l.trusted == Some(stamp) => l,
            _ => Listing {
                trusted: Some(stamp).filter(Stamp::settled),
                dev: meta.dev(),
                entries: self.read(dir, level, last, admit),
                scan: 0,
            },
        };
        if last {
            self.out
                .extend(listing.entries.iter().map(|e| (e.clone(), listing.dev)));
        } else {
            for e in &listing.entries {
                self.walk(&e.path, level + 1, admit);
            }
        }
        let listing = Listing {
            scan: self.scan,
            ..listing
        };
        self.cache.insert(dir.to_path_buf(), listing);
    }

    /// The entries of `dir` matching the pattern of `level`: directories
    /// (or links to them) below the last level, admitted files at it.
    fn read(
        &self,
        dir: &Path,
        level: usize,
        last: bool,
        admit: &dyn Fn(&Path) -> bool,
    ) -> Vec<Entry> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let pattern = &self.parts[level];
        rd.flatten()
            .filter_map(|e| {
                let name = e.file_name();
                if !pattern.matches(&name.to_string_lossy()) {
                    return None;
                }
                let path = dir.join(&name);
                let kind = e.file_type().ok()?;
                if !last {
                    let is_dir = kind.is_dir()
                        || (kind.is_symlink()
                            && std::fs::metadata(&path).is_ok_and(|m| m.is_dir()));
                    return is_dir.then(|| Entry {
                        path,
                        ino: e.ino(),
                        regular: false,
                    });
                }
                if !admit(&path) {
                    return None;
                }
                Some(Entry {
                    path,
                    ino: e.ino(),
                    regular: kind.is_file(),
                })
            })
            .collect()
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
    fn trees_list_like_glob_and_see_changes() {
        assert!(TreeGlob::of("/var/log/pods/*/*/*.log").is_some());
        for g in [
            "/var/log/*.log",
            "/var/log/**/x/*.log",
            "/var/log/../p/*/*.log",
            "*/*.log",
            "/var/log/pods/*/{a,b}/*.log",
        ] {
            assert!(TreeGlob::of(g).is_none(), "{g}");
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "ns_a_1/web/0.log",
            "ns_a_1/web/0.log.20240101-000000",
            "ns_a_1/web/1.log",
            "ns_b_2/db/0.log",
            "ns_b_2/db/skip.log",
            "ns_b_2/x.log",
        ] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), "x").unwrap();
        }
        std::fs::create_dir_all(d.join("ns_b_2/db/sub.log")).unwrap();
        let pattern = format!("{}/*/*/*.log", d.display());
        let mut g = TreeGlob::of(&pattern).unwrap();
        let admit = |p: &Path| !p.ends_with("skip.log");
        let names = |g: &mut TreeGlob| -> Vec<PathBuf> {
            g.list(&admit).iter().map(|(e, _)| e.path.clone()).collect()
        };
        let by_glob: Vec<PathBuf> = glob::glob(&pattern)
            .unwrap()
            .flatten()
            .filter(|p| admit(p))
            .collect();
        assert_eq!(names(&mut g), by_glob);
        assert_eq!(by_glob.len(), 4, "{by_glob:?}");
        assert!(
            !g.list(&admit)
                .iter()
                .find(|(e, _)| e.path.ends_with("sub.log"))
                .unwrap()
                .0
                .regular
        );
        // New pods, containers and files are seen at once; gone ones go.
        std::fs::create_dir_all(d.join("ns_c_3/app")).unwrap();
        std::fs::write(d.join("ns_c_3/app/0.log"), "x").unwrap();
        std::fs::write(d.join("ns_a_1/web/2.log"), "x").unwrap();
        let now = names(&mut g);
        assert!(now.contains(&d.join("ns_c_3/app/0.log")), "{now:?}");
        assert!(now.contains(&d.join("ns_a_1/web/2.log")), "{now:?}");
        std::fs::remove_dir_all(d.join("ns_b_2")).unwrap();
        let now = names(&mut g);
        assert_eq!(now.len(), 4, "{now:?}");
        assert_eq!(g.cache.len(), 5, "root, two pods, their containers");
        drop(dir);
        assert!(names(&mut g).is_empty());
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
