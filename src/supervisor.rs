//! The running agent and its configuration reloads.
//!
//! A reload (SIGHUP, `POST /-/reload`, or a changed file with
//! `--watch-config`) checks the new file first: on any error the running
//! configuration stays and the errors are logged with file, line and column.
//! A good file replaces the running agent by one built from it (see
//! [`Agent::rebuild`]): sources stop between two batches and resume where
//! they stopped, so lines written meanwhile are counted once; series of
//! unchanged rules and the history of unchanged gates carry over.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};
use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};

use crate::agent::{Agent, Changes, Sources};
use crate::config::{self, Config, ConfigErrors};
use crate::gates::Gates;
use crate::http::{Live, Readiness, Reloader};
use crate::metrics::Registry;
use crate::state;

/// 1 when the last reload succeeded (or none was tried), else 0.
pub const RELOAD_SUCCESSFUL: &str = "logtally_config_last_reload_successful";
/// When the configuration was last loaded successfully.
pub const RELOAD_SUCCESS_TIME: &str = "logtally_config_last_reload_success_timestamp_seconds";
/// Reloads tried, by result (`success`, `failure`).
pub const RELOADS: &str = "logtally_config_reloads_total";

/// The running agent, replaced whole by each successful reload.
pub struct Supervisor {
    /// The configuration file; the built-in configuration when `None`.
    path: Option<PathBuf>,
    readiness: Arc<Readiness>,
    live: Arc<RwLock<Live>>,
    runtime: tokio::runtime::Handle,
    current: Mutex<Generation>,
}

/// One agent and what runs for it.
struct Generation {
    agent: Agent,
    sources: Sources,
    /// Stops the sources, the gate sampler and the checkpointer.
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<()>,
    checkpointer: Option<JoinHandle<()>>,
}

impl Generation {
    /// Starts `agent`'s sources (handing `kept`, the previous agent's
    /// sources that go on, the new pipelines), gate sampler and
    /// checkpointer.
    fn launch(
        agent: Agent,
        readiness: &Arc<Readiness>,
        runtime: &tokio::runtime::Handle,
        kept: Sources,
        previous_gates: Option<&Gates>,
    ) -> (Self, Live) {
        let stop = Arc::new(AtomicBool::new(false));
        let sources = agent.start_sources(readiness, kept);
        let gates = Gates::carry_over(&agent.config.gates, agent.registry.clone(), previous_gates);
        let sampler = runtime.spawn(gates.clone().run(stop.clone()));
        let checkpointer = agent.config.state.clone().map(|spec| {
            let (c, r, s) = (
                agent.coordinator.clone(),
                agent.registry.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || state::run_checkpointer(spec, c, r, s))
        });
        let live = Live {
            gates,
            admin_token: agent.config.server.admin_token.as_deref().map(Arc::from),
        };
        let generation = Self {
            agent,
            sources,
            stop,
            sampler,
            checkpointer,
        };
        (generation, live)
    }

    /// Stops the sources (between two batches), the sampler and the
    /// checkpointer, and waits for them.
    fn stop(&mut self) {
        self.stop_services();
        self.sources.stop();
    }

    /// Stops the sampler and the checkpointer, and waits for them.
    fn stop_services(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.abort();
        if let Some(c) = self.checkpointer.take() {
            let _ = c.join();
        }
    }
}

impl Supervisor {
    /// Starts `agent` (loaded from `path`, or the built-in configuration),
    /// its sources, gates and checkpoints, on `runtime`.
    pub fn start(
        path: Option<PathBuf>,
        agent: Agent,
        readiness: Arc<Readiness>,
        runtime: tokio::runtime::Handle,
    ) -> Arc<Self> {
        describe();
        counter!(RELOADS, "result" => "success").absolute(0);
        counter!(RELOADS, "result" => "failure").absolute(0);
        gauge!(RELOAD_SUCCESSFUL).set(1.0);
        gauge!(RELOAD_SUCCESS_TIME).set(unix_now());
        let (generation, live) =
            Generation::launch(agent, &readiness, &runtime, Sources::default(), None);
        Arc::new(Self {
            path,
            readiness,
            live: Arc::new(RwLock::new(live)),
            runtime,
            current: Mutex::new(generation),
        })
    }

    /// What the HTTP server reads, replaced by reloads.
    pub fn live(&self) -> Arc<RwLock<Live>> {
        self.live.clone()
    }

    /// Where rule metrics live (the same registry across reloads).
    pub fn registry(&self) -> Arc<Registry> {
        self.current.lock().agent.registry.clone()
    }

    /// Reads the configuration again and, when it is good, replaces the
    /// running agent by one built from it. On errors the running agent
    /// stays and the errors are returned.
    pub fn reload_now(&self) -> Result<Changes, ConfigErrors> {
        let config = match &self.path {
            Some(p) => config::load_file(p),
            None => Ok(config::default_config()),
        };
        let config = match config {
            Ok(c) => c,
            Err(errors) => {
                counter!(RELOADS, "result" => "failure").increment(1);
                gauge!(RELOAD_SUCCESSFUL).set(0.0);
                for e in &errors.0 {
                    warn!(error = %e, "configuration reload refused: the running configuration stays");
                }
                return Err(errors);
            }
        };
        for w in &config.warnings {
            warn!(warning = %w, "configuration");
        }
        let changes = self.swap(config);
        counter!(RELOADS, "result" => "success").increment(1);
        gauge!(RELOAD_SUCCESSFUL).set(1.0);
        gauge!(RELOAD_SUCCESS_TIME).set(unix_now());
        info!(
            kept = changes.kept.len(),
            reset = ?changes.reset,
            removed = ?changes.removed,
            sources_added = ?changes.sources_added,
            sources_removed = ?changes.sources_removed,
            sources_restarted = ?changes.sources_restarted,
            "configuration reloaded"
        );
        Ok(changes)
    }

    /// Replaces the running agent by one built from `config`.
    fn swap(&self, config: Config) -> Changes {
        let mut guard = self.current.lock();
        let current = &mut *guard;
        if config.server.listen != current.agent.config.server.listen {
            warn!("`[server] listen` changed: the new address takes effect at the next start");
        }
        current.stop_services();
        let stopped = current
            .sources
            .stop_unless_kept(&current.agent.config, &config);
        let coordinator = current.agent.coordinator.clone();
        // No checkpoint between the stopped sources' last batch and their
        // successors' slots: positions and values stay one consistent pair.
        let _hold = coordinator.hold_checkpoints();
        let (next, mut changes) = current.agent.rebuild(config);
        coordinator.release(&stopped);
        for name in &stopped {
            self.readiness.remove(name);
        }
        changes.sources_restarted = stopped
            .into_iter()
            .filter(|n| next.source(n).is_some())
            .collect();
        let kept = std::mem::take(&mut current.sources);
        let previous_gates = self.live.read().gates.clone();
        let (generation, live) = Generation::launch(
            next,
            &self.readiness,
            &self.runtime,
            kept,
            Some(&previous_gates),
        );
        *current = generation;
        *self.live.write() = live;
        changes
    }

    /// Stops everything and writes the final checkpoint (with `[state]`).
    pub fn shutdown(&self) {
        let mut current = self.current.lock();
        current.stop();
        let agent = &current.agent;
        if let Some(spec) = &agent.config.state {
            let mut last = None;
            match state::write_if_changed(spec, &agent.coordinator, &agent.registry, &mut last) {
                Ok(()) => info!(dir = %spec.dir.display(), "final checkpoint written"),
                Err(e) => warn!(error = %e, "final checkpoint failed"),
            }
        }
    }

    /// Reloads whenever the configuration file's content changes, checking
    /// it every `every`, until `stop` is set. Nothing to follow for the
    /// built-in configuration.
    pub fn watch_file(self: Arc<Self>, every: Duration, stop: Arc<AtomicBool>) {
        let Some(path) = self.path.clone() else {
            return;
        };
        let mut seen = std::fs::read(&path).ok();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(every);
            let now = std::fs::read(&path).ok();
            if now.is_some() && now != seen {
                info!(config = %path.display(), "configuration file changed: reloading");
                let _ = self.reload_now();
                seen = now;
            }
        }
    }
}

impl Reloader for Supervisor {
    fn reload(&self) -> Result<String, String> {
        self.reload_now()
            .map(|c| summary(&c))
            .map_err(|e| e.to_string())
    }
}

/// One line on what a reload changed.
pub fn summary(c: &Changes) -> String {
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    format!(
        "configuration reloaded: {} metric families kept; started again: {}; removed: {}; sources added: {}; sources removed: {}; sources restarted: {}",
        c.kept.len(),
        list(&c.reset),
        list(&c.removed),
        list(&c.sources_added),
        list(&c.sources_removed),
        list(&c.sources_restarted)
    )
}

fn describe() {
    describe_gauge!(
        RELOAD_SUCCESSFUL,
        "Whether the last configuration reload succeeded (1) or was refused (0)."
    );
    describe_gauge!(
        RELOAD_SUCCESS_TIME,
        Unit::Seconds,
        "When the configuration was last loaded successfully, in Unix seconds."
    );
    describe_counter!(
        RELOADS,
        Unit::Count,
        "Configuration reloads tried, by result (success, failure)."
    );
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
