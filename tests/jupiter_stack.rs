//! The Jupiter stack end to end, with the shipped pipelines: a shipper
//! tails backend and frontend log folders and sends over beats to an
//! aggregator, which parses and writes daily indices into a real
//! OpenSearch node. Either process may be SIGKILLed mid-stream: nothing is
//! lost.

#[path = "support/opensearch.rs"]
mod opensearch;
mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{Running, ganymede};

/// A free local port (the aggregator must keep its port across restarts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Stack {
    dir: tempfile::TempDir,
    port: u16,
    es: String,
    /// A marker in every message of this test, to find its documents.
    run: String,
}

impl Stack {
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["logs/backend", "logs/frontend", "shipper", "aggregator"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Stack {
            dir,
            port: free_port(),
            es: opensearch::url(),
            run: opensearch::unique(name),
        }
    }

    fn logs(&self, kind: &str) -> PathBuf {
        self.dir.path().join("logs").join(kind)
    }

    fn start(&self, role: &str) -> Running {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{role}.log")))
            .unwrap();
        Running(
            ganymede()
                .args(["run", "--http", "off", "--shutdown-timeout", "10s", "-c"])
                .arg(format!("pipelines/jupiter-{role}.yml"))
                .arg("--data-dir")
                .arg(self.dir.path().join(role))
                .env("JUPITER_LOG_DIR", self.dir.path().join("logs"))
                .env("JUPITER_AGGREGATOR", format!("127.0.0.1:{}", self.port))
                .env("JUPITER_BEATS_LISTEN", format!("127.0.0.1:{}", self.port))
                .env("JUPITER_ES", &self.es)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap(),
        )
    }

    fn logs_of(&self, role: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{role}.log"))).unwrap_or_default()
    }

    /// The documents of this test, from every daily index.
    async fn documents(&self) -> Vec<serde_json::Value> {
        opensearch::http("POST", "/jupiter-logs-*/_refresh", None).await;
        let query = format!(
            r#"{{"size":10000,"query":{{"match_phrase":{{"message":"{}"}}}}}}"#,
            self.run
        );
        let (status, v) = opensearch::search_at(
            &opensearch::url(),
            "POST",
            "/jupiter-logs-*/_search",
            Some(&query),
        )
        .await;
        if status == 404 {
            return Vec::new();
        }
        assert_eq!(status, 200, "{v}");
        v["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let mut d = h["_source"].clone();
                d["_index"] = h["_index"].clone();
                d
            })
            .collect()
    }

    /// Waits until documents with every `seq` in `expected` are indexed.
    async fn wait_for(&self, expected: &BTreeSet<u64>, within: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let docs = self.documents().await;
            let seen: BTreeSet<u64> = docs.iter().filter_map(|d| d["seq"].as_u64()).collect();
            if expected.is_subset(&seen) {
                return docs;
            }
            if Instant::now() > deadline {
                let missing: Vec<_> = expected.difference(&seen).take(10).collect();
                panic!(
                    "after {within:?}, {} of {} events are indexed; missing e.g. {missing:?}\nshipper:\n{}\naggregator:\n{}",
                    seen.intersection(expected).count(),
                    expected.len(),
                    tail(&self.logs_of("shipper")),
                    tail(&self.logs_of("aggregator"))
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// A backend JSON line as the Jupiter logger writes it.
fn backend_json(run: &str, seq: u64, day: u32) -> String {
    format!(
        r#"{{"timestamp": "2031-01-{day:02}T08:15:{:02}.114302", "level": "INFO", "message": "{run} processing case {seq}", "module": "cases", "function": "process_case", "line": 42, "request_id": "req-{seq}", "seq": {seq}}}"#,
        seq % 60
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_from_both_folders_reach_daily_indices_with_their_fields() {
    let s = Stack::new("stack");
    let _aggregator = s.start("aggregator");
    let _shipper = s.start("shipper");
    let backend = s.logs("backend").join("app.log");
    let frontend = s.logs("frontend").join("web.log");
    let mut expected = BTreeSet::new();
    for seq in 0..300 {
        append(&backend, &backend_json(&s.run, seq, 1 + (seq % 3) as u32));
        expected.insert(seq);
    }
    // Plain-text backend lines: grokked by the aggregator.
    for seq in 300..310 {
        append(
            &backend,
            &format!(
                "2031-01-04T09:00:00.000Z WARNING {} text line seq={seq}",
                s.run
            ),
        );
    }
    for seq in 0..100 {
        append(
            &frontend,
            &format!("{} frontend GET /cases/{seq} 200", s.run),
        );
    }
    let docs = s.wait_for(&expected, Duration::from_secs(90)).await;
    // 300 JSON + 10 text backend lines + 100 frontend lines.
    let deadline = Instant::now() + Duration::from_secs(60);
    let docs = loop {
        if docs.len() >= 410 || Instant::now() > deadline {
            break s.documents().await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let d = s.documents().await;
        if d.len() >= 410 {
            break d;
        }
    };
    assert_eq!(docs.len(), 410, "every line is indexed once");

    let json_doc = docs.iter().find(|d| d["seq"] == 4).unwrap();
    assert_eq!(json_doc["_index"], "jupiter-logs-2031.01.02", "{json_doc}");
    assert_eq!(json_doc["@timestamp"], "2031-01-02T08:15:04.114302Z");
    assert_eq!(json_doc["level"], "INFO");
    assert_eq!(json_doc["module"], "cases");
    assert_eq!(json_doc["fields"]["type"], "backend");
    assert_eq!(json_doc["input"]["type"], "file");
    assert!(
        json_doc["log"]["file"]["path"]
            .as_str()
            .unwrap()
            .ends_with("backend/app.log")
    );
    let days: BTreeSet<&str> = docs
        .iter()
        .filter(|d| d["seq"].is_u64())
        .map(|d| d["_index"].as_str().unwrap())
        .collect();
    assert_eq!(days.len(), 3, "three daily indices: {days:?}");

    let text = docs
        .iter()
        .find(|d| {
            d["message"]
                .as_str()
                .is_some_and(|m| m.ends_with("seq=305"))
        })
        .expect("grokked text line");
    assert_eq!(text["level"], "WARNING", "{text}");
    assert_eq!(text["_index"], "jupiter-logs-2031.01.04");
    assert!(
        text["message"].as_str().unwrap().starts_with(&s.run),
        "grok overwrote message: {text}"
    );
    assert!(
        text.get("tags")
            .is_none_or(|t| !t.to_string().contains("_jsonparsefailure")),
        "{text}"
    );

    let fe = docs
        .iter()
        .find(|d| d["fields"]["type"] == "frontend")
        .expect("frontend line");
    assert!(
        fe["message"]
            .as_str()
            .unwrap()
            .contains("frontend GET /cases/")
    );
}

/// Writes numbered backend lines at a steady pace while `disrupt` runs.
async fn kill_and_restart(role: &str) {
    let s = Stack::new(&format!("kill-{role}"));
    let mut aggregator = s.start("aggregator");
    let mut shipper = s.start("shipper");
    let backend = s.logs("backend").join("app.log");
    let total = 1500u64;
    let writer = {
        let backend = backend.clone();
        let run = s.run.clone();
        std::thread::spawn(move || {
            for seq in 0..total {
                append(&backend, &backend_json(&run, seq, 5));
                std::thread::sleep(Duration::from_millis(6));
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let victim = if role == "aggregator" {
        &mut aggregator
    } else {
        &mut shipper
    };
    victim.signal("-KILL");
    let _ = victim.wait_exit(Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(2)).await;
    *victim = s.start(role);
    writer.join().unwrap();
    let expected: BTreeSet<u64> = (0..total).collect();
    let docs = s.wait_for(&expected, Duration::from_secs(120)).await;
    let duplicates = docs.len() as u64 - total;
    println!(
        "{role} killed and restarted: {total} lines, all indexed, {duplicates} duplicates (allowed)"
    );
    drop(shipper);
    drop(aggregator);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregator_killed_mid_stream_loses_nothing() {
    kill_and_restart("aggregator").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipper_killed_mid_stream_loses_nothing() {
    kill_and_restart("shipper").await;
}
