//! The filter chain and the routing to outputs, run by the workers.
//!
//! A worker takes a whole batch, runs every filter over it in place
//! (`retain_mut`: dropping is removal, no copy), then hands each output the
//! events its `if:` accepts, together with a share of the batch's receipt.

use super::component::{Batch, Filter, Verdict};
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
    fn run(&self, events: &mut Vec<Event>) {
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
        self.metrics.add_batch();
    }
}

/// One output as seen by the workers.
pub(crate) struct Route {
    pub condition: Option<Condition>,
    pub sender: flume::Sender<Batch>,
}

/// Runs the filters over a batch in place.
pub(crate) fn filter_batch(stages: &[FilterStage], events: &mut Vec<Event>) {
    for stage in stages {
        if events.is_empty() {
            break;
        }
        stage.run(events);
    }
}

/// Sends the batch's events to every output that wants them. Events no
/// output wants are done; so is a batch that filters emptied.
pub(crate) fn route(routes: &[Route], batch: Batch) {
    let Batch { events, receipt } = batch;
    if events.is_empty() {
        receipt.split(0);
        return;
    }
    // The common case: one output, no condition. Move, don't copy.
    if let [only] = routes
        && only.condition.is_none()
    {
        if let Err(flume::SendError(b)) = only.sender.send(Batch { events, receipt }) {
            // The output is gone (it failed): the batch cannot be delivered.
            b.receipt.abandon();
        }
        return;
    }
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
        if let Err(flume::SendError(b)) = route.sender.send(Batch::new(selected, share)) {
            b.receipt.abandon();
        }
    }
}
