//! One beats connection: read windows, hand them to the pipeline, ACK them
//! in order once delivered, keep the client alive meanwhile.

use crate::delivery::Status;
use crate::event::{Event, FieldPath, Key, MESSAGE, Map, Value, json};
use crate::lumberjack::{DecodeError, Decoder, Frame, Limits, Payload, encode_ack};
use crate::observe::Metrics;
use crate::outputs::elasticsearch::doc_id::{self, Hasher128};
use crate::tls::peer_identity;
use crate::topology::{Batch, InputContext};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Per-connection settings.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    pub limits: Limits,
    pub idle_timeout: Duration,
    pub keepalive: Duration,
    pub handshake_timeout: Duration,
    pub max_pending_windows: usize,
}

/// Counters of the input.
#[derive(Clone)]
pub struct Counters {
    metrics: Arc<Metrics>,
    labels: Vec<(String, String)>,
    accepted: Arc<AtomicU64>,
    acks: Arc<AtomicU64>,
    keepalives: Arc<AtomicU64>,
}

impl Counters {
    pub fn new(metrics: &Arc<Metrics>, labels: &[(&str, &str)]) -> Self {
        Counters {
            metrics: metrics.clone(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            accepted: metrics.counter(
                "ganymede_beats_connections_total",
                "Beats connections accepted.",
                labels,
            ),
            acks: metrics.counter(
                "ganymede_beats_acks_total",
                "Windows acknowledged to beats clients.",
                labels,
            ),
            keepalives: metrics.counter(
                "ganymede_beats_keepalives_total",
                "ACK(0) keep-alives sent while windows waited for delivery.",
                labels,
            ),
        }
    }

    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection closed for `reason`.
    pub fn closed(&self, reason: &str) {
        let mut labels: Vec<(&str, &str)> = self
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        labels.push(("reason", reason));
        self.metrics
            .counter(
                "ganymede_beats_connections_closed_total",
                "Beats connections closed because of an error, by reason.",
                &labels,
            )
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Who is on the other end, stamped into every event's metadata.
#[derive(Debug, Clone)]
struct Peer {
    ip: Key,
    identity: Option<crate::tls::PeerIdentity>,
}

/// Serves one accepted TCP connection (TLS first, if configured).
pub async fn serve(
    stream: tokio::net::TcpStream,
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    settings: ConnectionSettings,
    ctx: Arc<InputContext>,
    counters: Counters,
) {
    let ip = Key::from(addr.ip().to_string());
    match tls {
        None => {
            run(
                stream,
                Peer { ip, identity: None },
                addr,
                settings,
                ctx,
                counters,
            )
            .await
        }
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(settings.handshake_timeout, acceptor.accept(stream)).await;
            let stream = match handshake {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    counters.closed("tls");
                    tracing::warn!(peer = %addr, error = %e, "TLS handshake failed; connection closed");
                    return;
                }
                Err(_) => {
                    counters.closed("tls_timeout");
                    tracing::warn!(peer = %addr, timeout = ?settings.handshake_timeout, "TLS handshake timed out; connection closed");
                    return;
                }
            };
            let identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(peer_identity);
            run(stream, Peer { ip, identity }, addr, settings, ctx, counters).await
        }
    }
}

/// A window handed to the pipeline, waiting for its receipt.
struct Pending {
    version: u8,
    seq: u32,
    status: oneshot::Receiver<Status>,
}

/// Why reading stopped.
enum End {
    Eof,
    Idle,
    Decode(DecodeError),
    Io(std::io::Error),
    Shutdown,
    AckerGone,
}

async fn run<S>(
    stream: S,
    peer: Peer,
    addr: SocketAddr,
    settings: ConnectionSettings,
    ctx: Arc<InputContext>,
    counters: Counters,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel::<Pending>(settings.max_pending_windows);
    let waiting = Arc::new(AtomicUsize::new(0));
    let acker = tokio::spawn(ack_windows(
        writer,
        rx,
        settings.keepalive,
        waiting.clone(),
        counters.clone(),
        addr,
    ));
    let end = read_windows(&mut reader, &peer, settings, &ctx, &tx, &waiting).await;
    drop(tx);
    match &end {
        End::Eof | End::Shutdown => {}
        End::Idle => {
            counters.closed("idle");
            tracing::info!(peer = %addr, timeout = ?settings.idle_timeout, "idle connection closed");
        }
        End::Decode(e) => {
            counters.closed("protocol");
            tracing::warn!(peer = %addr, error = %e, "malformed beats stream; connection closed (un-ACKed windows will be resent by the client)");
        }
        End::Io(e) => {
            counters.closed("io");
            tracing::info!(peer = %addr, error = %e, "connection lost");
        }
        End::AckerGone => {}
    }
    if matches!(end, End::Decode(_)) {
        // Nothing more will be acknowledged on a broken stream.
        acker.abort();
    }
    let _ = acker.await;
}

async fn read_windows<R: AsyncRead + Unpin>(
    reader: &mut R,
    peer: &Peer,
    settings: ConnectionSettings,
    ctx: &InputContext,
    tx: &mpsc::Sender<Pending>,
    waiting: &AtomicUsize,
) -> End {
    let mut decoder = Decoder::new(settings.limits);
    let mut window: Option<(u8, u32)> = None;
    let mut events: Vec<Event> = Vec::new();
    let mut max_seq = 0u32;
    loop {
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return End::Decode(e),
            };
            match frame {
                Frame::Window { version, count } => {
                    if !events.is_empty() {
                        // A new window before the last was complete: hand on
                        // what arrived (Logstash does the same).
                        let v = window.map_or(version, |w| w.0);
                        if let Err(end) =
                            dispatch(ctx, tx, waiting, v, max_seq, std::mem::take(&mut events))
                                .await
                        {
                            return end;
                        }
                    }
                    max_seq = 0;
                    window = (count > 0).then_some((version, count));
                    // The decoder bounds `count` by max_window.
                    events.reserve(count as usize);
                }
                Frame::Data {
                    version,
                    seq,
                    payload,
                } => {
                    events.push(to_event(payload, peer, ctx.document_ids));
                    max_seq = max_seq.max(seq);
                    let expected = window.map_or(0, |w| w.1);
                    if expected == 0 || events.len() as u32 >= expected {
                        let v = window.map_or(version, |w| w.0);
                        if let Err(end) =
                            dispatch(ctx, tx, waiting, v, max_seq, std::mem::take(&mut events))
                                .await
                        {
                            return end;
                        }
                        window = None;
                        max_seq = 0;
                    }
                }
                Frame::Ack { .. } => return End::Decode(DecodeError::FrameType(b'A')),
            }
        }
        let idle = waiting.load(Ordering::Acquire) == 0 && events.is_empty();
        decoder.buffer().reserve(64 * 1024);
        let n = tokio::select! {
            _ = ctx.shutdown.cancelled() => return End::Shutdown,
            r = tokio::time::timeout(settings.idle_timeout, reader.read_buf(decoder.buffer())) => match r {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return End::Io(e),
                Err(_) if idle => return End::Idle,
                Err(_) => continue,
            },
        };
        if n == 0 {
            return End::Eof;
        }
    }
}

/// Sends a window's events to the pipeline and queues its ACK.
async fn dispatch(
    ctx: &InputContext,
    tx: &mpsc::Sender<Pending>,
    waiting: &AtomicUsize,
    version: u8,
    seq: u32,
    events: Vec<Event>,
) -> Result<(), End> {
    let (status_tx, status) = oneshot::channel();
    let receipt = ctx.receipt(move |s| {
        let _ = status_tx.send(s);
    });
    waiting.fetch_add(1, Ordering::AcqRel);
    // Queue the ACK first: the acker keeps the client alive meanwhile.
    tx.send(Pending {
        version,
        seq,
        status,
    })
    .await
    .map_err(|_| End::AckerGone)?;
    ctx.send(Batch::new(events, receipt))
        .await
        .map_err(|_| End::Shutdown)
}

/// Writes ACKs in window order as receipts resolve, and ACK(0) while the
/// oldest window waits.
async fn ack_windows<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<Pending>,
    keepalive: Duration,
    waiting: Arc<AtomicUsize>,
    counters: Counters,
    addr: SocketAddr,
) {
    while let Some(mut p) = rx.recv().await {
        let status = loop {
            tokio::select! {
                s = &mut p.status => break s.unwrap_or(Status::Abandoned),
                _ = tokio::time::sleep(keepalive) => {
                    if writer.write_all(&encode_ack(p.version, 0)).await.is_err() || writer.flush().await.is_err() {
                        return;
                    }
                    counters.keepalives.fetch_add(1, Ordering::Relaxed);
                }
            }
        };
        waiting.fetch_sub(1, Ordering::AcqRel);
        if !status.is_committable() {
            // Not delivered (shutdown deadline): no ACK, the client resends.
            tracing::info!(peer = %addr, "window not delivered; closing without ACK so the client resends it");
            let _ = writer.shutdown().await;
            return;
        }
        if writer
            .write_all(&encode_ack(p.version, p.seq))
            .await
            .is_err()
            || writer.flush().await.is_err()
        {
            return;
        }
        counters.acks.fetch_add(1, Ordering::Relaxed);
    }
    let _ = writer.shutdown().await;
}

/// The document id of an event received as `payload` (decoded to `map`),
/// for `document_id: auto`; `None` when the client set
/// `[@metadata][_id]` itself.
///
/// A client resends the windows it has no ACK for after a reconnect, in
/// other windows with other sequence numbers, so the id comes from the
/// event alone: a 128-bit hash of the whole payload as decoded, key order
/// ignored (Filebeat encodes its maps in Go's random iteration order, so
/// the bytes of a resent event may differ). For Filebeat's events that
/// covers `@timestamp` (when the line was read), `log.file.path`,
/// `log.offset`, `host.name`, `agent.id` and `message`: a resent event
/// gets the same id, two lines never share one. Limits: a line that
/// Filebeat reads again (its own registry lost) has a new `@timestamp`
/// and thus a new id; identical payloads — a client that sends no
/// timestamp nor offset — share one id and would be written once.
fn event_id(map: &Map) -> Option<Key> {
    if let Some(Value::Object(meta)) = map.get("@metadata")
        && meta.contains_key(doc_id::METADATA_KEY)
    {
        return None;
    }
    let mut h = Hasher128::new(0);
    h.write_field(b"beats");
    doc_id::write_map(&mut h, map);
    Some(h.finish_id())
}

const IP_ADDRESS: Key = Key::const_new("ip_address");

/// The event of one data frame, as Filebeat sent it, plus the peer and,
/// when `with_id`, the event's document id.
fn to_event(payload: Payload, peer: &Peer, with_id: bool) -> Event {
    let (mut event, id) = match payload {
        Payload::Json(bytes) => match json::parse(&bytes) {
            Ok(Value::Object(map)) => {
                let id = with_id.then(|| event_id(&map)).flatten();
                (Event::from_map(map), id)
            }
            _ => {
                let mut e = Event::from_map(Map::new());
                e.set(
                    &FieldPath::key(MESSAGE),
                    String::from_utf8_lossy(&bytes).into_owned(),
                );
                e.add_tag("_jsonparsefailure");
                let id = with_id.then(|| {
                    let mut h = Hasher128::new(0);
                    h.write_field(b"beats-raw");
                    h.write_field(&bytes);
                    h.finish_id()
                });
                (e, id)
            }
        },
        Payload::KeyValue(pairs) => {
            let mut map = Map::with_capacity(pairs.len() + 1);
            for (k, v) in pairs {
                map.insert(k, Value::String(v.into()));
            }
            let id = with_id.then(|| event_id(&map)).flatten();
            if !map.contains_key(MESSAGE)
                && let Some(line) = map.get("line").cloned()
            {
                map.insert(MESSAGE, line);
            }
            (Event::from_map(map), id)
        }
    };
    let meta = event.metadata_mut();
    meta.reserve(2 + usize::from(peer.identity.is_some()));
    if let Some(id) = id
        && !meta.contains_key(doc_id::METADATA_KEY)
    {
        meta.insert(doc_id::METADATA_KEY, Value::String(id));
    }
    meta.insert(IP_ADDRESS, Value::String(peer.ip.clone()));
    if let Some(id) = &peer.identity {
        let mut tls = Map::new();
        tls.insert(
            "subject".to_owned(),
            Value::String(id.subject.as_str().into()),
        );
        tls.insert(
            "sans".to_owned(),
            Value::Array(
                id.sans
                    .iter()
                    .map(|s| Value::String(s.as_str().into()))
                    .collect(),
            ),
        );
        meta.insert("tls_peer", Value::Object(tls));
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_filebeat_fields_and_metadata() {
        let peer = Peer {
            ip: "10.0.0.7".into(),
            identity: Some(crate::tls::PeerIdentity {
                subject: "CN=app-01".into(),
                sans: vec!["app-01.example".into()],
            }),
        };
        let e = to_event(
            Payload::Json(br#"{"@timestamp":"2026-11-27T08:00:00.000Z","message":"m","@metadata":{"beat":"filebeat"},"host":{"name":"h"}}"#.to_vec().into()),
            &peer,
            true,
        );
        let p = |s: &str| FieldPath::parse(s).unwrap();
        assert_eq!(e.get(&p("message")), Some(&Value::from("m")));
        assert_eq!(
            e.get(&p("[@metadata][beat]")),
            Some(&Value::from("filebeat"))
        );
        assert_eq!(
            e.get(&p("[@metadata][ip_address]")),
            Some(&Value::from("10.0.0.7"))
        );
        assert_eq!(
            e.get(&p("[@metadata][tls_peer][subject]")),
            Some(&Value::from("CN=app-01"))
        );
        assert_eq!(e.timestamp().to_rfc3339(), "2026-11-27T08:00:00+00:00");
        assert!(
            !e.to_json_string().contains("filebeat"),
            "metadata is not serialised"
        );
    }

    fn id_of(payload: Payload) -> Option<Value> {
        let peer = Peer {
            ip: "10.0.0.7".into(),
            identity: None,
        };
        to_event(payload, &peer, true)
            .get(&FieldPath::parse("[@metadata][_id]").unwrap())
            .cloned()
    }

    #[test]
    fn a_resent_event_gets_the_same_id_in_any_key_order() {
        let sent = br#"{"@timestamp":"2026-11-27T08:00:00.123Z","@metadata":{"beat":"filebeat","type":"_doc"},"log":{"file":{"path":"/var/log/a.log"},"offset":4711},"host":{"name":"app-01"},"agent":{"id":"a1"},"message":"GET /"}"#;
        let resent = br#"{"@timestamp":"2026-11-27T08:00:00.123Z","message":"GET /","agent":{"id":"a1"},"host":{"name":"app-01"},"log":{"offset":4711,"file":{"path":"/var/log/a.log"}},"@metadata":{"type":"_doc","beat":"filebeat"}}"#;
        let id = id_of(Payload::Json(sent.to_vec().into())).unwrap();
        assert_eq!(
            id_of(Payload::Json(resent.to_vec().into())),
            Some(id.clone())
        );
        // Fixed forever: ids must match across versions.
        assert_eq!(id, Value::from("1TR5TT8dtD__L9fnDhBp7A"));

        let text = std::str::from_utf8(sent).unwrap();
        for other in [
            text.replace("4711", "4712"),
            text.replace("/var/log/a.log", "/var/log/b.log"),
            text.replace("app-01", "app-02"),
            text.replace(r#""a1""#, r#""a2""#),
            text.replace(".123Z", ".124Z"),
            text.replace("GET /", "GET /x"),
        ] {
            assert_ne!(
                id_of(Payload::Json(other.clone().into_bytes().into())),
                Some(id.clone()),
                "{other}"
            );
        }
    }

    #[test]
    fn an_id_set_by_the_client_is_kept() {
        let e = br#"{"message":"m","@metadata":{"_id":"mine"}}"#;
        assert_eq!(
            id_of(Payload::Json(e.to_vec().into())),
            Some(Value::from("mine"))
        );
    }

    #[test]
    fn key_value_and_invalid_payloads_get_ids_too() {
        let kv = |pairs: &[(&str, &str)]| {
            Payload::KeyValue(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        let a = id_of(kv(&[("line", "x"), ("offset", "1")])).unwrap();
        assert_eq!(
            id_of(kv(&[("offset", "1"), ("line", "x")])),
            Some(a.clone())
        );
        assert_ne!(id_of(kv(&[("line", "x"), ("offset", "2")])), Some(a));
        let bad = id_of(Payload::Json(b"{nope".to_vec().into())).unwrap();
        assert_eq!(
            id_of(Payload::Json(b"{nope".to_vec().into())),
            Some(bad.clone())
        );
        assert_ne!(id_of(Payload::Json(b"{nope!".to_vec().into())), Some(bad));
    }

    #[test]
    fn invalid_json_is_kept_and_tagged() {
        let peer = Peer {
            ip: "1.2.3.4".into(),
            identity: None,
        };
        let e = to_event(Payload::Json(b"{nope".to_vec().into()), &peer, true);
        assert!(e.has_tag("_jsonparsefailure"));
        assert_eq!(
            e.get(&FieldPath::key("message")),
            Some(&Value::from("{nope"))
        );
    }
}
