//! Filters: synchronous transformations run by the pipeline's workers.
//! Each folder holds one filter: its config, its logic and its unit tests.
//! The options every filter shares (`if`, `add_field`, `add_tag`,
//! `remove_field`, `remove_tag`, `id`) are handled by the topology.

pub mod date;
pub mod dissect;
pub mod drop;
pub mod fingerprint;
pub mod grok;
pub mod json;
pub mod kv;
pub mod mutate;

use crate::config::{ComponentConfig, ConfigError};
use crate::event::FieldPath;

/// Parses a field reference given in option `key`, with a positioned error.
pub(crate) fn field_option(
    c: &ComponentConfig,
    key: &str,
    text: &str,
) -> Result<FieldPath, ConfigError> {
    FieldPath::parse(text)
        .map_err(|e| c.option_error(key, format!("invalid field reference `{text}`: {e}")))
}
