//! The event: what flows through a pipeline.
//!
//! An event is an object of fields plus a separate object of metadata
//! (`[@metadata]`) that filters and outputs can read and write but that is
//! never serialised. `@timestamp` is always present: set on creation to the
//! read time, replaced by a filter that parses the source's own time.

pub mod json;
mod key;
pub mod map;
mod parse;
mod path;
mod value;

pub use key::key_from;
pub use map::Key;
pub use path::{FieldPath, PathError, Root};
pub use value::{Map, Value};

use chrono::{DateTime, Utc};

/// The name of the event time field.
pub const TIMESTAMP: &str = "@timestamp";
/// The name of the tags field.
pub const TAGS: &str = "tags";
/// The name of the main text field.
pub const MESSAGE: &str = "message";

/// One log event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    fields: Map,
    metadata: Map,
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl Event {
    /// An event with only `@timestamp`, set to now.
    pub fn new() -> Self {
        let mut fields = Map::with_capacity(8);
        fields.insert(TIMESTAMP, Value::Timestamp(Utc::now()));
        Event {
            fields,
            metadata: Map::new(),
        }
    }

    /// An event whose `message` is `text`, stamped now.
    pub fn from_message(text: impl Into<Key>) -> Self {
        let mut e = Self::new();
        e.fields.insert(MESSAGE, Value::String(text.into()));
        e
    }

    /// An event from decoded fields. A textual `@timestamp` in RFC 3339 is
    /// read as a time; a missing or unreadable one is set to now (the
    /// unreadable text is kept under `[@metadata][invalid_timestamp]`).
    /// An `@metadata` object among the fields becomes the metadata.
    pub fn from_map(mut fields: Map) -> Self {
        let metadata = match fields.shift_remove("@metadata") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let mut e = Event { fields, metadata };
        e.normalise_timestamp();
        e
    }

    /// An event from fields already in shape — `@timestamp` a time, no
    /// `@metadata` — as inputs build them: no search, no parsing.
    pub fn from_fields(fields: Map) -> Self {
        debug_assert!(matches!(fields.get(TIMESTAMP), Some(Value::Timestamp(_))));
        debug_assert!(!fields.contains_key("@metadata"));
        Event {
            fields,
            metadata: Map::new(),
        }
    }

    fn normalise_timestamp(&mut self) {
        let parsed = match self.fields.get(TIMESTAMP) {
            Some(Value::Timestamp(_)) => return,
            Some(Value::String(s)) => match json::parse_utc_millis(s) {
                Some(t) => Ok(t),
                None => match DateTime::parse_from_rfc3339(s) {
                    Ok(t) => Ok(t.with_timezone(&Utc)),
                    Err(_) => Err(Some(s.clone())),
                },
            },
            Some(Value::Integer(ms)) => DateTime::from_timestamp_millis(*ms).ok_or(None),
            _ => Err(None),
        };
        match parsed {
            Ok(t) => {
                self.fields.insert(TIMESTAMP, Value::Timestamp(t));
            }
            Err(bad) => {
                if let Some(bad) = bad {
                    self.metadata
                        .insert("invalid_timestamp", Value::String(bad));
                }
                self.fields.insert(TIMESTAMP, Value::Timestamp(Utc::now()));
            }
        }
    }

    /// The event's fields (without metadata).
    pub fn fields(&self) -> &Map {
        &self.fields
    }

    pub fn fields_mut(&mut self) -> &mut Map {
        &mut self.fields
    }

    pub fn metadata(&self) -> &Map {
        &self.metadata
    }

    pub fn metadata_mut(&mut self) -> &mut Map {
        &mut self.metadata
    }

    /// The event time. Falls back to now only if a filter removed or
    /// overwrote `@timestamp` with something that is not a time.
    pub fn timestamp(&self) -> DateTime<Utc> {
        match self.fields.get(TIMESTAMP) {
            Some(Value::Timestamp(t)) => *t,
            _ => Utc::now(),
        }
    }

    pub fn set_timestamp(&mut self, t: DateTime<Utc>) {
        self.fields.insert(TIMESTAMP, Value::Timestamp(t));
    }

    fn root(&self, path: &FieldPath) -> &Map {
        match path.root() {
            Root::Fields => &self.fields,
            Root::Metadata => &self.metadata,
        }
    }

    fn root_mut(&mut self, path: &FieldPath) -> &mut Map {
        match path.root() {
            Root::Fields => &mut self.fields,
            Root::Metadata => &mut self.metadata,
        }
    }

    /// The value at `path`. Numeric segments index into arrays
    /// (negative ones from the end), as in Logstash.
    pub fn get(&self, path: &FieldPath) -> Option<&Value> {
        let segments = path.segments();
        let (first, rest) = segments.split_first()?;
        let mut cur = self.root(path).get(first.as_str())?;
        for seg in rest {
            cur = step(cur, seg)?;
        }
        Some(cur)
    }

    /// The whole metadata object for `[@metadata]`, else as [`Event::get`].
    pub fn get_mut(&mut self, path: &FieldPath) -> Option<&mut Value> {
        let segments = path.segments();
        let (first, rest) = segments.split_first()?;
        let mut cur = self.root_mut(path).get_mut(first.as_str())?;
        for seg in rest {
            cur = step_mut(cur, seg)?;
        }
        Some(cur)
    }

    /// True if `path` names a present field.
    pub fn contains(&self, path: &FieldPath) -> bool {
        self.get(path).is_some()
    }

    /// Sets the value at `path`, creating objects on the way. A value in the
    /// way that is not an object is replaced by one, as Logstash does.
    pub fn set(&mut self, path: &FieldPath, value: impl Into<Value>) {
        let value = value.into();
        let segments = path.segments();
        let Some((last, parents)) = segments.split_last() else {
            if let (Root::Metadata, Value::Object(m)) = (path.root(), value) {
                self.metadata = m;
            }
            return;
        };
        let mut map = self.root_mut(path);
        for seg in parents {
            let slot = map
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !matches!(slot, Value::Object(_)) {
                *slot = Value::Object(Map::new());
            }
            map = match slot {
                Value::Object(m) => m,
                _ => unreachable!("slot was just made an object"),
            };
        }
        if let Some(slot) = map.get_mut(last.as_str()) {
            *slot = value;
        } else {
            map.insert(last.clone(), value);
        }
    }

    /// Removes and returns the value at `path`. Key order of the remaining
    /// fields is kept.
    pub fn remove(&mut self, path: &FieldPath) -> Option<Value> {
        let segments = path.segments();
        let (last, parents) = segments.split_last()?;
        let mut map = self.root_mut(path);
        for seg in parents {
            map = map.get_mut(seg.as_str())?.as_object_mut()?;
        }
        map.shift_remove(last.as_str())
    }

    /// Moves the value at `from` to `to`. Returns false if `from` is absent.
    pub fn rename(&mut self, from: &FieldPath, to: &FieldPath) -> bool {
        match self.remove(from) {
            Some(v) => {
                self.set(to, v);
                true
            }
            None => false,
        }
    }

    /// The tags, if any.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.fields
            .get(TAGS)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags().any(|t| t == tag)
    }

    /// Adds `tag` unless present. A scalar `tags` becomes a list.
    pub fn add_tag(&mut self, tag: &str) {
        let slot = self
            .fields
            .entry(TAGS)
            .or_insert_with(|| Value::Array(Vec::new()));
        if !matches!(slot, Value::Array(_)) {
            let old = std::mem::take(slot);
            *slot = Value::Array(if matches!(old, Value::Null) {
                Vec::new()
            } else {
                vec![old]
            });
        }
        if let Value::Array(tags) = slot
            && !tags.iter().any(|t| t.as_str() == Some(tag))
        {
            tags.push(Value::String(tag.into()));
        }
    }

    pub fn remove_tag(&mut self, tag: &str) {
        if let Some(Value::Array(tags)) = self.fields.get_mut(TAGS) {
            tags.retain(|t| t.as_str() != Some(tag));
        }
    }

    /// Appends the event as one compact JSON object (metadata excluded).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        json::write_map(out, &self.fields);
    }

    /// The event as a JSON string (metadata excluded).
    pub fn to_json_string(&self) -> String {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        // write_json emits valid UTF-8 only.
        String::from_utf8(out).unwrap_or_default()
    }
}

fn step<'a>(v: &'a Value, seg: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => a.get(array_index(seg, a.len())?),
        _ => None,
    }
}

fn step_mut<'a>(v: &'a mut Value, seg: &str) -> Option<&'a mut Value> {
    match v {
        Value::Object(m) => m.get_mut(seg),
        Value::Array(a) => {
            let i = array_index(seg, a.len())?;
            a.get_mut(i)
        }
        _ => None,
    }
}

fn array_index(seg: &str, len: usize) -> Option<usize> {
    let i: i64 = seg.parse().ok()?;
    if i < 0 {
        len.checked_sub(i.unsigned_abs() as usize)
    } else {
        Some(i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> FieldPath {
        FieldPath::parse(s).unwrap()
    }

    #[test]
    fn timestamp_is_always_present() {
        let e = Event::new();
        assert!(matches!(e.get(&p("@timestamp")), Some(Value::Timestamp(_))));
        let e = Event::from_map(Map::new());
        assert!(matches!(e.get(&p("@timestamp")), Some(Value::Timestamp(_))));
    }

    #[test]
    fn textual_timestamp_is_parsed_and_bad_one_is_kept_aside() {
        let v = json::parse(br#"{"@timestamp":"2026-01-02T03:04:05.678Z","message":"m"}"#).unwrap();
        let Value::Object(m) = v else { panic!() };
        let e = Event::from_map(m);
        assert_eq!(e.timestamp().to_rfc3339(), "2026-01-02T03:04:05.678+00:00");

        let v = json::parse(br#"{"@timestamp":"yesterday"}"#).unwrap();
        let Value::Object(m) = v else { panic!() };
        let e = Event::from_map(m);
        assert_eq!(
            e.get(&p("[@metadata][invalid_timestamp]")),
            Some(&Value::from("yesterday"))
        );
    }

    #[test]
    fn set_get_remove_rename_by_path() {
        let mut e = Event::new();
        e.set(&p("[a][b]"), 1i64);
        e.set(&p("a.c"), "x");
        assert_eq!(e.get(&p("a.b")), Some(&Value::Integer(1)));
        assert_eq!(e.get(&p("[a][c]")), Some(&Value::from("x")));
        assert!(e.rename(&p("a.c"), &p("[d]")));
        assert_eq!(e.get(&p("d")), Some(&Value::from("x")));
        assert_eq!(e.remove(&p("[a][b]")), Some(Value::Integer(1)));
        assert_eq!(e.get(&p("a")), Some(&Value::Object(Map::new())));
        assert!(!e.rename(&p("nope"), &p("x")));
    }

    #[test]
    fn set_through_a_scalar_replaces_it() {
        let mut e = Event::new();
        e.set(&p("a"), "scalar");
        e.set(&p("a.b"), true);
        assert_eq!(e.get(&p("a.b")), Some(&Value::Bool(true)));
    }

    #[test]
    fn arrays_are_indexed() {
        let mut e = Event::new();
        e.set(&p("list"), vec![Value::from("x"), Value::from("y")]);
        assert_eq!(e.get(&p("[list][0]")), Some(&Value::from("x")));
        assert_eq!(e.get(&p("[list][-1]")), Some(&Value::from("y")));
        assert_eq!(e.get(&p("[list][5]")), None);
    }

    #[test]
    fn metadata_is_never_serialised() {
        let mut e = Event::from_message("hello");
        e.set(&p("[@metadata][secret]"), "s");
        assert_eq!(e.get(&p("[@metadata][secret]")), Some(&Value::from("s")));
        assert!(!e.to_json_string().contains("secret"));
        assert!(e.to_json_string().contains("\"message\":\"hello\""));
    }

    #[test]
    fn tags() {
        let mut e = Event::new();
        e.add_tag("a");
        e.add_tag("a");
        e.add_tag("b");
        assert_eq!(e.tags().collect::<Vec<_>>(), ["a", "b"]);
        e.remove_tag("a");
        assert!(!e.has_tag("a") && e.has_tag("b"));
        let mut e = Event::new();
        e.set(&p("tags"), "solo");
        e.add_tag("x");
        assert_eq!(e.tags().collect::<Vec<_>>(), ["solo", "x"]);
    }
}
