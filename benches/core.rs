//! Core costs: events through generator → 3 no-op filters → null in batches
//! of 1,000, the filter stage on its own, and event JSON serialisation.
//!
//! Run: `cargo bench --bench core`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ganymede::config::PipelineConfig;
use ganymede::event::{Event, FieldPath, Map, Value};
use ganymede::observe::{Health, Metrics};
use ganymede::topology::{BuildOptions, Signals, build_pipeline};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

// The same allocator as the binary, so figures match what `ganymede run` does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOOP_PIPELINE: &str = "batch_size: 1000\n\
inputs: [generator: {lines: ['127.0.0.1 - - [27/Nov/2026:04:05:06 +0000] \"GET /index.html HTTP/1.1\" 200 5120'], count: COUNT}]\n\
filters: [mutate: {id: a}, mutate: {id: b}, mutate: {id: c}]\n\
outputs: [null: {}]\n";

fn build(count: u64) -> ganymede::topology::Pipeline {
    let yaml = NOOP_PIPELINE.replace("COUNT", &count.to_string());
    let cfg = PipelineConfig::from_text(Path::new("bench.yml"), &yaml, &HashMap::new()).unwrap();
    let opts = BuildOptions {
        data_dir: std::env::temp_dir(),
        once: true,
        metrics: Metrics::new(),
        health: Health::new(),
    };
    build_pipeline(&cfg, &ganymede::registry::standard(), &opts).unwrap()
}

fn pipeline_throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    let n = 1_000_000u64;
    g.throughput(Throughput::Elements(n));
    g.bench_function("generator_3noop_null_1M", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let p = build(n);
                let start = Instant::now();
                rt.block_on(async { p.start(&Signals::default()).wait().await.unwrap() });
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn sample_event() -> Event {
    let mut e = Event::from_message(
        "93.184.216.34 - frank [27/Nov/2026:04:05:06 +0000] \"GET /apache_pb.gif HTTP/1.1\" 200 2326 \"http://www.example.com/start.html\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
    );
    let set = |e: &mut Event, p: &str, v: Value| e.set(&FieldPath::parse(p).unwrap(), v);
    set(&mut e, "source.address", "93.184.216.34".into());
    set(&mut e, "user.name", "frank".into());
    set(&mut e, "http.request.method", "GET".into());
    set(&mut e, "url.original", "/apache_pb.gif".into());
    set(&mut e, "http.version", "1.1".into());
    set(&mut e, "http.response.status_code", Value::Integer(200));
    set(&mut e, "http.response.body.bytes", Value::Integer(2326));
    set(
        &mut e,
        "http.request.referrer",
        "http://www.example.com/start.html".into(),
    );
    set(
        &mut e,
        "user_agent.original",
        "Mozilla/5.0 (X11; Linux x86_64)".into(),
    );
    set(
        &mut e,
        "log.file.path",
        "/var/log/apache2/access.log".into(),
    );
    set(&mut e, "tags", Value::Array(vec!["web".into()]));
    e
}

fn stages(c: &mut Criterion) {
    let p = build(1);
    let template: Vec<Event> = (0..1000).map(|_| sample_event()).collect();
    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Elements(1000));
    g.bench_function(BenchmarkId::new("3_noop_filters", "batch_1000"), |b| {
        b.iter_batched_ref(
            || template.clone(),
            |events| p.filter_events(events),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn serialisation(c: &mut Criterion) {
    let events: Vec<Event> = (0..1000).map(|_| sample_event()).collect();
    let mut buf = Vec::with_capacity(1 << 20);
    for e in &events {
        e.write_json(&mut buf);
        buf.push(b'\n');
    }
    let bytes = buf.len() as u64;
    let mut g = c.benchmark_group("json");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("write_json_1000_events", |b| {
        b.iter(|| {
            buf.clear();
            for e in &events {
                e.write_json(&mut buf);
                buf.push(b'\n');
            }
            std::hint::black_box(buf.len())
        })
    });
    g.bench_function("serde_json_value_1000_events", |b| {
        let values: Vec<Value> = events
            .iter()
            .map(|e| Value::Object(e.fields().clone()))
            .collect();
        b.iter(|| {
            buf.clear();
            for v in &values {
                serde_json::to_writer(&mut buf, v).unwrap();
                buf.push(b'\n');
            }
            std::hint::black_box(buf.len())
        })
    });
    g.finish();
    let _ = Map::new();
}

/// Decoding Filebeat-shaped events of about 200 bytes, as the beats input
/// receives them.
fn parsing(c: &mut Criterion) {
    let docs: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                r#"{{"@timestamp":"2026-11-27T08:00:{:02}.123Z","@metadata":{{"beat":"filebeat","type":"_doc"}},"message":"GET /api/v1/cases/{i} HTTP/1.1 200 in {i} ms from app-07 worker {i}","seq":{i},"fields":{{"type":"backend"}},"host":{{"name":"app-07.example.com"}}}}"#,
                i % 60
            )
        })
        .collect();
    let bytes: usize = docs.iter().map(String::len).sum();
    let mut g = c.benchmark_group("json");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("parse_1000_beats_events", |b| {
        b.iter(|| {
            for d in &docs {
                std::hint::black_box(ganymede::event::json::parse(d.as_bytes()).unwrap());
            }
        })
    });
    g.bench_function("serde_json_parse_1000_beats_events", |b| {
        b.iter(|| {
            for d in &docs {
                std::hint::black_box(serde_json::from_slice::<Value>(d.as_bytes()).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, pipeline_throughput, stages, serialisation, parsing);
criterion_main!(benches);
