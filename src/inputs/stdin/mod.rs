//! `stdin`: one event per line of standard input; the pipeline ends at EOF.
//!
//! ```yaml
//! inputs:
//!   - stdin: { codec: json }   # or `lines` (default)
//! ```
//!
//! Lines are batched up to the pipeline's `batch_size`, and a partial batch
//! is sent after `linger` so that interactive use sees events at once.

use crate::config::{ComponentConfig, ConfigErrors, Span};
use crate::delivery::Outstanding;
use crate::inputs::{Codec, decode_line};
use crate::topology::{Batch, BoxFuture, BuildContext, Input, InputContext};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Options of the `stdin` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {
    #[serde(default)]
    pub codec: Codec,
    /// Longest wait before a partial batch is sent (default 200ms).
    #[serde(default = "default_linger")]
    pub linger: Span,
}

fn default_linger() -> Span {
    Span::millis(200)
}

/// Builds the input from its options.
pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Input>, ConfigErrors> {
    let config: StdinConfig = c.parse_options()?;
    Ok(Box::new(StdinInput {
        config,
        reader: None,
    }))
}

/// Reads lines from standard input (or any reader, for tests).
pub struct StdinInput {
    config: StdinConfig,
    reader: Option<Box<dyn AsyncRead + Send + Unpin>>,
}

impl StdinInput {
    /// An input over any reader.
    pub fn from_reader(
        config: StdinConfig,
        reader: impl AsyncRead + Send + Unpin + 'static,
    ) -> Self {
        StdinInput {
            config,
            reader: Some(Box::new(reader)),
        }
    }
}

impl Input for StdinInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async move {
            let reader = self.reader.unwrap_or_else(|| Box::new(tokio::io::stdin()));
            read_lines(reader, self.config, ctx).await
        })
    }
}

async fn read_lines(
    reader: impl AsyncRead + Unpin,
    config: StdinConfig,
    mut ctx: InputContext,
) -> anyhow::Result<()> {
    let mut lines = BufReader::with_capacity(256 * 1024, reader);
    let mut buf = Vec::with_capacity(1024);
    let mut events = Vec::with_capacity(ctx.batch_size);
    let receipts = Outstanding::new();
    let linger = config.linger.0;
    loop {
        buf.clear();
        let read = if events.is_empty() {
            tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                r = lines.read_until(b'\n', &mut buf) => r?,
            }
        } else {
            tokio::select! {
                _ = ctx.shutdown.cancelled() => break,
                r = tokio::time::timeout(linger, lines.read_until(b'\n', &mut buf)) => match r {
                    Ok(r) => r?,
                    Err(_) => {
                        flush(&ctx, &mut events, &receipts).await?;
                        continue;
                    }
                },
            }
        };
        if read == 0 {
            break;
        }
        let line = trim_line_end(&buf);
        events.push(decode_line(&String::from_utf8_lossy(line), config.codec));
        if events.len() >= ctx.batch_size {
            flush(&ctx, &mut events, &receipts).await?;
        }
    }
    flush(&ctx, &mut events, &receipts).await?;
    ctx.close();
    // Wait for delivery so that `ganymede run` exits only after the
    // outputs accepted everything read.
    receipts.idle().await;
    Ok(())
}

async fn flush(
    ctx: &InputContext,
    events: &mut Vec<crate::event::Event>,
    receipts: &Outstanding,
) -> anyhow::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let batch = Batch::new(std::mem::take(events), ctx.receipt(receipts.track()));
    ctx.send(batch).await?;
    Ok(())
}

/// Strips `\n` and a preceding `\r`.
pub fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{FieldPath, Value};

    #[tokio::test]
    async fn reads_lines_until_eof() {
        let (ctx, rx) = InputContext::detached(16, 2);
        let input = StdinInput::from_reader(
            StdinConfig {
                codec: Codec::Lines,
                linger: Span::millis(50),
            },
            &b"one\r\ntwo\nthree"[..],
        );
        let consumer = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Ok(b) = rx.recv_async().await {
                for e in &b.events {
                    got.push(e.get(&FieldPath::key("message")).cloned());
                }
                b.receipt.resolve(crate::delivery::Outcome::Delivered);
            }
            got
        });
        Box::new(input).run(ctx).await.unwrap();
        let got = consumer.await.unwrap();
        assert_eq!(
            got,
            vec![
                Some(Value::from("one")),
                Some(Value::from("two")),
                Some(Value::from("three"))
            ]
        );
    }
}
