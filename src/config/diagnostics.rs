//! Configuration errors that point at the file, line, column and key.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the error concerns the whole file).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted path of the key, e.g. `pipelines[0].rules[1].metric`.
    pub key: String,
    /// What is wrong, in an operator's words.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in a configuration, in file order.
#[derive(Debug, Clone, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} error{} in the configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects errors while a file is checked, turning byte spans into
/// line, column and key.
pub struct Reporter<'a> {
    file: &'a Path,
    src: &'a str,
    root: Option<&'a Spanned<DeTable<'a>>>,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl<'a> Reporter<'a> {
    /// A reporter for `src`, read from `file`.
    pub fn new(file: &'a Path, src: &'a str) -> Self {
        Self {
            file,
            src,
            root: None,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Sets the parsed document, used to name the key at an error's span.
    pub fn with_root(mut self, root: &'a Spanned<DeTable<'a>>) -> Self {
        self.root = Some(root);
        self
    }

    /// Records a warning at `span`: the configuration still loads.
    pub fn warn_at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let w = self.located(span, message.into());
        self.warnings.push(w);
    }

    /// The warnings recorded, in file order.
    pub fn take_warnings(&mut self) -> Vec<ConfigError> {
        let mut w = std::mem::take(&mut self.warnings);
        w.sort_by_key(|e| (e.line, e.column));
        w
    }

    /// Records an error at `span` (byte range in the file).
    pub fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let e = self.located(span, message.into());
        self.errors.push(e);
    }

    /// `message` at `span`, with its file, line, column and key.
    fn located(&self, span: Range<usize>, message: String) -> ConfigError {
        let (line, column) = line_col(self.src, span.start);
        let key = self
            .root
            .map(|r| key_at(r.get_ref(), span.start))
            .unwrap_or_default();
        ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            key,
            message,
        }
    }

    /// Records an error about the file as a whole.
    pub fn whole(&mut self, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message: message.into(),
        });
    }

    /// Records a TOML decoding error (it carries its own span).
    pub fn toml(&mut self, err: &toml::de::Error, fallback: Range<usize>) {
        let span = err.span().unwrap_or(fallback);
        let msg = err.message().trim().replace('\n', " ");
        let before = self.errors.len();
        self.at(span.clone(), msg);
        // Syntax errors come before the document exists: name the key
        // written at the error's place.
        if let Some(e) = self.errors.get_mut(before) {
            if e.key.is_empty() {
                let word: String = self.src[span.start.min(self.src.len())..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "_-.\"".contains(*c))
                    .collect();
                e.key = word.trim_matches('"').to_string();
            }
        }
    }

    /// Number of errors so far.
    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// True when nothing was reported.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// The errors, sorted by position.
    pub fn finish(mut self) -> ConfigErrors {
        self.errors.sort_by_key(|e| (e.line, e.column));
        self.errors.dedup();
        ConfigErrors(self.errors)
    }
}

/// 1-based line and column of byte `offset` in `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// The dotted path of the innermost key whose key or value holds `offset`.
pub fn key_at(table: &DeTable<'_>, offset: usize) -> String {
    let mut path = String::new();
    walk_table(table, offset, &mut path);
    path
}

fn walk_table(table: &DeTable<'_>, offset: usize, path: &mut String) {
    // The entry holding the offset is the one starting last at or before it:
    // a scalar only if its span holds the offset, a table or an array of
    // tables (whose spans may cover only their headers) in any case.
    let mut best: Option<(usize, &str, &DeValue<'_>)> = None;
    for (k, v) in table.iter() {
        if k.span().contains(&offset) {
            push_key(path, k.get_ref());
            return;
        }
        let start = if v.span().contains(&offset) {
            Some(v.span().start)
        } else if is_container(v.get_ref()) {
            container_start(v, offset)
        } else {
            None
        };
        if let Some(start) = start {
            if best.is_none_or(|(b, _, _)| start >= b) {
                best = Some((start, k.get_ref(), v.get_ref()));
            }
        }
    }
    if let Some((_, k, v)) = best {
        push_key(path, k);
        walk_value(v, offset, path);
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn is_container(v: &DeValue<'_>) -> bool {
    match v {
        DeValue::Table(_) => true,
        DeValue::Array(a) => a.iter().any(|e| matches!(e.get_ref(), DeValue::Table(_))),
        _ => false,
    }
}

/// Where the part of a container that may hold `offset` starts.
fn container_start(v: &Spanned<DeValue<'_>>, offset: usize) -> Option<usize> {
    match v.get_ref() {
        DeValue::Array(a) => a
            .iter()
            .map(|e| e.span().start)
            .filter(|s| *s <= offset)
            .max(),
        _ => (v.span().start <= offset).then_some(v.span().start),
    }
}

fn walk_value(value: &DeValue<'_>, offset: usize, path: &mut String) {
    match value {
        DeValue::Table(t) => walk_table(t, offset, path),
        DeValue::Array(arr) => {
            let hit = arr
                .iter()
                .enumerate()
                .rfind(|(_, e)| e.span().start <= offset);
            if let Some((i, e)) = hit {
                path.push_str(&format!("[{i}]"));
                walk_value(e.get_ref(), offset, path);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 11), (2, 6));
    }

    #[test]
    fn key_path_names_nested_array_entries() {
        let src = "[[pipelines]]\nname = \"a\"\n[[pipelines]]\nname = \"b\"\n[[pipelines.rules]]\nmetric = \"x\"\n";
        let root = DeTable::parse(src).unwrap();
        let off = src.find("\"x\"").unwrap();
        assert_eq!(key_at(root.get_ref(), off), "pipelines[1].rules[0].metric");
        let off = src.find("\"a\"").unwrap();
        assert_eq!(key_at(root.get_ref(), off), "pipelines[0].name");
        let src = "[[sources]]\nname = \"s\"\n[[pipelines]]\nname = \"p\"\n[[pipelines.rules]]\nmetric = \"x\"\n[[pipelines.rules]]\nbad = 1\n";
        let root = DeTable::parse(src).unwrap();
        let off = src.find("bad").unwrap();
        assert_eq!(key_at(root.get_ref(), off), "pipelines[0].rules[1].bad");
    }
}
