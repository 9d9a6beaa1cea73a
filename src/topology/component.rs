//! What a component is, seen from the topology.
//!
//! Inputs and outputs are async tasks that own their I/O; filters are plain
//! synchronous code that a pool of workers runs over batches. Each gets a
//! context with its identity, its metrics and its channel ends. Nothing
//! here names a concrete component: the [`Registry`] maps type names from
//! pipeline files to builders.

use crate::config::{ComponentConfig, ConfigErrors, Mark};
use crate::delivery::{Receipt, SharedCommitTracker, Status};
use crate::event::Event;
use crate::observe::{ComponentHealth, ComponentMetrics, Health, Histogram, Metrics};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// A boxed, sendable future: what input and output tasks return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Events that travel together, with the receipt that tells their source
/// when all of them are safe.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<Event>,
    pub receipt: Receipt,
    /// The events already in their output's own form (see [`Prepare`]);
    /// `events` is then empty.
    pub prepared: Option<Prepared>,
}

impl Batch {
    pub fn new(events: Vec<Event>, receipt: Receipt) -> Self {
        Batch {
            events,
            receipt,
            prepared: None,
        }
    }

    /// How many events the batch carries, prepared or not.
    pub fn len(&self) -> usize {
        match &self.prepared {
            Some(p) => p.count,
            None => self.events.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands the events to `prepare`, which turns them into its output's
    /// form here, on the calling thread.
    pub fn prepare_with(&mut self, prepare: &dyn Prepare) {
        if self.prepared.is_none() {
            let count = self.events.len();
            let mut data = None;
            prepare.prepare(&mut self.events, &mut data);
            self.events = Vec::new();
            self.prepared = Prepared::of(count, data);
        }
    }
}

/// A batch's events as their output will use them (for the elasticsearch
/// output: the NDJSON lines of a bulk request), made by [`Prepare`].
pub struct Prepared {
    /// How many events went in.
    pub count: usize,
    /// The output's own type; only that output reads it.
    pub data: Box<dyn std::any::Any + Send>,
}

impl Prepared {
    /// What [`Prepare::prepare`] left for `count` events, if anything.
    pub(crate) fn of(count: usize, data: Option<Box<dyn std::any::Any + Send>>) -> Option<Self> {
        data.map(|data| Prepared { count, data })
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

/// Per-event work an output has done before its channel, by the thread
/// that built the events: a filter worker, or the input itself when a
/// pipeline has no filters.
///
/// Why: an event is a tree of small allocations. Read by the thread that
/// just wrote them, they are in its cache; read by the output's thread,
/// every object and string is a cache miss, and freeing them there is a
/// cross-thread free. An output that serialises every event anyway (the
/// bulk body of elasticsearch) does it on the producing thread, and the
/// events are freed where they were made.
pub trait Prepare: Send + Sync {
    /// Adds `events` to `prepared` (`None` at the start of each batch; a
    /// batch may come in several parts) and empties `events`. The output's
    /// run loop finds the result in [`Batch::prepared`].
    fn prepare(
        &self,
        events: &mut Vec<Event>,
        prepared: &mut Option<Box<dyn std::any::Any + Send>>,
    );
}

/// A source of events.
pub trait Input: Send {
    /// Runs until the source is exhausted or `ctx.shutdown` fires. Before
    /// returning, an input that commits positions waits for its receipts
    /// (the topology bounds that wait) and commits what resolved.
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<anyhow::Result<()>>;
}

/// What a filter decided for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The filter did its work: shared `add_field`, `add_tag`, … apply.
    Applied,
    /// The filter did not apply (no match, parse failure already tagged).
    Skipped,
    /// Remove the event from the batch on purpose.
    Drop,
}

/// A synchronous transformation of events. Shared by all workers.
pub trait Filter: Send + Sync {
    fn process(&self, event: &mut Event) -> Verdict;

    /// What `ganymede check` should point out about this valid filter
    /// (e.g. expressions that run on a backtracking regex engine).
    fn notices(&self) -> Vec<Notice> {
        Vec::new()
    }
}

/// A remark about a valid component, at the place in its file it is
/// about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub mark: Option<Mark>,
    pub message: String,
}

/// A destination of events.
pub trait Output: Send {
    /// Receives batches until the channel closes, resolves every receipt it
    /// took, flushes, and returns.
    fn run(self: Box<Self>, ctx: OutputContext) -> BoxFuture<anyhow::Result<()>>;

    /// Work to do on each batch before it reaches [`Output::run`]'s
    /// channel, if any. An output that has one must also accept batches
    /// that were not prepared (tests, `dlq replay`).
    fn preparer(&self) -> Option<Arc<dyn Prepare>> {
        None
    }
}

/// What every builder may need besides its own options.
#[derive(Clone)]
pub struct BuildContext {
    pub pipeline: String,
    /// Where components keep state (registries, dead letters).
    pub data_dir: PathBuf,
    /// Read sources to their end, then stop (`run --once`).
    pub once: bool,
    pub metrics: Arc<Metrics>,
    pub health: Health,
}

impl BuildContext {
    /// A context for tests and tools: temp-free, nothing persisted.
    pub fn for_tests(pipeline: &str) -> Self {
        BuildContext {
            pipeline: pipeline.to_owned(),
            data_dir: std::env::temp_dir().join("ganymede-test-data"),
            once: false,
            metrics: Metrics::new(),
            health: Health::new(),
        }
    }
}

pub type InputBuilder = fn(&ComponentConfig, &BuildContext) -> Result<Box<dyn Input>, ConfigErrors>;
pub type FilterBuilder =
    fn(&ComponentConfig, &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors>;
pub type OutputBuilder =
    fn(&ComponentConfig, &BuildContext) -> Result<Box<dyn Output>, ConfigErrors>;

/// Maps component type names to builders.
#[derive(Default, Clone)]
pub struct Registry {
    pub inputs: BTreeMap<&'static str, InputBuilder>,
    pub filters: BTreeMap<&'static str, FilterBuilder>,
    pub outputs: BTreeMap<&'static str, OutputBuilder>,
}

/// The identity of a running component.
#[derive(Debug, Clone)]
pub struct ComponentId {
    pub pipeline: Arc<str>,
    pub id: Arc<str>,
    pub plugin: Arc<str>,
}

/// Returned by [`InputContext::send`] when the pipeline no longer accepts
/// batches (it is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline is shutting down")]
pub struct Closed;

/// An input's view of its pipeline.
pub struct InputContext {
    pub component: ComponentId,
    pub shutdown: CancellationToken,
    pub metrics: Arc<ComponentMetrics>,
    pub batch_size: usize,
    pub once: bool,
    /// Whether anything downstream may read `[@metadata][_id]`; when not,
    /// inputs save the work of computing document ids.
    pub document_ids: bool,
    latency: Arc<Histogram>,
    sender: Option<flume::Sender<Batch>>,
    /// The output's preparation, when batches go straight to it.
    prepare: Option<Arc<dyn Prepare>>,
}

impl InputContext {
    pub(crate) fn new(
        component: ComponentId,
        shutdown: CancellationToken,
        metrics: Arc<ComponentMetrics>,
        latency: Arc<Histogram>,
        batch_size: usize,
        once: bool,
        sender: flume::Sender<Batch>,
    ) -> Self {
        InputContext {
            component,
            shutdown,
            metrics,
            batch_size,
            once,
            document_ids: true,
            latency,
            sender: Some(sender),
            prepare: None,
        }
    }

    /// Batches go straight to an output that prepares them with `prepare`.
    pub(crate) fn with_preparer(mut self, prepare: Option<Arc<dyn Prepare>>) -> Self {
        self.prepare = prepare;
        self
    }

    pub fn with_document_ids(mut self, document_ids: bool) -> Self {
        self.document_ids = document_ids;
        self
    }

    /// A context whose batches go to the returned receiver (for tests of
    /// inputs and for tools that drive an input by hand).
    pub fn detached(capacity: usize, batch_size: usize) -> (Self, flume::Receiver<Batch>) {
        let (tx, rx) = flume::bounded(capacity);
        let ctx = InputContext::new(
            ComponentId {
                pipeline: "test".into(),
                id: "input".into(),
                plugin: "test".into(),
            },
            CancellationToken::new(),
            Arc::new(ComponentMetrics::default()),
            Arc::new(Histogram::default()),
            batch_size,
            false,
            tx,
        );
        (ctx, rx)
    }

    /// Sends a batch downstream, waiting while the pipeline is full
    /// (backpressure). Fails once the pipeline is closing.
    pub async fn send(&self, mut batch: Batch) -> Result<(), Closed> {
        let Some(tx) = &self.sender else {
            return Err(Closed);
        };
        let n = batch.len();
        if let Some(p) = &self.prepare {
            batch.prepare_with(p.as_ref());
        }
        tx.send_async(batch).await.map_err(|_| Closed)?;
        self.metrics.add_out(n);
        self.metrics.add_batch();
        Ok(())
    }

    /// Stops sending: downstream sees this input's end. Call before waiting
    /// for outstanding receipts.
    pub fn close(&mut self) {
        self.sender = None;
    }

    /// A receipt that records its latency and then calls `on_final`.
    pub fn receipt(&self, on_final: impl FnOnce(Status) + Send + 'static) -> Receipt {
        let started = Instant::now();
        let latency = self.latency.clone();
        Receipt::new(move |status| {
            latency.observe(started.elapsed());
            on_final(status);
        })
    }

    /// A receipt tracked by `tracker` at `position`, recording its latency.
    pub fn tracked_receipt<P: Send + 'static>(
        &self,
        tracker: &SharedCommitTracker<P>,
        position: P,
    ) -> Receipt {
        let started = Instant::now();
        let latency = self.latency.clone();
        tracker.receipt_with(position, move |_| latency.observe(started.elapsed()))
    }
}

/// An output's view of its pipeline.
pub struct OutputContext {
    pub component: ComponentId,
    pub metrics: Arc<ComponentMetrics>,
    pub health: ComponentHealth,
    pub data_dir: PathBuf,
    /// Fires when the process gives up waiting (shutdown deadline): retry
    /// loops stop, unresolved receipts are abandoned.
    pub abort: CancellationToken,
    receiver: flume::Receiver<Batch>,
}

impl OutputContext {
    pub(crate) fn new(
        component: ComponentId,
        metrics: Arc<ComponentMetrics>,
        health: ComponentHealth,
        data_dir: PathBuf,
        abort: CancellationToken,
        receiver: flume::Receiver<Batch>,
    ) -> Self {
        OutputContext {
            component,
            metrics,
            health,
            data_dir,
            abort,
            receiver,
        }
    }

    /// A context fed by the returned sender (for tests of outputs).
    pub fn detached(capacity: usize) -> (Self, flume::Sender<Batch>) {
        let (tx, rx) = flume::bounded(capacity);
        let health = Health::new();
        let ctx = OutputContext::new(
            ComponentId {
                pipeline: "test".into(),
                id: "output".into(),
                plugin: "test".into(),
            },
            Arc::new(ComponentMetrics::default()),
            health.component("test", "output"),
            std::env::temp_dir(),
            CancellationToken::new(),
            rx,
        );
        (ctx, tx)
    }

    /// The next batch, or `None` once every upstream worker is done.
    pub async fn recv(&self) -> Option<Batch> {
        let batch = self.receiver.recv_async().await.ok()?;
        self.metrics.add_in(batch.len());
        self.metrics.add_batch();
        Some(batch)
    }

    /// A batch if one is waiting, without blocking.
    pub fn try_recv(&self) -> Option<Batch> {
        let batch = self.receiver.try_recv().ok()?;
        self.metrics.add_in(batch.len());
        self.metrics.add_batch();
        Some(batch)
    }
}
