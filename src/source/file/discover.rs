//! Which files a source follows: include globs minus exclude globs, and the
//! directories to watch for changes.

use std::collections::HashSet;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::listing::{self, DirGlob, TreeGlob};

/// The globs of one file source.
pub struct Globs {
    include: Vec<String>,
    patterns: Vec<glob::Pattern>,
    /// Per include glob, its listing form when its directory is literal.
    listed: Vec<Option<DirGlob>>,
    /// Per include glob, its tree listing form when it has wildcard
    /// directories below a literal one (`/var/log/pods/*/*/*.log`).
    trees: Vec<Option<TreeGlob>>,
    exclude: GlobSet,
    /// What else a path must pass to be selected (see [`Globs::set_filter`]).
    filter: Option<PathFilter>,
}

/// A test a selected path must pass on top of the globs.
pub type PathFilter = Arc<dyn Fn(&Path) -> bool + Send + Sync>;

impl Globs {
    /// Globs from a source's configuration (already checked).
    pub fn new(include: &[String], exclude: &[String]) -> Self {
        let mut b = GlobSetBuilder::new();
        for g in exclude {
            if let Ok(g) = Glob::new(g) {
                b.add(g);
            }
        }
        Self {
            include: include.to_vec(),
            patterns: include
                .iter()
                .filter_map(|g| glob::Pattern::new(g).ok())
                .collect(),
            listed: include.iter().map(|g| DirGlob::of(g)).collect(),
            trees: include.iter().map(|g| TreeGlob::of(g)).collect(),
            exclude: b.build().unwrap_or_else(|_| GlobSet::empty()),
            filter: None,
        }
    }

    /// Selects only the paths for which `filter` holds too (a `kubernetes`
    /// source's namespaces, pods and containers). It is asked before a
    /// file is looked at.
    pub fn set_filter(&mut self, filter: PathFilter) {
        self.filter = Some(filter);
    }

    /// Whether `path` is one the globs select.
    pub fn matches(&self, path: &Path) -> bool {
        self.patterns.iter().any(|p| p.matches_path(path)) && !self.excluded(path)
    }

    /// Whether an exclude glob matches `path`, or the filter leaves it out.
    fn excluded(&self, path: &Path) -> bool {
        (!self.exclude.is_empty() && self.exclude.is_match(path))
            || self.filter.as_ref().is_some_and(|f| !f(path))
    }

    /// The include globs.
    pub fn include(&self) -> &[String] {
        &self.include
    }

    /// Regular files matched now (symlinks followed), each path once.
    pub fn matched(&mut self) -> Vec<PathBuf> {
        self.look(|_, _, _| None)
            .files
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    }

    /// Regular files matched now (symlinks followed), each path once with
    /// its metadata, and the include globs that matched none. `known(path,
    /// dev, ino)` gives the metadata of a file the caller has open at
    /// `path`, if it is that file (saves a `stat` of the path).
    pub fn look(&mut self, known: impl Fn(&Path, u64, u64) -> Option<Metadata>) -> Matched<'_> {
        let mut seen = HashSet::new();
        let mut out = Matched {
            files: Vec::new(),
            unmatched: Vec::new(),
        };
        let several = self.include.len() > 1;
        let (exclude, filter) = (&self.exclude, &self.filter);
        let admit = |p: &Path| {
            (exclude.is_empty() || !exclude.is_match(p)) && filter.as_ref().is_none_or(|f| f(p))
        };
        for ((pattern, listed), tree) in self
            .include
            .iter()
            .zip(&mut self.listed)
            .zip(&mut self.trees)
        {
            let before = out.files.len();
            if let Some(tg) = tree {
                // Excluded files are left out as the tree is listed.
                for (e, dev) in tg.list(&admit) {
                    if several && seen.contains(&e.path) {
                        continue;
                    }
                    let Some(meta) = listing::metadata_of(e, *dev, &known) else {
                        continue;
                    };
                    if several {
                        seen.insert(e.path.clone());
                    }
                    out.files.push((e.path.clone(), meta));
                }
                if out.files.len() == before
                    && !out.files.iter().any(|(p, _)| glob_matches(pattern, p))
                {
                    out.unmatched.push(pattern);
                }
                continue;
            }
            if let Some(dg) = listed {
                let (entries, dev) = dg.list();
                for e in entries {
                    if !admit(&e.path) || (several && seen.contains(&e.path)) {
                        continue;
                    }
                    let Some(meta) = listing::metadata_of(e, dev, &known) else {
                        continue;
                    };
                    if several {
                        seen.insert(e.path.clone());
                    }
                    out.files.push((e.path.clone(), meta));
                }
                if out.files.len() == before
                    && !out.files.iter().any(|(p, _)| glob_matches(pattern, p))
                {
                    out.unmatched.push(pattern);
                }
                continue;
            }
            let Ok(paths) = glob::glob(pattern) else {
                out.unmatched.push(pattern);
                continue;
            };
            for p in paths.flatten() {
                // One glob gives each path once: only several can repeat one.
                if !admit(&p) || (several && seen.contains(&p)) {
                    continue;
                }
                let Ok(meta) = std::fs::metadata(&p) else {
                    continue;
                };
                if meta.is_file() {
                    if several {
                        seen.insert(p.clone());
                    }
                    out.files.push((p, meta));
                }
            }
            if out.files.len() == before && !out.files.iter().any(|(p, _)| glob_matches(pattern, p))
            {
                out.unmatched.push(pattern);
            }
        }
        out
    }
}

/// What the globs match at one look.
pub struct Matched<'a> {
    /// Regular files, each path once, with their metadata.
    pub files: Vec<(PathBuf, Metadata)>,
    /// Include globs that matched no file (excluded files left out).
    pub unmatched: Vec<&'a str>,
}

fn glob_matches(pattern: &str, path: &Path) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches_path(path))
}

/// The directory to watch for a glob: its longest literal prefix, and
/// whether the glob descends below it.
pub fn watch_root(pattern: &str) -> (PathBuf, bool) {
    let mut dir = PathBuf::new();
    let mut recursive = false;
    let comps: Vec<&str> = pattern.split('/').collect();
    for (i, c) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        if c.contains(['*', '?', '[', '{']) || last {
            recursive = comps.len() - i > 1;
            break;
        }
        if c.is_empty() && i == 0 {
            dir.push("/");
        } else {
            dir.push(c);
        }
    }
    if dir.as_os_str().is_empty() {
        dir.push(".");
    }
    (dir, recursive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_roots() {
        assert_eq!(
            watch_root("/var/log/syslog"),
            (PathBuf::from("/var/log"), false)
        );
        assert_eq!(
            watch_root("/var/log/nginx/*.log"),
            (PathBuf::from("/var/log/nginx"), false)
        );
        assert_eq!(
            watch_root("/var/log/**/*.log"),
            (PathBuf::from("/var/log"), true)
        );
        assert_eq!(watch_root("logs/a*/x.log"), (PathBuf::from("logs"), true));
    }

    #[test]
    fn excludes_and_descends() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        for f in ["x.log", "a/y.log", "a/b/z.log", "a/b/z.log.gz"] {
            std::fs::write(d.join(f), "").unwrap();
        }
        let mut g = Globs::new(
            &[format!("{}/**/*.log*", d.display())],
            &["**/*.gz".to_string()],
        );
        let mut m: Vec<String> = g
            .matched()
            .iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect();
        m.sort();
        assert_eq!(m, vec!["a/b/z.log", "a/y.log", "x.log"]);
        assert!(g.matches(&d.join("a/y.log")));
        assert!(!g.matches(&d.join("a/b/z.log.gz")));
        assert!(!g.matches(&d.join("elsewhere.txt")));
    }

    #[test]
    fn globs_that_match_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.log"), "").unwrap();
        std::fs::write(d.join("b.log.gz"), "").unwrap();
        let globs = [
            format!("{}/*.log", d.display()),
            format!("{}/*.gz", d.display()),
            format!("{}/a.*", d.display()),
            format!("{}/none/*.log", d.display()),
        ];
        let mut g = Globs::new(&globs, &["**/*.gz".to_string()]);
        let m = g.look(|_, _, _| None);
        assert_eq!(m.files.len(), 1);
        // The third glob matches a file the first one took: not unmatched.
        assert_eq!(m.unmatched, vec![globs[1].as_str(), globs[3].as_str()]);
    }
}
