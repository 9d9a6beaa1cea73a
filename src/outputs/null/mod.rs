//! `null`: accepts and discards every event (counted in metrics). For
//! benchmarks and for pipelines under test.
//!
//! ```yaml
//! outputs:
//!   - null: {}
//! ```

use crate::config::{ComponentConfig, ConfigErrors};
use crate::delivery::Outcome;
use crate::event::Event;
use crate::topology::{BoxFuture, BuildContext, Output, OutputContext, Prepare};
use serde::Deserialize;
use std::any::Any;
use std::sync::Arc;

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

    /// Events are freed by the thread that made them, before the channel,
    /// as the elasticsearch output's are: figures measured into `null`
    /// then compare with it (and freeing on another thread costs more).
    fn preparer(&self) -> Option<Arc<dyn Prepare>> {
        Some(Arc::new(Discard))
    }
}

/// Drops a batch's events where it is prepared; only their count goes on.
struct Discard;

impl Prepare for Discard {
    fn prepare(&self, events: &mut Vec<Event>, prepared: &mut Option<Box<dyn Any + Send>>) {
        events.clear();
        prepared.get_or_insert_with(|| Box::new(()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Receipt;
    use crate::topology::Batch;

    #[test]
    fn a_prepared_batch_keeps_its_count_and_none_of_its_events() {
        let events = vec![Event::from_message("a"), Event::from_message("b")];
        let mut batch = Batch::new(events, Receipt::untracked());
        batch.prepare_with(&Discard);
        assert!(batch.events.is_empty());
        assert_eq!(batch.len(), 2, "counted in the output's metrics");
    }
}
