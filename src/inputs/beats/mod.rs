//! `beats`: the Lumberjack v2 (and v1) server that Filebeat's Logstash
//! output, ganymede shippers and other beats send to.
//!
//! ```yaml
//! inputs:
//!   - beats:
//!       listen: "0.0.0.0:5044"
//!       ssl:                                   # optional
//!         certificate: /etc/ganymede/server.pem
//!         key: /etc/ganymede/server.key
//!         certificate_authorities: [/etc/ganymede/ca.pem]
//!         client_authentication: required     # none | optional | required
//! ```
//!
//! A window is ACKed (with its highest sequence number) only once every
//! event of it has a resolved receipt: delivered, or rejected and
//! dead-lettered. Windows are ACKed in order while the client pipelines
//! the next ones, and while a window waits an ACK(0) keep-alive goes out
//! every `keepalive`, so a slow Elasticsearch never trips the client's
//! timeout. A broken stream (garbage, wrong version, bad zlib, a length
//! over the limits) closes only its connection, with a logged reason and
//! the metric `ganymede_beats_connections_closed_total{reason}`.

mod connection;

use crate::config::{ByteSize, ComponentConfig, ConfigErrors, Span};
use crate::lumberjack::Limits;
use crate::tls::ServerTls;
use crate::topology::{BoxFuture, BuildContext, Input, InputContext};
use connection::{ConnectionSettings, Counters};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Options of the `beats` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeatsConfig {
    /// Address to listen on (default `0.0.0.0:5044`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Connections served at once; more are closed at once, with a log line.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Close a connection that sends nothing for this long while none of
    /// its windows is waiting for delivery.
    #[serde(default = "default_idle")]
    pub idle_timeout: Span,
    /// ACK(0) interval while a window waits for delivery.
    #[serde(default = "default_keepalive")]
    pub keepalive: Span,
    #[serde(default = "default_handshake")]
    pub handshake_timeout: Span,
    #[serde(default = "default_max_window")]
    pub max_window: u32,
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: ByteSize,
    #[serde(default = "default_max_inflated")]
    pub max_inflated_bytes: ByteSize,
    /// Windows read ahead of their ACK per connection (pipelining).
    #[serde(default = "default_pending_windows")]
    pub max_pending_windows: usize,
    #[serde(default)]
    pub ssl: Option<ServerTls>,
}

fn default_listen() -> String {
    "0.0.0.0:5044".to_owned()
}
fn default_max_connections() -> usize {
    1000
}
fn default_idle() -> Span {
    Span::secs(60)
}
fn default_keepalive() -> Span {
    Span::secs(3)
}
fn default_handshake() -> Span {
    Span::secs(10)
}
fn default_max_window() -> u32 {
    10_000
}
fn default_max_frame() -> ByteSize {
    ByteSize(64 * 1024 * 1024)
}
fn default_max_inflated() -> ByteSize {
    ByteSize(256 * 1024 * 1024)
}
fn default_pending_windows() -> usize {
    8
}

pub fn build(c: &ComponentConfig, ctx: &BuildContext) -> Result<Box<dyn Input>, ConfigErrors> {
    let config: BeatsConfig = c.parse_options()?;
    let listen: SocketAddr = config.listen.parse().map_err(|e| {
        c.option_error(
            "listen",
            format!("`{}` is not HOST:PORT: {e}", config.listen),
        )
    })?;
    let tls = match &config.ssl {
        Some(s) => Some(s.server_config().map_err(|e| c.option_error("ssl", e))?),
        None => None,
    };
    if config.keepalive.0.is_zero() {
        return Err(c.option_error("keepalive", "must be more than 0").into());
    }
    let labels = [
        ("pipeline", ctx.pipeline.as_str()),
        ("component", c.id.as_str()),
    ];
    let counters = Counters::new(&ctx.metrics, &labels);
    Ok(Box::new(BeatsInput {
        listen,
        tls: tls.map(tokio_rustls::TlsAcceptor::from),
        settings: ConnectionSettings {
            limits: Limits {
                max_frame_bytes: config.max_frame_bytes.0 as usize,
                max_inflated_bytes: config.max_inflated_bytes.0 as usize,
                max_window: config.max_window,
                max_nesting: 4,
            },
            idle_timeout: config.idle_timeout.0,
            keepalive: config.keepalive.0,
            handshake_timeout: config.handshake_timeout.0,
            max_pending_windows: config.max_pending_windows.max(1),
        },
        max_connections: config.max_connections.max(1),
        counters,
    }))
}

/// The listening server.
pub struct BeatsInput {
    listen: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    settings: ConnectionSettings,
    max_connections: usize,
    counters: Counters,
}

impl Input for BeatsInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async move {
            let listener = TcpListener::bind(self.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", self.listen))?;
            let address = listener.local_addr()?;
            tracing::info!(address = %address, tls = self.tls.is_some(), "beats input listening");
            let ctx = Arc::new(ctx);
            let slots = Arc::new(Semaphore::new(self.max_connections));
            let mut tasks = tokio::task::JoinSet::new();
            loop {
                let (stream, peer) = tokio::select! {
                    _ = ctx.shutdown.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    self.counters.closed("max_connections");
                    tracing::warn!(peer = %peer, max_connections = self.max_connections,
                        "too many connections; closing this one (raise max_connections?)");
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                self.counters.accepted();
                let ctx = ctx.clone();
                let tls = self.tls.clone();
                let settings = self.settings;
                let counters = self.counters.clone();
                tasks.spawn(async move {
                    connection::serve(stream, peer, tls, settings, ctx, counters).await;
                    drop(permit);
                });
                while tasks.try_join_next().is_some() {}
            }
            drop(listener);
            // Let open connections finish their windows: ACK what was read.
            while tasks.join_next().await.is_some() {}
            Ok(())
        })
    }
}
