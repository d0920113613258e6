//! State that survives restarts: periodic, consistent checkpoints of source
//! positions together with the metric values derived from the lines before
//! them.
//!
//! Sources process lines in batches. A batch runs under a shared
//! [`Coordinator`] guard and ends by publishing the source's positions; a
//! checkpoint takes the guard exclusively, so it sees every source between
//! two batches: each position matches the values exactly. After a restart,
//! values are restored before any source starts, and sources resume at their
//! positions: no line is lost or counted twice.

pub mod checkpoint;
pub mod snapshot;
pub mod spec;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use tracing::{debug, warn};

use crate::metrics::Registry;
use crate::state::spec::StateSpec;
use checkpoint::{Checkpoint, Position, VERSION};

/// Checkpoints written.
pub const CHECKPOINT_WRITES: &str = "logtally_checkpoint_writes_total";
/// Checkpoints that failed to write.
pub const CHECKPOINT_FAILURES: &str = "logtally_checkpoint_failures_total";
/// Age of the last checkpoint written.
pub const CHECKPOINT_AGE: &str = "logtally_checkpoint_age_seconds";

/// Where one source publishes its positions.
#[derive(Clone, Default)]
pub struct PositionSlot(Arc<Mutex<Vec<Position>>>);

impl PositionSlot {
    /// Replaces the published positions (call at the end of a batch).
    pub fn publish(&self, positions: Vec<Position>) {
        *self.0.lock() = positions;
    }

    /// Changes the published positions in place (call within a batch, after
    /// the lines before them were applied).
    pub fn update(&self, f: impl FnOnce(&mut Vec<Position>)) {
        f(&mut self.0.lock());
    }
}

/// Held while a source applies a batch of lines and publishes its
/// positions (see [`Coordinator::batch_owned`]).
pub type Batch = parking_lot::ArcRwLockReadGuard<parking_lot::RawRwLock, ()>;

/// Lets checkpoints see every source between two batches.
#[derive(Default)]
pub struct Coordinator {
    gate: Arc<RwLock<()>>,
    slots: Mutex<Vec<(String, PositionSlot)>>,
    /// Positions in the last checkpoint written, by source.
    durable: Mutex<std::collections::BTreeMap<String, Vec<Position>>>,
    /// One checkpoint written at a time.
    writing: Mutex<()>,
    /// Told after each checkpoint written (Kafka sources then commit its
    /// offsets), by id.
    listeners: Mutex<Vec<(u64, Listener)>>,
    next_listener: AtomicU64,
}

/// Called after each checkpoint written.
type Listener = Arc<dyn Fn() + Send + Sync>;

impl Coordinator {
    /// A coordinator with no source yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The slot of the source called `name`.
    pub fn register(&self, name: &str) -> PositionSlot {
        let slot = PositionSlot::default();
        self.slots.lock().push((name.to_string(), slot.clone()));
        slot
    }

    /// The slot of the source called `name`, already holding `positions`
    /// (where a reloaded source resumes), so that a checkpoint taken before
    /// its first batch still knows where it stands.
    pub fn register_at(&self, name: &str, positions: Vec<Position>) -> PositionSlot {
        let slot = self.register(name);
        slot.publish(positions);
        slot
    }

    /// Forgets the slots of the sources called `names` (they have stopped;
    /// a reload registers their successors).
    pub fn release(&self, names: &[String]) {
        self.slots.lock().retain(|(n, _)| !names.contains(n));
    }

    /// Keeps checkpoints from being written while held (a reload swapping
    /// the sources).
    pub fn hold_checkpoints(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.writing.lock()
    }

    /// Held while a batch of lines is applied and its positions published.
    pub fn batch(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read()
    }

    /// [`Coordinator::batch`] as a guard that borrows nothing (a source
    /// holds it while it feeds its sink).
    pub fn batch_owned(&self) -> Batch {
        self.gate.read_arc()
    }

    /// The positions of `source` in the last checkpoint written (what a
    /// restart resumes from): a Kafka source commits no further than these.
    pub fn durable(&self, source: &str) -> Vec<Position> {
        self.durable.lock().get(source).cloned().unwrap_or_default()
    }

    /// Calls `f` after every checkpoint written from now on (under the lock
    /// that serialises checkpoints: `f` must only signal, not block), until
    /// [`Coordinator::unlisten`] is called with the id returned.
    pub fn listen(&self, f: impl Fn() + Send + Sync + 'static) -> u64 {
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        self.listeners.lock().push((id, Arc::new(f)));
        id
    }

    /// Stops calling the listener `id`.
    pub fn unlisten(&self, id: u64) {
        self.listeners.lock().retain(|(i, _)| *i != id);
    }

    /// A consistent checkpoint of `registry` and every source's positions.
    pub fn snapshot(&self, registry: &Registry) -> Checkpoint {
        let _all_paused = self.gate.write();
        let mut sources = std::collections::BTreeMap::new();
        for (name, slot) in self.slots.lock().iter() {
            sources
                .entry(name.clone())
                .or_insert_with(Vec::new)
                .extend(slot.0.lock().iter().cloned());
        }
        Checkpoint {
            version: VERSION,
            taken_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            sources,
            series: snapshot::save(registry),
        }
    }
}

/// Writes checkpoints every `interval` until `stop`, then returns.
pub fn run_checkpointer(
    spec: StateSpec,
    coordinator: Arc<Coordinator>,
    registry: Arc<Registry>,
    stop: Arc<AtomicBool>,
) {
    describe_counter!(CHECKPOINT_WRITES, Unit::Count, "Checkpoints written.");
    describe_counter!(
        CHECKPOINT_FAILURES,
        Unit::Count,
        "Checkpoints that could not be written."
    );
    describe_gauge!(
        CHECKPOINT_AGE,
        Unit::Seconds,
        "Seconds since the last checkpoint was written."
    );
    let mut last: Option<Checkpoint> = None;
    let mut last_ok = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(spec.interval.min(Duration::from_millis(100)));
        if last_ok.elapsed() < spec.interval {
            gauge!(CHECKPOINT_AGE).set(last_ok.elapsed().as_secs_f64());
            continue;
        }
        match write_if_changed(&spec, &coordinator, &registry, &mut last) {
            Ok(()) => last_ok = Instant::now(),
            Err(e) => warn!(error = %e, "checkpoint failed"),
        }
        gauge!(CHECKPOINT_AGE).set(last_ok.elapsed().as_secs_f64());
    }
}

/// Takes a checkpoint and writes it unless it equals the last one written.
pub fn write_if_changed(
    spec: &StateSpec,
    coordinator: &Coordinator,
    registry: &Registry,
    last: &mut Option<Checkpoint>,
) -> Result<(), checkpoint::CheckpointError> {
    let _one_at_a_time = coordinator.writing.lock();
    let c = coordinator.snapshot(registry);
    if let Some(prev) = last {
        if prev.sources == c.sources && prev.series == c.series {
            return Ok(());
        }
    }
    match c.store(&spec.dir) {
        Ok(()) => {
            *coordinator.durable.lock() = c.sources.clone();
            counter!(CHECKPOINT_WRITES).increment(1);
            let listeners: Vec<Listener> = coordinator
                .listeners
                .lock()
                .iter()
                .map(|(_, f)| f.clone())
                .collect();
            for f in listeners {
                f();
            }
            debug!(dir = %spec.dir.display(), "checkpoint written");
            *last = Some(c);
            Ok(())
        }
        Err(e) => {
            counter!(CHECKPOINT_FAILURES).increment(1);
            Err(e)
        }
    }
}
