//! One real OpenSearch node for a whole test binary, and a small HTTP
//! client to look into it.
//!
//! The first test that asks for the node starts it with
//! `deploy/opensearch-dev/run start --watch-pid <this process>`, with a
//! state file of its own under the target directory; the node stops
//! itself (and deletes its data) when the test process exits. If
//! `GANYMEDE_TEST_ES_URL` is set (scripts may start one node for several
//! binaries), that node is used instead. A node that cannot start fails
//! the tests with the reason: they are never skipped.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

static NODE: OnceLock<Result<String, String>> = OnceLock::new();

/// The base URL of the node, started on first use.
pub fn url() -> String {
    match NODE.get_or_init(start) {
        Ok(u) => u.clone(),
        Err(e) => panic!("the OpenSearch node for these tests could not start:\n{e}"),
    }
}

fn start() -> Result<String, String> {
    if let Ok(u) = std::env::var("GANYMEDE_TEST_ES_URL")
        && !u.trim().is_empty()
    {
        return Ok(u.trim().trim_end_matches('/').to_owned());
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/opensearch-dev/run");
    let pid = std::process::id();
    remove_stale_state(pid);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("opensearch-{pid}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let out = Command::new(&script)
        .args(["start", "--watch-pid", &pid.to_string()])
        .env("GANYMEDE_OPENSEARCH_STATE", dir.join("node.state"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "{} start exited with {}:\n{stderr}",
            script.display(),
            out.status
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().rev().find(|l| l.starts_with("http")) {
        Some(u) => Ok(u.trim().to_owned()),
        None => Err(format!(
            "{} start printed no URL:\nstdout: {stdout}\nstderr: {stderr}",
            script.display()
        )),
    }
}

/// Removes the state folders of earlier runs whose process is gone.
fn remove_stale_state(me: u32) {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix("opensearch-"))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != me
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A name unique to this process and call site, lowercase, for indices.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `method path` with an optional JSON body; the status and the answer
/// (`null` when it is not JSON).
pub async fn http(method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    http_at(&url(), method, path, body).await
}

/// [`http`] against the node at `base`.
pub async fn http_at(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .unwrap();
    let resp = client
        .request(req)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// [`http_at`] for a search or count: while the answer is 503 ("all
/// shards failed", which an index answers from its creation until its
/// shards have started), asks again, for up to 30 seconds.
pub async fn search_at(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, v) = http_at(base, method, path, body).await;
        if status != 503 || std::time::Instant::now() > deadline {
            return (status, v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The number of documents in `target` (an index, a pattern or a data
/// stream), after a refresh.
pub async fn count(target: &str) -> u64 {
    count_at(&url(), target).await
}

/// [`count`] on the node at `base`.
pub async fn count_at(base: &str, target: &str) -> u64 {
    let (s, _) = http_at(base, "POST", &format!("/{target}/_refresh"), None).await;
    assert!(s == 200 || s == 404, "refresh {target}: {s}");
    let (s, v) = search_at(base, "GET", &format!("/{target}/_count"), None).await;
    if s == 404 {
        return 0;
    }
    assert_eq!(s, 200, "count {target}: {v}");
    v["count"].as_u64().unwrap()
}

/// The documents of `target`, sorted by `field`.
pub async fn documents(target: &str, sort: &str) -> Vec<serde_json::Value> {
    http("POST", &format!("/{target}/_refresh"), None).await;
    let (s, v) = search_at(
        &url(),
        "GET",
        &format!("/{target}/_search?size=1000&sort={sort}:asc"),
        None,
    )
    .await;
    assert_eq!(s, 200, "search {target}: {v}");
    v["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_source"].clone())
        .collect()
}

/// How many documents of `target` (at most 10,000) have each value of
/// `field`, after a refresh; an index that does not exist has none.
pub async fn value_counts(
    base: &str,
    target: &str,
    field: &str,
) -> std::collections::BTreeMap<String, usize> {
    let (s, _) = http_at(base, "POST", &format!("/{target}/_refresh"), None).await;
    assert!(s == 200 || s == 404, "refresh {target}: {s}");
    let (s, v) = search_at(
        base,
        "GET",
        &format!("/{target}/_search?size=10000&_source={field}"),
        None,
    )
    .await;
    if s == 404 {
        return Default::default();
    }
    assert_eq!(s, 200, "search {target}: {v}");
    let hits = v["hits"]["hits"].as_array().unwrap();
    assert!(hits.len() < 10_000, "too many documents to list");
    let mut counts = std::collections::BTreeMap::new();
    for h in hits {
        let value = match &h["_source"][field] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        *counts.entry(value).or_insert(0) += 1;
    }
    counts
}

/// A node of its own, for a test that stops and starts it again on the
/// same port. Each start is an empty cluster (the script deletes the data
/// directory on stop). Stopped when dropped, and by itself if the test
/// process dies.
pub struct OwnNode {
    state: PathBuf,
    pub port: u16,
    pub url: String,
    running: bool,
}

impl OwnNode {
    /// Starts a node on a free port below the OS's ephemeral range, so that
    /// no outgoing connection takes the port while the node is down.
    pub fn start(name: &str) -> OwnNode {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("opensearch-{}", std::process::id()))
            .join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut node = OwnNode {
            state: dir.join("node.state"),
            port: free_low_port(),
            url: String::new(),
            running: false,
        };
        node.url = node.start_again();
        node
    }

    /// Starts the node again on its port (an empty cluster); its URL.
    pub fn start_again(&mut self) -> String {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/opensearch-dev/run");
        let mut last = String::new();
        // The port may be busy for a moment (a connection of another
        // process that got it just now): try a few times.
        for _ in 0..3 {
            let out = Command::new(&script)
                .args([
                    "start",
                    "--port",
                    &self.port.to_string(),
                    "--watch-pid",
                    &std::process::id().to_string(),
                ])
                .env("GANYMEDE_OPENSEARCH_STATE", &self.state)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            let stdout = String::from_utf8_lossy(&out.stdout);
            if out.status.success()
                && let Some(u) = stdout.lines().rev().find(|l| l.starts_with("http"))
            {
                self.running = true;
                return u.trim().to_owned();
            }
            last = format!(
                "exit {}\nstdout: {stdout}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
        panic!("the node could not start on port {}:\n{last}", self.port);
    }

    /// Stops the node (SIGTERM, then waits until it is gone).
    pub fn stop(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/opensearch-dev/run");
        let out = Command::new(&script)
            .arg("stop")
            .env("GANYMEDE_OPENSEARCH_STATE", &self.state)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = false;
    }
}

impl Drop for OwnNode {
    fn drop(&mut self) {
        if self.running {
            self.stop();
        }
    }
}

/// A port that is free now, below the ephemeral range (from which the OS
/// picks the local ports of outgoing connections).
fn free_low_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (from, to) = if low > 12_000 {
        (10_000, low - 1)
    } else {
        (61_000, 65_000)
    };
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
    let span = u64::from(to - from);
    for i in 0..span {
        let port = from + ((seed.wrapping_mul(2_654_435_761) + i * 7919) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {from}..{to}");
}
