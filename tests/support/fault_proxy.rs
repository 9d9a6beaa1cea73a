//! A fault-injecting HTTP proxy between an output and a real node.
//!
//! Requests other than `_bulk` pass through. Each `_bulk` request takes the
//! next [`Fault`] of the script (none left: pass). Besides, items whose
//! source contains a marker can be answered 429 a number of times: such
//! items are *not* forwarded, and their synthetic results are merged into
//! the node's answer at their positions, so that the node's document count
//! tells whether anything was lost or written twice.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do with one `_bulk` request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// No fault.
    Pass,
    /// Answer this status without forwarding.
    Status(u16),
    /// Read the request, then close the connection without an answer.
    Reset,
    /// Forward, then wait this long before answering.
    SlowAnswer(Duration),
}

/// Faults and observations of one proxy.
#[derive(Default)]
pub struct State {
    upstream: String,
    pub script: Mutex<VecDeque<Fault>>,
    /// Answer 413 to requests of more items than this.
    pub too_large_over_items: Mutex<Option<usize>>,
    /// Answer 413 to any request with an item containing this text.
    pub too_large_marker: Mutex<Option<String>>,
    /// Items containing the text get 429 this many times each.
    pub item_429: Mutex<Option<(String, u32)>>,
    seen_429: Mutex<HashMap<Vec<u8>, u32>>,
    /// TCP connections accepted.
    pub connections: AtomicUsize,
    pub bulk_requests: AtomicUsize,
    pub gzip_requests: AtomicUsize,
    /// Items passed on to the node.
    pub forwarded_items: AtomicUsize,
    /// Items answered 429 by the proxy.
    pub rejected_items: AtomicUsize,
}

/// A running proxy; it lives as long as the test's runtime.
pub struct Proxy {
    pub url: String,
    pub state: Arc<State>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream: upstream.to_owned(),
            ..State::default()
        });
        let s = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                s.connections.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(s.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy { url, state }
    }

    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.script.lock().unwrap().extend(faults);
    }
}

type Answer = Response<Full<Bytes>>;

fn answer(status: u16, body: impl Into<Bytes>) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap()
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Answer, std::io::Error> {
    let method = req.method().clone();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let gzip = req
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    if !path_and_query.starts_with("/_bulk") {
        let (status, body) = forward(&state.upstream, method, &path_and_query, body).await;
        return Ok(answer(status, body));
    }

    state.bulk_requests.fetch_add(1, Ordering::SeqCst);
    let body = if gzip {
        state.gzip_requests.fetch_add(1, Ordering::SeqCst);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .map_err(std::io::Error::other)?;
        Bytes::from(out)
    } else {
        body
    };
    let fault = state.script.lock().unwrap().pop_front();
    let mut delay = None;
    match fault {
        Some(Fault::Status(s)) => {
            return Ok(answer(
                s,
                format!(
                    r#"{{"error":{{"type":"injected","reason":"injected {s}"}},"status":{s}}}"#
                ),
            ));
        }
        Some(Fault::Reset) => return Err(std::io::Error::other("injected connection reset")),
        Some(Fault::SlowAnswer(d)) => delay = Some(d),
        Some(Fault::Pass) | None => {}
    }

    // Items: pairs of lines.
    let lines: Vec<&[u8]> = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let items: Vec<(&[u8], &[u8])> = lines.chunks(2).map(|c| (c[0], c[1])).collect();
    if let Some(n) = *state.too_large_over_items.lock().unwrap()
        && items.len() > n
    {
        return Ok(answer(413, ""));
    }
    if let Some(m) = state.too_large_marker.lock().unwrap().as_deref()
        && items.iter().any(|(_, s)| contains(s, m.as_bytes()))
    {
        return Ok(answer(413, ""));
    }

    // Which items get a synthetic 429.
    let mut synthetic = vec![false; items.len()];
    if let Some((marker, times)) = state.item_429.lock().unwrap().clone() {
        let mut seen = state.seen_429.lock().unwrap();
        for (i, (_, source)) in items.iter().enumerate() {
            if contains(source, marker.as_bytes()) {
                let n = seen.entry(source.to_vec()).or_insert(0);
                if *n < times {
                    *n += 1;
                    synthetic[i] = true;
                }
            }
        }
    }
    let mut forwarded = Vec::new();
    for (i, (action, source)) in items.iter().enumerate() {
        if !synthetic[i] {
            forwarded.extend_from_slice(action);
            forwarded.push(b'\n');
            forwarded.extend_from_slice(source);
            forwarded.push(b'\n');
        }
    }
    let n_forwarded = synthetic.iter().filter(|s| !**s).count();
    state
        .forwarded_items
        .fetch_add(n_forwarded, Ordering::SeqCst);
    state
        .rejected_items
        .fetch_add(items.len() - n_forwarded, Ordering::SeqCst);

    let mut upstream_items: VecDeque<serde_json::Value> = VecDeque::new();
    let mut errors = false;
    if n_forwarded > 0 {
        let (status, resp) = forward(
            &state.upstream,
            hyper::Method::POST,
            &path_and_query,
            Bytes::from(forwarded),
        )
        .await;
        if status != 200 {
            return Ok(answer(status, resp));
        }
        let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
        errors = v["errors"].as_bool().unwrap_or(false);
        upstream_items = v["items"].as_array().cloned().unwrap_or_default().into();
    }
    let mut merged = Vec::new();
    for (i, is_synthetic) in synthetic.iter().enumerate() {
        if *is_synthetic {
            errors = true;
            let action: serde_json::Value = serde_json::from_slice(items[i].0).unwrap();
            let name = action.as_object().unwrap().keys().next().unwrap().clone();
            merged.push(serde_json::json!({ name: {
                "status": 429,
                "error": {"type": "es_rejected_execution_exception", "reason": "injected: queue full"}
            }}));
        } else {
            merged.push(
                upstream_items
                    .pop_front()
                    .expect("one result per forwarded item"),
            );
        }
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let body = serde_json::json!({"errors": errors, "items": merged}).to_string();
    Ok(answer(200, body))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn forward(upstream: &str, method: hyper::Method, path: &str, body: Bytes) -> (u16, Bytes) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let content_type = if path.starts_with("/_bulk") {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let req = Request::builder()
        .method(method)
        .uri(format!("{upstream}{path}"))
        .header("content-type", content_type)
        .body(Full::new(body))
        .unwrap();
    let resp = client
        .request(req)
        .await
        .expect("the node answers the proxy");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}
