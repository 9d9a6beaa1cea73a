//! `ganymede run`: build every pipeline, serve metrics, run until the
//! sources end or a signal asks to stop.

use super::load_and_build;
use crate::observe::{Health, Metrics, http};
use crate::topology::{BuildOptions, Registry, Signals};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of one `run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub paths: Vec<PathBuf>,
    pub data_dir: PathBuf,
    pub once: bool,
    /// Where `/metrics`, `/health`, `/ready` are served; `None` disables it.
    pub http: Option<SocketAddr>,
    /// Longest wait for in-flight events after a stop signal.
    pub shutdown_timeout: Duration,
}

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Everything read was delivered and committed.
    Clean,
    /// Invalid pipeline files: nothing started.
    InvalidConfig,
    /// A pipeline failed.
    Failed,
    /// The shutdown deadline passed with events in flight (left
    /// uncommitted, so they are read again on the next start).
    TimedOut,
    /// A second signal forced an immediate exit.
    Forced,
}

impl RunEnd {
    pub fn exit_code(self) -> i32 {
        match self {
            RunEnd::Clean => 0,
            RunEnd::InvalidConfig | RunEnd::Failed => 1,
            RunEnd::TimedOut => 2,
            RunEnd::Forced => 130,
        }
    }
}

/// Runs the pipelines to their end.
pub async fn run(opts: RunOptions, registry: &Registry) -> RunEnd {
    let metrics = Metrics::new();
    let health = Health::new();
    let build = BuildOptions {
        data_dir: opts.data_dir.clone(),
        once: opts.once,
        metrics: metrics.clone(),
        health: health.clone(),
    };
    let pipelines = match load_and_build(&opts.paths, registry, &build) {
        Ok((_, p)) => p,
        Err(errors) => {
            for e in errors.iter() {
                tracing::error!(error = %e, "invalid pipeline file");
                eprintln!("error: {e}");
            }
            eprintln!(
                "{} error{} found; nothing was started",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            return RunEnd::InvalidConfig;
        }
    };

    let signals = Signals::default();
    let http_stop = tokio_util::sync::CancellationToken::new();
    if let Some(addr) = opts.http {
        match http::serve(addr, metrics.clone(), health.clone(), http_stop.clone()).await {
            Ok(bound) => tracing::info!(address = %bound, "serving /metrics, /health and /ready"),
            Err(e) => {
                eprintln!(
                    "error: cannot serve metrics on {addr}: {e} (choose another address with --http, or --http off)"
                );
                return RunEnd::Failed;
            }
        }
    }

    let running: Vec<_> = pipelines.into_iter().map(|p| p.start(&signals)).collect();
    let names: Vec<String> = running.iter().map(|r| r.name.clone()).collect();
    let all_done = async {
        let mut ok = true;
        for r in running {
            let name = r.name.clone();
            if let Err(e) = r.wait().await {
                tracing::error!(pipeline = %name, error = %format!("{e:#}"), "pipeline failed");
                ok = false;
            }
        }
        ok
    };
    tokio::pin!(all_done);

    let end = tokio::select! {
        ok = &mut all_done => if ok { RunEnd::Clean } else { RunEnd::Failed },
        sig = stop_signal() => {
            tracing::info!(signal = sig, pipelines = ?names, timeout = ?opts.shutdown_timeout,
                "stopping: inputs stop, in-flight events drain");
            signals.stop_inputs.cancel();
            tokio::select! {
                ok = &mut all_done => if ok { RunEnd::Clean } else { RunEnd::Failed },
                _ = tokio::time::sleep(opts.shutdown_timeout) => {
                    tracing::error!(timeout = ?opts.shutdown_timeout,
                        "shutdown deadline passed; undelivered events stay uncommitted and will be read again");
                    signals.abort.cancel();
                    RunEnd::TimedOut
                }
                sig = stop_signal() => {
                    tracing::warn!(signal = sig, "second signal: exiting now; undelivered events stay uncommitted");
                    signals.abort.cancel();
                    RunEnd::Forced
                }
            }
        }
    };
    http_stop.cancel();
    end
}

/// Waits for SIGINT or SIGTERM; returns its name.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return "SIGINT";
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
