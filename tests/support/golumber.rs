//! The go-lumber peer (tests/golumber), built once per test binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Path of the built peer; builds it on first use.
pub fn binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let out_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("golumber/golumber");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golumber/build.sh");
        let out = Command::new(&script)
            .arg(&out_path)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "building the go-lumber peer failed (it needs Go and the Go module proxy; scripts/test checks for them):\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(out_path)
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A running `golumber serve`; killed when dropped.
pub struct GoServer {
    child: Child,
    pub addr: String,
    events: std::sync::mpsc::Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
}

impl Drop for GoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GoServer {
    /// Starts go-lumber's server with extra flags.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(binary())
            .arg("serve")
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if let Some(a) = v["listening"].as_str() {
                    let _ = addr_tx.send(a.to_owned());
                } else {
                    let _ = tx.send(v);
                }
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("golumber serve did not report its address within 30 s");
        GoServer {
            child,
            addr,
            events,
            seen: Vec::new(),
        }
    }

    /// Every event received so far.
    pub fn events(&mut self) -> &[serde_json::Value] {
        while let Ok(v) = self.events.try_recv() {
            self.seen.push(v);
        }
        &self.seen
    }

    /// Waits until at least `n` events arrived (30 s deadline).
    pub fn wait_for(&mut self, n: usize) -> &[serde_json::Value] {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.events().len() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "go-lumber server got {} of {n} events within 60 s",
                self.seen.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        &self.seen
    }
}
