//! Incremental frame decoding with limits.

use bytes::{Buf, Bytes, BytesMut};
use flate2::read::ZlibDecoder;
use std::collections::VecDeque;
use std::io::Read;

/// Bounds that protect the server from hostile or broken peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest `J`, `D` or `C` frame body accepted.
    pub max_frame_bytes: usize,
    /// Largest inflated content of one `C` frame (zip bombs).
    pub max_inflated_bytes: usize,
    /// Largest window (`W` count).
    pub max_window: u32,
    /// Deepest nesting of `C` frames inside `C` frames.
    pub max_nesting: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024 * 1024,
            max_inflated_bytes: 256 * 1024 * 1024,
            max_window: 10_000,
            max_nesting: 4,
        }
    }
}

/// The content of a data frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// v2: JSON text (not yet validated), a view into the received or
    /// inflated bytes rather than a copy of them.
    Json(Bytes),
    /// v1: key/value pairs.
    KeyValue(Vec<(String, String)>),
}

/// A decoded frame, with compression already undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Start of a window of `count` data frames.
    Window { version: u8, count: u32 },
    /// One event.
    Data {
        version: u8,
        seq: u32,
        payload: Payload,
    },
    /// An acknowledgement (only clients receive these).
    Ack { version: u8, seq: u32 },
}

/// Why a connection's byte stream cannot be decoded. Each closes only that
/// connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported protocol version byte {0:#04x} (expected '1' or '2')")]
    Version(u8),
    #[error("unknown frame type {0:#04x}")]
    FrameType(u8),
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes (max_frame_bytes)")]
    FrameTooLarge { len: usize, limit: usize },
    #[error("window of {count} events exceeds the limit of {limit} (max_window)")]
    WindowTooLarge { count: u32, limit: u32 },
    #[error("compressed frame inflates beyond {limit} bytes (max_inflated_bytes)")]
    InflatedTooLarge { limit: usize },
    #[error("compressed frames nested more than {0} deep")]
    NestedTooDeep(usize),
    #[error("invalid zlib data in compressed frame: {0}")]
    Zlib(String),
    #[error("compressed frame ends inside a frame")]
    TruncatedCompressed,
    #[error("JSON frame with empty payload")]
    EmptyJson,
    #[error("key/value frame with no pairs")]
    EmptyKeyValue,
    #[error("key/value frame holds text that is not UTF-8")]
    KeyValueUtf8,
}

/// Decodes frames from bytes as they arrive.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    buf: BytesMut,
    ready: VecDeque<Frame>,
}

/// Outcome of parsing one frame from a buffer.
enum Step {
    /// Not enough bytes yet.
    Incomplete,
    /// Consumed `n` bytes and produced frames (in `out`).
    Consumed(usize),
    /// A complete `J` frame of `len` payload bytes at the top level, left
    /// for the caller to cut out of its buffer without copying.
    Json { version: u8, seq: u32, len: usize },
}

impl Decoder {
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            buf: BytesMut::with_capacity(64 * 1024),
            ready: VecDeque::new(),
        }
    }

    /// The buffer to read socket bytes into.
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, if any.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        loop {
            if let Some(f) = self.ready.pop_front() {
                return Ok(Some(f));
            }
            let queued = self.ready.len();
            match parse(&self.buf, None, &self.limits, 0, &mut self.ready) {
                Err(e) => {
                    // Frames of a compressed frame that failed half-way
                    // are not handed out.
                    self.ready.truncate(queued);
                    return Err(e);
                }
                Ok(Step::Incomplete) => return Ok(None),
                Ok(Step::Consumed(n)) => self.buf.advance(n),
                Ok(Step::Json { version, seq, len }) => {
                    let mut frame = self.buf.split_to(10 + len);
                    frame.advance(10);
                    return Ok(Some(Frame::Data {
                        version,
                        seq,
                        payload: Payload::Json(frame.freeze()),
                    }));
                }
            }
        }
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Parses one frame at the start of `buf`. Compressed frames are inflated
/// and their inner frames appended to `out` in order. `owner` holds `buf`
/// (inside inflated data) so that JSON payloads can share it; at the top
/// level (`None`) a `J` frame is returned as [`Step::Json`] instead.
fn parse(
    buf: &[u8],
    owner: Option<&Bytes>,
    limits: &Limits,
    depth: usize,
    out: &mut VecDeque<Frame>,
) -> Result<Step, DecodeError> {
    if buf.len() < 2 {
        return Ok(Step::Incomplete);
    }
    let version = buf[0];
    if version != super::V1 && version != super::V2 {
        return Err(DecodeError::Version(version));
    }
    let kind = buf[1];
    let body = &buf[2..];
    match kind {
        b'W' => {
            if body.len() < 4 {
                return Ok(Step::Incomplete);
            }
            let count = be_u32(body);
            if count > limits.max_window {
                return Err(DecodeError::WindowTooLarge {
                    count,
                    limit: limits.max_window,
                });
            }
            out.push_back(Frame::Window { version, count });
            Ok(Step::Consumed(6))
        }
        b'A' => {
            if body.len() < 4 {
                return Ok(Step::Incomplete);
            }
            out.push_back(Frame::Ack {
                version,
                seq: be_u32(body),
            });
            Ok(Step::Consumed(6))
        }
        b'J' => {
            if body.len() < 8 {
                return Ok(Step::Incomplete);
            }
            let seq = be_u32(body);
            let len = be_u32(&body[4..]) as usize;
            if len == 0 {
                return Err(DecodeError::EmptyJson);
            }
            check_len(len, limits)?;
            if body.len() < 8 + len {
                return Ok(Step::Incomplete);
            }
            let Some(owner) = owner else {
                return Ok(Step::Json { version, seq, len });
            };
            out.push_back(Frame::Data {
                version,
                seq,
                payload: Payload::Json(owner.slice_ref(&body[8..8 + len])),
            });
            Ok(Step::Consumed(10 + len))
        }
        b'D' => parse_kv(version, body, limits, out),
        b'C' => {
            if body.len() < 4 {
                return Ok(Step::Incomplete);
            }
            let len = be_u32(body) as usize;
            check_len(len, limits)?;
            if body.len() < 4 + len {
                return Ok(Step::Incomplete);
            }
            if depth >= limits.max_nesting {
                return Err(DecodeError::NestedTooDeep(limits.max_nesting));
            }
            let inflated = Bytes::from(inflate(&body[4..4 + len], limits.max_inflated_bytes)?);
            let mut pos = 0;
            while pos < inflated.len() {
                match parse(&inflated[pos..], Some(&inflated), limits, depth + 1, out)? {
                    Step::Incomplete => return Err(DecodeError::TruncatedCompressed),
                    Step::Consumed(n) => pos += n,
                    Step::Json { .. } => unreachable!("inner frames have an owner"),
                }
            }
            Ok(Step::Consumed(6 + len))
        }
        other => Err(DecodeError::FrameType(other)),
    }
}

fn check_len(len: usize, limits: &Limits) -> Result<(), DecodeError> {
    if len > limits.max_frame_bytes {
        return Err(DecodeError::FrameTooLarge {
            len,
            limit: limits.max_frame_bytes,
        });
    }
    Ok(())
}

fn parse_kv(
    version: u8,
    body: &[u8],
    limits: &Limits,
    out: &mut VecDeque<Frame>,
) -> Result<Step, DecodeError> {
    if body.len() < 8 {
        return Ok(Step::Incomplete);
    }
    let seq = be_u32(body);
    let pairs = be_u32(&body[4..]);
    if pairs == 0 {
        return Err(DecodeError::EmptyKeyValue);
    }
    let mut pos = 8;
    let mut kv = Vec::new();
    let read_str = |pos: &mut usize| -> Result<Option<String>, DecodeError> {
        if body.len() < *pos + 4 {
            return Ok(None);
        }
        let len = be_u32(&body[*pos..]) as usize;
        check_len(len, limits)?;
        if *pos + 4 > limits.max_frame_bytes {
            return Err(DecodeError::FrameTooLarge {
                len: *pos,
                limit: limits.max_frame_bytes,
            });
        }
        if body.len() < *pos + 4 + len {
            return Ok(None);
        }
        let s = std::str::from_utf8(&body[*pos + 4..*pos + 4 + len])
            .map_err(|_| DecodeError::KeyValueUtf8)?
            .to_owned();
        *pos += 4 + len;
        Ok(Some(s))
    };
    for _ in 0..pairs {
        let Some(k) = read_str(&mut pos)? else {
            return Ok(Step::Incomplete);
        };
        let Some(v) = read_str(&mut pos)? else {
            return Ok(Step::Incomplete);
        };
        kv.push((k, v));
        if pos > limits.max_frame_bytes {
            return Err(DecodeError::FrameTooLarge {
                len: pos,
                limit: limits.max_frame_bytes,
            });
        }
    }
    out.push_back(Frame::Data {
        version,
        seq,
        payload: Payload::KeyValue(kv),
    });
    Ok(Step::Consumed(2 + pos))
}

/// Inflates a zlib stream, refusing to produce more than `limit` bytes.
fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity((data.len() * 4).min(limit).min(16 * 1024 * 1024));
    let mut reader = ZlibDecoder::new(data).take(limit as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Zlib(e.to_string()))?;
    if out.len() > limit {
        return Err(DecodeError::InflatedTooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::encode::encode_window;
    use super::*;
    use proptest::prelude::*;

    fn decode_all(bytes: &[u8], limits: Limits) -> Result<Vec<Frame>, DecodeError> {
        let mut d = Decoder::new(limits);
        d.buffer().extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(f) = d.next_frame()? {
            out.push(f);
        }
        Ok(out)
    }

    fn events(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("{{\"n\":{i}}}").into_bytes())
            .collect()
    }

    #[test]
    fn round_trip_plain_and_compressed() {
        for level in [0, 3] {
            let evs = events(5);
            let mut wire = Vec::new();
            encode_window(&mut wire, &evs, level).unwrap();
            let frames = decode_all(&wire, Limits::default()).unwrap();
            assert_eq!(
                frames[0],
                Frame::Window {
                    version: b'2',
                    count: 5
                }
            );
            for (i, f) in frames[1..].iter().enumerate() {
                assert_eq!(
                    *f,
                    Frame::Data {
                        version: b'2',
                        seq: i as u32 + 1,
                        payload: Payload::Json(evs[i].clone().into())
                    }
                );
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        let mut wire = Vec::new();
        encode_window(&mut wire, &events(3), 3).unwrap();
        let mut d = Decoder::new(Limits::default());
        let mut frames = Vec::new();
        for b in wire {
            d.buffer().extend_from_slice(&[b]);
            while let Some(f) = d.next_frame().unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 4);
    }

    #[test]
    fn v1_key_value_frames() {
        let mut wire = b"1W\0\0\0\x01".to_vec();
        wire.extend_from_slice(b"1D\0\0\0\x01\0\0\0\x01");
        wire.extend_from_slice(b"\0\0\0\x04line\0\0\0\x02hi");
        let frames = decode_all(&wire, Limits::default()).unwrap();
        assert_eq!(
            frames[1],
            Frame::Data {
                version: b'1',
                seq: 1,
                payload: Payload::KeyValue(vec![("line".into(), "hi".into())])
            }
        );
    }

    #[test]
    fn limits_and_garbage_are_errors() {
        let l = Limits {
            max_frame_bytes: 100,
            max_inflated_bytes: 1000,
            max_window: 10,
            max_nesting: 1,
        };
        assert_eq!(
            decode_all(b"3W\0\0\0\x01", l),
            Err(DecodeError::Version(b'3'))
        );
        assert_eq!(decode_all(b"2X", l), Err(DecodeError::FrameType(b'X')));
        assert!(matches!(
            decode_all(b"2W\0\0\0\x0b", l),
            Err(DecodeError::WindowTooLarge { .. })
        ));
        assert!(matches!(
            decode_all(b"2J\0\0\0\x01\0\0\x10\0", l),
            Err(DecodeError::FrameTooLarge { .. })
        ));
        assert!(matches!(
            decode_all(b"2C\0\0\0\x04abcd", l),
            Err(DecodeError::Zlib(_))
        ));
        // A zip bomb: 1 MB of zeros compresses to a few KB.
        let bomb = {
            use flate2::{Compression, write::ZlibEncoder};
            use std::io::Write;
            let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
            z.write_all(&vec![0u8; 1 << 20]).unwrap();
            z.finish().unwrap()
        };
        let mut wire = b"2C".to_vec();
        wire.extend_from_slice(&(bomb.len() as u32).to_be_bytes());
        wire.extend_from_slice(&bomb);
        let big = Limits {
            max_frame_bytes: 1 << 20,
            ..l
        };
        assert!(matches!(
            decode_all(&wire, big),
            Err(DecodeError::InflatedTooLarge { .. })
        ));
    }

    #[test]
    fn nested_compression_is_bounded() {
        let mut inner = Vec::new();
        encode_window(&mut inner, &events(1), 3).unwrap();
        // inner = W + C(J); wrap the whole thing in another C.
        let wrap = |bytes: &[u8]| {
            use flate2::{Compression, write::ZlibEncoder};
            use std::io::Write;
            let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
            z.write_all(bytes).unwrap();
            let c = z.finish().unwrap();
            let mut out = b"2C".to_vec();
            out.extend_from_slice(&(c.len() as u32).to_be_bytes());
            out.extend_from_slice(&c);
            out
        };
        let once = wrap(&inner);
        assert_eq!(decode_all(&once, Limits::default()).unwrap().len(), 2);
        let deep = wrap(&wrap(&wrap(&wrap(&inner))));
        assert!(matches!(
            decode_all(&deep, Limits::default()),
            Err(DecodeError::NestedTooDeep(4))
        ));
    }

    proptest! {
        /// Arbitrary bytes never panic and never allocate beyond the limits.
        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..32)) {
            let l = Limits { max_frame_bytes: 4096, max_inflated_bytes: 65536, max_window: 100, max_nesting: 2 };
            let mut d = Decoder::new(l);
            for c in chunks {
                d.buffer().extend_from_slice(&c);
                loop {
                    match d.next_frame() {
                        Ok(Some(Frame::Data { payload: Payload::Json(p), .. })) => prop_assert!(p.len() <= 4096),
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }

        /// Valid windows survive any split into pieces.
        #[test]
        fn any_split_decodes_the_same(n in 1usize..20, level in 0u32..4, cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..10)) {
            let evs = events(n);
            let mut wire = Vec::new();
            encode_window(&mut wire, &evs, level).unwrap();
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len())).collect();
            points.sort_unstable();
            let mut d = Decoder::new(Limits::default());
            let mut frames = Vec::new();
            let mut last = 0;
            for p in points.into_iter().chain([wire.len()]) {
                d.buffer().extend_from_slice(&wire[last..p]);
                last = p;
                while let Some(f) = d.next_frame().unwrap() {
                    frames.push(f);
                }
            }
            prop_assert_eq!(frames.len(), n + 1);
        }
    }
}
