//! `null`: accepts and discards every event (counted in metrics). For
//! benchmarks and for pipelines under test.
//!
//! ```yaml
//! outputs:
//!   - null: {}
//! ```

use crate::config::{ComponentConfig, ConfigErrors};
use crate::delivery::Outcome;
use crate::topology::{BoxFuture, BuildContext, Output, OutputContext};
use serde::Deserialize;

/// The `null` output takes no options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NullConfig {}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Output>, ConfigErrors> {
    let _: NullConfig = c.parse_options()?;
    Ok(Box::new(NullOutput))
}

/// Discards events.
pub struct NullOutput;

impl Output for NullOutput {
    fn run(self: Box<Self>, ctx: OutputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async move {
            while let Some(batch) = ctx.recv().await {
                ctx.metrics.add_out(batch.len());
                batch.receipt.resolve(Outcome::Delivered);
            }
            Ok(())
        })
    }
}
