//! Configuration: the TOML file, checked and turned into specs the agent
//! builds from.
//!
//! [`load_file`] and [`load_str`] report every problem at once, each with
//! file, line, column and key ([`ConfigErrors`]); a configuration that loads
//! is ready to run.

mod diagnostics;
pub mod gates;
mod names;
pub mod raw;
mod sources;
mod validate;

use crate::gates::spec::GateSpec;
use crate::pipeline::spec::PipelineSpec;
use crate::source::spec::SourceSpec;
use crate::state::spec::StateSpec;
pub use diagnostics::{line_col, ConfigError, ConfigErrors};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The configuration compiled into the binary, used by `run` without
/// `--config` on hosts with syslog files (`pipelines/system.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../pipelines/system.toml");

/// The same pipelines over the systemd journal, used by `run` without
/// `--config` on hosts without syslog files (`pipelines/system-journal.toml`).
pub const DEFAULT_JOURNAL_CONFIG: &str = include_str!("../../pipelines/system-journal.toml");

/// Name shown for the built-in configuration in messages.
pub const DEFAULT_CONFIG_NAME: &str = "<built-in default>";

/// Name shown for the built-in journal configuration in messages.
pub const DEFAULT_JOURNAL_CONFIG_NAME: &str = "<built-in default: journal>";

/// The syslog files [`DEFAULT_CONFIG`] reads.
pub const SYSLOG_FILES: [&str; 5] = [
    "/var/log/syslog",
    "/var/log/messages",
    "/var/log/auth.log",
    "/var/log/secure",
    "/var/log/kern.log",
];

/// Where the system journal lives: persistent, then volatile.
pub const JOURNAL_DIRS: [&str; 2] = ["/var/log/journal", "/run/log/journal"];

/// Which built-in configuration `run` uses without `--config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// [`DEFAULT_CONFIG`]: the syslog files.
    Files,
    /// [`DEFAULT_JOURNAL_CONFIG`]: the systemd journal.
    Journal,
}

impl Builtin {
    /// The syslog files when any of [`SYSLOG_FILES`] exists; otherwise the
    /// journal when one of [`JOURNAL_DIRS`] exists and `journalctl` is
    /// found; otherwise the files, waited for. With why.
    pub fn choose(exists: impl Fn(&Path) -> bool, journalctl: bool) -> (Builtin, &'static str) {
        if SYSLOG_FILES.iter().any(|f| exists(Path::new(f))) {
            (Builtin::Files, "syslog files found")
        } else if !JOURNAL_DIRS.iter().any(|d| exists(Path::new(d))) {
            (
                Builtin::Files,
                "neither syslog files nor a systemd journal: waiting for the files",
            )
        } else if journalctl {
            (
                Builtin::Journal,
                "no syslog file, a systemd journal: reading the journal",
            )
        } else {
            (
                Builtin::Files,
                "no syslog file, and a systemd journal but no journalctl to read it: waiting for the files",
            )
        }
    }

    /// The choice for this host, made once per process (a reload keeps it).
    pub fn for_this_host() -> (Builtin, &'static str) {
        static CHOSEN: OnceLock<(Builtin, &'static str)> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            Builtin::choose(
                |p| p.exists(),
                crate::source::journald::journalctl::resolve("journalctl").is_ok(),
            )
        })
    }

    /// Its TOML text.
    pub fn text(self) -> &'static str {
        match self {
            Builtin::Files => DEFAULT_CONFIG,
            Builtin::Journal => DEFAULT_JOURNAL_CONFIG,
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Files => DEFAULT_CONFIG_NAME,
            Builtin::Journal => DEFAULT_JOURNAL_CONFIG_NAME,
        }
    }

    /// The configuration.
    pub fn config(self) -> Config {
        load_str(self.text(), Path::new(self.name()))
            .expect("the built-in configurations are checked by the test suite")
    }
}

/// Default longest line: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// Default bound on the series of one rule.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it was read from.
    pub origin: PathBuf,
    /// `[server]`.
    pub server: ServerSpec,
    /// `[[sources]]`, in file order.
    pub sources: Vec<SourceSpec>,
    /// `[[pipelines]]`, in file order.
    pub pipelines: Vec<PipelineSpec>,
    /// `[[gates]]`, in file order.
    pub gates: Vec<GateSpec>,
    /// `[state]`, when checkpoints are kept.
    pub state: Option<StateSpec>,
    /// What loads but is likely a mistake, with file, line and column.
    pub warnings: Vec<ConfigError>,
}

/// `[server]`.
#[derive(Debug, Clone, Default)]
pub struct ServerSpec {
    /// Listen address, when set in the file.
    pub listen: Option<SocketAddr>,
    /// Bearer token for the admin endpoints (gate resets), when set.
    pub admin_token: Option<String>,
}

/// Reads and checks the file at `path`.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(src) => load_str(&src, path),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read the file: {e}"),
        }])),
    }
}

/// Checks `src`, read from `origin`.
pub fn load_str(src: &str, origin: &Path) -> Result<Config, ConfigErrors> {
    validate::check(src, origin)
}

/// The built-in configuration for this host (see [`Builtin::choose`]).
pub fn default_config() -> Config {
    Builtin::for_this_host().0.config()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::spec::SourceKind;

    #[test]
    fn built_in_defaults_load() {
        for b in [Builtin::Files, Builtin::Journal] {
            let c = b.config();
            assert!(!c.sources.is_empty());
            assert!(!c.pipelines.is_empty());
            assert!(c.warnings.is_empty(), "{b:?}: {:?}", c.warnings);
        }
        let _ = default_config();
    }

    #[test]
    fn the_journal_is_the_default_only_without_syslog_files() {
        let has = |present: &'static [&'static str]| {
            move |p: &Path| present.iter().any(|x| Path::new(x) == p)
        };
        assert_eq!(
            Builtin::choose(has(&["/var/log/auth.log", "/var/log/journal"]), true).0,
            Builtin::Files
        );
        assert_eq!(
            Builtin::choose(has(&["/var/log/journal"]), true).0,
            Builtin::Journal
        );
        assert_eq!(
            Builtin::choose(has(&["/run/log/journal"]), true).0,
            Builtin::Journal
        );
        assert_eq!(
            Builtin::choose(has(&["/var/log/journal"]), false).0,
            Builtin::Files
        );
        assert_eq!(Builtin::choose(has(&[]), true).0, Builtin::Files);
    }

    /// Both variants run the same pipelines: only the sources they read
    /// differ.
    #[test]
    fn both_built_in_variants_have_the_same_pipelines() {
        let files = Builtin::Files.config();
        let journal = Builtin::Journal.config();
        let strip = |c: &Config| {
            c.pipelines
                .iter()
                .map(|p| {
                    let mut p = p.clone();
                    p.sources.clear();
                    format!("{p:?}")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&files), strip(&journal));
        assert!(
            matches!(journal.sources[..], [ref s] if matches!(s.kind, SourceKind::Journald(_)))
        );
        assert!(journal.pipelines.iter().all(|p| p.sources == ["journal"]));
    }
}
