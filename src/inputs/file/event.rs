//! The shape of a file event (ECS): `message`, `@timestamp` (read time until
//! a filter sets it), `log.file.path`, `log.offset`, `host.name`,
//! `input.type: file`, plus configured `fields` and `tags`, and optionally
//! the line decoded as JSON.

use super::config::{FileConfig, JsonLinesConfig};
use super::lines::Line;
use crate::event::{Event, FieldPath, MESSAGE, Map, TIMESTAMP, Value, json};
use chrono::{DateTime, Utc};

/// Builds events from lines, with everything fixed per input computed once.
pub struct EventShape {
    host: Value,
    fields: Vec<(String, Value)>,
    fields_under_root: bool,
    tags: Vec<Value>,
    json: Option<(Option<FieldPath>, JsonLinesConfig)>,
}

/// This machine's host name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl EventShape {
    pub fn new(c: &FileConfig) -> Result<Self, String> {
        let json = match &c.json {
            Some(j) => {
                let target = match j.target.as_deref() {
                    None | Some("") => None,
                    Some(t) => {
                        Some(FieldPath::parse(t).map_err(|e| format!("invalid `target`: {e}"))?)
                    }
                };
                Some((target, j.clone()))
            }
            None => None,
        };
        Ok(EventShape {
            host: Value::String(host_name()),
            fields: c
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                .collect(),
            fields_under_root: c.fields_under_root,
            tags: c.tags.iter().map(|t| Value::from(t.as_str())).collect(),
            json,
        })
    }

    /// The event for one line of `path`, read at `now`.
    pub fn event(&self, line: Line, path: &str, now: DateTime<Utc>) -> Event {
        let mut fields = Map::with_capacity(8);
        fields.insert(TIMESTAMP.to_owned(), Value::Timestamp(now));
        let mut file = Map::with_capacity(1);
        file.insert("path".to_owned(), Value::String(path.to_owned()));
        let mut log = Map::with_capacity(2);
        log.insert("file".to_owned(), Value::Object(file));
        log.insert("offset".to_owned(), Value::Integer(line.start as i64));
        fields.insert("log".to_owned(), Value::Object(log));
        let mut host = Map::with_capacity(1);
        host.insert("name".to_owned(), self.host.clone());
        fields.insert("host".to_owned(), Value::Object(host));
        let mut input = Map::with_capacity(1);
        input.insert("type".to_owned(), Value::from("file"));
        fields.insert("input".to_owned(), Value::Object(input));
        if !self.fields.is_empty() {
            if self.fields_under_root {
                for (k, v) in &self.fields {
                    fields.insert(k.clone(), v.clone());
                }
            } else {
                fields.insert(
                    "fields".to_owned(),
                    Value::Object(self.fields.iter().cloned().collect()),
                );
            }
        }
        let mut tags = self.tags.clone();
        if line.truncated {
            tags.push(Value::from("_truncated"));
        }
        if !tags.is_empty() {
            fields.insert("tags".to_owned(), Value::Array(tags));
        }
        let mut event = Event::from_map(fields);
        match &self.json {
            None => event.set(&FieldPath::key(MESSAGE), line.text),
            Some((target, cfg)) => decode_json(&mut event, line.text, target.as_ref(), cfg),
        }
        event
    }

    #[cfg(test)]
    pub fn plain() -> Self {
        EventShape {
            host: Value::from("h"),
            fields: Vec::new(),
            fields_under_root: false,
            tags: Vec::new(),
            json: None,
        }
    }
}

/// Decodes a JSON line. The decoded keys always win over `message` (the raw
/// line); other fields ganymede set (`@timestamp`, `log`, `host`, …) are
/// replaced only with `overwrite_keys`. A decoded `@timestamp` in RFC 3339
/// becomes the event time when overwriting.
fn decode_json(event: &mut Event, text: String, target: Option<&FieldPath>, cfg: &JsonLinesConfig) {
    match json::parse(text.as_bytes()) {
        Ok(Value::Object(map)) => match target {
            Some(t) => {
                event.set(&FieldPath::key(MESSAGE), text);
                event.set(t, Value::Object(map));
            }
            None => {
                let has_message = map.contains_key(MESSAGE);
                for (k, v) in map {
                    let exists = event.fields().contains_key(&k);
                    if k == TIMESTAMP {
                        if cfg.overwrite_keys {
                            let mut tmp = Map::new();
                            tmp.insert(k, v);
                            event.set_timestamp(Event::from_map(tmp).timestamp());
                        }
                    } else if !exists || cfg.overwrite_keys {
                        event.fields_mut().insert(k, v);
                    }
                }
                if !has_message {
                    event.set(&FieldPath::key(MESSAGE), text);
                }
            }
        },
        Ok(_) | Err(_) => {
            let reason = match json::parse(text.as_bytes()) {
                Err(e) => e.to_string(),
                Ok(_) => "the line is JSON but not an object".to_owned(),
            };
            event.set(&FieldPath::key(MESSAGE), text);
            event.add_tag("_jsonparsefailure");
            if cfg.add_error_key {
                event.set(
                    &FieldPath::parse("error.message").unwrap_or_else(|_| FieldPath::key("error")),
                    reason,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(t: &str) -> Line {
        Line {
            text: t.into(),
            start: 42,
            end: 42 + t.len() as u64 + 1,
            truncated: false,
        }
    }

    fn p(s: &str) -> FieldPath {
        FieldPath::parse(s).unwrap()
    }

    #[test]
    fn ecs_shape() {
        let e = EventShape::plain().event(line("hello"), "/var/log/a.log", Utc::now());
        assert_eq!(e.get(&p("message")), Some(&Value::from("hello")));
        assert_eq!(
            e.get(&p("log.file.path")),
            Some(&Value::from("/var/log/a.log"))
        );
        assert_eq!(e.get(&p("log.offset")), Some(&Value::Integer(42)));
        assert_eq!(e.get(&p("host.name")), Some(&Value::from("h")));
        assert_eq!(e.get(&p("input.type")), Some(&Value::from("file")));
    }

    #[test]
    fn json_lines_of_the_jupiter_backend() {
        let mut shape = EventShape::plain();
        shape.json = Some((None, JsonLinesConfig::default()));
        let text = r#"{"timestamp":"2026-11-27T08:15:02.114302","level":"INFO","message":"Processing case","module":"cases","function":"process_case","line":42,"request_id":"r1"}"#;
        let e = shape.event(line(text), "/x", Utc::now());
        assert_eq!(e.get(&p("message")), Some(&Value::from("Processing case")));
        assert_eq!(e.get(&p("level")), Some(&Value::from("INFO")));
        assert_eq!(e.get(&p("line")), Some(&Value::Integer(42)));
        assert_eq!(
            e.get(&p("log.offset")),
            Some(&Value::Integer(42)),
            "ours kept without overwrite_keys"
        );
    }

    #[test]
    fn json_failure_keeps_the_line() {
        let mut shape = EventShape::plain();
        shape.json = Some((
            None,
            JsonLinesConfig {
                add_error_key: true,
                ..Default::default()
            },
        ));
        let e = shape.event(line("{broken"), "/x", Utc::now());
        assert!(e.has_tag("_jsonparsefailure"));
        assert_eq!(e.get(&p("message")), Some(&Value::from("{broken")));
        assert!(e.get(&p("error.message")).is_some());
    }
}
