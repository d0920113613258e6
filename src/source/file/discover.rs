//! Which files a source follows: include globs minus exclude globs, and the
//! directories to watch for changes.

use std::collections::HashSet;
use std::path::PathBuf;

use globset::{Glob, GlobSet, GlobSetBuilder};

/// The globs of one file source.
pub struct Globs {
    include: Vec<String>,
    exclude: GlobSet,
}

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
            exclude: b.build().unwrap_or_else(|_| GlobSet::empty()),
        }
    }

    /// The include globs.
    pub fn include(&self) -> &[String] {
        &self.include
    }

    /// Regular files matched now (symlinks followed), each path once.
    pub fn matched(&self) -> Vec<PathBuf> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for pattern in &self.include {
            let Ok(paths) = glob::glob(pattern) else {
                continue;
            };
            for p in paths.flatten() {
                if self.exclude.is_match(&p) || !seen.insert(p.clone()) {
                    continue;
                }
                if p.is_file() {
                    out.push(p);
                }
            }
        }
        out
    }
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
        let g = Globs::new(
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
    }
}
