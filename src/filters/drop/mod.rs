//! `drop`: removes events from the pipeline, as Logstash's drop filter
//! does. Usually guarded by the shared `if:`.
//!
//! ```yaml
//! filters:
//!   - drop:
//!       if: '[level] == "DEBUG"'
//!       percentage: 90      # drop 90 % of the matching events, keep a sample
//! ```
//!
//! A dropped event counts as delivered: its source commits past it. With
//! `percentage` below 100 each event is dropped at random with that
//! probability (a fast thread-local generator, not a hash of the event).
//! Kept events are left untouched: like Logstash, the shared `add_*` /
//! `remove_*` options never apply.

use crate::config::{ComponentConfig, ConfigErrors};
use crate::event::Event;
use crate::topology::{BuildContext, Filter, Verdict};
use serde::Deserialize;

/// Options of the `drop` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropConfig {
    /// Share of events dropped, 0 to 100 (default 100: all).
    #[serde(default = "all")]
    pub percentage: f64,
}

fn all() -> f64 {
    100.0
}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
    let config: DropConfig = c.parse_options()?;
    if !(0.0..=100.0).contains(&config.percentage) {
        return Err(c
            .option_error("percentage", "must be between 0 and 100")
            .into());
    }
    Ok(Box::new(DropFilter {
        probability: config.percentage / 100.0,
    }))
}

/// Drops events, all of them or a random share.
pub struct DropFilter {
    probability: f64,
}

impl DropFilter {
    /// Drops every event it sees.
    pub fn all() -> Self {
        DropFilter { probability: 1.0 }
    }

    /// Drops each event with `probability` (0 to 1).
    pub fn sampling(probability: f64) -> Self {
        DropFilter { probability }
    }
}

impl Filter for DropFilter {
    fn process(&self, _event: &mut Event) -> Verdict {
        if self.probability >= 1.0 || fastrand::f64() < self.probability {
            Verdict::Drop
        } else {
            Verdict::Skipped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PipelineConfig;
    use std::collections::HashMap;
    use std::path::Path;

    fn try_filter(options: &str) -> Result<Box<dyn Filter>, ConfigErrors> {
        let text = format!(
            "inputs: [stdin: {{}}]\nfilters:\n  - drop: {options}\noutputs: [console: {{}}]\n"
        );
        let p = PipelineConfig::from_text(
            Path::new("p.yml"),
            &text,
            &HashMap::<String, String>::new(),
        )?;
        build(&p.filters[0], &BuildContext::for_tests("t"))
    }

    fn dropped(f: &dyn Filter, n: usize) -> usize {
        (0..n)
            .filter(|_| f.process(&mut Event::from_message("x")) == Verdict::Drop)
            .count()
    }

    #[test]
    fn drops_everything_by_default() {
        let f = try_filter("{}").unwrap();
        assert_eq!(dropped(f.as_ref(), 1000), 1000);
        let f = try_filter("").unwrap();
        assert_eq!(dropped(f.as_ref(), 10), 10);
        assert_eq!(dropped(&DropFilter::all(), 10), 10);
    }

    #[test]
    fn percentage_samples() {
        let f = try_filter("{percentage: 0}").unwrap();
        assert_eq!(dropped(f.as_ref(), 1000), 0);
        let f = try_filter("{percentage: 25}").unwrap();
        let n = dropped(f.as_ref(), 20_000);
        assert!((4_000..6_000).contains(&n), "{n} of 20000 dropped at 25 %");
        let n = dropped(&DropFilter::sampling(0.5), 20_000);
        assert!((9_000..11_000).contains(&n), "{n}");
        let f = try_filter("{percentage: 12.5}").unwrap();
        let n = dropped(f.as_ref(), 20_000);
        assert!((2_000..3_000).contains(&n), "{n}");
    }

    #[test]
    fn kept_events_are_untouched() {
        let f = try_filter("{percentage: 0}").unwrap();
        let mut e = Event::from_message("x");
        let before = e.clone();
        assert_eq!(f.process(&mut e), Verdict::Skipped);
        assert_eq!(e, before);
    }

    #[test]
    fn invalid_percentages() {
        for bad in [
            "{percentage: 101}",
            "{percentage: -1}",
            "{percentage: lots}",
        ] {
            assert!(try_filter(bad).is_err(), "{bad}");
        }
        let e = try_filter("{percent: 5}").err().unwrap();
        assert!(e.to_string().contains("percentage"), "{e}");
    }

    #[test]
    fn conditional_drop_through_the_pipeline() {
        use crate::observe::{Health, Metrics};
        use crate::topology::{BuildOptions, build_pipeline};
        let mut r = crate::topology::Registry::default();
        r.inputs.insert("stdin", crate::inputs::stdin::build);
        r.outputs.insert("null", crate::outputs::null::build);
        r.filters.insert("drop", build);
        let text = "inputs: [stdin: {}]\nfilters:\n  - drop:\n      if: '[level] == \"DEBUG\"'\n      add_tag: [never]\noutputs: [null: {}]\n";
        let cfg =
            PipelineConfig::from_text(Path::new("p.yml"), text, &HashMap::<String, String>::new())
                .unwrap();
        let opts = BuildOptions {
            data_dir: std::env::temp_dir(),
            once: false,
            metrics: Metrics::new(),
            health: Health::new(),
        };
        let pipeline = build_pipeline(&cfg, &r, &opts).unwrap();
        let mut events: Vec<Event> = ["DEBUG", "INFO", "DEBUG", "WARN"]
            .iter()
            .map(|level| {
                let mut e = Event::from_message("m");
                e.set(&crate::event::FieldPath::key("level"), *level);
                e
            })
            .collect();
        pipeline.filter_events(&mut events);
        let levels: Vec<String> = events
            .iter()
            .map(|e| e.fields()["level"].to_text())
            .collect();
        assert_eq!(levels, ["INFO", "WARN"]);
        assert!(events.iter().all(|e| !e.has_tag("never")));
    }
}
