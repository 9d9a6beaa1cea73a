//! A fast local `_bulk` endpoint for end-to-end benchmarks of the
//! elasticsearch output: it answers `GET /` like OpenSearch 2.19, accepts
//! templates, and acknowledges every bulk request with `errors: false`
//! after counting its documents (gzip bodies included). `GET /_count`
//! returns how many documents it received.
//!
//! For the benchmark's account of where the CPU goes, `GET /_gzip_cost`
//! tells what compressing the bulk bodies received since the last such
//! call costs on its own: the sink keeps the first 64 MB of them
//! (decompressed), and on that call compresses them with the output's own
//! `gzip` function at the level given as the second argument (default 1),
//! timed on this one thread, and scales the time to all the plain bytes
//! received: `{"plain_bytes", "sample_bytes", "sample_seconds",
//! "estimated_seconds"}`. Done after a run, so that it takes no CPU from
//! the program being measured.
//!
//! `cargo run --release --example bulk_sink -- 127.0.0.1:9201 [LEVEL]`

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::io::Read;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Plain bulk bodies kept for `/_gzip_cost`.
const SAMPLE_LIMIT: usize = 64 << 20;

#[derive(Default)]
struct Tally {
    docs: AtomicU64,
    /// Since the last `/_gzip_cost`: all plain bytes, and the sample.
    plain_bytes: AtomicU64,
    sample: Mutex<(usize, Vec<Vec<u8>>)>,
}

impl Tally {
    fn keep(&self, plain: &[u8]) {
        self.plain_bytes
            .fetch_add(plain.len() as u64, Ordering::Relaxed);
        let mut sample = self.sample.lock().expect("not poisoned");
        if sample.0 + plain.len() <= SAMPLE_LIMIT {
            sample.0 += plain.len();
            sample.1.push(plain.to_vec());
        }
    }

    fn gzip_cost(&self, level: u32) -> String {
        let (bytes, bodies) = std::mem::take(&mut *self.sample.lock().expect("not poisoned"));
        let plain = self.plain_bytes.swap(0, Ordering::Relaxed);
        let start = Instant::now();
        for body in &bodies {
            std::hint::black_box(ganymede::outputs::elasticsearch::writer::gzip(body, level));
        }
        let seconds = start.elapsed().as_secs_f64();
        let estimated = if bytes > 0 {
            seconds * plain as f64 / bytes as f64
        } else {
            0.0
        };
        format!(
            r#"{{"plain_bytes":{plain},"sample_bytes":{bytes},"sample_seconds":{seconds},"estimated_seconds":{estimated}}}"#
        )
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9201".to_owned());
    let level: u32 = std::env::args()
        .nth(2)
        .map(|l| l.parse().expect("LEVEL is a gzip level, 1 to 9"))
        .unwrap_or(1);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("{{\"listening\":\"{}\"}}", listener.local_addr()?);
    let tally = Arc::new(Tally::default());
    loop {
        let (stream, _) = listener.accept().await?;
        let tally = tally.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, tally.clone(), level));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    tally: Arc<Tally>,
    level: u32,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_owned();
    let gzip = req
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let body = req.into_body().collect().await?.to_bytes();
    let json = if path.ends_with("/_bulk") || path == "/_bulk" {
        let mut plain = Vec::new();
        let text: &[u8] = if gzip {
            let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain);
            &plain
        } else {
            &body
        };
        tally.keep(text);
        // Action line + source line per document.
        let lines = memchr::memchr_iter(b'\n', text).count() as u64;
        tally.docs.fetch_add(lines / 2, Ordering::Relaxed);
        r#"{"took":1,"errors":false}"#.to_owned()
    } else if path == "/_count" {
        format!(r#"{{"count":{}}}"#, tally.docs.load(Ordering::Relaxed))
    } else if path == "/_gzip_cost" {
        tally.gzip_cost(level)
    } else if path == "/" {
        r#"{"name":"sink","cluster_name":"bench","version":{"distribution":"opensearch","number":"2.19.6"}}"#.to_owned()
    } else {
        r#"{"acknowledged":true}"#.to_owned()
    };
    let mut r = Response::new(Full::new(Bytes::from(json)));
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
