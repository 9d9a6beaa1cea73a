//! Frame encoding, as go-lumber's client and server write it.

use flate2::{Compression, write::ZlibEncoder};
use std::io::Write;

/// Appends a v2 window: `W n` then the `J` frames with sequence numbers
/// 1..=n, inside one zlib `C` frame when `compression_level > 0` (as
/// Filebeat sends them).
pub fn encode_window(
    out: &mut Vec<u8>,
    events: &[Vec<u8>],
    compression_level: u32,
) -> std::io::Result<()> {
    out.extend_from_slice(b"2W");
    out.extend_from_slice(&(events.len() as u32).to_be_bytes());
    if compression_level == 0 {
        write_json_frames(out, events);
        return Ok(());
    }
    let mut plain = Vec::with_capacity(events.iter().map(|e| e.len() + 10).sum());
    write_json_frames(&mut plain, events);
    let mut z = ZlibEncoder::new(
        Vec::with_capacity(plain.len() / 3 + 64),
        Compression::new(compression_level.min(9)),
    );
    z.write_all(&plain)?;
    let compressed = z.finish()?;
    out.extend_from_slice(b"2C");
    out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
    out.extend_from_slice(&compressed);
    Ok(())
}

fn write_json_frames(out: &mut Vec<u8>, events: &[Vec<u8>]) {
    for (i, e) in events.iter().enumerate() {
        out.extend_from_slice(b"2J");
        out.extend_from_slice(&(i as u32 + 1).to_be_bytes());
        out.extend_from_slice(&(e.len() as u32).to_be_bytes());
        out.extend_from_slice(e);
    }
}

/// An ACK frame for `seq`, with the window's protocol version.
pub fn encode_ack(version: u8, seq: u32) -> [u8; 6] {
    let s = seq.to_be_bytes();
    [version, b'A', s[0], s[1], s[2], s[3]]
}
