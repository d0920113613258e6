//! What `[state]` asks for: where checkpoints go and how often.

use std::path::PathBuf;
use std::time::Duration;

/// `[state]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSpec {
    /// Directory of the checkpoint file.
    pub dir: PathBuf,
    /// How often a checkpoint is written.
    pub interval: Duration,
}
