//! The file input against real rotation (Debian's logrotate, `create` and
//! `copytruncate`) and real crashes (SIGKILL): every line arrives, once
//! when nothing crashes.

mod support;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Scratch, numbered};

fn logrotate() -> String {
    for p in [
        "/usr/sbin/logrotate",
        "/sbin/logrotate",
        "/usr/bin/logrotate",
    ] {
        if std::path::Path::new(p).exists() {
            return p.to_owned();
        }
    }
    panic!(
        "logrotate is not installed: run scripts/test (it installs Debian's logrotate) or `apt-get install logrotate`"
    );
}

/// Writes `count` numbered lines at a steady rate for at least `min_secs`,
/// rotating with logrotate every `every` — from this one thread, so
/// logrotate's own copy/truncate window never races the writer.
fn write_and_rotate(s: &Scratch, mode: &str, count: u64, min_secs: u64, every: Duration) -> usize {
    let logs = s.logs();
    let log = logs.join("app.log");
    let conf = s.dir.path().join("logrotate.conf");
    std::fs::write(
        &conf,
        format!(
            "{} {{\n  rotate 1000\n  {mode}\n  missingok\n  nocompress\n}}\n",
            log.display()
        ),
    )
    .unwrap();
    let state = s.dir.path().join("logrotate.state");
    let pause = Duration::from_millis(min_secs * 1000 / count);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let mut last_rotation = Instant::now();
    let mut rotations = 0;
    for i in 0..count {
        if mode == "create" {
            // An application that reopens its log after rotation.
            file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap();
        }
        writeln!(file, "line {i} of the {mode} test").unwrap();
        std::thread::sleep(pause);
        if last_rotation.elapsed() >= every {
            let out = Command::new(logrotate())
                .arg("-f")
                .arg("-s")
                .arg(&state)
                .arg(&conf)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "logrotate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            rotations += 1;
            last_rotation = Instant::now();
        }
    }
    rotations
}

fn exactly_once(mode: &str) {
    let s = Scratch::new();
    let p = s.pipeline("app.log*", "      close_inactive: 1m");
    let mut run = s.start(&p, &[]);
    let count = 3000;
    let rotations = write_and_rotate(&s, mode, count, 30, Duration::from_secs(3));
    assert!(rotations >= 8, "only {rotations} rotations");
    let messages = s.wait_for("every line", Duration::from_secs(60), |m| {
        numbered(m).len() as u64 >= count
    });
    // Give duplicates, if any, a moment to show up before judging.
    std::thread::sleep(Duration::from_secs(2));
    let counts = numbered(&s.messages());
    let missing: Vec<u64> = (0..count).filter(|n| !counts.contains_key(n)).collect();
    let twice: Vec<(&u64, &usize)> = counts.iter().filter(|(_, c)| **c > 1).collect();
    println!(
        "{mode}: {count} lines, {rotations} rotations, {} events",
        messages.len()
    );
    assert!(
        missing.is_empty(),
        "{} lines missing, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        twice.is_empty(),
        "{} lines read more than once, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    run.signal("-TERM");
    assert_eq!(
        run.wait_exit(Duration::from_secs(30)).code(),
        Some(0),
        "{}",
        s.stderr()
    );
}

#[test]
fn logrotate_create_delivers_every_line_exactly_once() {
    exactly_once("create");
}

#[test]
fn logrotate_copytruncate_delivers_every_line_exactly_once() {
    exactly_once("copytruncate");
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % max
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_line() {
    let s = Scratch::new();
    let count = 400_000u64;
    {
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(s.logs().join("big.log")).unwrap());
        for i in 0..count {
            writeln!(f, "line {i} {}", "x".repeat(40)).unwrap();
        }
    }
    let p = s.pipeline("*.log", "");
    let seed = 0x5eed_u64;
    let mut rng = Lcg(seed);
    let mut kills = 0;
    while kills < 10 {
        let mut run = s.start(&p, &["--once"]);
        std::thread::sleep(Duration::from_millis(50 + rng.next(400)));
        if run.0.try_wait().unwrap().is_some() {
            break; // finished before the kill: nothing left to test
        }
        run.signal("-KILL");
        let _ = run.wait_exit(Duration::from_secs(10));
        kills += 1;
    }
    let mut last = s.start(&p, &["--once"]);
    assert_eq!(
        last.wait_exit(Duration::from_secs(120)).code(),
        Some(0),
        "{}",
        s.stderr()
    );
    let counts = numbered(&s.messages());
    let missing: Vec<u64> = (0..count).filter(|n| !counts.contains_key(n)).collect();
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    println!(
        "seed {seed:#x}: {kills} kills, {duplicates} duplicate lines (allowed), {} missing",
        missing.len()
    );
    assert!(
        kills >= 3,
        "ingestion finished before enough kills ({kills}); make the input larger"
    );
    assert!(
        missing.is_empty(),
        "{} lines lost, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}
