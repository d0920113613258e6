//! The agent: builds pipelines from a configuration, restores saved state,
//! starts its sources, and rebuilds itself from a new configuration.
//!
//! A configuration reload is "build a new agent from checked specs and
//! swap": the running sources stop between two batches, their positions are
//! read from the [`Coordinator`], the new pipelines are built into the same
//! [`Registry`] (families whose rules did not change keep their series), and
//! the new sources resume from those positions. Lines written meanwhile wait
//! in their files or partitions and are read once, after the swap.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use tracing::{info, warn};

use crate::config::Config;
use crate::http::Readiness;
use crate::metrics::Registry;
use crate::pipeline::Pipeline;
use crate::source::contract::{Control, Ending, Sink, Stopper};
use crate::source::spec::{SourceKind, SourceSpec};
use crate::source::{registry, Dispatcher, Handoff};
use crate::state::checkpoint::{Checkpoint, CheckpointError};
use crate::state::{snapshot, Coordinator};

/// A configuration, built.
pub struct Agent {
    /// The configuration.
    pub config: Config,
    /// Where rule metrics live.
    pub registry: Arc<Registry>,
    /// The built pipelines, in configuration order.
    pub pipelines: Vec<Arc<Pipeline>>,
    /// Pauses sources between batches for consistent checkpoints.
    pub coordinator: Arc<Coordinator>,
    /// The checkpoint restored at start-up, if any; after a reload, the
    /// positions the previous sources stopped at.
    pub restored: Option<Checkpoint>,
    /// Built by a reload: a source that ran before resumes from `restored`,
    /// and a file it had not seen yet is read from its beginning.
    reloaded: bool,
}

/// What a reload changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Metric families whose rules are unchanged: their series kept.
    pub kept: Vec<String>,
    /// Families whose rules changed: they start again from zero.
    pub reset: Vec<String>,
    /// Families no rule writes any more: removed.
    pub removed: Vec<String>,
    /// Sources new in this configuration.
    pub sources_added: Vec<String>,
    /// Sources no longer configured: released.
    pub sources_removed: Vec<String>,
    /// Sources configured anew: stopped and started again from where they
    /// stood. The others went on without a pause.
    pub sources_restarted: Vec<String>,
}

impl Agent {
    /// Builds every pipeline of `config` into a new registry.
    pub fn build(config: Config) -> Self {
        Self::build_into(config, Arc::new(Registry::new()), Coordinator::new())
    }

    fn build_into(config: Config, registry: Arc<Registry>, coordinator: Arc<Coordinator>) -> Self {
        let pipelines = config
            .pipelines
            .iter()
            .map(|p| Pipeline::build(p, &registry))
            .collect();
        Self {
            config,
            registry,
            pipelines,
            coordinator,
            restored: None,
            reloaded: false,
        }
    }

    /// Restores the checkpoint of `[state]`, if the configuration has one
    /// and it exists: metric values now, source positions when the sources
    /// start. An unreadable checkpoint is an error.
    pub fn restore(&mut self) -> Result<(), CheckpointError> {
        let Some(state) = &self.config.state else {
            return Ok(());
        };
        std::fs::create_dir_all(&state.dir).map_err(|source| CheckpointError::Io {
            path: state.dir.clone(),
            source,
        })?;
        match Checkpoint::load(&state.dir)? {
            Some(c) => {
                let n = snapshot::restore(&self.registry, &c.series);
                info!(dir = %state.dir.display(), series = n, "state restored from the checkpoint");
                self.restored = Some(c);
            }
            None => info!(dir = %state.dir.display(), "no checkpoint yet: starting fresh"),
        }
        Ok(())
    }

    /// The agent for `config`, over this agent's registry and coordinator,
    /// once this agent's sources have stopped: families whose rules did not
    /// change keep their series, the others are dropped (and start again
    /// from zero when a rule still writes them); sources resume where this
    /// agent's stopped.
    pub fn rebuild(&self, config: Config) -> (Agent, Changes) {
        let before = rule_fingerprints(&self.config);
        let after = rule_fingerprints(&config);
        let mut changes = Changes::default();
        self.registry
            .retain(|f| match (before.get(&f.name), after.get(&f.name)) {
                (Some(b), Some(a)) if a == b => {
                    changes.kept.push(f.name.clone());
                    true
                }
                (_, Some(_)) => {
                    changes.reset.push(f.name.clone());
                    false
                }
                (_, None) => {
                    changes.removed.push(f.name.clone());
                    false
                }
            });
        let names =
            |c: &Config| -> BTreeSet<String> { c.sources.iter().map(|s| s.name.clone()).collect() };
        let (old, new) = (names(&self.config), names(&config));
        changes.sources_added = new.difference(&old).cloned().collect();
        changes.sources_removed = old.difference(&new).cloned().collect();
        let mut positions = self.coordinator.snapshot(&self.registry);
        positions.series.clear();
        positions.sources.retain(|name, _| new.contains(name));
        let mut agent = Self::build_into(config, self.registry.clone(), self.coordinator.clone());
        agent.restored = Some(positions);
        agent.reloaded = true;
        (agent, changes)
    }

    /// Whether this agent's source `name` resumes from saved positions.
    fn resumes(&self, name: &str) -> bool {
        self.restored.is_some() && (!self.reloaded || self.restored_has(name))
    }

    fn restored_has(&self, name: &str) -> bool {
        self.restored
            .as_ref()
            .is_some_and(|c| c.sources.contains_key(name))
    }

    /// Starts a thread for each source that `kept` does not already run;
    /// each source of `kept` (the previous agent's, still configured as it
    /// was: see [`Sources::stop_unless_kept`]) is handed this agent's
    /// pipelines instead and goes on.
    pub fn start_sources(&self, readiness: &Arc<Readiness>, mut kept: Sources) -> Sources {
        let mut sources = Sources::default();
        for spec in &self.config.sources {
            let dispatcher = Dispatcher::for_source(spec, &self.pipelines);
            if let Some(mut running) = kept.take(spec) {
                running.handoff.offer(dispatcher);
                running.spec = spec.clone();
                sources.running.push(running);
                continue;
            }
            if dispatcher.pipeline_count() == 0 {
                warn!(source = %spec.name, "no pipeline reads this source; it is not started");
                continue;
            }
            match self.start(spec, dispatcher, readiness) {
                Ok(running) => sources.running.push(running),
                Err(e) => warn!(source = %spec.name, error = %e, "cannot start source thread"),
            }
        }
        // Standard input no longer configured: read on, and dropped.
        for running in kept.running.drain(..) {
            warn!(source = %running.spec.name, "standard input is no longer configured: its lines are read and dropped");
            running
                .handoff
                .offer(Dispatcher::new(&running.spec.name, &[], &[], false));
            sources.running.push(running);
        }
        sources
    }

    /// Starts the source `spec` feeding `dispatcher` on a thread of its own.
    fn start(
        &self,
        spec: &SourceSpec,
        dispatcher: Dispatcher,
        readiness: &Arc<Readiness>,
    ) -> std::io::Result<Running> {
        let stopper = Stopper::new(Arc::new(AtomicBool::new(false)));
        let handoff = Handoff::default();
        let saved = self
            .restored
            .as_ref()
            .and_then(|c| c.sources.get(&spec.name).cloned())
            .unwrap_or_default();
        let restored = self.resumes(&spec.name).then(|| saved.clone());
        let slot = self.coordinator.register_at(&spec.name, saved);
        let sink = Sink::new(
            dispatcher,
            handoff.clone(),
            self.coordinator.clone(),
            slot,
            spec.max_line_bytes,
        );
        let control = Control::stopped_by(&spec.name, &stopper, self.coordinator.clone())
            .with_restored(restored)
            .with_state(self.registry.clone(), self.config.state.clone())
            .with_readiness(readiness.clone());
        let source = registry::build(spec);
        let may_block = source.may_block();
        let thread = std::thread::Builder::new()
            .name(format!("source-{}", spec.name))
            .spawn(move || source.run(sink, control))?;
        Ok(Running {
            spec: spec.clone(),
            stopper,
            thread,
            handoff,
            may_block,
        })
    }

    /// The configured source called `name`.
    pub fn source(&self, name: &str) -> Option<&SourceSpec> {
        self.config.sources.iter().find(|s| s.name == name)
    }
}

/// One running source.
struct Running {
    spec: SourceSpec,
    stopper: Stopper,
    thread: JoinHandle<()>,
    /// Where a reload hands it the next pipelines.
    handoff: Handoff,
    /// It may block in a read for ever (standard input).
    may_block: bool,
}

impl Running {
    /// Stops it between two batches, for the reason `ending`, and waits for
    /// it. A source that may block on a read for ever (standard input) is
    /// not waited for: it ends with the process.
    fn stop(self, ending: Ending) {
        self.stopper.stop(ending);
        if !self.may_block {
            let _ = self.thread.join();
        }
    }
}

/// The running sources of an agent.
#[derive(Default)]
pub struct Sources {
    running: Vec<Running>,
}

impl Sources {
    /// Stops every source between two batches and waits for it: the agent
    /// stops (see [`Ending::Shutdown`]).
    pub fn stop(&mut self) {
        for r in self.running.drain(..) {
            r.stop(Ending::Shutdown);
        }
    }

    /// Before a reload from `previous` to `next`: stops and waits for every
    /// source that `next` does not run as it runs now (removed, changed,
    /// read by no pipeline any more, or a Kafka source whose `[state]`
    /// changed: it commits after checkpoints) and returns their names; the
    /// others go on, to be handed `next`'s pipelines by
    /// [`Agent::start_sources`]. Standard input is never stopped (it cannot
    /// be read again): its lines go to `next`'s standard input source, or
    /// are dropped.
    pub fn stop_unless_kept(&mut self, previous: &Config, next: &Config) -> Vec<String> {
        let read = |name: &str| {
            next.pipelines
                .iter()
                .any(|p| p.sources.iter().any(|s| s == name))
        };
        let mut stopped = Vec::new();
        for r in std::mem::take(&mut self.running) {
            let kept = match &r.spec.kind {
                SourceKind::Stdin => true,
                SourceKind::Kafka(_) if previous.state != next.state => false,
                _ => next.sources.contains(&r.spec) && read(&r.spec.name),
            };
            if kept {
                self.running.push(r);
            } else {
                stopped.push(r.spec.name.clone());
                let configured = next.sources.iter().any(|s| s.name == r.spec.name);
                r.stop(if configured {
                    Ending::Restart
                } else {
                    Ending::Removed
                });
            }
        }
        stopped
    }

    /// Takes the running source configured as `spec` out, if it runs
    /// (standard input by kind: whatever its name, there is only one).
    fn take(&mut self, spec: &SourceSpec) -> Option<Running> {
        let stdin = |s: &SourceSpec| matches!(s.kind, SourceKind::Stdin);
        let i = self
            .running
            .iter()
            .position(|r| r.spec.name == spec.name || (stdin(&r.spec) && stdin(spec)))?;
        Some(self.running.swap_remove(i))
    }
}

/// For each metric name, what the rules writing it say (pipeline and rule
/// specification): equal fingerprints mean the rules did not change.
fn rule_fingerprints(config: &Config) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &config.pipelines {
        for r in &p.rules {
            out.entry(r.metric.clone())
                .or_default()
                .push(format!("{}\u{0}{}\u{0}{r:?}", p.name, p.parser.kind));
        }
    }
    out
}
