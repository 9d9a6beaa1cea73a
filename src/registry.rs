//! The one place that names every component: type name → builder.
//!
//! The core (config, topology, delivery) never names a component; the CLI
//! hands this registry to the topology.

use crate::topology::Registry;
use crate::{filters, inputs, outputs};

/// Every built-in component.
pub fn standard() -> Registry {
    let mut r = Registry::default();
    r.inputs.insert("beats", inputs::beats::build);
    r.inputs.insert("stdin", inputs::stdin::build);
    r.inputs.insert("file", inputs::file::build);
    r.inputs.insert("generator", inputs::generator::build);

    r.filters.insert("date", filters::date::build);
    r.filters.insert("dissect", filters::dissect::build);
    r.filters.insert("drop", filters::drop::build);
    r.filters.insert("fingerprint", filters::fingerprint::build);
    r.filters.insert("grok", filters::grok::build);
    r.filters.insert("json", filters::json::build);
    r.filters.insert("kv", filters::kv::build);
    r.filters.insert("mutate", filters::mutate::build);

    r.outputs.insert("beats", outputs::beats::build);
    r.outputs.insert("console", outputs::console::build);
    r.outputs
        .insert("elasticsearch", outputs::elasticsearch::build);
    r.outputs.insert("file", outputs::file::build);
    r.outputs.insert("null", outputs::null::build);
    r
}
