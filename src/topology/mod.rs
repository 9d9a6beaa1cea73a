//! Builds and runs pipelines.
//!
//! ```text
//!  input tasks ──Batch──▶ [bounded channel] ──▶ filter workers ──Batch──▶ [bounded channel per output] ──▶ output tasks
//! ```
//!
//! Inputs are async tasks; the filter workers are blocking threads (filters
//! are CPU work); outputs are async tasks. Channels hold a few batches, so a
//! slow output fills its channel, the workers block, the input channel
//! fills, and inputs wait: backpressure, with bounded memory.
//!
//! Shutdown runs in the same direction as the data: inputs stop and close
//! their senders; workers finish what they hold and exit, which closes the
//! output channels; outputs flush and resolve their receipts; inputs, still
//! waiting on those receipts, commit and return.

mod build;
mod component;
mod stage;

pub use build::{
    BuildOptions, BuiltInput, BuiltOutput, Pipeline, build_all, build_pipeline, default_workers,
};
pub use component::{
    Batch, BoxFuture, BuildContext, Closed, ComponentId, Filter, FilterBuilder, Input,
    InputBuilder, InputContext, Notice, Output, OutputBuilder, OutputContext, Prepare, Prepared,
    Registry, Verdict,
};
/// How many events go through a pipeline's filters together.
pub use stage::CHUNK as FILTER_CHUNK;

use crate::observe::PipelineState;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// A started pipeline.
pub struct RunningPipeline {
    pub name: String,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl RunningPipeline {
    /// Waits for the pipeline to finish: inputs done, everything drained.
    pub async fn wait(self) -> anyhow::Result<()> {
        match self.handle.await {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("pipeline {} panicked: {e}", self.name)),
        }
    }
}

/// Signals shared by every pipeline of the process.
#[derive(Clone, Default)]
pub struct Signals {
    /// Inputs stop reading.
    pub stop_inputs: CancellationToken,
    /// Give up: outputs stop retrying, unresolved work is abandoned.
    pub abort: CancellationToken,
}

impl Pipeline {
    /// Starts every component and returns at once.
    pub fn start(self, signals: &Signals) -> RunningPipeline {
        let name = self.name.clone();
        let handle_name = name.clone();
        let health = self.health.clone();
        health.set_pipeline(&name, PipelineState::Starting);
        let span = tracing::info_span!("pipeline", pipeline = %name);
        let signals = signals.clone();
        let handle = tokio::spawn(
            async move {
                let r = self.run(signals).await;
                match &r {
                    Ok(()) => health.set_pipeline(&name, PipelineState::Finished),
                    Err(e) => health.set_pipeline(&name, PipelineState::Failed(format!("{e:#}"))),
                }
                r
            }
            .instrument(span),
        );
        RunningPipeline {
            name: handle_name,
            handle,
        }
    }

    async fn run(self, signals: Signals) -> anyhow::Result<()> {
        let Pipeline {
            name,
            workers,
            batch_size,
            channel_capacity,
            once,
            document_ids,
            data_dir,
            inputs,
            stages,
            outputs,
            metrics,
            health,
            ..
        } = self;
        let latency = metrics.receipt_latency(&name);

        // Outputs first, so that workers always have somewhere to send.
        let mut routes = Vec::new();
        let mut output_tasks = Vec::new();
        for out in outputs {
            let (tx, rx) = flume::bounded(channel_capacity);
            metrics.channel(&name, &format!("output:{}", out.id.id), sampler(&tx));
            let ctx = OutputContext::new(
                out.id.clone(),
                metrics.component(&name, "output", &out.id.plugin, &out.id.id),
                health.component(&name, &out.id.id),
                data_dir.clone(),
                signals.abort.clone(),
                rx,
            );
            let span =
                tracing::info_span!("output", component = %out.id.id, plugin = %out.id.plugin);
            let id = out.id.clone();
            let prepare = out.output.preparer();
            output_tasks.push((id, tokio::spawn(out.output.run(ctx).instrument(span))));
            routes.push(stage::Route {
                condition: out.condition,
                sender: tx,
                prepare,
            });
        }

        // Without filters and with one unconditional output, inputs send
        // straight to the output: a hop through a worker thread would only
        // cost a wake-up per batch. The inputs then do the output's
        // preparation themselves.
        let direct = match routes.as_slice() {
            [only] if stages.is_empty() && only.condition.is_none() => {
                Some((only.sender.clone(), only.prepare.clone()))
            }
            _ => None,
        };
        let mut worker_tasks = Vec::new();
        let mut direct_prepare = None;
        let in_tx = match direct {
            Some((tx, prepare)) => {
                drop(routes);
                direct_prepare = prepare;
                tx
            }
            None => {
                let (in_tx, in_rx) = flume::bounded::<Batch>(channel_capacity);
                metrics.channel(&name, "filters", sampler(&in_tx));
                let stages = Arc::new(stages);
                let routes = Arc::new(routes);
                for _ in 0..workers {
                    let rx = in_rx.clone();
                    let stages = stages.clone();
                    let routes = routes.clone();
                    let span = tracing::Span::current();
                    worker_tasks.push(tokio::task::spawn_blocking(move || {
                        let _entered = span.enter();
                        while let Ok(batch) = rx.recv() {
                            stage::process(&stages, &routes, batch);
                        }
                    }));
                }
                in_tx
            }
        };

        let mut input_tasks = Vec::new();
        for input in inputs {
            let ctx = InputContext::new(
                input.id.clone(),
                signals.stop_inputs.clone(),
                metrics.component(&name, "input", &input.id.plugin, &input.id.id),
                latency.clone(),
                batch_size,
                once,
                in_tx.clone(),
            )
            .with_document_ids(document_ids)
            .with_preparer(direct_prepare.clone());
            let span =
                tracing::info_span!("input", component = %input.id.id, plugin = %input.id.plugin);
            input_tasks.push((
                input.id.clone(),
                tokio::spawn(input.input.run(ctx).instrument(span)),
            ));
        }
        drop(in_tx);
        health.set_pipeline(&name, PipelineState::Running);
        tracing::info!(workers, "pipeline started");

        let mut failures = Vec::new();
        for (id, task) in input_tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(component = %id.id, error = %format!("{e:#}"), "input failed");
                    failures.push(format!("input {}: {e:#}", id.id));
                }
                Err(e) => failures.push(format!("input {} panicked: {e}", id.id)),
            }
        }
        for task in worker_tasks {
            if let Err(e) = task.await {
                failures.push(format!("filter worker panicked: {e}"));
            }
        }
        for (id, task) in output_tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(component = %id.id, error = %format!("{e:#}"), "output failed");
                    failures.push(format!("output {}: {e:#}", id.id));
                }
                Err(e) => failures.push(format!("output {} panicked: {e}", id.id)),
            }
        }
        if failures.is_empty() {
            tracing::info!("pipeline finished");
            Ok(())
        } else {
            Err(anyhow::anyhow!(failures.join("; ")))
        }
    }
}

/// Samples a channel's fill without keeping it open (a strong sender held
/// by the metrics registry would stop the channel from ever closing).
fn sampler<T: Send + 'static>(
    tx: &flume::Sender<T>,
) -> impl Fn() -> (usize, usize) + Send + Sync + 'static {
    let weak = tx.downgrade();
    let capacity = tx.capacity().unwrap_or(0);
    move || (weak.upgrade().map_or(0, |s| s.len()), capacity)
}
