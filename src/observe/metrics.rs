//! Metrics that components update with plain atomics and that `/metrics`
//! renders in the Prometheus text format.
//!
//! Components get an `Arc<ComponentMetrics>` when they are built and bump
//! its counters once per batch, never per event through a lock. Gauges that
//! are cheaper to read than to maintain (channel fill) are sampled by
//! closures at scrape time.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counters of one component in one pipeline.
#[derive(Debug, Default)]
pub struct ComponentMetrics {
    pub events_in: AtomicU64,
    pub events_out: AtomicU64,
    /// Dropped on purpose (a `drop` filter, an output's `if:`).
    pub events_dropped: AtomicU64,
    /// Could not be processed: parse failures tagged, rejected by outputs.
    pub events_failed: AtomicU64,
    pub batches: AtomicU64,
}

impl ComponentMetrics {
    pub fn add_in(&self, n: usize) {
        self.events_in.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn add_out(&self, n: usize) {
        self.events_out.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn add_dropped(&self, n: usize) {
        self.events_dropped.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn add_failed(&self, n: usize) {
        self.events_failed.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub fn add_batch(&self) {
        self.batches.fetch_add(1, Ordering::Relaxed);
    }
}

/// Upper bounds, in seconds, of the receipt latency buckets.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A fixed-bucket histogram of durations.
#[derive(Debug)]
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: LATENCY_BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

type Sampler = Box<dyn Fn() -> (usize, usize) + Send + Sync>;

struct ComponentEntry {
    pipeline: String,
    kind: &'static str,
    plugin: String,
    id: String,
    metrics: Arc<ComponentMetrics>,
}

struct ChannelEntry {
    pipeline: String,
    name: String,
    sample: Sampler,
}

/// Named extra counters (e.g. `ganymede_beats_connections_closed_total`).
struct CounterEntry {
    name: String,
    help: String,
    labels: Vec<(String, String)>,
    value: Arc<AtomicU64>,
}

/// Every metric of the process.
#[derive(Default)]
pub struct Metrics {
    components: Mutex<Vec<ComponentEntry>>,
    channels: Mutex<Vec<ChannelEntry>>,
    latencies: Mutex<Vec<(String, Arc<Histogram>)>>,
    counters: Mutex<Vec<CounterEntry>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Metrics::default())
    }

    /// Registers a component and returns its counters.
    pub fn component(
        &self,
        pipeline: &str,
        kind: &'static str,
        plugin: &str,
        id: &str,
    ) -> Arc<ComponentMetrics> {
        let metrics = Arc::new(ComponentMetrics::default());
        lock(&self.components).push(ComponentEntry {
            pipeline: pipeline.to_owned(),
            kind,
            plugin: plugin.to_owned(),
            id: id.to_owned(),
            metrics: metrics.clone(),
        });
        metrics
    }

    /// Registers a channel whose (length, capacity) `sample` returns.
    pub fn channel(
        &self,
        pipeline: &str,
        name: &str,
        sample: impl Fn() -> (usize, usize) + Send + Sync + 'static,
    ) {
        lock(&self.channels).push(ChannelEntry {
            pipeline: pipeline.to_owned(),
            name: name.to_owned(),
            sample: Box::new(sample),
        });
    }

    /// The receipt latency histogram of a pipeline.
    pub fn receipt_latency(&self, pipeline: &str) -> Arc<Histogram> {
        let mut l = lock(&self.latencies);
        if let Some((_, h)) = l.iter().find(|(p, _)| p == pipeline) {
            return h.clone();
        }
        let h = Arc::new(Histogram::default());
        l.push((pipeline.to_owned(), h.clone()));
        h
    }

    /// A free-form counter, for component-specific events.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Arc<AtomicU64> {
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut c = lock(&self.counters);
        if let Some(e) = c.iter().find(|e| e.name == name && e.labels == labels) {
            return e.value.clone();
        }
        let value = Arc::new(AtomicU64::new(0));
        c.push(CounterEntry {
            name: name.to_owned(),
            help: help.to_owned(),
            labels,
            value: value.clone(),
        });
        value
    }

    /// Forgets every component, channel and latency of `pipeline`.
    pub fn remove_pipeline(&self, pipeline: &str) {
        lock(&self.components).retain(|c| c.pipeline != pipeline);
        lock(&self.channels).retain(|c| c.pipeline != pipeline);
        lock(&self.latencies).retain(|(p, _)| p != pipeline);
    }

    /// Renders everything in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP ganymede_build_info Build information; the value is always 1."
        );
        let _ = writeln!(out, "# TYPE ganymede_build_info gauge");
        let _ = writeln!(
            out,
            "ganymede_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );

        let components = lock(&self.components);
        type Get = fn(&ComponentMetrics) -> u64;
        let series: [(&str, &str, Get); 5] = [
            (
                "ganymede_events_in_total",
                "Events a component received.",
                |m| m.events_in.load(Ordering::Relaxed),
            ),
            (
                "ganymede_events_out_total",
                "Events a component passed on or delivered.",
                |m| m.events_out.load(Ordering::Relaxed),
            ),
            (
                "ganymede_events_dropped_total",
                "Events dropped on purpose.",
                |m| m.events_dropped.load(Ordering::Relaxed),
            ),
            (
                "ganymede_events_failed_total",
                "Events that failed (parse failures, rejections).",
                |m| m.events_failed.load(Ordering::Relaxed),
            ),
            (
                "ganymede_batches_total",
                "Batches a component handled.",
                |m| m.batches.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, get) in series {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for c in components.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{pipeline=\"{}\",kind=\"{}\",plugin=\"{}\",component=\"{}\"}} {}",
                    escape(&c.pipeline),
                    c.kind,
                    escape(&c.plugin),
                    escape(&c.id),
                    get(&c.metrics)
                );
            }
        }
        drop(components);

        let channels = lock(&self.channels);
        let _ = writeln!(
            out,
            "# HELP ganymede_channel_events Batches waiting in a channel between stages."
        );
        let _ = writeln!(out, "# TYPE ganymede_channel_events gauge");
        for c in channels.iter() {
            let (len, _) = (c.sample)();
            let _ = writeln!(
                out,
                "ganymede_channel_events{{pipeline=\"{}\",channel=\"{}\"}} {len}",
                escape(&c.pipeline),
                escape(&c.name)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ganymede_channel_capacity Batches a channel between stages can hold."
        );
        let _ = writeln!(out, "# TYPE ganymede_channel_capacity gauge");
        for c in channels.iter() {
            let (_, cap) = (c.sample)();
            let _ = writeln!(
                out,
                "ganymede_channel_capacity{{pipeline=\"{}\",channel=\"{}\"}} {cap}",
                escape(&c.pipeline),
                escape(&c.name)
            );
        }
        drop(channels);

        let latencies = lock(&self.latencies);
        let name = "ganymede_receipt_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a batch being read to its receipt resolving."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (pipeline, h) in latencies.iter() {
            let p = escape(pipeline);
            let mut cumulative = 0;
            for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&h.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "{name}_bucket{{pipeline=\"{p}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{pipeline=\"{p}\",le=\"+Inf\"}} {count}");
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{name}_sum{{pipeline=\"{p}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{pipeline=\"{p}\"}} {count}");
        }
        drop(latencies);

        let counters = lock(&self.counters);
        let mut seen: Vec<&str> = Vec::new();
        for c in counters.iter() {
            if !seen.contains(&c.name.as_str()) {
                seen.push(&c.name);
                let _ = writeln!(out, "# HELP {} {}", c.name, c.help);
                let _ = writeln!(out, "# TYPE {} counter", c.name);
            }
            let labels = c
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect::<Vec<_>>()
                .join(",");
            let _ = writeln!(
                out,
                "{}{{{labels}}} {}",
                c.name,
                c.value.load(Ordering::Relaxed)
            );
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_components_channels_and_latency() {
        let m = Metrics::new();
        let c = m.component("p1", "filter", "mutate", "m-0");
        c.add_in(10);
        c.add_out(7);
        c.add_dropped(3);
        m.channel("p1", "filters", || (2, 4));
        m.receipt_latency("p1").observe(Duration::from_millis(30));
        let text = m.render();
        assert!(text.contains(
            "ganymede_events_in_total{pipeline=\"p1\",kind=\"filter\",plugin=\"mutate\",component=\"m-0\"} 10"
        ));
        assert!(text.contains("ganymede_events_dropped_total{pipeline=\"p1\",kind=\"filter\",plugin=\"mutate\",component=\"m-0\"} 3"));
        assert!(text.contains("ganymede_channel_events{pipeline=\"p1\",channel=\"filters\"} 2"));
        assert!(
            text.contains(
                "ganymede_receipt_latency_seconds_bucket{pipeline=\"p1\",le=\"0.025\"} 0"
            )
        );
        assert!(
            text.contains("ganymede_receipt_latency_seconds_bucket{pipeline=\"p1\",le=\"0.05\"} 1")
        );
        assert!(text.contains("ganymede_receipt_latency_seconds_count{pipeline=\"p1\"} 1"));
        assert!(text.contains("ganymede_build_info{version="));
    }
}
