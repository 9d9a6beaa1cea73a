//! The filter chain and the routing to outputs, run by the workers.
//!
//! A worker takes a whole batch and runs every filter over it, 64 events
//! at a time (`retain_mut`: dropping is removal, no copy), then hands each
//! output the events its `if:` accepts, together with a share of the
//! batch's receipt. An output that prepares its events (see
//! [`Prepare`]) gets each chunk prepared as soon as it leaves the filters.

use super::component::{Batch, Filter, Prepare, Prepared, Verdict};
use crate::event::{Event, FieldPath, Value};
use crate::expr::{Condition, Template};
use crate::observe::ComponentMetrics;
use std::sync::Arc;

/// Where an added field goes: a fixed path, or one computed per event.
pub(crate) enum FieldTarget {
    Fixed(FieldPath),
    Dynamic(Template),
}

impl FieldTarget {
    fn resolve(&self, event: &Event) -> Option<FieldPath> {
        match self {
            FieldTarget::Fixed(p) => Some(p.clone()),
            FieldTarget::Dynamic(t) => FieldPath::parse(&t.render_string(event)).ok(),
        }
    }
}

/// The shared `add_field`, `add_tag`, `remove_field`, `remove_tag`, compiled.
#[derive(Default)]
pub(crate) struct CompiledDecorations {
    pub add_field: Vec<(FieldTarget, Template)>,
    pub add_tag: Vec<Template>,
    pub remove_field: Vec<FieldTarget>,
    pub remove_tag: Vec<Template>,
}

impl CompiledDecorations {
    fn is_empty(&self) -> bool {
        self.add_field.is_empty()
            && self.add_tag.is_empty()
            && self.remove_field.is_empty()
            && self.remove_tag.is_empty()
    }

    /// Applies them in Logstash's order: add fields, add tags, remove
    /// fields, remove tags. An added field that exists already becomes a
    /// list, as in Logstash.
    fn apply(&self, event: &mut Event) {
        for (target, template) in &self.add_field {
            let value = template.render_string(event);
            let Some(path) = target.resolve(event) else {
                continue;
            };
            match event.get_mut(&path) {
                Some(Value::Array(items)) => items.push(Value::String(value.into())),
                Some(existing) => {
                    let old = std::mem::take(existing);
                    *existing = Value::Array(vec![old, Value::String(value.into())]);
                }
                None => event.set(&path, value),
            }
        }
        for template in &self.add_tag {
            let tag = template.render_string(event);
            event.add_tag(&tag);
        }
        for target in &self.remove_field {
            let path = target.resolve(event);
            if let Some(p) = path {
                event.remove(&p);
            }
        }
        for template in &self.remove_tag {
            let tag = template.render_string(event);
            event.remove_tag(&tag);
        }
    }
}

/// One filter with its shared options.
pub(crate) struct FilterStage {
    pub filter: Box<dyn Filter>,
    pub condition: Option<Condition>,
    pub decorations: CompiledDecorations,
    pub metrics: Arc<ComponentMetrics>,
}

impl FilterStage {
    fn run(&self, events: &mut Vec<Event>, count_batch: bool) {
        let before = events.len();
        let decorate = !self.decorations.is_empty();
        let mut dropped = 0usize;
        events.retain_mut(|event| {
            if let Some(c) = &self.condition
                && !c.eval(event)
            {
                return true;
            }
            match self.filter.process(event) {
                Verdict::Applied => {
                    if decorate {
                        self.decorations.apply(event);
                    }
                    true
                }
                Verdict::Skipped => true,
                Verdict::Drop => {
                    dropped += 1;
                    false
                }
            }
        });
        self.metrics.add_in(before);
        self.metrics.add_out(before - dropped);
        self.metrics.add_dropped(dropped);
        if count_batch {
            self.metrics.add_batch();
        }
    }
}

/// One output as seen by the workers.
pub(crate) struct Route {
    pub condition: Option<Condition>,
    pub sender: flume::Sender<Batch>,
    /// The output's preparation, done here before sending.
    pub prepare: Option<Arc<dyn Prepare>>,
}

impl Route {
    fn send(&self, mut batch: Batch) {
        if let Some(p) = &self.prepare {
            batch.prepare_with(p.as_ref());
        }
        if let Err(flume::SendError(b)) = self.sender.send(batch) {
            // The output is gone (it failed): the batch cannot be delivered.
            b.receipt.abandon();
        }
    }
}

/// How many events go through the whole filter chain together. An event
/// is a tree of small allocations, a few kilobytes in all: a whole batch
/// of them outgrows the core's cache, so that the second filter, and the
/// serialising after the last, would read every event back from far away.
/// Chunks this small stay in the cache from the first filter to the
/// output's preparation.
pub const CHUNK: usize = 64;

/// Runs the filters over a batch in place.
pub(crate) fn filter_batch(stages: &[FilterStage], events: &mut Vec<Event>) {
    if events.len() <= CHUNK {
        run_stages(stages, events, true);
        return;
    }
    let all = std::mem::take(events);
    events.reserve(all.len());
    in_chunks(stages, all, |chunk| events.append(chunk));
}

fn run_stages(stages: &[FilterStage], events: &mut Vec<Event>, count_batch: bool) {
    for stage in stages {
        if events.is_empty() {
            break;
        }
        stage.run(events, count_batch);
    }
}

/// Runs the filters over `events` [`CHUNK`] at a time and hands each
/// chunk's remaining events to `done`, which must take them out.
fn in_chunks(stages: &[FilterStage], events: Vec<Event>, mut done: impl FnMut(&mut Vec<Event>)) {
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut rest = events.into_iter();
    let mut first = true;
    loop {
        chunk.extend(rest.by_ref().take(CHUNK));
        if chunk.is_empty() {
            return;
        }
        run_stages(stages, &mut chunk, first);
        first = false;
        done(&mut chunk);
        chunk.clear();
    }
}

/// A worker's whole work on one batch: the filters, then the routing.
/// When the batch goes to a single output that prepares its events, each
/// chunk is prepared as soon as it is through the filters.
pub(crate) fn process(stages: &[FilterStage], routes: &[Route], mut batch: Batch) {
    let prepare = match routes {
        [only] if only.condition.is_none() && batch.events.len() > CHUNK => only.prepare.as_ref(),
        _ => None,
    };
    let Some(prepare) = prepare else {
        filter_batch(stages, &mut batch.events);
        route(routes, batch);
        return;
    };
    let Batch {
        events, receipt, ..
    } = batch;
    let mut data = None;
    let mut count = 0;
    in_chunks(stages, events, |chunk| {
        if !chunk.is_empty() {
            count += chunk.len();
            prepare.prepare(chunk, &mut data);
        }
    });
    let mut batch = Batch::new(Vec::new(), receipt);
    batch.prepared = Prepared::of(count, data);
    route(routes, batch);
}

/// Sends the batch's events to every output that wants them. Events no
/// output wants are done; so is a batch that filters emptied.
pub(crate) fn route(routes: &[Route], batch: Batch) {
    if batch.is_empty() {
        batch.receipt.split(0);
        return;
    }
    // The common case: one output, no condition. Move, don't copy.
    if let [only] = routes
        && only.condition.is_none()
    {
        only.send(batch);
        return;
    }
    let Batch {
        events, receipt, ..
    } = batch;
    let selections: Vec<Vec<Event>> = routes
        .iter()
        .map(|r| match &r.condition {
            None => events.clone(),
            Some(c) => events.iter().filter(|e| c.eval(e)).cloned().collect(),
        })
        .collect();
    drop(events);
    let wanted = selections.iter().filter(|s| !s.is_empty()).count();
    let mut shares = receipt.split(wanted).into_iter();
    for (route, selected) in routes.iter().zip(selections) {
        if selected.is_empty() {
            continue;
        }
        let Some(share) = shares.next() else { break };
        route.send(Batch::new(selected, share));
    }
}
