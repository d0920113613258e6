//! The CLI's verbs: `run`, `once` and `check`.

pub mod check;
pub mod once;
pub mod run;

use std::path::Path;

use crate::config::{self, Config, ConfigErrors};

/// Loads `path`, or the built-in configuration when `None`.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
    match path {
        Some(p) => config::load_file(p),
        None => Ok(config::default_config()),
    }
}
