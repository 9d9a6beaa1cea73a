//! What `/health` and `/ready` report.
//!
//! Liveness (`/health`) is true while no pipeline has failed: Kubernetes
//! restarts a process whose pipelines died. Readiness (`/ready`) also waits
//! for every pipeline to have started and for every output to be able to
//! deliver: an aggregator whose Elasticsearch refuses its credentials should
//! not receive more traffic from a load balancer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The life stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineState {
    Starting,
    Running,
    Finished,
    Failed(String),
}

#[derive(Debug, Default)]
struct State {
    pipelines: BTreeMap<String, PipelineState>,
    /// (pipeline, component) → why it cannot deliver.
    failing: BTreeMap<(String, String), String>,
}

/// Shared health state of the process.
#[derive(Debug, Clone, Default)]
pub struct Health {
    state: Arc<Mutex<State>>,
}

/// A report for one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub ok: bool,
    /// JSON body.
    pub body: String,
}

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_pipeline(&self, pipeline: &str, state: PipelineState) {
        self.lock().pipelines.insert(pipeline.to_owned(), state);
    }

    /// A handle for one component to report its ability to deliver.
    pub fn component(&self, pipeline: &str, component: &str) -> ComponentHealth {
        ComponentHealth {
            health: self.clone(),
            key: (pipeline.to_owned(), component.to_owned()),
        }
    }

    /// Liveness: no pipeline failed.
    pub fn liveness(&self) -> Report {
        let s = self.lock();
        let failed: Vec<String> = s
            .pipelines
            .iter()
            .filter_map(|(p, st)| match st {
                PipelineState::Failed(why) => Some(format!("pipeline {p} failed: {why}")),
                _ => None,
            })
            .collect();
        report(failed.is_empty(), &s, &failed)
    }

    /// Readiness: every pipeline started and no output failing.
    pub fn readiness(&self) -> Report {
        let s = self.lock();
        let mut reasons: Vec<String> = Vec::new();
        if s.pipelines.is_empty() {
            reasons.push("no pipeline is running yet".to_owned());
        }
        for (p, st) in &s.pipelines {
            match st {
                PipelineState::Starting => reasons.push(format!("pipeline {p} is starting")),
                PipelineState::Failed(why) => reasons.push(format!("pipeline {p} failed: {why}")),
                PipelineState::Running | PipelineState::Finished => {}
            }
        }
        for ((p, c), why) in &s.failing {
            reasons.push(format!("{p}/{c}: {why}"));
        }
        report(reasons.is_empty(), &s, &reasons)
    }
}

fn report(ok: bool, s: &State, reasons: &[String]) -> Report {
    let pipelines: serde_json::Map<String, serde_json::Value> = s
        .pipelines
        .iter()
        .map(|(p, st)| {
            let text = match st {
                PipelineState::Starting => "starting",
                PipelineState::Running => "running",
                PipelineState::Finished => "finished",
                PipelineState::Failed(_) => "failed",
            };
            (p.clone(), serde_json::Value::from(text))
        })
        .collect();
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "unavailable" },
        "pipelines": pipelines,
        "reasons": reasons,
    });
    Report {
        ok,
        body: body.to_string(),
    }
}

/// One component's voice in readiness.
#[derive(Debug, Clone)]
pub struct ComponentHealth {
    health: Health,
    key: (String, String),
}

impl ComponentHealth {
    /// The component cannot deliver, and says why.
    pub fn failing(&self, why: impl Into<String>) {
        self.health
            .lock()
            .failing
            .insert(self.key.clone(), why.into());
    }

    /// The component delivers again.
    pub fn healthy(&self) {
        self.health.lock().failing.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_pipelines_and_outputs() {
        let h = Health::new();
        assert!(!h.readiness().ok);
        h.set_pipeline("p", PipelineState::Starting);
        assert!(!h.readiness().ok);
        assert!(h.liveness().ok);
        h.set_pipeline("p", PipelineState::Running);
        assert!(h.readiness().ok);
        let c = h.component("p", "es");
        c.failing("401 Unauthorized");
        let r = h.readiness();
        assert!(!r.ok);
        assert!(r.body.contains("401 Unauthorized"), "{}", r.body);
        c.healthy();
        assert!(h.readiness().ok);
        h.set_pipeline("p", PipelineState::Failed("boom".into()));
        assert!(!h.liveness().ok);
    }
}
