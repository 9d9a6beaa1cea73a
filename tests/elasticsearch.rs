//! The `elasticsearch` output against a real OpenSearch 2.19 node.
//!
//! One node serves every test of this binary (see `support/opensearch.rs`);
//! each test writes to indices of its own, so tests are independent and
//! may run in any order or in parallel. The output is driven directly: a
//! flume sender of batches whose receipts report on channels.
//!
//! The fault tests put `support/fault_proxy.rs` between the output and the
//! node to inject 429s for chosen items, 413, 503, connection resets and
//! slow answers, and check by the node's own document counts that nothing
//! is lost and nothing is written twice. One test stops a node of its own
//! for 30 s mid-stream and starts it again.
//!
//! The replay test runs the real binary: a file read twice from scratch
//! with `document_id: auto` is written once.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/opensearch.rs"]
mod opensearch;
#[path = "support/mod.rs"]
mod support;
#[path = "support/tls_front.rs"]
mod tls_front;

use fault_proxy::{Fault, Proxy};
use ganymede::config::PipelineConfig;
use ganymede::delivery::{Receipt, Status};
use ganymede::event::{Event, FieldPath, Value};
use ganymede::observe::{ComponentMetrics, Health, PipelineState};
use ganymede::outputs::elasticsearch::ElasticsearchOutput;
use ganymede::outputs::elasticsearch::writer::Counters;
use ganymede::topology::{Batch, BuildContext, Output, OutputContext};
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(90);

/// A running output and what the test observes of it.
struct Run {
    tx: Option<flume::Sender<Batch>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    metrics: Arc<ComponentMetrics>,
    counters: Counters,
    dir: tempfile::TempDir,
}

/// Starts the output with `options` (a YAML flow mapping).
async fn start(options: &str) -> Run {
    start_with(options, None, None).await
}

async fn start_with_health(options: &str, health: Option<&Health>) -> Run {
    start_with(options, health, None).await
}

/// Starts the output, reporting to `health` and stopped by `abort` if
/// given.
async fn start_with(
    options: &str,
    health: Option<&Health>,
    abort: Option<CancellationToken>,
) -> Run {
    let text =
        format!("inputs: [generator: {{lines: [x]}}]\noutputs:\n  - elasticsearch: {options}\n");
    let mut p = PipelineConfig::from_text(Path::new("es.yml"), &text, &HashMap::new())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let component = p.outputs.remove(0);
    let output = ElasticsearchOutput::new(&component, &BuildContext::for_tests("test"))
        .unwrap_or_else(|e| panic!("{e}"));
    let counters = output.counters();
    let (mut ctx, tx) = OutputContext::detached(4);
    let dir = tempfile::tempdir().unwrap();
    ctx.data_dir = dir.path().to_owned();
    if let Some(h) = health {
        ctx.health = h.component("test", "output");
    }
    if let Some(a) = abort {
        ctx.abort = a;
    }
    let metrics = ctx.metrics.clone();
    let task = tokio::spawn(Box::new(output).run(ctx));
    Run {
        tx: Some(tx),
        task,
        metrics,
        counters,
        dir,
    }
}

impl Run {
    /// Sends one batch; its receipt's status arrives on the receiver.
    async fn send_nowait(&self, events: Vec<Event>) -> tokio::sync::oneshot::Receiver<Status> {
        let (receipt, status) = Receipt::with_channel();
        self.tx
            .as_ref()
            .unwrap()
            .send_async(Batch::new(events, receipt))
            .await
            .unwrap();
        status
    }

    /// Sends one batch and waits for its receipt.
    async fn send(&self, events: Vec<Event>) -> Status {
        let status = self.send_nowait(events).await;
        tokio::time::timeout(WAIT, status)
            .await
            .expect("the receipt resolves")
            .expect("the receipt is not dropped")
    }

    /// Closes the channel and waits for the output to finish.
    async fn finish(mut self) -> Self {
        self.tx = None;
        let task = std::mem::replace(&mut self.task, tokio::spawn(async { Ok(()) }));
        tokio::time::timeout(WAIT, task)
            .await
            .expect("the output ends once its channel is closed")
            .unwrap()
            .unwrap();
        self
    }

    fn out(&self) -> u64 {
        self.metrics.events_out.load(Ordering::Relaxed)
    }

    fn failed(&self) -> u64 {
        self.metrics.events_failed.load(Ordering::Relaxed)
    }

    /// The records of the dead-letter file.
    fn dead_letters(&self) -> Vec<serde_json::Value> {
        let path = self.dir.path().join("dead_letter/test/output.ndjson");
        match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn event_at(rfc3339: &str, message: &str) -> Event {
    let mut e = Event::from_message(message);
    e.set_timestamp(
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    e
}

fn with(mut e: Event, field: &str, value: impl Into<Value>) -> Event {
    e.set(&FieldPath::parse(field).unwrap(), value);
    e
}

fn events(n: usize, prefix: &str) -> Vec<Event> {
    (0..n)
        .map(|i| {
            with(
                event_at("2026-03-01T10:00:00Z", &format!("{prefix} {i}")),
                "seq",
                i as i64,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_land_in_daily_indices_by_utc_day() {
    let url = opensearch::url();
    let base = opensearch::unique("daily");
    let run = start(&format!(
        r#"{{hosts: ["{url}"], index: "{base}-%{{+YYYY.MM.dd}}", linger: 20ms}}"#
    ))
    .await;
    let mut batch = Vec::new();
    for (ts, n) in [
        ("2026-03-01T23:59:59.999Z", 2),
        ("2026-03-02T00:00:00Z", 3),
        ("2026-03-02T01:30:00+02:00", 1), // 23:30 UTC on the 1st
        ("2026-03-03T12:00:00Z", 1),
    ] {
        for i in 0..n {
            batch.push(event_at(ts, &format!("{ts} #{i}")));
        }
    }
    assert_eq!(run.send(batch).await, Status::Delivered);
    for (day, n) in [("2026.03.01", 3), ("2026.03.02", 3), ("2026.03.03", 1)] {
        assert_eq!(
            opensearch::count(&format!("{base}-{day}")).await,
            n,
            "{day}"
        );
    }
    assert_eq!(opensearch::count(&format!("{base}-*")).await, 7);
    let run = run.finish().await;
    assert_eq!(run.out(), 7);
    assert_eq!(run.failed(), 0);
    assert!(run.dead_letters().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_timezone_moves_the_day_boundary() {
    let url = opensearch::url();
    let base = opensearch::unique("tokyo");
    // Tokyo is UTC+9 all year: its 2 March starts at 15:00 UTC on 1 March.
    let run = start(&format!(
        r#"{{hosts: ["{url}"], index: "{base}-%{{+YYYY.MM.dd}}", index_timezone: Asia/Tokyo, linger: 20ms}}"#
    ))
    .await;
    let batch = vec![
        event_at("2026-03-01T14:59:59Z", "still the 1st in Tokyo"),
        event_at("2026-03-01T15:00:00Z", "the 2nd in Tokyo"),
        event_at("2026-03-01T23:00:00Z", "the 2nd in Tokyo too"),
    ];
    assert_eq!(run.send(batch).await, Status::Delivered);
    assert_eq!(opensearch::count(&format!("{base}-2026.03.01")).await, 1);
    assert_eq!(opensearch::count(&format!("{base}-2026.03.02")).await, 2);
    run.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_document_is_dead_lettered_and_the_rest_indexed() {
    let url = opensearch::url();
    let index = opensearch::unique("conflict");
    let run = start(&format!(
        r#"{{hosts: ["{url}"], index: "{index}", linger: 20ms}}"#
    ))
    .await;
    // The first document maps `n` as a number.
    let first = with(event_at("2026-03-01T10:00:00Z", "first"), "n", 5i64);
    assert_eq!(run.send(vec![first]).await, Status::Delivered);

    let mut batch = Vec::new();
    for i in 0..5i64 {
        let e = event_at("2026-03-01T10:00:01Z", &format!("doc {i}"));
        batch.push(if i == 2 {
            with(e, "n", "not a number")
        } else {
            with(e, "n", i)
        });
    }
    assert_eq!(run.send(batch).await, Status::Rejected);
    assert_eq!(opensearch::count(&index).await, 5, "1 + the 4 good ones");

    let run = run.finish().await;
    let dead = run.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let d = &dead[0];
    assert_eq!(d["status"], 400);
    assert_eq!(d["error"]["type"], "mapper_parsing_exception");
    assert!(
        d["error"]["reason"].as_str().unwrap().contains("[n]"),
        "OpenSearch's reason names the field: {d}"
    );
    assert_eq!(d["index"], index.as_str());
    assert_eq!(d["event"]["n"], "not a number");
    assert_eq!(d["event"]["message"], "doc 2");
    assert_eq!(run.out(), 5);
    assert_eq!(run.failed(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_ids_make_a_replay_write_nothing_twice() {
    let url = opensearch::url();
    let index = opensearch::unique("replay");
    let options = format!(
        r#"{{hosts: ["{url}"], index: "{index}", document_id: "%{{[req]}}", linger: 20ms}}"#
    );
    let input = || -> Vec<Event> {
        (0..10)
            .map(|i| {
                with(
                    event_at("2026-03-01T10:00:00Z", &format!("request {i}")),
                    "req",
                    format!("r-{i}"),
                )
            })
            .collect()
    };
    let run = start(&options).await;
    assert_eq!(run.send(input()).await, Status::Delivered);
    assert_eq!(opensearch::count(&index).await, 10);
    let run = run.finish().await;
    assert_eq!(run.counters.duplicates.load(Ordering::Relaxed), 0);

    // The same input again, as after a crash before the source committed.
    let replay = start(&options).await;
    assert_eq!(replay.send(input()).await, Status::Delivered);
    assert_eq!(opensearch::count(&index).await, 10, "no duplicate");
    let replay = replay.finish().await;
    assert_eq!(replay.counters.duplicates.load(Ordering::Relaxed), 10);
    assert_eq!(replay.out(), 10, "duplicates count as delivered");
    assert!(replay.dead_letters().is_empty());
    let (_, doc) = opensearch::http("GET", &format!("/{index}/_doc/r-3"), None).await;
    assert_eq!(doc["_source"]["message"], "request 3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_on_and_off() {
    let url = opensearch::url();
    for level in [0, 1, 9] {
        let proxy = Proxy::start(&url).await;
        let index = opensearch::unique("gzip");
        let run = start(&format!(
            r#"{{hosts: ["{}"], index: "{index}", compression_level: {level}, linger: 20ms, max_events: 50}}"#,
            proxy.url
        ))
        .await;
        assert_eq!(run.send(events(120, "z")).await, Status::Delivered);
        assert_eq!(opensearch::count(&index).await, 120, "level {level}");
        run.finish().await;
        let bulks = proxy.state.bulk_requests.load(Ordering::SeqCst);
        let gzipped = proxy.state.gzip_requests.load(Ordering::SeqCst);
        assert_eq!(bulks, 3, "120 events at max_events 50");
        assert_eq!(gzipped, if level == 0 { 0 } else { bulks }, "level {level}");
        let connections = proxy.state.connections.load(Ordering::SeqCst);
        assert!(
            connections <= 2,
            "kept alive: {connections} connections for 6 requests"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_template_is_installed_and_its_mapping_applied() {
    let url = opensearch::url();
    let base = opensearch::unique("tpl");
    let run = start(&format!(
        r#"{{hosts: ["{url}"], index: "{base}-%{{+YYYY.MM.dd}}", linger: 20ms}}"#
    ))
    .await;
    let e = with(
        with(
            event_at("2026-03-01T10:00:00Z", "hello"),
            "[log][level]",
            "info",
        ),
        "color",
        "blue",
    );
    assert_eq!(run.send(vec![e]).await, Status::Delivered);
    run.finish().await;

    let (s, t) = opensearch::http("GET", &format!("/_index_template/{base}"), None).await;
    assert_eq!(s, 200, "{t}");
    let t = &t["index_templates"][0]["index_template"];
    assert_eq!(t["index_patterns"][0], format!("{base}-*"));
    assert_eq!(t["priority"], 200);
    // OpenSearch has no ILM: no policy is named (and none was asked for).
    assert!(
        t["template"]["settings"]["index"]["lifecycle"].is_null(),
        "{t}"
    );

    let index = format!("{base}-2026.03.01");
    let (s, m) = opensearch::http("GET", &format!("/{index}/_mapping"), None).await;
    assert_eq!(s, 200, "{m}");
    let p = &m[&index]["mappings"]["properties"];
    assert_eq!(p["@timestamp"]["type"], "date");
    assert_eq!(p["message"]["type"], "text");
    assert_eq!(p["log"]["properties"]["level"]["type"], "keyword");
    assert_eq!(p["color"]["type"], "keyword", "strings map to keyword: {p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_template_is_kept_unless_overwrite_is_set() {
    let url = opensearch::url();
    let base = opensearch::unique("own");
    let mine =
        format!(r#"{{"index_patterns":["{base}-*"],"priority":200,"_meta":{{"by":"hand"}}}}"#);
    let (s, v) = opensearch::http("PUT", &format!("/_index_template/{base}"), Some(&mine)).await;
    assert_eq!(s, 200, "{v}");
    let meta = || async {
        let (_, t) = opensearch::http("GET", &format!("/_index_template/{base}"), None).await;
        t["index_templates"][0]["index_template"]["_meta"].clone()
    };
    for (overwrite, expect) in [(false, "by"), (true, "managed_by")] {
        let run = start(&format!(
            r#"{{hosts: ["{url}"], index: "{base}-%{{+YYYY.MM.dd}}", template_overwrite: {overwrite}, linger: 20ms}}"#
        ))
        .await;
        // A delivered batch means the set-up ran before it.
        assert_eq!(run.send(events(1, "t")).await, Status::Delivered);
        run.finish().await;
        let m = meta().await;
        assert!(m.get(expect).is_some(), "overwrite {overwrite}: {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_streams_get_their_template_and_create_actions() {
    let url = opensearch::url();
    let dataset = opensearch::unique("ds").replace('-', "");
    let run = start(&format!(
        r#"{{hosts: ["{url}"], data_stream: {{dataset: "{dataset}"}}, linger: 20ms}}"#
    ))
    .await;
    assert_eq!(run.send(events(3, "ds")).await, Status::Delivered);
    run.finish().await;
    let stream = format!("logs-{dataset}-default");
    let (s, v) = opensearch::http("GET", &format!("/_data_stream/{stream}"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(opensearch::count(&stream).await, 3);
}

// ---------------------------------------------------------------- faults

fn fast_retries() -> &'static str {
    "retry_initial: 20ms, retry_max: 200ms, linger: 20ms"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_items_answered_429_are_sent_again() {
    let url = opensearch::url();
    let proxy = Proxy::start(&url).await;
    *proxy.state.item_429.lock().unwrap() = Some(("retry-me".into(), 2));
    let index = opensearch::unique("429");
    let run = start(&format!(
        r#"{{hosts: ["{}"], index: "{index}", {}}}"#,
        proxy.url,
        fast_retries()
    ))
    .await;
    let batch: Vec<Event> = (0..20)
        .map(|i| {
            let text = if i % 4 == 0 {
                format!("retry-me {i}")
            } else {
                format!("fine {i}")
            };
            event_at("2026-03-01T10:00:00Z", &text)
        })
        .collect();
    assert_eq!(run.send(batch).await, Status::Delivered);
    assert_eq!(
        opensearch::count(&index).await,
        20,
        "nothing lost, nothing twice"
    );
    let run = run.finish().await;
    let s = &proxy.state;
    assert_eq!(
        s.rejected_items.load(Ordering::SeqCst),
        10,
        "5 items, twice each"
    );
    assert_eq!(
        s.forwarded_items.load(Ordering::SeqCst),
        20,
        "each item forwarded once"
    );
    assert_eq!(
        s.bulk_requests.load(Ordering::SeqCst),
        3,
        "the request, then two retries of the 5"
    );
    assert_eq!(run.counters.retried.load(Ordering::SeqCst), 10);
    assert_eq!(run.out(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_are_retried_and_413_splits_them() {
    let url = opensearch::url();
    let proxy = Proxy::start(&url).await;
    proxy.script([
        Fault::Status(503),
        Fault::Reset,
        Fault::Status(429),
        Fault::Status(502),
    ]);
    *proxy.state.too_large_over_items.lock().unwrap() = Some(3);
    let index = opensearch::unique("faults");
    let health = Health::new();
    health.set_pipeline("test", PipelineState::Running);
    let run = start_with_health(
        &format!(
            r#"{{hosts: ["{}"], index: "{index}", {}}}"#,
            proxy.url,
            fast_retries()
        ),
        Some(&health),
    )
    .await;
    assert_eq!(run.send(events(10, "f")).await, Status::Delivered);
    assert_eq!(opensearch::count(&index).await, 10);
    let run = run.finish().await;
    assert_eq!(proxy.state.forwarded_items.load(Ordering::SeqCst), 10);
    assert_eq!(run.out(), 10);
    assert!(
        health.readiness().ok,
        "healthy again: {}",
        health.readiness().body
    );
    let docs = opensearch::documents(&index, "seq").await;
    let seqs: Vec<i64> = docs.iter().map(|d| d["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (0..10).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_times_out_and_ids_keep_the_retry_from_duplicating() {
    let url = opensearch::url();
    let proxy = Proxy::start(&url).await;
    // The first request creates the index, so that the node writes the
    // second one at once; the answer to that one comes too late.
    proxy.script([Fault::Pass, Fault::SlowAnswer(Duration::from_secs(3))]);
    let index = opensearch::unique("slow");
    let run = start(&format!(
        r#"{{hosts: ["{}"], index: "{index}", document_id: "%{{[seq]}}", timeout: 1s, {}}}"#,
        proxy.url,
        fast_retries()
    ))
    .await;
    let first = with(event_at("2026-03-01T10:00:00Z", "first"), "seq", -1i64);
    assert_eq!(run.send(vec![first]).await, Status::Delivered);
    assert_eq!(run.send(events(5, "s")).await, Status::Delivered);
    assert_eq!(opensearch::count(&index).await, 6);
    let run = run.finish().await;
    assert_eq!(
        proxy.state.forwarded_items.load(Ordering::SeqCst),
        1 + 10,
        "the 5 were sent twice"
    );
    assert_eq!(
        run.counters.duplicates.load(Ordering::SeqCst),
        5,
        "the second time: 409s"
    );
    assert_eq!(run.out(), 6, "counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_too_large_alone_is_dead_lettered() {
    let url = opensearch::url();
    let proxy = Proxy::start(&url).await;
    *proxy.state.too_large_marker.lock().unwrap() = Some("HUGE".into());
    let index = opensearch::unique("huge");
    let run = start(&format!(
        r#"{{hosts: ["{}"], index: "{index}", {}}}"#,
        proxy.url,
        fast_retries()
    ))
    .await;
    let mut batch = events(6, "ok");
    batch[4] = event_at("2026-03-01T10:00:00Z", "HUGE document");
    assert_eq!(run.send(batch).await, Status::Rejected);
    assert_eq!(opensearch::count(&index).await, 5);
    let run = run.finish().await;
    let dead = run.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["status"], 413);
    assert_eq!(dead[0]["event"]["message"], "HUGE document");
    assert_eq!((run.out(), run.failed()), (5, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_make_the_output_unready_until_it_delivers() {
    let url = opensearch::url();
    let proxy = Proxy::start(&url).await;
    proxy.script([Fault::Status(401), Fault::Status(401), Fault::Status(403)]);
    let index = opensearch::unique("auth");
    let health = Health::new();
    health.set_pipeline("test", PipelineState::Running);
    let run = start_with_health(
        &format!(
            r#"{{hosts: ["{}"], index: "{index}", retry_initial: 300ms, retry_max: 300ms, linger: 20ms}}"#,
            proxy.url
        ),
        Some(&health),
    )
    .await;
    let status = run.send_nowait(events(3, "a")).await;
    let unready = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let r = health.readiness();
            if !r.ok {
                return r.body;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("readiness turns failing");
    assert!(unready.contains("refused"), "{unready}");
    assert_eq!(
        tokio::time::timeout(WAIT, status).await.unwrap().unwrap(),
        Status::Delivered
    );
    assert!(health.readiness().ok, "{}", health.readiness().body);
    assert_eq!(opensearch::count(&index).await, 3);
    run.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_retries_sends_items_that_never_succeed_to_the_dead_letter_file() {
    let url = opensearch::url();
    let proxy = Proxy::start(&url).await;
    *proxy.state.item_429.lock().unwrap() = Some(("never".into(), u32::MAX));
    let index = opensearch::unique("giveup");
    let run = start(&format!(
        r#"{{hosts: ["{}"], index: "{index}", max_retries: 2, {}}}"#,
        proxy.url,
        fast_retries()
    ))
    .await;
    let mut batch = events(4, "ok");
    batch.push(event_at("2026-03-01T10:00:00Z", "never accepted"));
    assert_eq!(run.send(batch).await, Status::Rejected);
    assert_eq!(opensearch::count(&index).await, 4);
    let run = run.finish().await;
    assert_eq!(
        proxy.state.rejected_items.load(Ordering::SeqCst),
        3,
        "1 try + 2 retries"
    );
    let dead = run.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["error"]["type"], "retries_exhausted");
    assert_eq!(dead[0]["event"]["message"], "never accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_abort_what_is_not_written_is_abandoned() {
    let url = opensearch::url();
    let proxy = Proxy::start(&url).await;
    proxy.script(std::iter::repeat_n(Fault::Status(503), 10_000));
    let index = opensearch::unique("abort");
    let abort = CancellationToken::new();
    let run = start_with(
        &format!(
            r#"{{hosts: ["{}"], index: "{index}", {}}}"#,
            proxy.url,
            fast_retries()
        ),
        None,
        Some(abort.clone()),
    )
    .await;
    let status = run.send_nowait(events(3, "x")).await;
    // Wait until the request is being retried.
    while proxy.state.bulk_requests.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    abort.cancel();
    let run = run.finish().await;
    assert_eq!(
        tokio::time::timeout(WAIT, status).await.unwrap().unwrap(),
        Status::Abandoned
    );
    assert_eq!((run.out(), run.failed()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_stops_while_requests_wait_for_a_slot() {
    let url = opensearch::url();
    let proxy = Proxy::start(&url).await;
    proxy.script(std::iter::repeat_n(Fault::Status(503), 10_000));
    let index = opensearch::unique("backpressure");
    let abort = CancellationToken::new();
    let run = start_with(
        &format!(
            r#"{{hosts: ["{}"], index: "{index}", concurrency: 1, max_events: 1, {}}}"#,
            proxy.url,
            fast_retries()
        ),
        None,
        Some(abort.clone()),
    )
    .await;
    // Offer batches for two seconds; count those the channel took.
    let tx = run.tx.as_ref().unwrap();
    let mut taken = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < until {
        let (receipt, status) = Receipt::with_channel();
        match tx.try_send(Batch::new(events(1, "b"), receipt)) {
            Ok(()) => taken.push(status),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert_eq!(
        taken.len(),
        1 + 1 + 4,
        "one request in flight, one waiting for the slot, four in the channel"
    );
    abort.cancel();
    run.finish().await;
    for status in taken {
        assert_eq!(status.await.unwrap(), Status::Abandoned);
    }
}

// ---------------------------------------------------------------- TLS

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_file_and_a_client_certificate() {
    let url = opensearch::url();
    let dir = tempfile::tempdir().unwrap();
    let pki = tls_front::Pki::create(dir.path());
    let front = tls_front::start(&pki, &url).await;
    let index = opensearch::unique("tls");
    let run = start(&format!(
        r#"{{hosts: ["{front}"], index: "{index}", linger: 20ms, tls: {{ca_file: "{}", certificate: "{}", key: "{}"}}}}"#,
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    ))
    .await;
    assert_eq!(run.send(events(4, "tls")).await, Status::Delivered);
    assert_eq!(opensearch::count(&index).await, 4);
    run.finish().await;

    // `verify: false` accepts the server without knowing its CA.
    let index = opensearch::unique("tls-noverify");
    let run = start(&format!(
        r#"{{hosts: ["{front}"], index: "{index}", linger: 20ms, tls: {{verify: false, certificate: "{}", key: "{}"}}}}"#,
        pki.client_cert.display(),
        pki.client_key.display()
    ))
    .await;
    assert_eq!(run.send(events(2, "tls")).await, Status::Delivered);
    assert_eq!(opensearch::count(&index).await, 2);
    run.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_server_certificate_is_refused() {
    let url = opensearch::url();
    let dir = tempfile::tempdir().unwrap();
    let pki = tls_front::Pki::create(dir.path());
    let front = tls_front::start(&pki, &url).await;
    let index = opensearch::unique("tls-untrusted");
    let health = Health::new();
    health.set_pipeline("test", PipelineState::Running);
    let abort = CancellationToken::new();
    let run = start_with(
        &format!(
            r#"{{hosts: ["{front}"], index: "{index}", {}, tls: {{ca_file: "{}", certificate: "{}", key: "{}"}}}}"#,
            fast_retries(),
            pki.other_ca.display(),
            pki.client_cert.display(),
            pki.client_key.display()
        ),
        Some(&health),
        Some(abort.clone()),
    )
    .await;
    let status = run.send_nowait(events(1, "x")).await;
    let reason = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let r = health.readiness();
            if !r.ok {
                return r.body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("readiness turns failing");
    assert!(reason.contains("certificate"), "{reason}");
    abort.cancel();
    // The output gives up; the batch it never took is dropped with the
    // channel.
    run.finish().await;
    assert_eq!(
        tokio::time::timeout(WAIT, status).await.unwrap().unwrap(),
        Status::Abandoned,
        "nothing was written: the source must not commit"
    );
    assert_eq!(opensearch::count(&index).await, 0);
}

// ---------------------------------------------------------------- outage

/// One batch sent by the outage test: its `seq`s, when it was handed to
/// the output, and its receipt's status with the time it resolved.
struct Sent {
    seqs: Vec<i64>,
    sent: Instant,
    outcome: tokio::task::JoinHandle<(Status, Instant)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_for_30_s_mid_stream_gets_every_event_once_started_again() {
    let mut node = tokio::task::spawn_blocking(|| opensearch::OwnNode::start("outage"))
        .await
        .unwrap();
    let base = node.url.clone();
    let index = opensearch::unique("outage");
    let run = Arc::new(
        start(&format!(
            r#"{{hosts: ["{base}"], index: "{index}", document_id: "%{{[seq]}}", max_events: 50, linger: 20ms, timeout: 10s, connect_timeout: 2s, retry_initial: 100ms, retry_max: 2s}}"#
        ))
        .await,
    );

    // A steady stream: 10 events every 50 ms, each with a unique `seq`.
    let stop_sending = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let producer = {
        let (run, stop_sending, delivered) = (run.clone(), stop_sending.clone(), delivered.clone());
        tokio::spawn(async move {
            let mut sent = Vec::new();
            let mut seq = 0i64;
            while !stop_sending.load(Ordering::SeqCst) {
                let batch: Vec<Event> = (seq..seq + 10)
                    .map(|i| {
                        with(
                            event_at("2026-03-01T10:00:00Z", &format!("event {i}")),
                            "seq",
                            i,
                        )
                    })
                    .collect();
                let seqs = (seq..seq + 10).collect();
                seq += 10;
                // Blocks while the output does not take more (the outage).
                let status = run.send_nowait(batch).await;
                let delivered = delivered.clone();
                let outcome = tokio::spawn(async move {
                    let s = status.await.unwrap_or(Status::Abandoned);
                    if s == Status::Delivered {
                        delivered.fetch_add(1, Ordering::SeqCst);
                    }
                    (s, Instant::now())
                });
                sent.push(Sent {
                    seqs,
                    sent: Instant::now(),
                    outcome,
                });
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            sent
        })
    };

    let wait_delivered = |at_least: u64| {
        let delivered = delivered.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(300), async {
                while delivered.load(Ordering::SeqCst) < at_least {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("fewer than {at_least} batches delivered"));
        }
    };
    wait_delivered(10).await;

    let node = tokio::task::spawn_blocking(move || {
        node.stop();
        node
    })
    .await
    .unwrap();
    let stopped = Instant::now();
    let delivered_at_stop = delivered.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let requests_while_down = run.counters.requests.load(Ordering::SeqCst);
    let restarting = Instant::now();
    let mut node = node;
    let url = tokio::task::spawn_blocking(move || {
        let url = node.start_again();
        (node, url)
    })
    .await
    .unwrap();
    let (node, url) = url;
    assert_eq!(url, base, "the same port again");

    // The stream goes on after the restart for a while, then ends.
    wait_delivered(delivered_at_stop + 20).await;
    stop_sending.store(true, Ordering::SeqCst);
    let sent = producer.await.unwrap();
    let run = Arc::into_inner(run).expect("the producer is done");
    let run = run.finish().await;

    let mut after_restart = Vec::new();
    let mut rode_out = 0;
    for s in sent {
        let (status, resolved) = tokio::time::timeout(WAIT, s.outcome)
            .await
            .expect("every receipt resolves")
            .unwrap();
        assert_eq!(status, Status::Delivered, "batch {:?}", s.seqs);
        assert!(
            resolved < stopped || resolved > restarting,
            "nothing is acknowledged while the node is down"
        );
        // A batch acknowledged before the stop was written into the data
        // that the stop deleted; one acknowledged after the restart began
        // can only be in the new node.
        if resolved > restarting {
            if s.sent < restarting {
                rode_out += 1;
            }
            after_restart.extend(s.seqs);
        }
    }
    assert!(
        rode_out > 0,
        "batches taken before the restart waited for the node"
    );
    assert!(
        run.counters.retried.load(Ordering::SeqCst) > 0,
        "requests failed and were retried"
    );
    assert!(requests_while_down > 0);

    let counts = opensearch::value_counts(&url, &index, "seq").await;
    let missing: Vec<i64> = after_restart
        .iter()
        .copied()
        .filter(|s| !counts.contains_key(&s.to_string()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} events delivered after the restart are not in the node: {missing:?}",
        missing.len(),
        after_restart.len()
    );
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "written twice: {twice:?}");
    assert_eq!(run.failed(), 0);
    assert!(run.dead_letters().is_empty());
    drop(node);
}

// ---------------------------------------------------------------- sources' ids

/// Runs `ganymede run --once -c pipeline` with its own data dir; panics
/// with its log unless it exits 0.
fn run_once(pipeline: &Path, data: &Path) {
    let log = data.with_extension("log");
    let stderr = std::fs::File::create(&log).unwrap();
    let mut child = support::Running(
        support::ganymede()
            .args(["run", "--once", "--http", "off", "-c"])
            .arg(pipeline)
            .arg("--data-dir")
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );
    let status = child.wait_exit(Duration::from_secs(600));
    assert!(
        status.success(),
        "ganymede exited with {status}:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// The offsets a file input's registry in `data` holds.
fn registry_offsets(data: &Path) -> Vec<u64> {
    let mut offsets = Vec::new();
    let dir = data.join("registry/replay");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for e in v["entries"].as_array().unwrap() {
            offsets.push(e["offset"].as_u64().unwrap());
        }
    }
    offsets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_ids_make_a_replayed_file_write_nothing_twice() {
    let url = opensearch::url();
    let index = opensearch::unique("file-replay");
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("app.log");
    let line = |i: usize| format!("line {i} GET /jupiter/cases/{} 200\n", i * 7);
    let pipeline = dir.path().join("p.yml");
    std::fs::write(
        &pipeline,
        format!(
            "name: replay\ninputs:\n  - file: {{paths: ['{}/*.log']}}\noutputs:\n  - elasticsearch: {{hosts: ['{url}'], index: '{index}', document_id: auto, linger: 50ms}}\n",
            logs.display()
        ),
    )
    .unwrap();
    let run = |name: &'static str| {
        let (pipeline, data) = (pipeline.clone(), dir.path().join(name));
        tokio::task::spawn_blocking(move || run_once(&pipeline, &data))
    };

    // The first run sees a short file: its fingerprint covers fewer bytes
    // than it will later.
    let total = 3000;
    std::fs::write(&log, (0..4).map(line).collect::<String>()).unwrap();
    run("data1").await.unwrap();
    assert_eq!(opensearch::count(&index).await, 4);

    // The file grows; each further run has no registry, so it reads the
    // whole file again, as after losing the data dir.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all((4..total).map(line).collect::<String>().as_bytes())
            .unwrap();
    }
    let size = std::fs::metadata(&log).unwrap().len();
    for data in ["data2", "data3"] {
        run(data).await.unwrap();
        assert_eq!(
            opensearch::count(&index).await,
            total as u64,
            "{data}: no duplicate"
        );
        // Everything, duplicates included, counted as delivered: the
        // source committed the whole file and nothing was dead-lettered.
        let data = dir.path().join(data);
        assert_eq!(registry_offsets(&data), vec![size]);
        assert!(!data.join("dead_letter").exists());
    }
    let messages = opensearch::value_counts(&url, &index, "message").await;
    assert_eq!(messages.len(), total, "every line once");
    assert!(messages.values().all(|n| *n == 1));

    let (_, hits) = opensearch::http("GET", &format!("/{index}/_search?size=5"), None).await;
    for h in hits["hits"]["hits"].as_array().unwrap() {
        let id = h["_id"].as_str().unwrap();
        assert_eq!(id.len(), 22, "the file input's id, not the node's: {id}");
    }
}
