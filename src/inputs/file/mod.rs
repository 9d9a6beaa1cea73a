//! `file`: tails log files, Filebeat's filestream replacement.
//!
//! ```yaml
//! inputs:
//!   - file:
//!       paths: ["/var/log/jupiter/backend/*.log"]
//!       fields: { type: backend }
//!       json: {}                       # JSON-lines logs
//!       multiline: { preset: java }    # or pattern / negate / match
//! ```
//!
//! One blocking thread per input does everything in turn: it scans the
//! globs (on inotify events and every `scan_frequency`, or every
//! `poll_interval` without inotify), reads each open file a chunk at a time
//! in round-robin, turns lines into events and sends them in batches. Each
//! batch's receipt is tracked per file; once a second the contiguous
//! delivered prefix of every file goes to the registry. When outputs are
//! slow, sending blocks and reading pauses: memory stays bounded by the
//! channel and one chunk per file.
//!
//! File identity (see [`identity`]) survives renames; rotation by rename +
//! create, copytruncate and delete-while-open are handled; see the README.

mod config;
mod copies;
mod event;
mod harvester;
mod identity;
mod lines;
mod multiline;
mod progress;
mod registry;
mod scan;

pub use config::{
    Encoding, FileConfig, JsonLinesConfig, MultilineConfig, MultilineMatch, MultilinePreset,
    StartAt, Watch,
};
pub use identity::{FileKey, Fingerprint};
pub use registry::{Entry, Registry};

use crate::config::{ComponentConfig, ConfigErrors};
use crate::delivery::SharedCommitTracker;
use crate::topology::{Batch, BoxFuture, BuildContext, Input, InputContext};
use event::{EventShape, FileIdentity};
use harvester::Harvester;
use lines::Line;
use multiline::{Multiline, MultilineRule};
use regex::RegexSet;
use scan::Scanner;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Builds the input; compiles every regex now so `check` reports them.
pub fn build(c: &ComponentConfig, ctx: &BuildContext) -> Result<Box<dyn Input>, ConfigErrors> {
    let config: FileConfig = c.parse_options()?;
    let mut errors = ConfigErrors::default();
    let regexes = |key: &str, list: &[String], errors: &mut ConfigErrors| -> Option<RegexSet> {
        match RegexSet::new(list) {
            Ok(set) => Some(set),
            Err(e) => {
                errors.push(c.option_error(key, format!("invalid regex: {e}")));
                None
            }
        }
    };
    if config.paths.is_empty() {
        errors.push(c.option_error("paths", "give at least one glob pattern"));
    }
    for p in &config.paths {
        if let Err(e) = glob::Pattern::new(p) {
            errors.push(c.option_error("paths", format!("invalid glob `{p}`: {e}")));
        }
    }
    let exclude_files = regexes("exclude_files", &config.exclude_files, &mut errors);
    let include_lines = regexes("include_lines", &config.include_lines, &mut errors);
    let exclude_lines = regexes("exclude_lines", &config.exclude_lines, &mut errors);
    let multiline = match &config.multiline {
        Some(m) => match MultilineRule::compile(m) {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(c.option_error("multiline", e));
                None
            }
        },
        None => None,
    };
    let shape = match EventShape::new(&config) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(c.option_error("json", e));
            None
        }
    };
    if config.harvester_limit == 0 {
        errors.push(c.option_error("harvester_limit", "must be at least 1"));
    }
    if config.poll_interval.0.is_zero() {
        errors.push(c.option_error("poll_interval", "must be more than 0"));
    }
    let shape = match shape {
        Some(s) if errors.is_empty() => s,
        _ => return Err(errors),
    };
    let labels = [
        ("pipeline", ctx.pipeline.as_str()),
        ("component", c.id.as_str()),
    ];
    Ok(Box::new(FileInput {
        registry_path: ctx
            .data_dir
            .join("registry")
            .join(&ctx.pipeline)
            .join(format!("{}.json", c.id)),
        start_at: config.start_at.unwrap_or(if ctx.once {
            StartAt::Beginning
        } else {
            StartAt::End
        }),
        exclude_files: exclude_files.unwrap_or_else(RegexSet::empty),
        include_lines: include_lines.filter(|s| !s.is_empty()),
        exclude_lines: exclude_lines.filter(|s| !s.is_empty()),
        multiline,
        shape,
        truncations: ctx.metrics.counter(
            "ganymede_file_truncations_total",
            "Files found shorter than their read offset (copytruncate) and read again from 0.",
            &labels,
        ),
        bytes_read: ctx.metrics.counter(
            "ganymede_file_bytes_read_total",
            "Bytes read from files.",
            &labels,
        ),
        config,
    }))
}

/// A configured file input.
pub struct FileInput {
    config: FileConfig,
    registry_path: PathBuf,
    start_at: StartAt,
    exclude_files: RegexSet,
    include_lines: Option<RegexSet>,
    exclude_lines: Option<RegexSet>,
    multiline: Option<MultilineRule>,
    shape: EventShape,
    truncations: Arc<AtomicU64>,
    bytes_read: Arc<AtomicU64>,
}

impl Input for FileInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(async move {
            let handle = tokio::runtime::Handle::current();
            let span = tracing::Span::current();
            tokio::task::spawn_blocking(move || {
                let _entered = span.enter();
                Tail::new(*self, ctx, handle)?.run()
            })
            .await?
        })
    }
}

/// Where a known file stands.
enum Status {
    /// Open, in `active`.
    Active,
    /// Waiting for a free slot (harvester_limit), in `waiting`.
    Waiting,
    /// Closed; reopened when it grows past `resume`.
    Closed,
}

/// Everything known about a file while the input runs.
struct Known {
    path: PathBuf,
    fingerprint: Fingerprint,
    /// Offset to resume reading at when (re)opened.
    resume: u64,
    status: Status,
    /// Receipts of this file's batches, in read order.
    tracker: SharedCommitTracker<u64>,
    /// Not named by any glob since this time (unix seconds).
    gone_since: Option<i64>,
}

/// The running input.
struct Tail {
    input: FileInput,
    ctx: InputContext,
    runtime: tokio::runtime::Handle,
    registry: registry::Registry,
    scanner: Scanner,
    known: HashMap<FileKey, Known>,
    active: VecDeque<Harvester>,
    waiting: VecDeque<FileKey>,
    /// `None` when polling.
    watching: Option<Watching>,
    scan_every: Duration,
    progress: progress::Progress,
    copies: copies::Copies,
    /// A scan deferred a decision: scan again shortly.
    rescan_soon: bool,
}

/// File notifications and where they arrive.
struct Watching {
    _watcher: notify::RecommendedWatcher,
    wake: std::sync::mpsc::Receiver<WakeReason>,
}

enum WakeReason {
    /// A file was created, renamed or removed: rescan now.
    Rescan,
    /// A file was written.
    Data,
}

impl Tail {
    fn new(
        input: FileInput,
        ctx: InputContext,
        runtime: tokio::runtime::Handle,
    ) -> anyhow::Result<Self> {
        let registry = registry::Registry::load(&input.registry_path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read registry {}: {e}",
                input.registry_path.display()
            )
        })?;
        let scanner = Scanner::new(
            input.config.paths.clone(),
            input.exclude_files.clone(),
            input.config.symlinks,
        );
        let poll = input.config.poll_interval.0;
        let watching = match input.config.watch {
            Watch::Auto => watch(&scanner, poll),
            Watch::Poll => {
                tracing::info!(every = ?poll, "watch: poll; scanning for new and changed files without inotify");
                None
            }
        };
        let scan_every = match watching {
            Some(_) => input.config.scan_frequency.0,
            None => input.config.scan_frequency.0.min(poll),
        };
        let progress = progress::Progress::new(ctx.once);
        Ok(Tail {
            input,
            ctx,
            runtime,
            registry,
            scanner,
            known: HashMap::new(),
            active: VecDeque::new(),
            waiting: VecDeque::new(),
            watching,
            scan_every,
            progress,
            copies: copies::Copies::default(),
            rescan_soon: false,
        })
    }

    fn run(mut self) -> anyhow::Result<()> {
        let mut first_scan = true;
        let mut last_scan: Option<Instant> = None;
        let mut last_flush = Instant::now();
        let mut buf = vec![0u8; (self.input.config.read_buffer.0 as usize).max(4096)];
        let mut rescan = true;
        loop {
            if self.ctx.shutdown.is_cancelled() {
                break;
            }
            let soon = self.rescan_soon
                && last_scan.is_some_and(|t| t.elapsed() >= Duration::from_millis(250));
            if rescan || soon || last_scan.is_none_or(|t| t.elapsed() >= self.scan_every) {
                self.rescan_soon = false;
                self.scan(first_scan);
                first_scan = false;
                rescan = false;
                last_scan = Some(Instant::now());
            }
            self.activate();
            let read = match self.read_round(&mut buf) {
                Ok(n) => n,
                Err(Stop) => break,
            };
            for released in self.copies.take_released() {
                self.adopt(released, chrono::Utc::now().timestamp());
            }
            if last_flush.elapsed() >= Duration::from_secs(1) {
                self.commit();
                last_flush = Instant::now();
            }
            self.progress.tick();
            if self.ctx.once && self.active.is_empty() && self.waiting.is_empty() {
                break;
            }
            if read == 0 {
                rescan |= self.idle();
            }
        }
        self.finish()
    }

    /// Waits for a notification, at most a quarter second: open files are
    /// read again after each wait, with or without a notification, which
    /// is how appended lines are seen without inotify. Returns whether a
    /// rescan was asked for.
    fn idle(&self) -> bool {
        let tick = Duration::from_millis(250);
        let Some(w) = &self.watching else {
            // Without a watcher nobody sends on the channel: waiting on it
            // would return at once and spin. A `poll_interval` shorter than
            // the tick would otherwise be stretched to it.
            std::thread::sleep(tick.min(self.input.config.poll_interval.0));
            return false;
        };
        let mut rescan = matches!(w.wake.recv_timeout(tick), Ok(WakeReason::Rescan));
        while let Ok(r) = w.wake.try_recv() {
            rescan |= matches!(r, WakeReason::Rescan);
        }
        rescan
    }

    /// Stops sending, waits for outstanding receipts, commits.
    fn finish(mut self) -> anyhow::Result<()> {
        self.ctx.close();
        self.progress.finish();
        loop {
            self.commit();
            let settled = self
                .known
                .values()
                .all(|k| k.tracker.pending() == 0 || k.tracker.is_blocked());
            if settled {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.commit();
        Ok(())
    }

    /// Moves delivered offsets into the registry and writes it.
    fn commit(&mut self) {
        for (key, k) in &self.known {
            if let Some(pos) = k.tracker.take_committable() {
                self.registry.advance(key, pos);
            }
        }
        let now = chrono::Utc::now().timestamp();
        let cutoff = now - self.input.config.clean_removed_after.0.as_secs() as i64;
        let known = &self.known;
        let removed = self.registry.clean(cutoff, |key| {
            known
                .get(key)
                .is_some_and(|k| k.gone_since.is_none() || k.tracker.pending() > 0)
        });
        if removed > 0 {
            tracing::debug!(
                removed,
                "registry: forgot files gone longer than clean_removed_after"
            );
            let registry = &self.registry;
            self.known.retain(|key, k| {
                registry.get(key).is_some()
                    || k.tracker.pending() > 0
                    || matches!(k.status, Status::Active)
            });
        }
        if let Err(e) = self.registry.flush() {
            tracing::error!(error = %e, registry = %self.input.registry_path.display(),
                "cannot write the registry; delivered offsets will be re-read after a restart");
        }
    }

    /// Finds new, renamed, grown and vanished files.
    fn scan(&mut self, first_scan: bool) {
        let now = chrono::Utc::now().timestamp();
        let found = self.scanner.scan();
        let mut seen = std::collections::HashSet::new();
        for f in found {
            let key = FileKey::of(&f.meta);
            seen.insert(key);
            let size = f.meta.len();
            if self.copies.is_shadow(&key) {
                self.copies.observe(&key, size);
                continue;
            }
            if let Some(k) = self.known.get_mut(&key) {
                k.gone_since = None;
                if k.path != f.path {
                    tracing::info!(from = %k.path.display(), to = %f.path.display(), "file renamed; reading goes on");
                    k.path = f.path.clone();
                    if let Some(h) = self.active.iter_mut().find(|h| h.key == key) {
                        h.path = f.path.clone();
                        h.renamed = false;
                    }
                }
                let mut restart = false;
                if matches!(k.status, Status::Closed) && size != k.resume {
                    // Same device and inode is not yet the same file: while
                    // it was closed, the file may have been deleted and the
                    // inode reused, or rewritten in place. Other first bytes
                    // make it another file, read from its start even when it
                    // is longer than the old offset.
                    let replaced = std::fs::File::open(&f.path).ok().and_then(|mut file| {
                        match k.fingerprint.matches_prefix_of(&mut file) {
                            Ok(false) => {
                                Some(Fingerprint::read(&mut file, size).unwrap_or_default())
                            }
                            Ok(true) | Err(_) => None,
                        }
                    });
                    if size < k.resume {
                        self.input.truncations.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(path = %f.path.display(), offset = k.resume, size, "file is shorter than its offset (truncated): reading again from 0");
                        k.resume = 0;
                        restart = true;
                    } else if replaced.is_some() {
                        tracing::info!(path = %f.path.display(), "inode holds other content (deleted and recreated, or rewritten): reading it from the start");
                        k.resume = 0;
                        restart = true;
                    }
                    if let Some(fingerprint) = replaced {
                        k.fingerprint = fingerprint;
                    }
                    if restart {
                        // Receipts still pending for the old content must not
                        // move the offset of what the file holds now.
                        k.tracker = SharedCommitTracker::new();
                    }
                    k.status = Status::Waiting;
                    self.waiting.push_back(key);
                }
                let offset = if restart {
                    0
                } else {
                    self.registry.get(&key).map_or(0, |e| e.offset)
                };
                self.registry.put(Entry {
                    key,
                    path: k.path.clone(),
                    fingerprint: k.fingerprint,
                    offset,
                    last_seen: now,
                });
                continue;
            }
            if let Some(older) = self.input.config.ignore_older
                && f.meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age > older.0)
            {
                continue;
            }
            let mut file = match std::fs::File::open(&f.path) {
                Ok(file) => file,
                Err(e) => {
                    self.scanner.open_failed(&f.path, &e);
                    continue;
                }
            };
            let (fingerprint, resume) = match self.registry.get(&key) {
                Some(entry)
                    if entry
                        .fingerprint
                        .matches_prefix_of(&mut file)
                        .unwrap_or(false) =>
                {
                    if entry.offset > size {
                        self.input.truncations.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(path = %f.path.display(), offset = entry.offset, size, "file is shorter than its registry offset (truncated): reading again from 0");
                        (Fingerprint::default(), 0)
                    } else {
                        (entry.fingerprint, entry.offset)
                    }
                }
                other => {
                    if other.is_some() {
                        tracing::info!(path = %f.path.display(), "inode reused by a new file: reading it from the start");
                    }
                    let fingerprint = Fingerprint::read(&mut file, size).unwrap_or_default();
                    let active: Vec<(FileKey, Fingerprint)> =
                        self.active.iter().map(|h| (h.key, h.fingerprint)).collect();
                    let age = f
                        .meta
                        .modified()
                        .ok()
                        .and_then(|m| m.elapsed().ok())
                        .unwrap_or(Duration::MAX);
                    match self.copies.classify(&mut file, size, age, &active) {
                        copies::Verdict::Defer => {
                            self.rescan_soon = true;
                            continue;
                        }
                        copies::Verdict::CopyOf { offset } => {
                            tracing::info!(path = %f.path.display(), offset,
                                "copy of a truncated file (copytruncate): reading only what was not read from the original");
                            (fingerprint, offset)
                        }
                        copies::Verdict::Shadow { original } => {
                            tracing::debug!(path = %f.path.display(), original = %original,
                                "copy of an open file: waiting for the original's truncation");
                            self.copies
                                .shadow(key, original, f.path.clone(), fingerprint, size);
                            continue;
                        }
                        copies::Verdict::New => {
                            let start = if first_scan
                                && self.input.start_at == StartAt::End
                                && other.is_none()
                            {
                                size
                            } else {
                                0
                            };
                            (fingerprint, start)
                        }
                    }
                }
            };
            self.progress.add_total(size.saturating_sub(resume));
            self.registry.put(Entry {
                key,
                path: f.path.clone(),
                fingerprint,
                offset: resume,
                last_seen: now,
            });
            self.known.insert(
                key,
                Known {
                    path: f.path,
                    fingerprint,
                    resume,
                    status: Status::Waiting,
                    tracker: SharedCommitTracker::new(),
                    gone_since: None,
                },
            );
            self.waiting.push_back(key);
        }
        for (key, k) in self.known.iter_mut() {
            if !seen.contains(key) && k.gone_since.is_none() {
                k.gone_since = Some(now);
            }
        }
        self.copies.expire(&seen);
        for released in self.copies.take_released() {
            self.adopt(released, now);
        }
        // Open files no glob names any more: renamed away or deleted.
        for h in self.active.iter_mut() {
            if seen.contains(&h.key) {
                continue;
            }
            match std::fs::metadata(&h.path) {
                Ok(m) if FileKey::of(&m) != h.key => h.renamed = true,
                Ok(_) => {}
                Err(_) => h.removed = true,
            }
        }
    }

    /// Starts tracking a copy whose original was truncated, at the offset
    /// the original had been read to.
    fn adopt(&mut self, mut c: copies::Released, now: i64) {
        c.size = std::fs::metadata(&c.path).map_or(c.size, |m| m.len());
        c.offset = c.offset.min(c.size);
        self.progress.add_total(c.size.saturating_sub(c.offset));
        self.registry.put(Entry {
            key: c.key,
            path: c.path.clone(),
            fingerprint: c.fingerprint,
            offset: c.offset,
            last_seen: now,
        });
        self.known.insert(
            c.key,
            Known {
                path: c.path,
                fingerprint: c.fingerprint,
                resume: c.offset,
                status: Status::Waiting,
                tracker: SharedCommitTracker::new(),
                gone_since: None,
            },
        );
        self.waiting.push_back(c.key);
    }

    /// Opens waiting files while slots are free.
    fn activate(&mut self) {
        while self.active.len() < self.input.config.harvester_limit {
            let Some(key) = self.waiting.pop_front() else {
                break;
            };
            let Some(k) = self.known.get_mut(&key) else {
                continue;
            };
            let file = match std::fs::File::open(&k.path) {
                Ok(f) => f,
                Err(e) => {
                    self.scanner.open_failed(&k.path, &e);
                    k.status = Status::Closed;
                    continue;
                }
            };
            match file.metadata() {
                Ok(m) if FileKey::of(&m) == key => {}
                _ => {
                    // The path names another file now; the scan will find ours.
                    k.status = Status::Closed;
                    continue;
                }
            }
            k.status = Status::Active;
            let multiline = self.input.multiline.clone().map(Multiline::new);
            let opened = harvester::Opened {
                key,
                path: k.path.clone(),
                file,
                fingerprint: k.fingerprint,
            };
            let settings = harvester::LineSettings {
                encoding: self.input.config.encoding,
                max_line_bytes: self.input.config.max_line_bytes.0 as usize,
            };
            self.active
                .push_back(Harvester::new(opened, k.resume, settings, multiline));
        }
    }

    /// One chunk from every open file, in turn. Returns bytes read.
    fn read_round(&mut self, buf: &mut [u8]) -> Result<usize, Stop> {
        let mut total = 0;
        let now = Instant::now();
        let cfg = &self.input.config;
        let (partial_after, close_inactive, close_renamed) = (
            cfg.flush_partial_after.0,
            cfg.close_inactive.0,
            cfg.close_renamed,
        );
        let mut i = 0;
        while i < self.active.len() {
            let mut lines = Vec::new();
            let h = &mut self.active[i];
            let turn = match h.read_turn(buf, &mut lines) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(path = %h.path.display(), error = %e, "read failed; closing the file (it is reopened on the next scan)");
                    let mut h = self.active.remove(i).unwrap_or_else(|| unreachable!());
                    let resume = h.resume_offset();
                    let mut rest = Vec::new();
                    h.flush_all(&mut rest);
                    self.close(&h, resume);
                    continue;
                }
            };
            if let Some((fingerprint, offset)) = turn.truncated {
                self.input.truncations.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(path = %h.path.display(), offset, "file truncated (copytruncate?): reading again from 0");
                self.copies.truncated(h.key, fingerprint, offset);
            }
            total += turn.bytes;
            self.input
                .bytes_read
                .fetch_add(turn.bytes as u64, Ordering::Relaxed);
            self.progress.add_done(turn.bytes as u64);
            let idle = turn.bytes == 0 && h.at_eof;
            let gone = h.removed || (h.renamed && close_renamed);
            let closing = idle
                && (self.ctx.once || gone || now.duration_since(h.last_read) >= close_inactive);
            if closing {
                h.flush_all(&mut lines);
            } else if idle {
                h.flush_idle(now, partial_after, &mut lines);
            }
            let key = h.key;
            let resume = h.resume_offset();
            let rotate_out = idle && !closing && !self.waiting.is_empty();
            let identity = FileIdentity {
                key,
                fingerprint: h.fingerprint,
                head: match FileIdentity::head_needed(&lines) {
                    0 => None,
                    n => read_head(&h.path, key, n),
                },
            };
            self.send_lines(lines, identity)?;
            if closing {
                let h = self.active.remove(i).unwrap_or_else(|| unreachable!());
                self.close(&h, h.read_offset());
                continue;
            }
            if rotate_out {
                // Others wait for a slot: give this one up until it grows.
                let h = self.active.remove(i).unwrap_or_else(|| unreachable!());
                self.close(&h, resume);
                continue;
            }
            i += 1;
        }
        Ok(total)
    }

    fn close(&mut self, h: &Harvester, resume: u64) {
        if let Some(k) = self.known.get_mut(&h.key) {
            k.status = Status::Closed;
            k.resume = resume;
            k.fingerprint = h.fingerprint;
        }
    }

    /// Turns lines into events, each with its document id, and sends them
    /// in batches tracked at their end offsets. Lines filtered out still
    /// advance the commit point.
    fn send_lines(&mut self, lines: Vec<Line>, identity: FileIdentity) -> Result<(), Stop> {
        if lines.is_empty() {
            return Ok(());
        }
        let Some(k) = self.known.get(&identity.key) else {
            return Ok(());
        };
        let tracker = k.tracker.clone();
        let path = k.path.to_string_lossy().into_owned();
        let batch_size = self.ctx.batch_size;
        let mut events = Vec::with_capacity(lines.len().min(batch_size));
        let now = chrono::Utc::now();
        let total = lines.len();
        let mut shape = self.input.shape.batch(&path);
        for (idx, line) in lines.into_iter().enumerate() {
            let last_end = line.end;
            if self.keep(&line.text) {
                let id = self.ctx.document_ids.then(|| identity.line_id(&line));
                let mut event = shape.event(line, now);
                if let Some(id) = id {
                    event::set_id(&mut event, id);
                }
                events.push(event);
            }
            if events.len() >= batch_size || idx + 1 == total {
                shape = self.input.shape.batch(&path);
                let receipt = self.ctx.tracked_receipt(&tracker, last_end);
                let batch = Batch::new(std::mem::take(&mut events), receipt);
                let sent = self.runtime.block_on(async {
                    tokio::select! {
                        r = self.ctx.send(batch) => r.is_ok(),
                        _ = self.ctx.shutdown.cancelled() => false,
                    }
                });
                if !sent {
                    return Err(Stop);
                }
            }
        }
        Ok(())
    }

    fn keep(&self, text: &str) -> bool {
        if let Some(inc) = &self.input.include_lines
            && !inc.is_match(text)
        {
            return false;
        }
        if let Some(exc) = &self.input.exclude_lines
            && exc.is_match(text)
        {
            return false;
        }
        true
    }
}

/// The input is stopping: sending was refused.
struct Stop;

/// The first `len` bytes of the file `key`, if `path` still names it and
/// it is that long.
fn read_head(path: &std::path::Path, key: FileKey, len: u64) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).ok()?;
    if FileKey::of(&file.metadata().ok()?) != key {
        return None;
    }
    let mut head = vec![0u8; len as usize];
    file.read_exact_at(&mut head, 0).ok()?;
    Some(head)
}

/// Watches the globs' folders; `None` (with a warning) when notifications
/// are unavailable, e.g. inotify limits are exhausted. `poll` is only for
/// the warning: the caller polls at that period instead.
fn watch(scanner: &Scanner, poll: Duration) -> Option<Watching> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let (tx, wake) = std::sync::mpsc::channel();
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            let reason = match ev.kind {
                EventKind::Modify(notify::event::ModifyKind::Data(_)) => WakeReason::Data,
                EventKind::Access(_) => return,
                _ => WakeReason::Rescan,
            };
            let _ = tx.send(reason);
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, every = ?poll, "file notifications unavailable; polling instead");
            return None;
        }
    };
    for (root, recursive) in scanner.watch_roots() {
        let mode = if recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        if let Err(e) = watcher.watch(&root, mode) {
            tracing::warn!(folder = %root.display(), error = %e, every = ?poll,
                "cannot watch folder for new files (missing, or inotify limits reached); polling instead");
            return None;
        }
    }
    Some(Watching {
        _watcher: watcher,
        wake,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PipelineConfig, Span};

    fn component(options: &str) -> ComponentConfig {
        let text = format!(
            "inputs:\n  - file: {{paths: ['/var/log/*.log'], {options}}}\noutputs: [console: {{}}]\n"
        );
        let p = PipelineConfig::from_text(
            std::path::Path::new("p.yml"),
            &text,
            &HashMap::<String, String>::new(),
        )
        .unwrap_or_else(|e| panic!("{options}: {e}"));
        p.inputs.into_iter().next().unwrap()
    }

    #[test]
    fn watch_and_poll_interval_options() {
        let c: FileConfig = component("").parse_options().unwrap();
        assert_eq!(c.watch, Watch::Auto);
        assert_eq!(c.poll_interval, Span::secs(1));
        let c: FileConfig = component("watch: poll, poll_interval: 250ms")
            .parse_options()
            .unwrap();
        assert_eq!(c.watch, Watch::Poll);
        assert_eq!(c.poll_interval, Span::millis(250));

        let e = component("watch: inotify")
            .parse_options::<FileConfig>()
            .unwrap_err();
        assert!(
            e.message.contains("`auto`") && e.message.contains("`poll`"),
            "the error should list the choices: {e}"
        );
        let e = component("poll_interval: often")
            .parse_options::<FileConfig>()
            .unwrap_err();
        assert!(e.message.contains("not a duration"), "{e}");

        let ctx = BuildContext::for_tests("t");
        let errs = match build(&component("watch: poll, poll_interval: 0s"), &ctx) {
            Ok(_) => panic!("a zero poll_interval was accepted"),
            Err(e) => e,
        };
        assert_eq!(errs.len(), 1, "{errs}");
        assert!(errs.0[0].key.ends_with("poll_interval"), "{errs}");
        assert!(build(&component("watch: poll"), &ctx).is_ok());
    }
}
