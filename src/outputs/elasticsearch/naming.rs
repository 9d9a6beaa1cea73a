//! Where each event goes: its index (or data stream), its bulk action, its
//! document id and its ingest pipeline, written as the action line of a
//! bulk request.
//!
//! `%{+YYYY.MM.dd}` in the index is formatted from the event's own
//! `@timestamp`, in UTC unless `index_timezone` names a zone, so daily
//! indices rotate by event time, not by the time the event is sent.

use crate::event::{Event, Value, json};
use crate::expr::Template;
use chrono::{Offset, TimeZone};

/// The bulk operation of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create or replace.
    Index,
    /// Create only: an existing `_id` answers 409.
    Create,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
        }
    }
}

/// Where a document id comes from.
#[derive(Debug, Clone)]
pub enum DocumentId {
    /// `[@metadata][_id]`, which sources that know an event's identity set.
    Auto,
    /// A sprintf template. An event for which a referenced field is missing
    /// gets no id (and the server generates one).
    Template(Template),
}

/// The compiled target options.
#[derive(Debug, Clone)]
pub struct Naming {
    pub index: Template,
    pub timezone: Option<chrono_tz::Tz>,
    /// The action of events without a document id.
    pub action: Action,
    pub document_id: Option<DocumentId>,
    pub pipeline: Option<Template>,
}

/// What the action line of an item said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemKind {
    pub action: Action,
    pub has_id: bool,
}

impl ItemKind {
    /// A `create` with an explicit id: a 409 means the document is
    /// already there (a replay), not a failure.
    pub fn is_idempotent(self) -> bool {
        self.action == Action::Create && self.has_id
    }
}

impl Naming {
    /// A naming with only an index template, in UTC, `index` action.
    pub fn index(template: &str) -> Result<Naming, crate::expr::SprintfError> {
        Ok(Naming {
            index: Template::parse(template)?,
            timezone: None,
            action: Action::Index,
            document_id: None,
            pipeline: None,
        })
    }

    /// The ingest pipeline as a query parameter, when it is the same for
    /// every event (otherwise it goes into each action line).
    pub fn constant_pipeline(&self) -> Option<&str> {
        self.pipeline
            .as_ref()
            .filter(|p| p.is_constant())
            .map(|p| p.source())
    }

    /// Appends the index name of `event`.
    pub fn render_index(&self, event: &Event, out: &mut String) {
        match self.timezone {
            None => self.index.render(event, out),
            Some(tz) => self.index.render_with_offset(
                event,
                |t| tz.offset_from_utc_datetime(&t.naive_utc()).fix(),
                out,
            ),
        }
    }

    /// Appends the document id of `event`; false (and nothing written)
    /// when it has none.
    pub fn render_id(&self, event: &Event, out: &mut String) -> bool {
        let start = out.len();
        match &self.document_id {
            None => return false,
            Some(DocumentId::Auto) => match event.metadata().get("_id") {
                None | Some(Value::Null) => return false,
                Some(v) => v.write_text(out),
            },
            Some(DocumentId::Template(t)) => {
                t.render(event, out);
                // A missing field stays as written: no usable id.
                if out[start..].contains("%{") {
                    out.truncate(start);
                    return false;
                }
            }
        }
        if out.len() == start {
            return false;
        }
        true
    }

    /// Appends the action line of `event` (with its newline) to `out`.
    /// `scratch` is a reusable buffer.
    pub fn write_action(&self, event: &Event, scratch: &mut String, out: &mut Vec<u8>) -> ItemKind {
        scratch.clear();
        let has_id = self.render_id(event, scratch);
        let id_end = scratch.len();
        let action = if has_id { Action::Create } else { self.action };
        self.render_index(event, scratch);

        out.extend_from_slice(b"{\"");
        out.extend_from_slice(action.name().as_bytes());
        out.extend_from_slice(b"\":{\"_index\":");
        json::write_str(out, &scratch[id_end..]);
        if has_id {
            out.extend_from_slice(b",\"_id\":");
            json::write_str(out, &scratch[..id_end]);
        }
        if let Some(p) = self.pipeline.as_ref().filter(|p| !p.is_constant()) {
            scratch.clear();
            p.render(event, scratch);
            out.extend_from_slice(b",\"pipeline\":");
            json::write_str(out, scratch);
        }
        out.extend_from_slice(b"}}\n");
        ItemKind { action, has_id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::FieldPath;
    use chrono::Utc;

    fn at(rfc3339: &str) -> Event {
        let mut e = Event::from_message("m");
        e.set_timestamp(
            chrono::DateTime::parse_from_rfc3339(rfc3339)
                .unwrap()
                .with_timezone(&Utc),
        );
        e
    }

    fn index_of(naming: &Naming, e: &Event) -> String {
        let mut s = String::new();
        naming.render_index(e, &mut s);
        s
    }

    fn line(naming: &Naming, e: &Event) -> (String, ItemKind) {
        let mut out = Vec::new();
        let kind = naming.write_action(e, &mut String::new(), &mut out);
        (String::from_utf8(out).unwrap(), kind)
    }

    #[test]
    fn daily_indices_follow_the_event_time_in_utc() {
        let n = Naming::index("jupiter-logs-%{+YYYY.MM.dd}").unwrap();
        assert_eq!(
            index_of(&n, &at("2026-11-26T23:59:59.999Z")),
            "jupiter-logs-2026.11.26"
        );
        assert_eq!(
            index_of(&n, &at("2026-11-27T00:00:00Z")),
            "jupiter-logs-2026.11.27"
        );
        // An offset in the source time does not change the UTC day.
        assert_eq!(
            index_of(&n, &at("2026-11-27T01:30:00+02:00")),
            "jupiter-logs-2026.11.26"
        );
    }

    #[test]
    fn index_timezone_moves_the_day_boundary() {
        let mut n = Naming::index("logs-%{+YYYY.MM.dd}").unwrap();
        n.timezone = Some(chrono_tz::Europe::Paris);
        // Winter: Paris is UTC+1, so 23:00 UTC is already the next day.
        assert_eq!(index_of(&n, &at("2026-01-14T22:59:59Z")), "logs-2026.01.14");
        assert_eq!(index_of(&n, &at("2026-01-14T23:00:00Z")), "logs-2026.01.15");
        // Summer: UTC+2.
        assert_eq!(index_of(&n, &at("2026-07-14T21:59:59Z")), "logs-2026.07.14");
        assert_eq!(index_of(&n, &at("2026-07-14T22:00:00Z")), "logs-2026.07.15");
        n.timezone = Some(chrono_tz::America::New_York);
        assert_eq!(index_of(&n, &at("2026-01-15T04:59:59Z")), "logs-2026.01.14");
        assert_eq!(index_of(&n, &at("2026-01-15T05:00:00Z")), "logs-2026.01.15");
    }

    #[test]
    fn field_references_in_the_index() {
        let n = Naming::index("%{[service][name]}-%{+YYYY}").unwrap();
        let mut e = at("2026-03-01T00:00:00Z");
        e.set(&FieldPath::parse("[service][name]").unwrap(), "io");
        assert_eq!(index_of(&n, &e), "io-2026");
    }

    #[test]
    fn action_lines() {
        let mut n = Naming::index("logs-%{+YYYY.MM.dd}").unwrap();
        let e = at("2026-11-27T10:00:00Z");
        let (l, kind) = line(&n, &e);
        assert_eq!(l, "{\"index\":{\"_index\":\"logs-2026.11.27\"}}\n");
        assert!(!kind.is_idempotent());

        n.action = Action::Create;
        let (l, kind) = line(&n, &e);
        assert_eq!(l, "{\"create\":{\"_index\":\"logs-2026.11.27\"}}\n");
        assert!(!kind.is_idempotent(), "no id: a 409 cannot be a replay");

        n.action = Action::Index;
        n.document_id = Some(DocumentId::Template(Template::parse("%{[req]}").unwrap()));
        let mut with_id = e.clone();
        with_id.set(&FieldPath::parse("req").unwrap(), "a\"b");
        let (l, kind) = line(&n, &with_id);
        assert_eq!(
            l,
            "{\"create\":{\"_index\":\"logs-2026.11.27\",\"_id\":\"a\\\"b\"}}\n"
        );
        assert!(kind.is_idempotent());
        // The field is missing: no id, the configured action.
        let (l, kind) = line(&n, &e);
        assert_eq!(l, "{\"index\":{\"_index\":\"logs-2026.11.27\"}}\n");
        assert!(!kind.has_id);
    }

    #[test]
    fn auto_ids_come_from_metadata() {
        let mut n = Naming::index("x").unwrap();
        n.document_id = Some(DocumentId::Auto);
        let mut e = Event::new();
        assert!(!line(&n, &e).1.has_id);
        e.set(&FieldPath::parse("[@metadata][_id]").unwrap(), "f1:42");
        let (l, kind) = line(&n, &e);
        assert_eq!(l, "{\"create\":{\"_index\":\"x\",\"_id\":\"f1:42\"}}\n");
        assert!(kind.is_idempotent());
    }

    #[test]
    fn pipelines_constant_or_per_event() {
        let mut n = Naming::index("x").unwrap();
        n.pipeline = Some(Template::parse("geoip").unwrap());
        assert_eq!(n.constant_pipeline(), Some("geoip"));
        assert_eq!(
            line(&n, &Event::new()).0,
            "{\"index\":{\"_index\":\"x\"}}\n"
        );
        n.pipeline = Some(Template::parse("p-%{kind}").unwrap());
        assert_eq!(n.constant_pipeline(), None);
        let mut e = Event::new();
        e.set(&FieldPath::parse("kind").unwrap(), "web");
        assert_eq!(
            line(&n, &e).0,
            "{\"index\":{\"_index\":\"x\",\"pipeline\":\"p-web\"}}\n"
        );
    }
}
