//! `console`: writes events to standard output.
//!
//! ```yaml
//! outputs:
//!   - console: { codec: json }   # one JSON object per line (default)
//!   - console: { codec: pretty } # indented JSON, for reading
//! ```

use crate::config::{ComponentConfig, ConfigErrors};
use crate::delivery::Outcome;
use crate::event::Event;
use crate::topology::{BoxFuture, BuildContext, Output, OutputContext};
use serde::Deserialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// How events are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleCodec {
    #[default]
    Json,
    Pretty,
}

/// Options of the `console` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    #[serde(default)]
    pub codec: ConsoleCodec,
}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Output>, ConfigErrors> {
    let config: ConsoleConfig = c.parse_options()?;
    Ok(Box::new(ConsoleOutput {
        codec: config.codec,
        writer: None,
    }))
}

/// Prints events.
pub struct ConsoleOutput {
    codec: ConsoleCodec,
    writer: Option<Box<dyn AsyncWrite + Send + Unpin>>,
}

impl ConsoleOutput {
    /// An output writing to any writer (for tests).
    pub fn to_writer(codec: ConsoleCodec, w: impl AsyncWrite + Send + Unpin + 'static) -> Self {
        ConsoleOutput {
            codec,
            writer: Some(Box::new(w)),
        }
    }
}

/// Appends one event in the given codec, newline-terminated.
pub fn encode(event: &Event, codec: ConsoleCodec, out: &mut Vec<u8>) {
    match codec {
        ConsoleCodec::Json => event.write_json(out),
        ConsoleCodec::Pretty => {
            let value = crate::event::Value::Object(event.fields().clone());
            // Serialising a Value cannot fail.
            let _ = serde_json::to_writer_pretty(&mut *out, &value);
        }
    }
    out.push(b'\n');
}

impl Output for ConsoleOutput {
    fn run(self: Box<Self>, ctx: OutputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async move {
            let mut writer = self.writer.unwrap_or_else(|| Box::new(tokio::io::stdout()));
            let mut buf = Vec::with_capacity(64 * 1024);
            while let Some(batch) = ctx.recv().await {
                buf.clear();
                for e in &batch.events {
                    encode(e, self.codec, &mut buf);
                }
                let written = async {
                    writer.write_all(&buf).await?;
                    writer.flush().await
                };
                match written.await {
                    Ok(()) => {
                        ctx.metrics.add_out(batch.len());
                        batch.receipt.resolve(Outcome::Delivered);
                    }
                    Err(e) => {
                        // Standard output is gone (closed pipe): nothing
                        // more can be delivered; leave the rest uncommitted.
                        ctx.health
                            .failing(format!("cannot write to standard output: {e}"));
                        batch.receipt.abandon();
                        return Err(anyhow::anyhow!("cannot write to standard output: {e}"));
                    }
                }
            }
            Ok(())
        })
    }
}
