//! Grok throughput: `%{COMBINEDAPACHELOG}` followed by the date filter
//! (`[timestamp, "dd/MMM/yyyy:HH:mm:ss Z"]`) over a deterministic set of
//! realistic Apache combined lines, on one thread, in the ECS v1 and the
//! legacy pattern sets; grok alone; the search alone; and, as a yardstick,
//! one plain `regex`
//! capture of a simpler Apache expression over the same lines.
//!
//! Run: `cargo bench --bench grok`
//! Fewer lines (quicker, for iterating): `GROK_BENCH_LINES=100000 cargo bench --bench grok`
//! One case: `cargo bench --bench grok -- ecs_grok_date`
//!
//! Criterion prints the time per pass over all lines and the throughput in
//! MB/s (decimal megabytes of line text, without newlines). After each case
//! a `summary:` line gives the median over the samples in ns per event and
//! MB/s. Events are built outside the timed region, in batches of 1,000
//! (the pipeline's default batch size), and filtered as a pipeline's
//! worker filters them: 64 at a time, each filter over the 64, after which
//! they leave (dropped outside the timed region). The timed region is the
//! filters' `process` calls. The program's allocator (mimalloc) is used here too.
//! `benches/grok-compare` runs the same lines through the `grok` crate
//! (Oniguruma and PCRE2); see its README.

#[path = "common/apache_lines.rs"]
mod apache_lines;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ganymede::config::PipelineConfig;
use ganymede::event::{Event, FieldPath, Value};
use ganymede::topology::{BuildContext, FILTER_CHUNK, Filter, Verdict};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// The binary's allocator (see src/main.rs), so that storing captures into
// events costs here what it costs in the program.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events built per untimed step: the pipeline's default batch size, so
/// that the events a batch touches are as warm as in the program.
const CHUNK: usize = ganymede::config::pipeline::DEFAULT_BATCH_SIZE;

fn lines() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| apache_lines::lines(apache_lines::count_from_env()))
}

fn total_bytes(lines: &[String]) -> u64 {
    lines.iter().map(|l| l.len() as u64).sum()
}

/// The filters of `filters:` YAML text, built as a pipeline would.
fn build_filters(filters_yaml: &str) -> Vec<Box<dyn Filter>> {
    let text = format!("inputs: [stdin: {{}}]\nfilters:\n{filters_yaml}outputs: [null: {{}}]\n");
    let p = PipelineConfig::from_text(Path::new("bench.yml"), &text, &HashMap::new())
        .unwrap_or_else(|e| panic!("{e}"));
    let registry = ganymede::registry::standard();
    let ctx = BuildContext::for_tests("bench");
    p.filters
        .iter()
        .map(|c| {
            let build = registry.filters[c.kind.as_str()];
            build(c, &ctx).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

fn grok_yaml(ecs: &str) -> String {
    format!(
        "  - grok: {{match: {{message: '%{{COMBINEDAPACHELOG}}'}}, ecs_compatibility: {ecs}}}\n"
    )
}

const DATE_YAML: &str = "  - date: {match: [timestamp, 'dd/MMM/yyyy:HH:mm:ss Z']}\n";

/// Every line must parse, or the figures would measure the failure path.
fn check(filters: &[Box<dyn Filter>], lines: &[String], address: &str, dated: bool) {
    let address = FieldPath::parse(address).unwrap();
    let start = FieldPath::parse("@timestamp").unwrap();
    for line in lines.iter().take(20_000) {
        let mut e = Event::from_message(line.as_str());
        let before = e.get(&start).cloned();
        for f in filters {
            assert_eq!(f.process(&mut e), Verdict::Applied, "{line}");
        }
        assert!(
            e.tags().next().is_none(),
            "{line}: {:?}",
            e.to_json_string()
        );
        let client = line.split(' ').next().unwrap();
        assert_eq!(e.get(&address), Some(&Value::from(client)), "{line}");
        if dated {
            assert_ne!(e.get(&start).cloned(), before, "{line}");
        }
    }
}

/// Times `filters` over all lines, `iters` times, the way a pipeline's
/// worker runs them: a batch of [`CHUNK`] events arrives (made outside the
/// timed region), each filter runs over [`FILTER_CHUNK`] events at a time,
/// and those events then leave (in the program, to the output's
/// preparation) before the next ones are filtered. Dropping them is not
/// timed.
fn run_filters(filters: &[Box<dyn Filter>], lines: &[String], iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut batch: Vec<Event> = Vec::with_capacity(CHUNK);
    let mut chunk: Vec<Event> = Vec::with_capacity(FILTER_CHUNK);
    for _ in 0..iters {
        for batch_lines in lines.chunks(CHUNK) {
            batch.extend(batch_lines.iter().map(|l| Event::from_message(l.as_str())));
            let mut rest = batch.drain(..);
            loop {
                chunk.extend(rest.by_ref().take(FILTER_CHUNK));
                if chunk.is_empty() {
                    break;
                }
                let start = Instant::now();
                for f in filters {
                    for e in chunk.iter_mut() {
                        black_box(f.process(e));
                    }
                }
                total += start.elapsed();
                chunk.clear();
            }
        }
    }
    total
}

/// Per-sample ns/event, for the summary line.
struct Samples {
    name: String,
    events: u64,
    bytes: u64,
    ns_per_event: RefCell<Vec<f64>>,
}

impl Samples {
    fn new(name: &str, lines: &[String]) -> Self {
        Samples {
            name: name.to_owned(),
            events: lines.len() as u64,
            bytes: total_bytes(lines),
            ns_per_event: RefCell::new(Vec::new()),
        }
    }

    fn record(&self, iters: u64, elapsed: Duration) {
        let per = elapsed.as_nanos() as f64 / (iters * self.events) as f64;
        self.ns_per_event.borrow_mut().push(per);
    }

    fn print(&self) {
        let mut v = self.ns_per_event.borrow().clone();
        if v.is_empty() {
            return;
        }
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        let avg_len = self.bytes as f64 / self.events as f64;
        // bytes per ns = GB/s; × 1000 = MB/s.
        let mbps = avg_len / median * 1000.0;
        println!(
            "summary: {:<24} {:>9.1} ns/event {:>8.1} MB/s  (median of {} samples, {} lines, {:.0} B/line)",
            self.name,
            median,
            mbps,
            v.len(),
            self.events,
            avg_len
        );
    }
}

fn group<'a>(
    c: &'a mut Criterion,
    lines: &[String],
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group("apache_combined");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::BytesDecimal(total_bytes(lines)));
    g
}

fn filter_case(c: &mut Criterion, name: &str, yaml: &str, address: &str, dated: bool) {
    let lines = lines();
    let filters = build_filters(yaml);
    check(&filters, lines, address, dated);
    let samples = Samples::new(name, lines);
    let mut g = group(c, lines);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let t = run_filters(&filters, lines, iters);
            samples.record(iters, t);
            t
        })
    });
    g.finish();
    samples.print();
}

fn ecs_grok_date(c: &mut Criterion) {
    let yaml = grok_yaml("v1") + DATE_YAML;
    filter_case(c, "ecs_grok_date", &yaml, "[source][address]", true);
}

fn legacy_grok_date(c: &mut Criterion) {
    let yaml = grok_yaml("disabled") + DATE_YAML;
    filter_case(c, "legacy_grok_date", &yaml, "clientip", true);
}

fn ecs_grok_only(c: &mut Criterion) {
    filter_case(
        c,
        "ecs_grok_only",
        &grok_yaml("v1"),
        "[source][address]",
        false,
    );
}

/// The search alone (no event, no conversion), through the public
/// low-level entry point.
fn ecs_search_only(c: &mut Criterion) {
    let lines = lines();
    let g = ganymede::filters::grok::compile_expression(
        "%{COMBINEDAPACHELOG}",
        ganymede::filters::grok::EcsMode::V1,
        &[],
    )
    .unwrap();
    let mut slots = Vec::new();
    for l in lines.iter().take(20_000) {
        assert!(g.search_groups(l, &mut slots), "{l}");
    }
    let samples = Samples::new("ecs_search_only", lines);
    let mut grp = group(c, lines);
    grp.bench_function("ecs_search_only", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for l in lines {
                    black_box(g.search_groups(l, &mut slots));
                }
            }
            let t = start.elapsed();
            samples.record(iters, t);
            t
        })
    });
    grp.finish();
    samples.print();
}

/// The yardstick: one `regex` capture pass of a simple Apache expression,
/// with no event, conversion or date work.
const SIMPLE_APACHE: &str =
    r#"^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) ([^"]+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$"#;

fn regex_baseline(c: &mut Criterion) {
    let lines = lines();
    let re = regex::Regex::new(SIMPLE_APACHE).unwrap();
    let mut locs = re.capture_locations();
    for l in lines.iter().take(20_000) {
        assert!(re.captures_read(&mut locs, l).is_some(), "{l}");
    }
    let samples = Samples::new("regex_baseline", lines);
    let mut g = group(c, lines);
    g.bench_function("regex_baseline", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for l in lines {
                    black_box(re.captures_read(&mut locs, l));
                    black_box(locs.get(11));
                }
            }
            let t = start.elapsed();
            samples.record(iters, t);
            t
        })
    });
    g.finish();
    samples.print();
}

criterion_group!(
    benches,
    ecs_grok_date,
    legacy_grok_date,
    ecs_grok_only,
    ecs_search_only,
    regex_baseline
);
criterion_main!(benches);
