//! `beats`: sends events to a Lumberjack v2 server (ganymede's beats
//! input or Logstash), a drop-in for Filebeat's `output.logstash`.
//!
//! ```yaml
//! outputs:
//!   - beats:
//!       hosts: ["aggregator-1:5044", "aggregator-2:5044"]
//!       loadbalance: false        # true: round robin over all hosts; false: failover
//!       bulk_max_size: 2048       # events per window
//!       compression_level: 3      # zlib; 0 = plain frames
//!       pipelining: 2             # windows in flight per connection
//!       timeout: 30s              # reset by every ACK, ACK(0) keep-alives included
//!       backoff: { init: 1s, max: 60s }
//!       ssl: { certificate_authorities: [/etc/ganymede/ca.pem] }
//! ```
//!
//! A batch's receipt resolves when the server has ACKed all of its events.
//! A partial ACK (seq k of n) marks events 1..k done: after a failure only
//! the rest is sent again. Windows wait, and intake stops, while no server
//! is reachable.

mod client;

use crate::config::{ComponentConfig, ConfigErrors, Span};
use crate::tls::ClientTls;
use crate::topology::{BoxFuture, BuildContext, Output, OutputContext};
use client::{Settings, Window};
use serde::Deserialize;
use std::sync::Arc;

/// `backoff:` — reconnect delays.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    #[serde(default = "default_backoff_init")]
    pub init: Span,
    #[serde(default = "default_backoff_max")]
    pub max: Span,
}

fn default_backoff_init() -> Span {
    Span::secs(1)
}
fn default_backoff_max() -> Span {
    Span::secs(60)
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            init: default_backoff_init(),
            max: default_backoff_max(),
        }
    }
}

/// Options of the `beats` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeatsOutputConfig {
    pub hosts: Vec<String>,
    #[serde(default)]
    pub loadbalance: bool,
    #[serde(default = "default_bulk")]
    pub bulk_max_size: usize,
    #[serde(default = "default_compression")]
    pub compression_level: u32,
    #[serde(default = "default_pipelining")]
    pub pipelining: usize,
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    #[serde(default)]
    pub backoff: Backoff,
    #[serde(default)]
    pub ssl: Option<ClientTls>,
}

fn default_bulk() -> usize {
    2048
}
fn default_compression() -> u32 {
    3
}
fn default_pipelining() -> usize {
    2
}
fn default_timeout() -> Span {
    Span::secs(30)
}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Output>, ConfigErrors> {
    let config: BeatsOutputConfig = c.parse_options()?;
    if config.hosts.is_empty() {
        return Err(c
            .option_error("hosts", "give at least one HOST:PORT")
            .into());
    }
    let mut hosts = Vec::new();
    for h in &config.hosts {
        let (host, port) = match h.rsplit_once(':') {
            Some((host, port)) => match port.parse::<u16>() {
                Ok(p) => (host.trim_matches(['[', ']']).to_owned(), p),
                Err(_) => {
                    return Err(c
                        .option_error("hosts", format!("`{h}`: the port is not a number"))
                        .into());
                }
            },
            None => (h.clone(), 5044),
        };
        hosts.push((host, port));
    }
    if config.compression_level > 9 {
        return Err(c.option_error("compression_level", "must be 0 to 9").into());
    }
    let tls = match &config.ssl {
        Some(s) => Some(s.client_config().map_err(|e| c.option_error("ssl", e))?),
        None => None,
    };
    Ok(Box::new(BeatsOutput {
        settings: Arc::new(Settings {
            hosts,
            loadbalance: config.loadbalance,
            bulk_max_size: config.bulk_max_size.max(1),
            compression_level: config.compression_level,
            pipelining: config.pipelining.max(1),
            timeout: config.timeout.0,
            backoff_init: config.backoff.init.0,
            backoff_max: config.backoff.max.0.max(config.backoff.init.0),
            tls: tls.map(tokio_rustls::TlsConnector::from),
            server_name: config.ssl.as_ref().and_then(|s| s.server_name.clone()),
        }),
    }))
}

/// Sends windows to beats servers.
pub struct BeatsOutput {
    settings: Arc<Settings>,
}

impl Output for BeatsOutput {
    fn run(self: Box<Self>, ctx: OutputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async move {
            let settings = self.settings;
            let (tx, rx) =
                flume::bounded::<Window>(settings.pipelining * settings.hosts.len().max(1));
            let workers: Vec<_> = if settings.loadbalance {
                (0..settings.hosts.len())
                    .map(|i| {
                        tokio::spawn(client::worker(
                            settings.clone(),
                            vec![i],
                            rx.clone(),
                            ctx.health.clone(),
                            ctx.abort.clone(),
                        ))
                    })
                    .collect()
            } else {
                let all = (0..settings.hosts.len()).collect();
                vec![tokio::spawn(client::worker(
                    settings.clone(),
                    all,
                    rx.clone(),
                    ctx.health.clone(),
                    ctx.abort.clone(),
                ))]
            };
            drop(rx);
            while let Some(batch) = ctx.recv().await {
                let n = batch.len();
                for w in client::windows(batch, settings.bulk_max_size, &ctx.metrics) {
                    if tx.send_async(w).await.is_err() {
                        anyhow::bail!("every beats connection worker stopped");
                    }
                }
                let _ = n;
            }
            drop(tx);
            for w in workers {
                w.await?;
            }
            Ok(())
        })
    }
}
