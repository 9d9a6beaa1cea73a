//! Receipts through a real topology: out-of-order resolution, rejection,
//! filter drops and shutdown. A source may never commit a position before
//! every event up to it was delivered, rejected or dropped on purpose.

use ganymede::config::{ComponentConfig, ConfigErrors, PipelineConfig};
use ganymede::delivery::{Outcome, SharedCommitTracker};
use ganymede::event::{Event, FieldPath, Value};
use ganymede::observe::{Health, Metrics};
use ganymede::topology::{
    Batch, BoxFuture, BuildContext, BuildOptions, Filter, Input, InputContext, Output,
    OutputContext, Prepare, Registry, Signals, Verdict, build_pipeline,
};
use serde::Deserialize;
use std::any::Any;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What one test's components observed.
#[derive(Default)]
struct Ledger {
    /// Event numbers an output resolved (delivered or rejected).
    resolved: BTreeSet<u64>,
    /// Event numbers a filter dropped.
    dropped: BTreeSet<u64>,
    /// Event numbers whose sending the input saw complete. A send cut
    /// short by shutdown may still have delivered its batch (the channel
    /// can take it from the waiting sender), so more may have been sent.
    sent: u64,
    /// Positions the input committed, in order.
    commits: Vec<u64>,
    /// Commits that went past an unresolved event.
    violations: Vec<String>,
}

fn ledgers() -> &'static Mutex<HashMap<String, Arc<Mutex<Ledger>>>> {
    static L: OnceLock<Mutex<HashMap<String, Arc<Mutex<Ledger>>>>> = OnceLock::new();
    L.get_or_init(Default::default)
}

fn ledger(key: &str) -> Arc<Mutex<Ledger>> {
    ledgers()
        .lock()
        .unwrap()
        .entry(key.to_owned())
        .or_default()
        .clone()
}

fn number(e: &Event) -> u64 {
    match e.get(&FieldPath::key("n")) {
        Some(Value::Integer(n)) => *n as u64,
        other => panic!("event without a number: {other:?}"),
    }
}

// ---- a numbered source that commits through a SharedCommitTracker ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NumberedConfig {
    key: String,
    /// 0: until shutdown.
    count: u64,
}

struct Numbered {
    cfg: NumberedConfig,
}

fn build_numbered(c: &ComponentConfig, _: &BuildContext) -> Result<Box<dyn Input>, ConfigErrors> {
    Ok(Box::new(Numbered {
        cfg: c.parse_options()?,
    }))
}

impl Input for Numbered {
    fn run(self: Box<Self>, mut ctx: InputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async move {
            let ledger = ledger(&self.cfg.key);
            let tracker = SharedCommitTracker::<u64>::new();
            let committer = {
                let tracker = tracker.clone();
                let ledger = ledger.clone();
                tokio::spawn(async move {
                    loop {
                        let changed = tracker.changed();
                        if let Some(pos) = tracker.take_committable() {
                            commit(&ledger, pos);
                        }
                        changed.await;
                    }
                })
            };
            let mut n = 0u64;
            'read: loop {
                let mut events = Vec::with_capacity(ctx.batch_size);
                for _ in 0..ctx.batch_size {
                    if self.cfg.count != 0 && n >= self.cfg.count {
                        break;
                    }
                    n += 1;
                    let mut e = Event::from_message(format!("event {n}"));
                    e.set(&FieldPath::key("n"), n as i64);
                    events.push(e);
                }
                if events.is_empty() {
                    break;
                }
                let receipt = ctx.tracked_receipt(&tracker, n);
                tokio::select! {
                    r = ctx.send(Batch::new(events, receipt)) => r?,
                    _ = ctx.shutdown.cancelled() => break 'read,
                }
                ledger.lock().unwrap().sent = n;
                if ctx.shutdown.is_cancelled() {
                    break;
                }
            }
            ctx.close();
            tracker.drained().await;
            // The committer may be between taking a position and recording
            // it: stop it and wait until it has, then record what is left.
            committer.abort();
            let _ = committer.await;
            if let Some(pos) = tracker.take_committable() {
                commit(&ledger, pos);
            }
            Ok(())
        })
    }
}

fn commit(ledger: &Mutex<Ledger>, pos: u64) {
    let mut l = ledger.lock().unwrap();
    let from = l.commits.last().copied().unwrap_or(0) + 1;
    for n in from..=pos {
        if !l.resolved.contains(&n) && !l.dropped.contains(&n) {
            l.violations
                .push(format!("committed {pos} before event {n} was resolved"));
            break;
        }
    }
    l.commits.push(pos);
}

// ---- a filter dropping every event whose number is divisible by `every` ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DropEveryConfig {
    key: String,
    every: u64,
}

struct DropEvery {
    every: u64,
    ledger: Arc<Mutex<Ledger>>,
}

fn build_drop_every(
    c: &ComponentConfig,
    _: &BuildContext,
) -> Result<Box<dyn Filter>, ConfigErrors> {
    let cfg: DropEveryConfig = c.parse_options()?;
    Ok(Box::new(DropEvery {
        every: cfg.every,
        ledger: ledger(&cfg.key),
    }))
}

impl Filter for DropEvery {
    fn process(&self, event: &mut Event) -> Verdict {
        let n = number(event);
        if n.is_multiple_of(self.every) {
            self.ledger.lock().unwrap().dropped.insert(n);
            Verdict::Drop
        } else {
            Verdict::Applied
        }
    }
}

// ---- an output resolving groups of batches in reverse order ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShuffleConfig {
    key: String,
    /// Batches held and then resolved last-first.
    group: usize,
    /// Every n-th batch is rejected (0: none).
    #[serde(default)]
    reject_every: usize,
    /// Wait before resolving each group.
    #[serde(default)]
    delay_ms: u64,
    /// Never resolve: hold everything until the process gives up.
    #[serde(default)]
    stall: bool,
}

struct Shuffle {
    cfg: ShuffleConfig,
}

fn build_shuffle(c: &ComponentConfig, _: &BuildContext) -> Result<Box<dyn Output>, ConfigErrors> {
    Ok(Box::new(Shuffle {
        cfg: c.parse_options()?,
    }))
}

impl Output for Shuffle {
    fn run(self: Box<Self>, ctx: OutputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async move {
            let ledger = ledger(&self.cfg.key);
            let mut held: Vec<Batch> = Vec::new();
            let mut count = 0usize;
            loop {
                let next = tokio::select! {
                    b = ctx.recv() => b,
                    _ = ctx.abort.cancelled() => None,
                    _ = tokio::time::sleep(Duration::from_millis(20)), if !held.is_empty() && !self.cfg.stall => {
                        resolve(&ledger, &mut held, &mut count, self.cfg.reject_every);
                        continue;
                    }
                };
                let Some(b) = next else { break };
                held.push(b);
                if self.cfg.stall {
                    continue;
                }
                if held.len() >= self.cfg.group {
                    tokio::time::sleep(Duration::from_millis(self.cfg.delay_ms)).await;
                    resolve(&ledger, &mut held, &mut count, self.cfg.reject_every);
                }
            }
            if self.cfg.stall {
                // Dropped unresolved: the batches are abandoned.
                drop(held);
            } else {
                resolve(&ledger, &mut held, &mut count, self.cfg.reject_every);
            }
            Ok(())
        })
    }
}

fn resolve(ledger: &Mutex<Ledger>, held: &mut Vec<Batch>, count: &mut usize, reject_every: usize) {
    while let Some(b) = held.pop() {
        *count += 1;
        ledger
            .lock()
            .unwrap()
            .resolved
            .extend(b.events.iter().map(number));
        let outcome = if reject_every != 0 && (*count).is_multiple_of(reject_every) {
            Outcome::Rejected
        } else {
            Outcome::Delivered
        };
        b.receipt.resolve(outcome);
    }
}

// ---- an output whose events are prepared (turned into their numbers)
// before its channel ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NumbersConfig {
    key: String,
}

struct Numbers {
    key: String,
}

/// The numbers of a prepared batch, and how many parts it came in.
#[derive(Default)]
struct Prepared {
    numbers: Vec<u64>,
    parts: usize,
}

struct ToNumbers;

impl Prepare for ToNumbers {
    fn prepare(&self, events: &mut Vec<Event>, prepared: &mut Option<Box<dyn Any + Send>>) {
        let data = prepared.get_or_insert_with(|| Box::new(Prepared::default()));
        let p = data.downcast_mut::<Prepared>().expect("our own type");
        p.numbers.extend(events.iter().map(number));
        p.parts += 1;
        events.clear();
    }
}

fn build_numbers(c: &ComponentConfig, _: &BuildContext) -> Result<Box<dyn Output>, ConfigErrors> {
    let cfg: NumbersConfig = c.parse_options()?;
    Ok(Box::new(Numbers { key: cfg.key }))
}

/// One batch as the numbers output saw it: its count, the parts it was
/// prepared in, and its numbers.
type SeenBatch = (usize, usize, Vec<u64>);

/// What the numbers output saw, by key.
fn seen() -> &'static Mutex<HashMap<String, Vec<SeenBatch>>> {
    static S: OnceLock<Mutex<HashMap<String, Vec<SeenBatch>>>> = OnceLock::new();
    S.get_or_init(Default::default)
}

impl Output for Numbers {
    fn run(self: Box<Self>, ctx: OutputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async move {
            let ledger = ledger(&self.key);
            while let Some(b) = ctx.recv().await {
                assert!(b.events.is_empty(), "a prepared batch keeps no events");
                let count = b.len();
                let p = b
                    .prepared
                    .expect("every batch is prepared")
                    .data
                    .downcast::<Prepared>()
                    .expect("prepared by this output");
                ledger.lock().unwrap().resolved.extend(&p.numbers);
                seen()
                    .lock()
                    .unwrap()
                    .entry(self.key.clone())
                    .or_default()
                    .push((count, p.parts, p.numbers));
                b.receipt.resolve(Outcome::Delivered);
            }
            Ok(())
        })
    }

    fn preparer(&self) -> Option<Arc<dyn Prepare>> {
        Some(Arc::new(ToNumbers))
    }
}

fn registry() -> Registry {
    let mut r = ganymede::registry::standard();
    r.inputs.insert("numbered", build_numbered);
    r.filters.insert("drop_every", build_drop_every);
    r.outputs.insert("shuffle", build_shuffle);
    r.outputs.insert("numbers", build_numbers);
    r
}

fn pipeline(yaml: &str) -> ganymede::topology::Pipeline {
    let cfg = PipelineConfig::from_text(Path::new("test.yml"), yaml, &HashMap::new()).unwrap();
    let opts = BuildOptions {
        data_dir: std::env::temp_dir(),
        once: false,
        metrics: Metrics::new(),
        health: Health::new(),
    };
    build_pipeline(&cfg, &registry(), &opts).unwrap_or_else(|e| panic!("{e}"))
}

async fn finish(p: ganymede::topology::RunningPipeline) {
    tokio::time::timeout(Duration::from_secs(60), p.wait())
        .await
        .expect("pipeline did not finish within 60 s")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_and_rejected_batches_commit_only_contiguous_prefixes() {
    let p = pipeline(
        "workers: 2\nbatch_size: 150\ninputs: [numbered: {key: ooo, count: 5000}]\n\
         filters: [drop_every: {key: ooo, every: 7}]\n\
         outputs: [shuffle: {key: ooo, group: 5, reject_every: 3}]\n",
    );
    finish(p.start(&Signals::default())).await;
    let l = ledger("ooo");
    let l = l.lock().unwrap();
    assert!(l.violations.is_empty(), "{:?}", l.violations);
    assert_eq!(
        l.commits.last(),
        Some(&5000),
        "everything resolved, so all is committed"
    );
    assert!(
        l.commits.windows(2).all(|w| w[0] < w[1]),
        "commits only move forward"
    );
    let accounted: BTreeSet<u64> = l.resolved.union(&l.dropped).copied().collect();
    assert_eq!(
        accounted.len(),
        5000,
        "every event was delivered, rejected or dropped"
    );
    assert_eq!(l.dropped.len(), 5000 / 7);
}

/// Checks what the numbers output under `key` saw: every event of
/// 1..=count not divisible by `dropped_every`, once, in order within each
/// batch, each batch's count matching its numbers. Returns the batches'
/// part counts.
fn check_prepared(key: &str, count: u64, dropped_every: u64) -> Vec<usize> {
    let batches = seen().lock().unwrap().remove(key).unwrap_or_default();
    let l = ledger(key);
    let l = l.lock().unwrap();
    assert!(l.violations.is_empty(), "{:?}", l.violations);
    assert_eq!(l.commits.last(), Some(&count));
    let mut all: Vec<u64> = Vec::new();
    for (n, _, numbers) in &batches {
        assert_eq!(*n, numbers.len(), "a batch counts its prepared events");
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "order kept");
        all.extend(numbers);
    }
    all.sort_unstable();
    let expected: Vec<u64> = (1..=count)
        .filter(|n| !n.is_multiple_of(dropped_every))
        .collect();
    assert_eq!(all, expected, "every event that was not dropped, once");
    batches.iter().map(|(_, parts, _)| *parts).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_prepare_batches_in_parts_for_an_output_that_asks() {
    let p = pipeline(
        "workers: 2\nbatch_size: 500\ninputs: [numbered: {key: prep_workers, count: 5000}]\n\
         filters: [drop_every: {key: prep_workers, every: 7}]\n\
         outputs: [numbers: {key: prep_workers}]\n",
    );
    finish(p.start(&Signals::default())).await;
    let parts = check_prepared("prep_workers", 5000, 7);
    assert_eq!(parts.len(), 10, "one prepared batch per input batch");
    assert!(
        parts.iter().all(|&p| p > 1),
        "large batches are prepared chunk by chunk as they leave the filters: {parts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_prepare_batches_themselves_without_filters() {
    let p = pipeline(
        "batch_size: 300\ninputs: [numbered: {key: prep_direct, count: 3000}]\n\
         outputs: [numbers: {key: prep_direct}]\n",
    );
    finish(p.start(&Signals::default())).await;
    let parts = check_prepared("prep_direct", 3000, u64::MAX);
    assert_eq!(
        parts,
        vec![1; 10],
        "each batch prepared whole, by the input"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_emptied_by_filters_still_resolve() {
    let p = pipeline(
        "batch_size: 10\ninputs: [numbered: {key: drop_all, count: 300}]\n\
         filters: [drop_every: {key: drop_all, every: 1}]\n\
         outputs: [shuffle: {key: drop_all, group: 1}]\n",
    );
    finish(p.start(&Signals::default())).await;
    let l = ledger("drop_all");
    let l = l.lock().unwrap();
    assert!(l.resolved.is_empty(), "no event reached the output");
    assert_eq!(l.commits.last(), Some(&300));
    assert!(l.violations.is_empty(), "{:?}", l.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_batches_and_commits_them() {
    let p = pipeline(
        "batch_size: 20\ninputs: [numbered: {key: drain, count: 0}]\n\
         outputs: [shuffle: {key: drain, group: 3, delay_ms: 5}]\n",
    );
    let signals = Signals::default();
    let running = p.start(&signals);
    // Let some batches flow, then ask the inputs to stop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ledger("drain").lock().unwrap().commits.len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no commit within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    signals.stop_inputs.cancel();
    finish(running).await;
    let l = ledger("drain");
    let l = l.lock().unwrap();
    assert!(l.violations.is_empty(), "{:?}", l.violations);
    assert!(l.sent > 0);
    let last = l.resolved.last().copied().unwrap_or(0);
    assert!(
        last >= l.sent,
        "every batch sent was drained: last resolved {last}, sent {}",
        l.sent
    );
    assert_eq!(
        l.commits.last(),
        Some(&last),
        "every drained batch was committed"
    );
    assert_eq!(l.resolved.len() as u64, last, "no event lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_batches_are_never_committed() {
    let p = pipeline(
        "batch_size: 10\ninputs: [numbered: {key: stall, count: 100}]\n\
         outputs: [shuffle: {key: stall, group: 1, stall: true}]\n",
    );
    let signals = Signals::default();
    let running = p.start(&signals);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ledger("stall").lock().unwrap().sent < 100 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "input did not send within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The shutdown deadline passes: the process gives up on the output.
    signals.stop_inputs.cancel();
    signals.abort.cancel();
    finish(running).await;
    let l = ledger("stall");
    let l = l.lock().unwrap();
    assert!(
        l.commits.is_empty(),
        "nothing was delivered, so nothing may be committed: {:?}",
        l.commits
    );
}
