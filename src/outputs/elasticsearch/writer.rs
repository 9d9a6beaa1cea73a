//! The runtime: batches in, bulk requests out, receipts resolved.
//!
//! One intake loop fills a [`RequestBuilder`] from the channel and cuts a
//! request at `max_bytes`, `max_events` or after `linger`. Up to
//! `concurrency` requests are in flight, each in a task that owns it until
//! every one of its items is resolved: written, a duplicate, or
//! dead-lettered. Items that failed for a passing reason (429, 5xx) are
//! re-sent, alone, after a backoff; the task keeps its slot meanwhile, and
//! the intake reads no more batches than the free slots can take, so a
//! struggling cluster slows the whole pipeline instead of filling memory.
//!
//! A batch from the channel may be spread over several requests, or share
//! one with other batches: each item holds a share of its batch's receipt,
//! and the batch resolves when the last share does — as rejected if any of
//! its events went to the dead-letter file.

use super::backoff::Backoff;
use super::buffers::COMPRESSED;
use super::bulk::{Docs, Item, Preparer, Request, RequestBuilder};
use super::config::{Limits, RetryPolicy, TemplateSetup};
use super::dead_letter::{self, DeadLetters};
use super::response::{self, Parsed, Verdict};
use super::transport::{Transport, TransportError};
use crate::delivery::Outcome;
use crate::observe::{ComponentHealth, ComponentMetrics};
use crate::topology::{Batch, OutputContext};
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

/// Counters beyond the standard per-component ones.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// `create`s answered 409: replays of documents already written.
    pub duplicates: Arc<AtomicU64>,
    /// Items sent again after a 429/5xx or a failed request.
    pub retried: Arc<AtomicU64>,
    /// Bulk requests answered (any status).
    pub requests: Arc<AtomicU64>,
}

/// What the writer needs, besides the channel.
pub struct Writer {
    /// Names events and serialises batches before the channel; takes its
    /// buffers back.
    pub preparer: Arc<Preparer>,
    pub limits: Limits,
    pub retry: RetryPolicy,
    pub compression_level: u32,
    pub transport: Transport,
    pub template: Option<TemplateSetup>,
    pub counters: Counters,
}

/// Bodies smaller than this are compressed on the async thread.
const INLINE_GZIP_LIMIT: usize = 64 * 1024;

/// After this many failed requests in a row, readiness reports failing.
pub(crate) const FAILURES_BEFORE_UNHEALTHY: u32 = 3;

/// State shared by the delivery tasks.
struct Shared {
    transport: Transport,
    query: String,
    compression_level: u32,
    retry: RetryPolicy,
    dead_letters: Arc<DeadLetters>,
    metrics: Arc<ComponentMetrics>,
    health: ComponentHealth,
    counters: Counters,
    consecutive_failures: AtomicU32,
}

/// Runs until the channel closes and everything taken is resolved, or
/// until `ctx.abort` fires (unresolved receipts are then abandoned).
pub async fn run(w: Writer, ctx: OutputContext) -> anyhow::Result<()> {
    let mut query = String::from("filter_path=errors,items.*.error,items.*.status");
    if let Some(p) = w.preparer.naming().constant_pipeline() {
        query.push_str("&pipeline=");
        percent_encode(p, &mut query);
    }
    let shared = Arc::new(Shared {
        transport: w.transport,
        query,
        compression_level: w.compression_level,
        retry: w.retry,
        dead_letters: DeadLetters::new(&ctx.data_dir, &ctx.component.pipeline, &ctx.component.id),
        metrics: ctx.metrics.clone(),
        health: ctx.health.clone(),
        counters: w.counters,
        consecutive_failures: AtomicU32::new(0),
    });

    tokio::select! {
        _ = ctx.abort.cancelled() => return Ok(()),
        _ = super::setup::run(
            &shared.transport,
            w.template.as_ref(),
            &shared.health,
            (w.retry.initial, w.retry.max),
        ) => {}
    }

    let limits = w.limits;
    let preparer = w.preparer;
    let mut open = RequestBuilder::new(limits.max_bytes, limits.max_events);
    let mut sealed: VecDeque<Request> = VecDeque::new();
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut deadline: Option<Instant> = None;
    let mut closed = false;
    loop {
        while in_flight.len() < limits.concurrency {
            let Some(request) = sealed.pop_front() else {
                break;
            };
            let shared = shared.clone();
            let abort = ctx.abort.clone();
            let task = async move {
                tokio::select! {
                    _ = abort.cancelled() => {}
                    _ = shared.deliver(request) => {}
                }
            };
            // Log lines of the task carry the pipeline and component.
            in_flight.spawn(task.instrument(tracing::Span::current()));
        }
        if closed && sealed.is_empty() && open.is_empty() && in_flight.is_empty() {
            return Ok(());
        }
        // Backpressure: a full request waiting for a slot stops intake.
        let can_read = !closed && sealed.is_empty();
        let linger = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = ctx.abort.cancelled() => {
                // Dropping what is not sent abandons its receipts.
                in_flight.shutdown().await;
                return Ok(());
            }
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    anyhow::bail!("an elasticsearch delivery task panicked: {e}");
                }
            }
            batch = ctx.recv(), if can_read => match batch {
                None => {
                    closed = true;
                    if !open.is_empty() {
                        sealed.push_back(open.take());
                        deadline = None;
                    }
                }
                Some(Batch { events, receipt, prepared }) => {
                    if let Some(prepared) = prepared {
                        let Ok(docs) = prepared.data.downcast::<Docs>() else {
                            anyhow::bail!("a batch prepared by another output reached elasticsearch");
                        };
                        let mut next = 0;
                        while next < docs.len() {
                            next = open.append(&docs, next, &receipt);
                            if open.is_full() {
                                sealed.push_back(open.take());
                                deadline = None;
                            }
                        }
                        preparer.recycle(docs);
                    }
                    for event in &events {
                        open.push(preparer.naming(), event, receipt.clone());
                        if open.is_full() {
                            sealed.push_back(open.take());
                            deadline = None;
                        }
                    }
                    // Every event holds its own share now; this one has
                    // nothing left to say (an empty batch is done).
                    receipt.resolve(Outcome::Delivered);
                    if !open.is_empty() && deadline.is_none() {
                        deadline = Some(Instant::now() + limits.linger);
                    }
                }
            },
            _ = linger => {
                sealed.push_back(open.take());
                deadline = None;
            }
        }
    }
}

/// The next step for a request after one attempt.
enum Step {
    /// Every item is resolved.
    Done,
    /// 413: send the halves one after the other.
    Split(Request, Request),
    /// Try again after a backoff.
    Retry {
        request: Request,
        /// The body changed (a subset of the items): compress again.
        rebuilt: bool,
        /// Some items were resolved: the cluster is answering.
        progress: bool,
        why: String,
    },
}

impl Shared {
    /// Sends `first` until each of its items is resolved.
    async fn deliver(&self, first: Request) {
        let mut work = vec![first];
        let mut backoff = Backoff::new(self.retry.initial, self.retry.max);
        while let Some(mut request) = work.pop() {
            let mut payload: Option<Bytes> = None;
            let mut last_failure = String::new();
            loop {
                if let Some(limit) = self.retry.max_retries
                    && request.attempts > limit
                {
                    self.give_up(request, &last_failure, &mut backoff).await;
                    break;
                }
                let bytes = match &payload {
                    Some(b) => b.clone(),
                    None => {
                        let b = self.encode(request.body.clone()).await;
                        // Uncompressed, the payload is the body itself:
                        // nothing to keep apart.
                        if self.compression_level > 0 {
                            payload = Some(b.clone());
                        }
                        b
                    }
                };
                request.attempts += 1;
                match self.attempt(request, bytes, &mut backoff).await {
                    Step::Done => {
                        backoff.reset();
                        break;
                    }
                    Step::Split(a, b) => {
                        work.push(b);
                        work.push(a);
                        break;
                    }
                    Step::Retry {
                        request: next,
                        rebuilt,
                        progress,
                        why,
                    } => {
                        if rebuilt {
                            recycle(&mut payload);
                        }
                        if progress {
                            backoff.reset();
                        }
                        self.counters
                            .retried
                            .fetch_add(next.len() as u64, Ordering::Relaxed);
                        last_failure = why;
                        request = next;
                        tokio::time::sleep(backoff.next_delay()).await;
                    }
                }
            }
            recycle(&mut payload);
        }
    }

    /// One send of `request` (as `payload`) and what follows from the
    /// answer.
    async fn attempt(&self, request: Request, payload: Bytes, backoff: &mut Backoff) -> Step {
        let retry = |request: Request, why: String| Step::Retry {
            request,
            rebuilt: false,
            progress: false,
            why,
        };
        let gzip = self.compression_level > 0;
        let resp = match self.transport.bulk(&self.query, payload, gzip).await {
            Ok(r) => r,
            Err(e) => {
                let why = match &e {
                    TransportError::Timeout { .. } => format!("bulk request timed out: {e}"),
                    TransportError::Failed { .. } => format!("bulk request failed: {e}"),
                };
                tracing::warn!(
                    events = request.len(),
                    attempt = request.attempts,
                    "elasticsearch: {why}; retrying"
                );
                self.note_failure(&why);
                return retry(request, why);
            }
        };
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let status = resp.status.as_u16();
        match status {
            200..=299 => match response::parse(&resp.body, request.len()) {
                Ok(parsed) => {
                    self.note_success();
                    self.settle(request, parsed, backoff).await
                }
                Err(e) => {
                    let why = format!("{}: {e}", resp.host);
                    tracing::warn!(body = %resp.body_excerpt(), "elasticsearch: {why}; retrying the request");
                    self.note_failure(&why);
                    retry(request, why)
                }
            },
            413 if request.len() > 1 => {
                tracing::info!(
                    events = request.len(),
                    bytes = request.body.len(),
                    "elasticsearch: request too large for the server (413); splitting it in halves"
                );
                let (a, b) = request.split();
                Step::Split(a, b)
            }
            413 => {
                let error = serde_json::json!({
                    "type": "request_entity_too_large",
                    "reason": format!(
                        "the document alone ({} bytes) exceeds the server's request size limit",
                        request.body.len()
                    ),
                });
                self.dead_letter_all(request, 413, &error, backoff).await;
                Step::Done
            }
            401 | 403 => {
                let why = format!(
                    "{} refused the request ({}): check the credentials and their privileges",
                    resp.host, resp.status
                );
                tracing::error!(body = %resp.body_excerpt(), "elasticsearch: {why}; retrying");
                self.health.failing(why.clone());
                retry(request, why)
            }
            429 => {
                tracing::debug!(host = %resp.host, "elasticsearch: cluster busy (429); retrying");
                retry(request, format!("{}: 429 Too Many Requests", resp.host))
            }
            _ => {
                let why = format!("{} answered {}", resp.host, resp.status);
                tracing::warn!(body = %resp.body_excerpt(), "elasticsearch: {why}; retrying");
                self.note_failure(&why);
                retry(request, why)
            }
        }
    }

    /// Resolves the items of an answered request; returns the ones to
    /// send again.
    async fn settle(&self, request: Request, parsed: Parsed, backoff: &mut Backoff) -> Step {
        let results = match parsed {
            Parsed::AllOk => {
                let n = request.len();
                let mut request = request;
                for item in request.take_items() {
                    item.receipt.resolve(Outcome::Delivered);
                }
                self.metrics.add_out(n);
                return Step::Done;
            }
            Parsed::Items(results) => results,
        };

        let mut records = Vec::new();
        let mut verdicts = Vec::with_capacity(results.len());
        let mut first_dead: Option<usize> = None;
        let mut refused: Option<usize> = None;
        let mut first_retry: Option<usize> = None;
        for (i, res) in results.iter().enumerate() {
            let v = response::classify(res.status, request.items[i].kind);
            match v {
                Verdict::DeadLetter => {
                    first_dead.get_or_insert(i);
                    dead_letter::write_record(
                        &mut records,
                        res.status,
                        res.error.as_ref(),
                        request.action_line(i),
                        request.source_line(i),
                    );
                }
                Verdict::Unauthorized => {
                    refused.get_or_insert(i);
                }
                Verdict::Retry => {
                    first_retry.get_or_insert(i);
                }
                Verdict::Delivered | Verdict::Duplicate => {}
            }
            verdicts.push(v);
        }
        if let Some(i) = refused {
            let why = format!(
                "documents refused ({}: {}): check the privileges of the credentials",
                results[i].status,
                results[i].reason()
            );
            tracing::error!("elasticsearch: {why}; retrying");
            self.health.failing(why);
        }

        let attempts = request.attempts;
        let mut request = request;
        let items = request.take_items();
        let (mut written, mut duplicates) = (0, 0);
        let mut again: Vec<Item> = Vec::new();
        let mut dead: Vec<Item> = Vec::new();
        for (item, v) in items.into_iter().zip(verdicts) {
            match v {
                Verdict::Delivered => {
                    written += 1;
                    item.receipt.resolve(Outcome::Delivered);
                }
                Verdict::Duplicate => {
                    duplicates += 1;
                    item.receipt.resolve(Outcome::Delivered);
                }
                Verdict::Retry | Verdict::Unauthorized => again.push(item),
                Verdict::DeadLetter => dead.push(item),
            }
        }
        self.metrics.add_out(written + duplicates);
        if duplicates > 0 {
            self.counters
                .duplicates
                .fetch_add(duplicates as u64, Ordering::Relaxed);
            tracing::debug!(
                duplicates,
                "elasticsearch: documents already present (409), counted as written"
            );
        }
        let dead_count = dead.len();
        if let Some(i) = first_dead {
            tracing::warn!(
                events = dead_count,
                status = results[i].status,
                error_type = results[i].error_type(),
                reason = results[i].reason(),
                file = %self.dead_letters.path().display(),
                "elasticsearch: documents refused for good; written to the dead-letter file"
            );
            self.write_dead_letters(records, dead, backoff).await;
        }
        if again.is_empty() {
            return Step::Done;
        }
        let why = first_retry
            .map(|i| {
                format!(
                    "{} items failed ({}: {} {})",
                    again.len(),
                    results[i].status,
                    results[i].error_type(),
                    results[i].reason()
                )
            })
            .unwrap_or_else(|| format!("{} items refused", again.len()));
        tracing::debug!(
            events = again.len(),
            "elasticsearch: {why}; retrying those items"
        );
        Step::Retry {
            request: Request::from_items(&request.body, again, attempts),
            rebuilt: true,
            progress: written + duplicates + dead_count > 0,
            why,
        }
    }

    /// Dead-letters every item of `request` with the same status and error.
    async fn dead_letter_all(
        &self,
        request: Request,
        status: u16,
        error: &serde_json::Value,
        backoff: &mut Backoff,
    ) {
        let mut records = Vec::new();
        for i in 0..request.len() {
            dead_letter::write_record(
                &mut records,
                status,
                Some(error),
                request.action_line(i),
                request.source_line(i),
            );
        }
        tracing::warn!(
            events = request.len(),
            status,
            reason = error.get("reason").and_then(|r| r.as_str()).unwrap_or(""),
            file = %self.dead_letters.path().display(),
            "elasticsearch: events written to the dead-letter file"
        );
        let mut request = request;
        let items = request.take_items();
        drop(request);
        self.write_dead_letters(records, items, backoff).await;
    }

    /// `max_retries` is spent: the items go to the dead-letter file.
    async fn give_up(&self, request: Request, last_failure: &str, backoff: &mut Backoff) {
        let error = serde_json::json!({
            "type": "retries_exhausted",
            "reason": format!(
                "not written after {} attempts; last failure: {last_failure}",
                request.attempts
            ),
        });
        self.dead_letter_all(request, 0, &error, backoff).await;
    }

    /// Appends and fsyncs `records`, then resolves `items` as rejected.
    /// A failing disk is retried: nothing resolves before it is written.
    async fn write_dead_letters(&self, records: Vec<u8>, items: Vec<Item>, backoff: &mut Backoff) {
        loop {
            match self.dead_letters.append(records.clone()).await {
                Ok(()) => break,
                Err(e) => {
                    let why = format!(
                        "cannot write the dead-letter file {}: {e}",
                        self.dead_letters.path().display()
                    );
                    tracing::error!("elasticsearch: {why}; retrying");
                    self.health.failing(why);
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
        self.metrics.add_failed(items.len());
        for item in items {
            item.receipt.resolve(Outcome::Rejected);
        }
    }

    /// The body as sent: gzip-compressed unless the level is 0.
    async fn encode(&self, body: Bytes) -> Bytes {
        let level = self.compression_level;
        if level == 0 {
            return body;
        }
        if body.len() <= INLINE_GZIP_LIMIT {
            return gzip(&body, level);
        }
        match tokio::task::spawn_blocking(move || gzip(&body, level)).await {
            Ok(b) => b,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    fn note_failure(&self, why: &str) {
        let n = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= FAILURES_BEFORE_UNHEALTHY {
            self.health.failing(why.to_owned());
        }
    }

    fn note_success(&self) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        self.health.healthy();
    }
}

/// Hands a compressed payload's buffer back for the next one.
fn recycle(payload: &mut Option<Bytes>) {
    if let Some(b) = payload.take() {
        COMPRESSED.give_bytes(b);
    }
}

/// gzip of `data` at `level` (1–9).
pub fn gzip(data: &[u8], level: u32) -> Bytes {
    let mut enc = flate2::write::GzEncoder::new(
        COMPRESSED.take(data.len() / 4 + 64),
        flate2::Compression::new(level),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
}

/// Appends `s` percent-encoded for a query value.
fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn gzip_round_trips() {
        let data = b"{\"index\":{}}\n{\"a\":1}\n".repeat(100);
        let z = gzip(&data, 1);
        assert!(z.len() < data.len() / 5);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn pipeline_names_are_percent_encoded() {
        let mut s = String::new();
        percent_encode("geo ip/v1&x", &mut s);
        assert_eq!(s, "geo%20ip%2Fv1%26x");
    }
}
