//! Backfill progress under `--once`: a progress bar on a terminal, else a
//! line on stderr every few seconds.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Progress of reading files to their end.
pub struct Progress {
    enabled: bool,
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
}

const LINE_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    pub fn new(enabled: bool) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            ) {
                b.set_style(style);
            }
            b
        });
        Progress {
            enabled,
            bar,
            total: 0,
            done: 0,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    pub fn add_total(&mut self, bytes: u64) {
        self.total += bytes;
        if let Some(b) = &self.bar {
            b.set_length(self.total);
        }
    }

    pub fn add_done(&mut self, bytes: u64) {
        self.done += bytes;
        if let Some(b) = &self.bar {
            b.set_position(self.done);
        }
    }

    /// Prints a progress line when due (not on a terminal).
    pub fn tick(&mut self) {
        if !self.enabled || self.bar.is_some() || self.last_line.elapsed() < LINE_EVERY {
            return;
        }
        self.last_line = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.done as f64 / secs;
        let eta = if rate > 0.0 {
            (self.total.saturating_sub(self.done)) as f64 / rate
        } else {
            f64::INFINITY
        };
        let pct = if self.total > 0 {
            100.0 * self.done as f64 / self.total as f64
        } else {
            100.0
        };
        eprintln!(
            "backfill: {:.1}% {} of {} bytes, {:.1} MB/s, ETA {:.0}s",
            pct,
            self.done,
            self.total,
            rate / 1e6,
            eta
        );
    }

    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if self.enabled {
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "backfill: read {} bytes in {:.1}s ({:.1} MB/s)",
                self.done,
                secs,
                self.done as f64 / secs / 1e6
            );
        }
    }
}
