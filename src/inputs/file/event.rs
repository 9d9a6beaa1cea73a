//! The shape of a file event (ECS): `message`, `@timestamp` (read time until
//! a filter sets it), `log.file.path`, `log.offset`, `host.name`,
//! `input.type: file`, plus configured `fields` and `tags`, and optionally
//! the line decoded as JSON.

use super::config::{FileConfig, JsonLinesConfig};
use super::identity::{FINGERPRINT_BYTES, FileKey, Fingerprint};
use super::lines::Line;
use crate::event::map::push_entry;
use crate::event::{Event, FieldPath, Key, MESSAGE, Map, TIMESTAMP, Value, json};
use crate::outputs::elasticsearch::doc_id::{self, Hasher128};
use chrono::{DateTime, Utc};

/// What identifies the file lines come from, for their document ids
/// (`[@metadata][_id]`, used by `document_id: auto`).
///
/// A line's id is a hash of the file's device and inode, of the file's
/// first bytes and of the line's start offset, so the same line of the
/// same file gets the same id whenever it is read again — after a crash
/// before its offset was committed, or with the registry gone.
///
/// The first bytes must be the same whenever the line is read, although
/// the file may have been shorter the first time: a line starting at or
/// after [`FINGERPRINT_BYTES`] uses the file's fingerprint (its first
/// `FINGERPRINT_BYTES`, which the file then certainly has); a line
/// starting before uses the bytes before it plus its own text.
pub struct FileIdentity {
    pub key: FileKey,
    /// The harvester's fingerprint when the lines were read.
    pub fingerprint: Fingerprint,
    /// The file's first bytes, at least up to the start of every line that
    /// starts within the first `FINGERPRINT_BYTES`; `None` if they could not
    /// be read (the file was renamed or truncated meanwhile): those lines
    /// then use the fingerprint, and a later replay may not recognise them
    /// (a duplicate, never a loss).
    pub head: Option<Vec<u8>>,
}

impl FileIdentity {
    /// Up to where the file's first bytes are needed for `lines`: the start
    /// of the last line starting within the first `FINGERPRINT_BYTES`.
    pub fn head_needed(lines: &[Line]) -> u64 {
        lines
            .iter()
            .map(|l| l.start)
            .filter(|s| *s < FINGERPRINT_BYTES)
            .max()
            .unwrap_or(0)
    }

    /// The document id of `line`.
    pub fn line_id(&self, line: &Line) -> Key {
        let mut h = Hasher128::new(0);
        h.write_field(b"file");
        h.write_u64(self.key.dev);
        h.write_u64(self.key.ino);
        let fp = self.fingerprint;
        let start = line.start;
        let head = match start {
            0 => Some(&[][..]),
            _ => self.head.as_deref(),
        };
        match head {
            _ if start >= FINGERPRINT_BYTES && fp.len == FINGERPRINT_BYTES => {
                h.write_u8(0);
                h.write_u64(fp.hash);
            }
            Some(head) if head.len() as u64 >= start => {
                h.write_u8(1);
                h.write_field(&head[..start as usize]);
                h.write_field(line.text.as_bytes());
            }
            _ => {
                h.write_u8(2);
                h.write_u64(fp.len);
                h.write_u64(fp.hash);
                h.write_field(line.text.as_bytes());
            }
        }
        h.write_u64(start);
        h.finish_id()
    }
}

/// Sets `[@metadata][_id]` unless it is already there.
pub fn set_id(event: &mut Event, id: Key) {
    let meta = event.metadata_mut();
    if !meta.contains_key(doc_id::METADATA_KEY) {
        meta.insert(doc_id::METADATA_KEY, Value::String(id));
    }
}

// Keys as constants: `Key::const_new` evaluated at run time builds the
// inline bytes one by one, which costs more than the rest of an event.
const FILE: Key = Key::const_new("file");
const OFFSET: Key = Key::const_new("offset");
const TIMESTAMP_KEY: Key = Key::const_new(TIMESTAMP);
const LOG: Key = Key::const_new("log");
const HOST: Key = Key::const_new("host");
const INPUT: Key = Key::const_new("input");
const MESSAGE_KEY: Key = Key::const_new(MESSAGE);

/// Builds events from lines, with everything fixed per input computed once.
pub struct EventShape {
    /// `host` and `input`, the same for the whole run: leaked once per
    /// input, so that an event's copy is a pointer (no allocation, and no
    /// reference count changed per event on two threads).
    host: Value,
    input: Value,
    fields: Vec<(String, Value)>,
    /// `fields` as one object (unless under the root), leaked likewise.
    fields_object: Option<Value>,
    /// `log.file` objects of the first [`KEPT_PATHS`] paths read, leaked
    /// likewise; later paths get one shared object per batch.
    paths: std::sync::Mutex<std::collections::HashMap<String, Value>>,
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

/// How many distinct paths get a `log.file` object kept for the run: a
/// bound on what is never freed (about 100 bytes each), however many
/// rotated or dated files a long run reads.
const KEPT_PATHS: usize = 1024;

/// A one-key object fixed for the whole run (see [`Map::leak`]).
fn fixed_object(key: &'static str, value: Value) -> Value {
    let mut m = Map::with_capacity(1);
    m.push_distinct(Key::const_new(key), value);
    Value::Object(m.leak())
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
        let fields: Vec<(String, Value)> = c
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        let fields_object = (!fields.is_empty() && !c.fields_under_root)
            .then(|| Value::Object(fields.iter().cloned().collect::<Map>().leak()));
        Ok(EventShape {
            host: fixed_object("name", Value::String(host_name().into())),
            input: fixed_object("type", Value::String(Key::const_new("file"))),
            fields,
            fields_object,
            paths: Default::default(),
            fields_under_root: c.fields_under_root,
            tags: c.tags.iter().map(|t| Value::from(t.as_str())).collect(),
            json,
        })
    }

    /// The parts of a batch's events that are the same for every line of
    /// `path`. `log.file` is kept for the run for the first
    /// [`KEPT_PATHS`] paths; past those it is built once per batch and
    /// shared by the batch's events, each batch with its own, so that the
    /// reading thread and the thread dropping an earlier batch never count
    /// references on the same memory.
    pub fn batch<'a>(&'a self, path: &str) -> BatchShape<'a> {
        let file = || {
            let mut file = Map::with_capacity(1);
            file.push_distinct(Key::const_new("path"), Value::String(path.into()));
            file
        };
        let log_file = {
            let mut paths = self.paths.lock().unwrap_or_else(|p| p.into_inner());
            match paths.get(path) {
                Some(v) => v.clone(),
                None if paths.len() < KEPT_PATHS => {
                    let v = Value::Object(file().leak());
                    paths.insert(path.to_owned(), v.clone());
                    v
                }
                None => Value::Object(file().share()),
            }
        };
        BatchShape {
            shape: self,
            log_file,
            host: self.host.clone(),
            input: self.input.clone(),
            fields: self.fields_object.clone(),
        }
    }

    /// The event for one line of `path`, read at `now`.
    #[cfg(test)]
    pub fn event(&self, line: Line, path: &str, now: DateTime<Utc>) -> Event {
        self.batch(path).event(line, now)
    }

    #[cfg(test)]
    pub fn plain() -> Self {
        EventShape {
            host: fixed_object("name", Value::from("h")),
            input: fixed_object("type", Value::from("file")),
            fields: Vec::new(),
            fields_object: None,
            paths: Default::default(),
            fields_under_root: false,
            tags: Vec::new(),
            json: None,
        }
    }
}

/// [`EventShape`] for the lines of one file in one batch.
pub struct BatchShape<'a> {
    shape: &'a EventShape,
    log_file: Value,
    host: Value,
    input: Value,
    /// The `fields` object, unless it goes under the root.
    fields: Option<Value>,
}

impl BatchShape<'_> {
    /// The event for one line, read at `now`.
    pub fn event(&self, line: Line, now: DateTime<Utc>) -> Event {
        let shape = self.shape;
        // The fixed keys are distinct, so they are laid out without a
        // search; only `fields_under_root` may meet one of them.
        // Entries are written in place, one by one (`push_entry`): an
        // array of entries, or a pair, is first built on the stack.
        let mut log = Vec::with_capacity(2);
        push_entry(&mut log, FILE, self.log_file.clone());
        push_entry(&mut log, OFFSET, Value::Integer(line.start as i64));
        let extra = usize::from(self.fields.is_some())
            + usize::from(!shape.tags.is_empty() || line.truncated);
        let mut entries = Vec::with_capacity(5 + extra);
        push_entry(&mut entries, TIMESTAMP_KEY, Value::Timestamp(now));
        push_entry(&mut entries, LOG, Value::Object(Map::from_distinct(log)));
        push_entry(&mut entries, HOST, self.host.clone());
        push_entry(&mut entries, INPUT, self.input.clone());
        let text = match &shape.json {
            None => {
                push_entry(&mut entries, MESSAGE_KEY, Value::String(line.text.into()));
                None
            }
            Some(_) => Some(line.text),
        };
        let mut fields = Map::from_distinct(entries);
        if let Some(f) = &self.fields {
            fields.insert("fields", f.clone());
        } else if shape.fields_under_root {
            for (k, v) in &shape.fields {
                fields.insert(k.as_str(), v.clone());
            }
        }
        if !shape.tags.is_empty() || line.truncated {
            let mut tags = shape.tags.clone();
            if line.truncated {
                tags.push(Value::from("_truncated"));
            }
            fields.insert("tags", Value::Array(tags));
        }
        let mut event = Event::from_fields(fields);
        if let (Some((target, cfg)), Some(text)) = (&shape.json, text) {
            decode_json(&mut event, text, target.as_ref(), cfg);
        }
        event
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
    fn every_path_gets_its_own_log_file_past_the_kept_ones() {
        let shape = EventShape::plain();
        for i in (0..KEPT_PATHS + 10).chain([3, KEPT_PATHS + 5]) {
            let path = format!("/var/log/app-{i}.log");
            let e = shape.event(line("x"), &path, Utc::now());
            assert_eq!(
                e.get(&p("log.file.path")),
                Some(&Value::from(path.as_str()))
            );
        }
        assert_eq!(shape.paths.lock().unwrap().len(), KEPT_PATHS);
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

    fn identity(head: Option<&[u8]>) -> FileIdentity {
        FileIdentity {
            key: FileKey { dev: 2049, ino: 77 },
            fingerprint: Fingerprint {
                len: FINGERPRINT_BYTES,
                hash: 0x1234_5678_9abc_def0,
            },
            head: head.map(<[u8]>::to_vec),
        }
    }

    fn at(start: u64, text: &str) -> Line {
        Line {
            text: text.into(),
            start,
            end: start + text.len() as u64 + 1,
            truncated: false,
        }
    }

    #[test]
    fn line_ids_are_stable_and_distinct() {
        let head: Vec<u8> = (0..FINGERPRINT_BYTES)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        let id = identity(Some(&head));
        // Fixed forever: a replay by a later version must find the same ids.
        assert_eq!(id.line_id(&at(5000, "x")), "vaA3biQebymBsT90vL7yRw");
        assert_eq!(id.line_id(&at(10, "x")), "z2wOh0TUyN7OM0RNe_3Y1Q");
        assert_eq!(id.line_id(&at(5000, "x")).len(), 22);

        let mut seen = std::collections::HashSet::new();
        for start in [0, 1, 10, 1023, 1024, 1025, 5000] {
            assert!(seen.insert(id.line_id(&at(start, "x"))), "{start}");
        }
        let other_inode = FileIdentity {
            key: FileKey { dev: 2049, ino: 78 },
            ..identity(Some(&head))
        };
        assert_ne!(
            other_inode.line_id(&at(5000, "x")),
            id.line_id(&at(5000, "x"))
        );
        let other_content = FileIdentity {
            fingerprint: Fingerprint {
                len: FINGERPRINT_BYTES,
                hash: 1,
            },
            ..identity(Some(&head))
        };
        assert_ne!(
            other_content.line_id(&at(5000, "x")),
            id.line_id(&at(5000, "x"))
        );
    }

    #[test]
    fn early_lines_keep_their_id_while_the_file_grows() {
        // First read: the file had 12 bytes, its fingerprint covered them.
        let short = FileIdentity {
            key: FileKey { dev: 1, ino: 2 },
            fingerprint: Fingerprint { len: 12, hash: 99 },
            head: Some(b"first\nsecon".to_vec()),
        };
        // Replay: the file is long now, the fingerprint complete.
        let long = FileIdentity {
            key: FileKey { dev: 1, ino: 2 },
            fingerprint: Fingerprint {
                len: FINGERPRINT_BYTES,
                hash: 7,
            },
            head: Some(b"first\nsecond\nthird\n".to_vec()),
        };
        for line in [at(0, "first"), at(6, "second")] {
            assert_eq!(short.line_id(&line), long.line_id(&line), "{line:?}");
        }
        // The same offset with other content before it or in it is another line.
        let rewritten = FileIdentity {
            head: Some(b"FIRST\nsecond\n".to_vec()),
            ..long
        };
        assert_ne!(
            rewritten.line_id(&at(6, "second")),
            short.line_id(&at(6, "second"))
        );
        assert_ne!(
            short.line_id(&at(0, "First")),
            short.line_id(&at(0, "first"))
        );
    }

    #[test]
    fn head_needed_is_the_last_early_start() {
        assert_eq!(FileIdentity::head_needed(&[]), 0);
        assert_eq!(FileIdentity::head_needed(&[at(0, "a"), at(2, "b")]), 2);
        assert_eq!(
            FileIdentity::head_needed(&[at(1000, "a"), at(2000, "b")]),
            1000
        );
        assert_eq!(FileIdentity::head_needed(&[at(1024, "a")]), 0);
    }

    #[test]
    fn an_existing_id_is_kept() {
        let mut e = EventShape::plain().event(line("x"), "/x", Utc::now());
        set_id(&mut e, "first".into());
        set_id(&mut e, "second".into());
        assert_eq!(e.get(&p("[@metadata][_id]")), Some(&Value::from("first")));
        assert!(
            !e.to_json_string().contains("first"),
            "metadata is not serialised"
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
