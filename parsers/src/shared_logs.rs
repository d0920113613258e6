//! The collection of real logs kept next to the repository
//! (`../shared/logs`), for tests that read every line of it. A fresh clone
//! has none: those tests then say so and skip.

use std::path::{Path, PathBuf};

/// The text of every file of the collection (invalid UTF-8 replaced), or
/// `None`, after a notice naming `test`, when the collection is absent.
pub(crate) fn texts(test: &str) -> Option<Vec<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/logs");
    if !dir.is_dir() {
        eprintln!("{test}: skipped: {} is absent", dir.display());
        return None;
    }
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    paths.sort();
    Some(
        paths
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect(),
    )
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}
