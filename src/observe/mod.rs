//! Observability of ganymede itself: Prometheus metrics, health and
//! readiness probes, and the process's own structured logs.

pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;

pub use health::{ComponentHealth, Health, PipelineState};
pub use metrics::{ComponentMetrics, Histogram, Metrics};
