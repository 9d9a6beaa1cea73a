//! `file`: appends events as NDJSON to files named by a sprintf path.
//!
//! ```yaml
//! outputs:
//!   - file:
//!       path: "/var/log/archive/app-%{+YYYY.MM.dd}.ndjson"   # one file per day
//! ```
//!
//! Each event goes to the file its own `@timestamp` (and fields) name, so
//! `%{+YYYY.MM.dd}` rotates daily by event time. Data is fsynced before the
//! receipts resolve: once a source commits, the lines are on disk. Folders
//! are created as needed; files not written for `close_idle` are closed.

use crate::config::{ComponentConfig, ConfigErrors, Span};
use crate::delivery::{Outcome, Receipt};
use crate::event::Event;
use crate::expr::Template;
use crate::topology::{Batch, BoxFuture, BuildContext, Output, OutputContext};
use serde::Deserialize;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of the `file` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Target path; a sprintf template.
    pub path: String,
    /// Close a file after this long without writes (default 5m).
    #[serde(default = "default_close_idle")]
    pub close_idle: Span,
}

fn default_close_idle() -> Span {
    Span::secs(300)
}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Output>, ConfigErrors> {
    let config: FileConfig = c.parse_options()?;
    let path = Template::parse(&config.path)
        .map_err(|e| c.option_error("path", format!("invalid path template: {}", e.message)))?;
    Ok(Box::new(FileOutput {
        path,
        close_idle: config.close_idle.0,
    }))
}

/// Writes NDJSON files.
pub struct FileOutput {
    path: Template,
    close_idle: Duration,
}

impl FileOutput {
    pub fn new(path: Template, close_idle: Duration) -> Self {
        FileOutput { path, close_idle }
    }
}

struct OpenFile {
    file: File,
    last_write: Instant,
}

/// Open files by path, owned by the blocking writer.
#[derive(Default)]
struct Files {
    open: HashMap<PathBuf, OpenFile>,
}

impl Files {
    /// Appends each event to its file and fsyncs every file touched.
    fn write(&mut self, template: &Template, events: &[&Event]) -> std::io::Result<()> {
        let mut by_path: HashMap<PathBuf, Vec<u8>> = HashMap::new();
        let mut name = String::new();
        for e in events {
            name.clear();
            template.render(e, &mut name);
            let buf = by_path.entry(PathBuf::from(&name)).or_default();
            e.write_json(buf);
            buf.push(b'\n');
        }
        let now = Instant::now();
        for (path, bytes) in by_path {
            let slot = match self.open.entry(path.clone()) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir)?;
                    }
                    let file = OpenOptions::new().create(true).append(true).open(&path)?;
                    v.insert(OpenFile {
                        file,
                        last_write: now,
                    })
                }
            };
            slot.file.write_all(&bytes)?;
            slot.file.sync_data()?;
            slot.last_write = now;
        }
        Ok(())
    }

    fn close_idle(&mut self, idle: Duration) {
        let now = Instant::now();
        self.open
            .retain(|_, f| now.duration_since(f.last_write) < idle);
    }
}

/// Most batches written, and fsynced, together.
const MAX_BATCHES_PER_WRITE: usize = 64;

impl Output for FileOutput {
    fn run(self: Box<Self>, ctx: OutputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async move {
            let template = std::sync::Arc::new(self.path);
            let mut files = Files::default();
            let mut backoff = Duration::from_millis(100);
            while let Some(first) = ctx.recv().await {
                let mut batches: Vec<Batch> = vec![first];
                while batches.len() < MAX_BATCHES_PER_WRITE {
                    match ctx.try_recv() {
                        Some(b) => batches.push(b),
                        None => break,
                    }
                }
                loop {
                    let t = template.clone();
                    let (result, f, b) = tokio::task::spawn_blocking(move || {
                        let refs: Vec<&Event> = batches.iter().flat_map(|b| &b.events).collect();
                        let r = files.write(&t, &refs);
                        (r, files, batches)
                    })
                    .await?;
                    files = f;
                    batches = b;
                    match result {
                        Ok(()) => {
                            ctx.health.healthy();
                            backoff = Duration::from_millis(100);
                            let n: usize = batches.iter().map(Batch::len).sum();
                            ctx.metrics.add_out(n);
                            for b in batches {
                                b.receipt.resolve(Outcome::Delivered);
                            }
                            break;
                        }
                        Err(e) => {
                            // Never resolve what is not on disk: retry until
                            // the disk takes it or the process gives up.
                            tracing::error!(error = %e, retry_in = ?backoff, "file output: write failed");
                            ctx.health.failing(format!("cannot write: {e}"));
                            tokio::select! {
                                _ = ctx.abort.cancelled() => {
                                    batches.into_iter().for_each(|b| Receipt::abandon(b.receipt));
                                    return Ok(());
                                }
                                _ = tokio::time::sleep(backoff) => {}
                            }
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                        }
                    }
                }
                files.close_idle(self.close_idle);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Status;
    use chrono::TimeZone;

    #[tokio::test]
    async fn rotates_daily_by_event_time_and_resolves_after_write() {
        let dir = tempfile::tempdir().unwrap();
        let template = Template::parse(&format!(
            "{}/out-%{{+YYYY.MM.dd}}.ndjson",
            dir.path().display()
        ))
        .unwrap();
        let (ctx, tx) = OutputContext::detached(4);
        let task =
            tokio::spawn(Box::new(FileOutput::new(template, Duration::from_secs(60))).run(ctx));
        let mut events = Vec::new();
        for (day, n) in [(1, 2), (2, 3), (3, 1)] {
            for i in 0..n {
                let mut e = Event::from_message(format!("day{day}-{i}"));
                e.set_timestamp(
                    chrono::Utc
                        .with_ymd_and_hms(2026, 3, day, 23, 59, 59)
                        .unwrap(),
                );
                events.push(e);
            }
        }
        let (receipt, status) = Receipt::with_channel();
        tx.send_async(Batch::new(events, receipt)).await.unwrap();
        assert_eq!(status.await.unwrap(), Status::Delivered);
        for (day, n) in [(1, 2), (2, 3), (3, 1)] {
            let p = dir.path().join(format!("out-2026.03.0{day}.ndjson"));
            let text = std::fs::read_to_string(&p).unwrap();
            assert_eq!(text.lines().count(), n, "{}", p.display());
            assert!(text.lines().all(|l| l.contains(&format!("day{day}-"))));
        }
        drop(tx);
        task.await.unwrap().unwrap();
    }
}
