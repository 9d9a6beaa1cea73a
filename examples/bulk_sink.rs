//! A fast local `_bulk` endpoint for end-to-end benchmarks of the
//! elasticsearch output: it answers `GET /` like OpenSearch 2.19, accepts
//! templates, and acknowledges every bulk request with `errors: false`
//! after counting its documents (gzip bodies included). `GET /_count`
//! returns how many documents it received.
//!
//! `cargo run --release --example bulk_sink -- 127.0.0.1:9201`

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9201".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("{{\"listening\":\"{}\"}}", listener.local_addr()?);
    let docs = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, _) = listener.accept().await?;
        let docs = docs.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, docs.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    docs: Arc<AtomicU64>,
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
        // Action line + source line per document.
        let lines = memchr::memchr_iter(b'\n', text).count() as u64;
        docs.fetch_add(lines / 2, Ordering::Relaxed);
        r#"{"took":1,"errors":false}"#.to_owned()
    } else if path == "/_count" {
        format!(r#"{{"count":{}}}"#, docs.load(Ordering::Relaxed))
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
