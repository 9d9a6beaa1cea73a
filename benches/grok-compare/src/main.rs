//! `%{COMBINEDAPACHELOG}` through the `grok` crate over the line set of
//! `benches/grok.rs`, on one thread. Prints ns per event and MB/s per run
//! and their medians.
//!
//! Oniguruma: `cargo run --release`
//! PCRE2 JIT: `cargo run --release --no-default-features --features pcre2`
//!
//! Environment: `GROK_BENCH_LINES` (default 1,000,000), `GROK_BENCH_RUNS`
//! (default 5).

#[path = "../../common/apache_lines.rs"]
mod apache_lines;

use grok::Grok;
use std::hint::black_box;
use std::time::Instant;

#[cfg(feature = "pcre2")]
const ENGINE: &str = "grok crate + PCRE2 (JIT)";
#[cfg(not(feature = "pcre2"))]
const ENGINE: &str = "grok crate + Oniguruma";

fn main() {
    let n = apache_lines::count_from_env();
    let runs: usize = std::env::var("GROK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let lines = apache_lines::lines(n);
    let bytes: usize = lines.iter().map(String::len).sum();

    let grok = Grok::default();
    // Named captures only, as Logstash's grok does by default.
    let pattern = grok
        .compile("%{COMBINEDAPACHELOG}", true)
        .expect("the pattern compiles");

    // Every line must match and yield its client address, or the figures
    // would measure the failure path.
    for line in lines.iter().take(20_000) {
        let m = pattern
            .match_against(line)
            .unwrap_or_else(|| panic!("no match: {line}"));
        let client = line.split(' ').next().unwrap();
        assert_eq!(m.get("clientip"), Some(client), "{line}");
        assert!(m.get("agent").is_some(), "{line}");
    }

    println!(
        "{ENGINE}: {n} lines, {bytes} bytes ({:.0} B/line), {runs} runs",
        bytes as f64 / n as f64
    );
    let mut per_event = Vec::with_capacity(runs);
    for run in 1..=runs {
        let start = Instant::now();
        let mut touched = 0usize;
        for line in &lines {
            if let Some(m) = pattern.match_against(line) {
                // Read every capture, as a filter storing them would.
                for (name, value) in m.iter() {
                    touched += name.len() + value.len();
                }
            }
        }
        let elapsed = start.elapsed();
        black_box(touched);
        let ns = elapsed.as_nanos() as f64 / n as f64;
        let mbps = bytes as f64 / elapsed.as_secs_f64() / 1e6;
        println!("run {run}: {ns:>9.1} ns/event {mbps:>8.1} MB/s");
        per_event.push(ns);
    }
    per_event.sort_by(f64::total_cmp);
    let median = per_event[per_event.len() / 2];
    let mbps = bytes as f64 / n as f64 / median * 1000.0;
    println!(
        "summary: {ENGINE:<26} {median:>9.1} ns/event {mbps:>8.1} MB/s  (median of {runs} runs)"
    );
}
