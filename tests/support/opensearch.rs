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
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("{}{path}", url()))
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

/// The number of documents in `target` (an index, a pattern or a data
/// stream), after a refresh.
pub async fn count(target: &str) -> u64 {
    let (s, _) = http("POST", &format!("/{target}/_refresh"), None).await;
    assert!(s == 200 || s == 404, "refresh {target}: {s}");
    let (s, v) = http("GET", &format!("/{target}/_count"), None).await;
    if s == 404 {
        return 0;
    }
    assert_eq!(s, 200, "count {target}: {v}");
    v["count"].as_u64().unwrap()
}

/// The documents of `target`, sorted by `field`.
pub async fn documents(target: &str, sort: &str) -> Vec<serde_json::Value> {
    http("POST", &format!("/{target}/_refresh"), None).await;
    let (s, v) = http(
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
