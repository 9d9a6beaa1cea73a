//! The dead-letter file: events that Elasticsearch refused for good.
//!
//! A document that can never be indexed (a field of the wrong type, an
//! invalid index name, a document larger than the server accepts) must not
//! block the pipeline, and must not be lost either. It is appended, as one
//! JSON line, to `<data_dir>/dead_letter/<pipeline>/<component>.ndjson`:
//!
//! ```json
//! {"@timestamp":"2026-11-27T10:00:00.000Z","status":400,
//!  "error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] …"},
//!  "index":"jupiter-logs-2026.11.27","action":{"index":{"_index":"jupiter-logs-2026.11.27"}},
//!  "event":{…the document as it was sent…}}
//! ```
//!
//! The file is fsynced before the events' receipts resolve as rejected, so
//! a source commits only what is either in Elasticsearch or in this file.

use crate::event::json;
use chrono::Utc;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The dead-letter file of one output.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl DeadLetters {
    /// The file for `component` of `pipeline` under `data_dir`; opened on
    /// first use.
    pub fn new(data_dir: &Path, pipeline: &str, component: &str) -> Arc<Self> {
        Arc::new(DeadLetters {
            path: data_dir
                .join("dead_letter")
                .join(sanitise(pipeline))
                .join(format!("{}.ndjson", sanitise(component))),
            file: Mutex::new(None),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `records` (complete lines) and fsyncs, off the async
    /// threads.
    pub async fn append(self: &Arc<Self>, records: Vec<u8>) -> std::io::Result<()> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.append_blocking(&records))
            .await
            .map_err(std::io::Error::other)?
    }

    fn append_blocking(&self, records: &[u8]) -> std::io::Result<()> {
        let mut slot = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            *slot = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        let Some(file) = slot.as_mut() else {
            unreachable!("opened above")
        };
        let written = file.write_all(records).and_then(|()| file.sync_data());
        if written.is_err() {
            // Reopen next time: the file may have been moved or the disk
            // may have been full.
            *slot = None;
        }
        written
    }
}

/// Appends one dead-letter record (with its newline) to `out`.
///
/// `action` and `source` are the item's lines as sent (valid JSON);
/// `error` is the server's error object, if any.
pub fn write_record(
    out: &mut Vec<u8>,
    status: u16,
    error: Option<&serde_json::Value>,
    action: &[u8],
    source: &[u8],
) {
    out.extend_from_slice(b"{\"@timestamp\":\"");
    json::write_timestamp(out, &Utc::now());
    out.extend_from_slice(b"\",\"status\":");
    out.extend_from_slice(status.to_string().as_bytes());
    out.extend_from_slice(b",\"error\":");
    match error {
        Some(e) => {
            // serde_json writes compact JSON; it cannot fail into a Vec.
            let _ = serde_json::to_writer(&mut *out, e);
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"index\":");
    json::write_str(out, &index_of(action));
    out.extend_from_slice(b",\"action\":");
    out.extend_from_slice(action);
    out.extend_from_slice(b",\"event\":");
    out.extend_from_slice(source);
    out.extend_from_slice(b"}\n");
}

/// The `_index` named by an action line.
fn index_of(action: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(action).ok();
    parsed
        .as_ref()
        .and_then(|v| v.as_object())
        .and_then(|o| o.values().next())
        .and_then(|meta| meta.get("_index"))
        .and_then(|i| i.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// A file name part from an id: path separators and dots-only names are
/// replaced.
fn sanitise(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "_".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_quotes_the_event_and_the_reason() {
        let mut out = Vec::new();
        let error = serde_json::json!({"type":"mapper_parsing_exception","reason":"bad [n]"});
        write_record(
            &mut out,
            400,
            Some(&error),
            br#"{"index":{"_index":"logs-2026.11.27"}}"#,
            br#"{"n":"x"}"#,
        );
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["error"]["reason"], "bad [n]");
        assert_eq!(v["index"], "logs-2026.11.27");
        assert_eq!(v["event"]["n"], "x");
        assert_eq!(v["action"]["index"]["_index"], "logs-2026.11.27");
        assert!(v["@timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[tokio::test]
    async fn appends_under_the_pipeline_and_component() {
        let dir = tempfile::tempdir().unwrap();
        let dl = DeadLetters::new(dir.path(), "jupiter/../x", "es-0");
        dl.append(b"{\"a\":1}\n".to_vec()).await.unwrap();
        dl.append(b"{\"a\":2}\n".to_vec()).await.unwrap();
        let expected = dir.path().join("dead_letter/jupiter_.._x/es-0.ndjson");
        assert_eq!(dl.path(), expected);
        assert_eq!(
            std::fs::read_to_string(expected).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
    }
}
