//! Connections to beats servers: pipelined windows, ACKs, keep-alives,
//! partial ACKs, reconnects with backoff.

use crate::delivery::{Outcome, Receipt};
use crate::event::{Event, json};
use crate::lumberjack::{Decoder, Frame, Limits, encode_window};
use crate::observe::{ComponentHealth, ComponentMetrics};
use crate::topology::Batch;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Resolved settings of the output.
pub struct Settings {
    pub hosts: Vec<(String, u16)>,
    pub loadbalance: bool,
    pub bulk_max_size: usize,
    pub compression_level: u32,
    pub pipelining: usize,
    pub timeout: Duration,
    pub backoff_init: Duration,
    pub backoff_max: Duration,
    pub tls: Option<tokio_rustls::TlsConnector>,
    pub server_name: Option<String>,
}

/// Shared by the windows of one batch: the receipt resolves with the last.
struct BatchDone {
    receipt: Mutex<Option<Receipt>>,
    remaining: AtomicUsize,
    metrics: Arc<ComponentMetrics>,
    events: usize,
}

impl BatchDone {
    fn window_done(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.metrics.add_out(self.events);
            if let Some(r) = self
                .receipt
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                r.resolve(Outcome::Delivered);
            }
        }
    }
}

/// Up to `bulk_max_size` encoded events awaiting one ACK.
pub struct Window {
    events: Vec<Vec<u8>>,
    /// Events at the front ACKed before the current send (partial ACKs of
    /// an earlier connection).
    acked: usize,
    /// Highest partial ACK of the current send (relative to what was sent).
    partial: usize,
    done: Arc<BatchDone>,
}

/// Serialises a batch into windows.
pub fn windows(batch: Batch, size: usize, metrics: &Arc<ComponentMetrics>) -> Vec<Window> {
    let Batch {
        events, receipt, ..
    } = batch;
    if events.is_empty() {
        receipt.resolve(Outcome::Delivered);
        return Vec::new();
    }
    let chunks: Vec<Vec<Vec<u8>>> = events
        .chunks(size)
        .map(|c| c.iter().map(encode_event).collect())
        .collect();
    let done = Arc::new(BatchDone {
        receipt: Mutex::new(Some(receipt)),
        remaining: AtomicUsize::new(chunks.len()),
        metrics: metrics.clone(),
        events: events.len(),
    });
    chunks
        .into_iter()
        .map(|events| Window {
            events,
            acked: 0,
            partial: 0,
            done: done.clone(),
        })
        .collect()
}

/// An event as Filebeat sends it: its fields plus `@metadata` (the
/// event's metadata, with `beat`, `type` and `version` when absent).
pub fn encode_event(e: &Event) -> Vec<u8> {
    let mut meta = e.metadata().clone();
    for (k, v) in [
        ("beat", "ganymede"),
        ("type", "_doc"),
        ("version", env!("CARGO_PKG_VERSION")),
    ] {
        meta.entry(k)
            .or_insert_with(|| crate::event::Value::from(v));
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"@metadata\":");
    json::write_map(&mut out, &meta);
    let mut fields = Vec::with_capacity(256);
    e.write_json(&mut fields);
    if fields.len() > 2 {
        out.push(b',');
        out.extend_from_slice(&fields[1..]);
    } else {
        out.push(b'}');
    }
    out
}

/// Why a connection ended.
#[derive(Debug)]
enum Broken {
    Io(std::io::Error),
    Timeout,
    Protocol(String),
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::Io(e) => write!(f, "{e}"),
            Broken::Timeout => f.write_str("no ACK within the timeout"),
            Broken::Protocol(m) => f.write_str(m),
        }
    }
}

/// Serves windows from `rx` over connections to `hosts` (failover in that
/// order; one host per worker when load balancing), until `rx` closes and
/// every window is ACKed, or `abort` fires.
pub async fn worker(
    settings: Arc<Settings>,
    hosts: Vec<usize>,
    rx: flume::Receiver<Window>,
    health: ComponentHealth,
    abort: CancellationToken,
) {
    let mut retry: VecDeque<Window> = VecDeque::new();
    let mut backoff = settings.backoff_init;
    let mut next_host = 0usize;
    loop {
        if retry.is_empty() && rx.is_disconnected() && rx.is_empty() {
            return;
        }
        let (host, port) = &settings.hosts[hosts[next_host % hosts.len()]];
        let connected = tokio::select! {
            _ = abort.cancelled() => return,
            c = tokio::time::timeout(settings.timeout, connect(&settings, host, *port)) => c,
        };
        let result = match connected {
            Ok(Ok(Conn::Plain(s))) => session(s, &settings, &rx, &mut retry, &abort, &health).await,
            Ok(Ok(Conn::Tls(s))) => session(*s, &settings, &rx, &mut retry, &abort, &health).await,
            Ok(Err(e)) => Err(Broken::Io(e)),
            Err(_) => Err(Broken::Timeout),
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                health.failing(format!("beats server {host}:{port}: {e}"));
                tracing::warn!(host = %host, port, error = %e, retry_in = ?backoff,
                    "beats connection failed; un-ACKed events will be sent again");
                next_host += 1;
                tokio::select! {
                    _ = abort.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(settings.backoff_max);
            }
        }
        if abort.is_cancelled() {
            return;
        }
        let _ = &mut backoff;
    }
}

enum Conn {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

async fn connect(settings: &Settings, host: &str, port: u16) -> std::io::Result<Conn> {
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    let _ = tcp.set_nodelay(true);
    match &settings.tls {
        None => Ok(Conn::Plain(tcp)),
        Some(connector) => {
            let name = settings
                .server_name
                .clone()
                .unwrap_or_else(|| host.to_owned());
            let server_name = rustls::pki_types::ServerName::try_from(name)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            Ok(Conn::Tls(Box::new(
                connector.connect(server_name, tcp).await?,
            )))
        }
    }
}

/// One connection: send windows (pipelined), read ACKs. Returns `Ok` once
/// the input is exhausted and everything was ACKed.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    settings: &Settings,
    rx: &flume::Receiver<Window>,
    retry: &mut VecDeque<Window>,
    abort: &CancellationToken,
    health: &ComponentHealth,
) -> Result<(), Broken> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut inflight: VecDeque<Window> = VecDeque::new();
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = Vec::new();
    let mut input_open = true;
    let result: Result<(), Broken> = async {
        loop {
            // Fill the pipeline: windows to resend first, then new ones.
            while inflight.len() < settings.pipelining {
                let w = match retry.pop_front() {
                    Some(w) => w,
                    None => match rx.try_recv() {
                        Ok(w) => w,
                        Err(_) => break,
                    },
                };
                buf.clear();
                encode_window(&mut buf, &w.events[w.acked..], settings.compression_level).map_err(Broken::Io)?;
                writer.write_all(&buf).await.map_err(Broken::Io)?;
                tracing::trace!(events = w.events.len() - w.acked, inflight = inflight.len() + 1, "window sent");
                inflight.push_back(w);
            }
            writer.flush().await.map_err(Broken::Io)?;
            if inflight.is_empty() {
                // Idle: wait for the next window or the end of input.
                tokio::select! {
                    _ = abort.cancelled() => return Ok(()),
                    w = rx.recv_async() => match w {
                        Ok(w) => retry.push_back(w),
                        Err(_) => return Ok(()),
                    },
                }
                continue;
            }
            // Wait for an ACK (or room for another window).
            let can_send_more = input_open && inflight.len() < settings.pipelining;
            tokio::select! {
                _ = abort.cancelled() => return Ok(()),
                w = rx.recv_async(), if can_send_more => {
                    match w {
                        Ok(w) => retry.push_back(w),
                        // No more windows will come: only ACKs are awaited
                        // now (not selecting on a closed channel, which would
                        // be ready forever and starve the reads).
                        Err(_) => input_open = false,
                    }
                    continue;
                }
                read = tokio::time::timeout(settings.timeout, reader.read_buf(decoder.buffer())) => {
                    match read {
                        Err(_) => return Err(Broken::Timeout),
                        Ok(Err(e)) => return Err(Broken::Io(e)),
                        Ok(Ok(0)) => return Err(Broken::Io(std::io::ErrorKind::UnexpectedEof.into())),
                        Ok(Ok(_)) => {}
                    }
                }
            }
            while let Some(frame) = decoder.next_frame().map_err(|e| Broken::Protocol(e.to_string()))? {
                let Frame::Ack { seq, .. } = frame else {
                    return Err(Broken::Protocol("server sent a frame other than ACK".into()));
                };
                tracing::trace!(seq, inflight = inflight.len(), "ack");
                if seq == 0 {
                    continue; // keep-alive: the timeout restarts with the next read
                }
                let Some(front) = inflight.front_mut() else {
                    return Err(Broken::Protocol(format!("ACK {seq} with no window in flight")));
                };
                let sent = front.events.len() - front.acked;
                let seq = seq as usize;
                if seq > sent {
                    return Err(Broken::Protocol(format!("ACK {seq} beyond the window of {sent}")));
                }
                if seq == sent {
                    if let Some(w) = inflight.pop_front() {
                        w.done.window_done();
                    }
                    health.healthy();
                } else {
                    // Partial ACK: events 1..=seq of what was sent are safe.
                    front.partial = front.partial.max(seq);
                }
            }
        }
    }
    .await;
    // Whatever is still in flight is sent again on the next connection,
    // without the events a partial ACK already covered.
    while let Some(mut w) = inflight.pop_back() {
        w.acked += w.partial;
        w.partial = 0;
        retry.push_front(w);
    }
    result
}
