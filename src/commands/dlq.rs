//! `ganymede dlq`: look into dead-letter files and send their events again.
//!
//! The `elasticsearch` output appends each event the cluster refused for
//! good to `<data-dir>/dead_letter/<pipeline>/<output id>.ndjson`, one
//! JSON object per line: `@timestamp` (when), `status`, `error`, `index`,
//! `action` and `event` (the document as sent).
//!
//! - `list` summarises each file: how many events, the oldest and newest,
//!   and how many of each error type.
//! - `replay` builds the pipeline from its file, starts only the output
//!   with the file's id, and feeds it the dead-lettered events (one batch
//!   per event, so each has its own receipt). Once every receipt is in,
//!   the file is rewritten (temporary file, then rename) with only what is
//!   still not delivered: events rejected again (their new records, with
//!   the new error), and events whose delivery did not finish (before the
//!   time limit or an interrupt; their original records). Records that
//!   cannot be read are kept as they are.

use crate::config::{ConfigError, ConfigErrors, ProcessEnv, load_all, nearest};
use crate::delivery::{Receipt, Status};
use crate::event::json::write_timestamp_str;
use crate::event::{Event, Value};
use crate::observe::{Health, Metrics};
use crate::outputs::elasticsearch::dead_letter::DeadLetters;
use crate::topology::{Batch, BuildOptions, BuiltOutput, OutputContext, Registry, build_pipeline};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// One dead-letter file found under a data folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterFile {
    /// The pipeline's folder name (its name, with `/` replaced).
    pub pipeline: String,
    /// The output's id (the file name without `.ndjson`).
    pub output: String,
    pub path: PathBuf,
}

/// Every `dead_letter/<pipeline>/<output>.ndjson` under `data_dir`, sorted.
pub fn dead_letter_files(data_dir: &Path) -> std::io::Result<Vec<DeadLetterFile>> {
    let root = data_dir.join("dead_letter");
    let mut found = Vec::new();
    let dirs = match std::fs::read_dir(&root) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for dir in dirs {
        let dir = dir?;
        let name = dir.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !dir.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(dir.path())? {
            let f = f?;
            let file = f.file_name().to_string_lossy().into_owned();
            let Some(output) = file.strip_suffix(".ndjson") else {
                continue;
            };
            if output.starts_with('.') || !f.file_type()?.is_file() {
                continue;
            }
            found.push(DeadLetterFile {
                pipeline: name.clone(),
                output: output.to_owned(),
                path: f.path(),
            });
        }
    }
    found.sort_by(|a, b| (&a.pipeline, &a.output).cmp(&(&b.pipeline, &b.output)));
    Ok(found)
}

/// What one dead-letter file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Readable records.
    pub count: usize,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
    /// Error type (`mapper_parsing_exception`, or `status 413` when the
    /// cluster gave no error object) → records.
    pub by_error: BTreeMap<String, usize>,
    /// Lines that are not a JSON record (a write cut short, say).
    pub unreadable: usize,
}

/// The error type of one record.
fn error_type(record: &serde_json::Value) -> String {
    let error = &record["error"];
    if let Some(t) = error["type"].as_str() {
        return t.to_owned();
    }
    if let Some(s) = error.as_str() {
        return s.to_owned();
    }
    match record["status"].as_u64() {
        Some(s) => format!("status {s}"),
        None => "unknown".to_owned(),
    }
}

/// Summarises the text of a dead-letter file.
pub fn summarize(text: &str) -> Summary {
    let mut s = Summary::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let record: serde_json::Value = match serde_json::from_str(line) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => {
                s.unreadable += 1;
                continue;
            }
        };
        s.count += 1;
        *s.by_error.entry(error_type(&record)).or_default() += 1;
        let time = record["@timestamp"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        if let Some(t) = time {
            s.oldest = Some(s.oldest.map_or(t, |o| o.min(t)));
            s.newest = Some(s.newest.map_or(t, |n| n.max(t)));
        }
    }
    s
}

fn time_text(t: Option<DateTime<Utc>>) -> String {
    let mut out = String::new();
    match t {
        Some(t) => write_timestamp_str(&mut out, &t),
        None => out.push('-'),
    }
    out
}

/// Error types by count (most first), e.g. `mapper_parsing_exception: 2`.
fn errors_text(s: &Summary) -> String {
    let mut errors: Vec<(&String, &usize)> = s.by_error.iter().collect();
    errors.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut parts: Vec<String> = errors.iter().map(|(t, n)| format!("{t}: {n}")).collect();
    if s.unreadable > 0 {
        parts.push(format!("unreadable lines: {}", s.unreadable));
    }
    parts.join(", ")
}

/// `ganymede dlq list`: one row per dead-letter file (or one JSON object
/// per line with `json`). Returns the exit code.
pub fn list(data_dir: &Path, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let files = match dead_letter_files(data_dir) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(
                err,
                "error: cannot read {}: {e}",
                data_dir.join("dead_letter").display()
            );
            return 1;
        }
    };
    let mut rows = Vec::new();
    let mut code = 0;
    for f in files {
        match std::fs::read_to_string(&f.path) {
            Ok(text) => rows.push((f, summarize(&text))),
            Err(e) => {
                let _ = writeln!(err, "error: cannot read {}: {e}", f.path.display());
                code = 1;
            }
        }
    }
    if json {
        for (f, s) in &rows {
            let v = serde_json::json!({
                "pipeline": f.pipeline,
                "output": f.output,
                "path": f.path.display().to_string(),
                "count": s.count,
                "oldest": s.oldest.map(|t| time_text(Some(t))),
                "newest": s.newest.map(|t| time_text(Some(t))),
                "errors": s.by_error,
                "unreadable": s.unreadable,
            });
            let _ = writeln!(out, "{v}");
        }
        return code;
    }
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "no dead letters under {}",
            data_dir.join("dead_letter").display()
        );
        return code;
    }
    let mut table: Vec<[String; 6]> = vec![[
        "PIPELINE".into(),
        "OUTPUT".into(),
        "EVENTS".into(),
        "OLDEST".into(),
        "NEWEST".into(),
        "ERRORS".into(),
    ]];
    for (f, s) in &rows {
        table.push([
            f.pipeline.clone(),
            f.output.clone(),
            s.count.to_string(),
            time_text(s.oldest),
            time_text(s.newest),
            errors_text(s),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &table {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i == 5 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let total: usize = rows.iter().map(|(_, s)| s.count).sum();
    let _ = writeln!(
        out,
        "{total} event{} in {} file{} under {}",
        if total == 1 { "" } else { "s" },
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        data_dir.join("dead_letter").display()
    );
    code
}

/// Settings of `ganymede dlq replay`.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub paths: Vec<PathBuf>,
    pub data_dir: PathBuf,
    /// Only this pipeline (default: every pipeline of `paths`).
    pub pipeline: Option<String>,
    /// Only this output id (default: every output with dead letters).
    pub output: Option<String>,
    /// Longest wait for the receipts of one file; what is unresolved then
    /// stays in the file.
    pub timeout: Duration,
}

/// How one file's replay went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    pub sent: usize,
    pub delivered: usize,
    pub rejected: usize,
    /// Not resolved in time (or abandoned by the output): kept as they were.
    pub unresolved: usize,
    /// Lines of the file that are not a record: kept as they were.
    pub unreadable: usize,
    /// Records in the file afterwards (including any appended meanwhile).
    pub remaining: usize,
}

/// Why a replay stopped waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Done,
    TimedOut,
    Interrupted,
}

/// `ganymede dlq replay`. Returns the exit code: 0 when every event sent
/// was resolved (delivered or rejected again), 1 otherwise.
pub async fn replay(
    opts: &ReplayOptions,
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let report = |err: &mut dyn Write, errors: &ConfigErrors| {
        for e in errors.iter() {
            let _ = writeln!(err, "error: {e}");
        }
        1
    };
    let configs = match load_all(&opts.paths, &ProcessEnv) {
        Ok(c) => c,
        Err(es) => return report(err, &es),
    };
    let selected: Vec<_> = match &opts.pipeline {
        None => configs.iter().collect(),
        Some(name) => {
            let found: Vec<_> = configs.iter().filter(|c| &c.name == name).collect();
            if found.is_empty() {
                let names = configs.iter().map(|c| c.name.as_str());
                let e = ConfigError::new(format!(
                    "no pipeline named `{name}` in the files given; they define {}",
                    configs
                        .iter()
                        .map(|c| format!("`{}`", c.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .with_suggestion(nearest(name, names));
                return report(err, &e.into());
            }
            found
        }
    };
    let build = BuildOptions {
        data_dir: opts.data_dir.clone(),
        once: true,
        metrics: Metrics::new(),
        health: Health::new(),
    };
    let mut code = 0;
    let mut replayed_files = 0;
    for cfg in selected {
        if let Some(id) = &opts.output
            && !cfg.outputs.iter().any(|o| &o.id == id)
        {
            let e = ConfigError::new(format!(
                "pipeline `{}` has no output with id `{id}`; its outputs are {}",
                cfg.name,
                cfg.outputs
                    .iter()
                    .map(|o| format!("`{}`", o.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .in_file(&cfg.file)
            .with_suggestion(nearest(id, cfg.outputs.iter().map(|o| o.id.as_str())));
            return report(err, &e.into());
        }
        let mut pipeline = match build_pipeline(cfg, registry, &build) {
            Ok(p) => p,
            Err(es) => return report(err, &es),
        };
        for built in std::mem::take(&mut pipeline.outputs) {
            if opts
                .output
                .as_ref()
                .is_some_and(|id| id.as_str() != &*built.id.id)
            {
                continue;
            }
            let path = DeadLetters::new(&opts.data_dir, &pipeline.name, &built.id.id)
                .path()
                .to_owned();
            let has_records = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
            if !has_records {
                if opts.output.is_some() {
                    let _ = writeln!(
                        out,
                        "{}/{}: nothing to replay ({} is absent or empty)",
                        pipeline.name,
                        built.id.id,
                        path.display()
                    );
                }
                continue;
            }
            replayed_files += 1;
            let label = format!("{}/{}", pipeline.name, built.id.id);
            match replay_file(&label, built, &path, &build, opts.timeout).await {
                Ok(r) => {
                    let _ = writeln!(
                        out,
                        "{label}: {} replayed from {}: {} delivered, {} rejected again, {} unresolved",
                        r.sent,
                        path.display(),
                        r.delivered,
                        r.rejected,
                        r.unresolved
                    );
                    if r.unreadable > 0 {
                        let _ = writeln!(
                            out,
                            "{label}: {} unreadable line{} kept as they were",
                            r.unreadable,
                            if r.unreadable == 1 { "" } else { "s" }
                        );
                    }
                    if r.remaining == 0 {
                        let _ = writeln!(out, "{label}: 0 left; {} removed", path.display());
                    } else {
                        let _ =
                            writeln!(out, "{label}: {} left in {}", r.remaining, path.display());
                    }
                    if r.unresolved > 0 {
                        code = 1;
                    }
                }
                Err(e) => {
                    let _ = writeln!(err, "error: {label}: {e}");
                    code = 1;
                }
            }
        }
    }
    if replayed_files == 0 && opts.output.is_none() {
        let _ = writeln!(
            out,
            "nothing to replay: no dead letters under {} for these pipelines",
            opts.data_dir.join("dead_letter").display()
        );
    }
    code
}

/// One line of the file: its text and, if it is a record, its event.
struct Line {
    text: String,
    is_record: bool,
    /// Taken when sent.
    event: Option<Event>,
}

fn read_lines(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let event = match crate::event::json::parse(l.as_bytes()) {
                Ok(Value::Object(mut record)) => match record.shift_remove("event") {
                    Some(Value::Object(fields)) => Some(Event::from_map(fields)),
                    _ => None,
                },
                _ => None,
            };
            Line {
                text: l.to_owned(),
                is_record: event.is_some(),
                event,
            }
        })
        .collect()
}

/// Replays one file through `output` and rewrites it.
async fn replay_file(
    label: &str,
    output: BuiltOutput,
    path: &Path,
    build: &BuildOptions,
    timeout: Duration,
) -> Result<Replayed, String> {
    let original =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let snapshot_len = original.len();
    let mut lines = read_lines(&String::from_utf8_lossy(&original));
    drop(original);

    // The output's own dead letters (events rejected again) go to a
    // scratch folder, read back below.
    let scratch = scratch_dir()?;
    let again_path = DeadLetters::new(&scratch, &output.id.pipeline, &output.id.id)
        .path()
        .to_owned();
    let (statuses, sent) = deliver(label, output, &scratch, build, &mut lines, timeout).await;
    let again = match std::fs::read(&again_path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("cannot read {}: {e}", again_path.display())),
    };
    let _ = std::fs::remove_dir_all(&scratch);
    let again = again?;

    let mut r = Replayed {
        sent,
        ..Replayed::default()
    };
    let mut keep: Vec<u8> = Vec::new();
    for (line, status) in lines.iter().zip(&statuses) {
        match status {
            _ if !line.is_record => r.unreadable += 1,
            Some(Status::Delivered) => {
                r.delivered += 1;
                continue;
            }
            Some(Status::Rejected) => {
                r.rejected += 1;
                continue;
            }
            Some(Status::Abandoned) | None => r.unresolved += 1,
        }
        keep.extend_from_slice(line.text.as_bytes());
        keep.push(b'\n');
    }
    keep.extend_from_slice(&again);
    rewrite(path, snapshot_len, keep, &mut r)?;
    Ok(r)
}

/// Runs `output` with its dead letters under `scratch`, sends it the
/// events of `lines` (one batch each) and waits for their receipts, at
/// most `timeout` or until Ctrl-C. Returns each line's final status
/// (`None`: not sent or not resolved) and how many events were sent.
async fn deliver(
    label: &str,
    output: BuiltOutput,
    scratch: &Path,
    build: &BuildOptions,
    lines: &mut [Line],
    timeout: Duration,
) -> (Vec<Option<Status>>, usize) {
    let (tx, rx) = flume::bounded::<Batch>(16);
    let abort = CancellationToken::new();
    let id = output.id.clone();
    let ctx = OutputContext::new(
        id.clone(),
        build
            .metrics
            .component(&id.pipeline, "output", &id.plugin, &id.id),
        build.health.component(&id.pipeline, &id.id),
        scratch.to_owned(),
        abort.clone(),
        rx,
    );
    let span = tracing::info_span!("output", component = %id.id, plugin = %id.plugin);
    let task = tokio::spawn(output.output.run(ctx).instrument(span));

    let mut statuses: Vec<Option<Status>> = vec![None; lines.len()];
    let mut pending: Vec<(usize, oneshot::Receiver<Status>)> = Vec::new();
    let mut sent = 0;
    let work = async {
        for (i, line) in lines.iter_mut().enumerate() {
            let Some(event) = line.event.take() else {
                continue;
            };
            let (receipt, status) = Receipt::with_channel();
            if tx
                .send_async(Batch::new(vec![event], receipt))
                .await
                .is_err()
            {
                // The output stopped (it failed): the rest stays.
                break;
            }
            sent += 1;
            pending.push((i, status));
        }
        drop(tx);
        for (i, status) in pending.iter_mut() {
            if let Ok(s) = status.await {
                statuses[*i] = Some(s);
            }
        }
    };
    let ended = tokio::select! {
        () = work => Ended::Done,
        () = tokio::time::sleep(timeout) => Ended::TimedOut,
        Ok(()) = tokio::signal::ctrl_c() => Ended::Interrupted,
    };
    if ended != Ended::Done {
        let why = match ended {
            Ended::TimedOut => "the time limit passed",
            _ => "interrupted",
        };
        tracing::warn!(
            output = label,
            "replay stopped before every event was resolved ({why}); unresolved events stay in the file"
        );
        abort.cancel();
    }
    match tokio::time::timeout(Duration::from_secs(30), task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => {
            tracing::error!(output = label, error = %format!("{e:#}"), "the output failed");
        }
        Ok(Err(e)) => tracing::error!(output = label, error = %e, "the output panicked"),
        Err(_) => {
            abort.cancel();
            tracing::error!(output = label, "the output did not stop in time");
        }
    }
    for (i, status) in pending.iter_mut() {
        if statuses[*i].is_none() {
            statuses[*i] = status.try_recv().ok();
        }
    }
    (statuses, sent)
}

/// A fresh, private scratch folder.
fn scratch_dir() -> Result<PathBuf, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "ganymede-dlq-replay-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Replaces the file with `content` plus whatever was appended to it since
/// it was read (`snapshot_len` bytes then), atomically; removes it when
/// nothing is left.
fn rewrite(
    path: &Path,
    snapshot_len: usize,
    mut content: Vec<u8>,
    r: &mut Replayed,
) -> Result<(), String> {
    let now = std::fs::read(path).unwrap_or_default();
    if now.len() > snapshot_len {
        content.extend_from_slice(&now[snapshot_len..]);
    }
    if !content.is_empty() && content.last() != Some(&b'\n') {
        content.push(b'\n');
    }
    r.remaining = String::from_utf8_lossy(&content)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    if r.remaining == 0 {
        return match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
        };
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.replay-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable once the folder is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok::<(), std::io::Error>(())
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot rewrite {}: {e}", path.display())
    })
}
