//! The collection of real logs kept next to the repository
//! (`../shared/logs`), for tests that read every line of it. A fresh clone
//! has none: those tests then say so and skip.

use std::path::{Path, PathBuf};

/// The collection's directory, or `None`, after a notice naming `test`,
/// when it is absent.
pub(crate) fn dir(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/logs");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("{test}: skipped: {} is absent", dir.display());
        None
    }
}

/// The text of every file of the collection (invalid UTF-8 replaced), or
/// `None`, after a notice naming `test`, when the collection is absent.
pub(crate) fn texts(test: &str) -> Option<Vec<String>> {
    let dir = dir(test)?;
    Some(
        files(&dir)
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect(),
    )
}

/// Every file under `dir`, recursively, sorted.
pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
