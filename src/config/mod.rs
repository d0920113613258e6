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

/// The configuration compiled into the binary, used by `run` without `--config`.
pub const DEFAULT_CONFIG: &str = include_str!("../../pipelines/system.toml");

/// Name shown for the built-in configuration in messages.
pub const DEFAULT_CONFIG_NAME: &str = "<built-in default>";

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

/// The built-in default configuration.
pub fn default_config() -> Config {
    load_str(DEFAULT_CONFIG, Path::new(DEFAULT_CONFIG_NAME))
        .expect("the built-in configuration is checked by the test suite")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_default_loads() {
        let c = default_config();
        assert!(!c.sources.is_empty());
        assert!(!c.pipelines.is_empty());
    }
}
