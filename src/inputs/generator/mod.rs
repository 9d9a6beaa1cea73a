//! `generator`: emits given lines, or the lines of a file, a number of
//! times, then ends. For tests, demos and benchmarks.
//!
//! ```yaml
//! inputs:
//!   - generator:
//!       lines: ["hello", "world"]   # or: file: fixtures/sample.log
//!       count: 1000                 # rounds over the lines; 0 = forever
//!       codec: lines                # or json
//! ```

use crate::config::{ComponentConfig, ConfigErrors};
use crate::delivery::Outstanding;
use crate::inputs::{Codec, decode_line};
use crate::topology::{Batch, BoxFuture, BuildContext, Input, InputContext};
use serde::Deserialize;
use std::path::PathBuf;

/// Options of the `generator` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    #[serde(default)]
    pub lines: Vec<String>,
    /// A file whose lines are used instead of `lines`.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// How many times all lines are emitted; 0 means without end.
    #[serde(default = "one")]
    pub count: u64,
    #[serde(default)]
    pub codec: Codec,
}

fn one() -> u64 {
    1
}

/// Builds the input; reads `file` now so a missing file fails `check`.
pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Input>, ConfigErrors> {
    let config: GeneratorConfig = c.parse_options()?;
    let lines = match &config.file {
        Some(path) => {
            if !config.lines.is_empty() {
                return Err(c
                    .option_error("file", "give either `lines` or `file`, not both")
                    .into());
            }
            let text = std::fs::read_to_string(path).map_err(|e| {
                c.option_error("file", format!("cannot read `{}`: {e}", path.display()))
            })?;
            text.lines().map(str::to_owned).collect::<Vec<_>>()
        }
        None => config.lines.clone(),
    };
    if lines.is_empty() {
        return Err(c
            .error("nothing to generate: give `lines` or a non-empty `file`")
            .into());
    }
    Ok(Box::new(GeneratorInput {
        lines,
        count: config.count,
        codec: config.codec,
    }))
}

/// Emits its lines `count` times.
pub struct GeneratorInput {
    pub lines: Vec<String>,
    pub count: u64,
    pub codec: Codec,
}

impl Input for GeneratorInput {
    fn run(self: Box<Self>, mut ctx: InputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async move {
            let pending = Outstanding::new();
            let mut events = Vec::with_capacity(ctx.batch_size);
            let mut round = 0u64;
            'outer: while self.count == 0 || round < self.count {
                round += 1;
                for line in &self.lines {
                    events.push(decode_line(line, self.codec));
                    if events.len() >= ctx.batch_size {
                        if ctx.shutdown.is_cancelled() {
                            break 'outer;
                        }
                        let batch =
                            std::mem::replace(&mut events, Vec::with_capacity(ctx.batch_size));
                        ctx.send(Batch::new(batch, ctx.receipt(pending.track())))
                            .await?;
                    }
                }
            }
            if !events.is_empty() && !ctx.shutdown.is_cancelled() {
                ctx.send(Batch::new(events, ctx.receipt(pending.track())))
                    .await?;
            }
            ctx.close();
            pending.idle().await;
            Ok(())
        })
    }
}
