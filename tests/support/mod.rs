//! Helpers shared by integration tests: running the real binary and
//! reading what it wrote.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `ganymede` binary, run from the repository root.
pub fn ganymede() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ganymede"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// A child process killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Waits for exit within `within`, or panics.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }
}

/// A scratch folder with `logs/`, `out/` and `data/`, and the pipeline
/// that tails `logs/` into `out/events.ndjson`.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["logs", "out", "data"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        Scratch { dir }
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out/events.ndjson")
    }

    /// Writes a pipeline tailing `glob` (relative to `logs/`) with extra
    /// file input options (YAML flow-map entries).
    pub fn pipeline(&self, glob: &str, options: &str) -> PathBuf {
        let p = self.dir.path().join("p.yml");
        let text = format!(
            "name: t\ninputs:\n  - file:\n      paths: ['{}/{glob}']\n      scan_frequency: 1s\n      flush_partial_after: 1s\n      start_at: beginning\n{options}\noutputs:\n  - file: {{path: '{}'}}\n",
            self.logs().display(),
            self.out().display()
        );
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Starts `ganymede run` on the pipeline; stderr goes to `stderr.log`.
    pub fn start(&self, pipeline: &Path, extra: &[&str]) -> Running {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("stderr.log"))
            .unwrap();
        Running(
            ganymede()
                .args(["run", "--http", "off", "--shutdown-timeout", "10s", "-c"])
                .arg(pipeline)
                .arg("--data-dir")
                .arg(self.dir.path().join("data"))
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap(),
        )
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The events written so far (a torn last line after a kill is skipped).
    pub fn events(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.out()).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn messages(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| e["message"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits until `done(messages)` holds, or panics with what was seen.
    pub fn wait_for(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let m = self.messages();
            if done(&m) {
                return m;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {within:?} waiting for {what}; {} events so far, last: {:?}\nstderr:\n{}",
                    m.len(),
                    m.last(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Counts how often each `line N` number appears.
pub fn numbered(messages: &[String]) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for m in messages {
        if let Some(n) = m
            .strip_prefix("line ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
        {
            *counts.entry(n).or_insert(0) += 1;
        }
    }
    counts
}

/// Peak resident memory of a finished child, in KiB, from /proc (0 if unknown).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
