//! The Lumberjack v2 ("beats") wire protocol, shared by the `beats` input
//! (server) and the `beats` output (client).
//!
//! Every frame starts with a version byte (`'2'`, or `'1'` for v1) and a
//! type byte; every integer is an unsigned 32-bit big-endian number.
//!
//! | frame | direction | body |
//! |---|---|---|
//! | `W` window | client → server | `u32 count` of data frames that follow |
//! | `J` JSON (v2) | client → server | `u32 seq`, `u32 len`, `len` bytes of JSON |
//! | `D` key/value (v1) | client → server | `u32 seq`, `u32 pairs`, then `u32 klen, key, u32 vlen, value` per pair |
//! | `C` compressed | client → server | `u32 len`, `len` bytes of a zlib stream holding whole frames (possibly nested `C`) |
//! | `A` ack | server → client | `u32 seq`: every frame of the window up to `seq` is safe |
//!
//! The decoder is incremental (bytes arrive in any pieces) and enforces
//! limits on frame size, inflated size, window size and nesting, so a
//! hostile peer can make it neither allocate without bound nor panic.

mod decode;
mod encode;

pub use decode::{DecodeError, Decoder, Frame, Limits, Payload};
pub use encode::{encode_ack, encode_window};

/// Version byte of protocol v1.
pub const V1: u8 = b'1';
/// Version byte of protocol v2.
pub const V2: u8 = b'2';
