//! `json`: parses a field holding JSON text into fields.
//!
//! ```yaml
//! filters:
//!   - json:
//!       source: message       # field with the JSON text
//!       target: payload       # default: the event's top level
//!       skip_on_invalid_json: false
//!       tag_on_failure: [_jsonparsefailure]
//! ```

use crate::config::{ComponentConfig, ConfigErrors};
use crate::event::{Event, FieldPath, Value, json};
use crate::topology::{BuildContext, Filter, Verdict};
use serde::Deserialize;

/// Options of the `json` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonConfig {
    pub source: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub skip_on_invalid_json: bool,
    #[serde(default = "default_tags")]
    pub tag_on_failure: Vec<String>,
}

fn default_tags() -> Vec<String> {
    vec!["_jsonparsefailure".to_owned()]
}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
    let config: JsonConfig = c.parse_options()?;
    let source = super::field_option(c, "source", &config.source)?;
    let target = match &config.target {
        Some(t) => Some(super::field_option(c, "target", t)?),
        None => None,
    };
    Ok(Box::new(JsonFilter {
        source,
        target,
        skip_on_invalid_json: config.skip_on_invalid_json,
        tag_on_failure: config.tag_on_failure,
    }))
}

/// Parses JSON text into fields.
pub struct JsonFilter {
    source: FieldPath,
    target: Option<FieldPath>,
    skip_on_invalid_json: bool,
    tag_on_failure: Vec<String>,
}

impl Filter for JsonFilter {
    fn process(&self, event: &mut Event) -> Verdict {
        let parsed = match event.get(&self.source) {
            Some(Value::String(text)) => json::parse(text.as_bytes()),
            _ => return Verdict::Skipped,
        };
        match (parsed, &self.target) {
            (Ok(value), Some(target)) => {
                event.set(target, value);
                Verdict::Applied
            }
            (Ok(Value::Object(map)), None) => {
                for (k, v) in map {
                    if k == crate::event::TIMESTAMP {
                        let mut tmp = crate::event::Map::new();
                        tmp.insert(k, v);
                        let t = Event::from_map(tmp).timestamp();
                        event.set_timestamp(t);
                    } else {
                        event.fields_mut().insert(k, v);
                    }
                }
                Verdict::Applied
            }
            (Ok(_), None) | (Err(_), _) => {
                if !self.skip_on_invalid_json {
                    for t in &self.tag_on_failure {
                        event.add_tag(t);
                    }
                }
                Verdict::Skipped
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(target: Option<&str>) -> JsonFilter {
        JsonFilter {
            source: FieldPath::key("message"),
            target: target.map(|t| FieldPath::parse(t).unwrap()),
            skip_on_invalid_json: false,
            tag_on_failure: default_tags(),
        }
    }

    #[test]
    fn parses_into_top_level_or_target() {
        let mut e = Event::from_message(r#"{"level":"INFO","@timestamp":"2026-01-01T00:00:00Z"}"#);
        assert_eq!(filter(None).process(&mut e), Verdict::Applied);
        assert_eq!(e.get(&FieldPath::key("level")), Some(&Value::from("INFO")));
        assert_eq!(e.timestamp().to_rfc3339(), "2026-01-01T00:00:00+00:00");
        let mut e = Event::from_message(r#"{"a":1}"#);
        filter(Some("p")).process(&mut e);
        assert_eq!(
            e.get(&FieldPath::parse("p.a").unwrap()),
            Some(&Value::Integer(1))
        );
    }

    #[test]
    fn invalid_json_is_tagged() {
        let mut e = Event::from_message("{oops");
        assert_eq!(filter(None).process(&mut e), Verdict::Skipped);
        assert!(e.has_tag("_jsonparsefailure"));
    }
}
