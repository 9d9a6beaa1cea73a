//! Deterministic document ids for `document_id: auto`.
//!
//! Sources that know what identifies an event (the file input: which file
//! and where in it; the beats input: the event as the client sent it) put
//! an id into `[@metadata][_id]`. The same event read or received again —
//! a replay after a crash, a window resent after a reconnect — gets the
//! same id, so the output's `create` answers 409 instead of writing it
//! twice.
//!
//! The hash is MurmurHash3 x64-128 (fast, 128 bits, fixed forever: ids
//! written by one version must match those of the next), the same as the
//! fingerprint filter's `MURMUR3_128` but fed incrementally, field by
//! field with length prefixes so that field boundaries are unambiguous.
//! Ids are its 16 bytes in base64url without padding: 22 characters.

use crate::event::{Key, Map, Value};

/// The metadata key the output reads for `document_id: auto`.
pub const METADATA_KEY: &str = "_id";

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

/// Incremental MurmurHash3 x64-128: the same bytes give the same hash
/// however they are split between calls to [`write`](Self::write).
///
/// Document ids hash every key and value of an event on its own, with a
/// tag and a length, so most writes are a few bytes: the pending bytes are
/// kept packed in an integer, where short writes are shifts rather than
/// copies of variable length.
#[derive(Debug, Clone)]
pub struct Hasher128 {
    h1: u64,
    h2: u64,
    /// The `tail_len` bytes not yet hashed, little-endian; the rest zero.
    tail: u128,
    tail_len: usize,
    total: u64,
}

impl Default for Hasher128 {
    fn default() -> Self {
        Self::new(0)
    }
}

/// The bytes of a slice shorter than 16 as a little-endian integer, read
/// with a few overlapping fixed-size loads.
#[inline]
fn load_short(b: &[u8]) -> u128 {
    let n = b.len();
    debug_assert!(n < 16);
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or_default());
    if n > 8 {
        // The last eight bytes, shifted down to drop those already in `lo`.
        let hi = u64_at(n - 8) >> (8 * (16 - n));
        u128::from(u64_at(0)) | u128::from(hi) << 64
    } else if n == 8 {
        u128::from(u64_at(0))
    } else if n >= 4 {
        u128::from(u64::from(u32_at(0)) | u64::from(u32_at(n - 4)) << (8 * (n - 4)))
    } else if n > 0 {
        u128::from(b[0])
            | u128::from(b[n / 2]) << (8 * (n / 2))
            | u128::from(b[n - 1]) << (8 * (n - 1))
    } else {
        0
    }
}

impl Hasher128 {
    pub fn new(seed: u32) -> Self {
        Hasher128 {
            h1: u64::from(seed),
            h2: u64::from(seed),
            tail: 0,
            tail_len: 0,
            total: 0,
        }
    }

    #[inline]
    fn block(&mut self, b: u128) {
        let k1 = b as u64;
        let k2 = (b >> 64) as u64;
        self.h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        self.h1 = self
            .h1
            .rotate_left(27)
            .wrapping_add(self.h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        self.h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        self.h2 = self
            .h2
            .rotate_left(31)
            .wrapping_add(self.h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }

    /// Appends `n` (< 16) bytes given as the low bytes of `v`.
    #[inline]
    fn push(&mut self, v: u128, n: usize) {
        let at = self.tail_len;
        self.total += n as u64;
        self.tail |= v << (8 * at);
        if at + n >= 16 {
            let full = self.tail;
            self.block(full);
            // `at` > 0 here, so the shift is below 128.
            self.tail = v >> (8 * (16 - at));
            self.tail_len = at + n - 16;
        } else {
            self.tail_len = at + n;
        }
    }

    #[inline]
    pub fn write(&mut self, bytes: &[u8]) {
        if bytes.len() < 16 {
            self.push(load_short(bytes), bytes.len());
        } else {
            self.write_long(bytes);
        }
    }

    fn write_long(&mut self, mut bytes: &[u8]) {
        if self.tail_len > 0 {
            let (head, rest) = bytes.split_at(16 - self.tail_len);
            self.push(load_short(head), head.len());
            bytes = rest;
        }
        self.total += bytes.len() as u64;
        let mut blocks = bytes.chunks_exact(16);
        for b in &mut blocks {
            self.block(u128::from_le_bytes(b.try_into().unwrap_or_default()));
        }
        let rest = blocks.remainder();
        self.tail = load_short(rest);
        self.tail_len = rest.len();
    }

    #[inline]
    pub fn write_u8(&mut self, v: u8) {
        self.push(u128::from(v), 1);
    }

    #[inline]
    pub fn write_u64(&mut self, v: u64) {
        self.push(u128::from(v), 8);
    }

    /// Writes `bytes` preceded by their length.
    #[inline]
    pub fn write_field(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n < 8 {
            // Most keys: length and text in one step.
            self.push(n as u128 | load_short(bytes) << 64, 8 + n);
        } else {
            self.write_u64(n as u64);
            self.write(bytes);
        }
    }

    /// The hash: `h1` in the low 64 bits, `h2` in the high ones.
    pub fn finish(&self) -> u128 {
        let (mut h1, mut h2) = (self.h1, self.h2);
        let n = self.tail_len;
        if n > 0 {
            let k1 = self.tail as u64;
            let k2 = (self.tail >> 64) as u64;
            if n > 8 {
                h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
            }
            h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        }
        h1 ^= self.total;
        h2 ^= self.total;
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        h1 = fmix64(h1);
        h2 = fmix64(h2);
        h1 = h1.wrapping_add(h2);
        h2 = h2.wrapping_add(h1);
        (u128::from(h2) << 64) | u128::from(h1)
    }

    /// The hash as a document id (see [`encode`]).
    pub fn finish_id(&self) -> Key {
        encode(self.finish())
    }
}

#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A 128-bit hash as 22 characters of base64url (its 16 little-endian
/// bytes, no padding).
/// Short enough to be stored inline, without an allocation.
pub fn encode(hash: u128) -> Key {
    let b = hash.to_le_bytes();
    let char_of = |n: u32, shift: u32| BASE64URL[((n >> shift) & 63) as usize];
    let mut out = [0u8; 22];
    for (group, chars) in out.chunks_exact_mut(4).enumerate() {
        let at = 3 * group;
        let n = u32::from(b[at]) << 16 | u32::from(b[at + 1]) << 8 | u32::from(b[at + 2]);
        chars.copy_from_slice(&[char_of(n, 18), char_of(n, 12), char_of(n, 6), char_of(n, 0)]);
    }
    let last = u32::from(b[15]) << 16;
    out[20] = char_of(last, 18);
    out[21] = char_of(last, 12);
    Key::from(std::str::from_utf8(&out).expect("base64url is ASCII"))
}

/// Feeds a decoded JSON value so that the result does not depend on the
/// order of object keys: each key/value pair is hashed on its own and the
/// pair hashes are added up. Two encodings of the same event — keys in
/// another order, other whitespace or escapes — hash alike.
pub fn write_value(h: &mut Hasher128, v: &Value) {
    match v {
        Value::Null => h.write_u8(0),
        Value::Bool(b) => h.write(&[1, u8::from(*b)]),
        Value::Integer(i) => {
            h.write_u8(2);
            h.write_u64(*i as u64);
        }
        Value::Float(f) => {
            h.write_u8(3);
            h.write_u64(f.to_bits());
        }
        Value::String(s) => {
            h.write_u8(4);
            h.write_field(s.as_bytes());
        }
        Value::Timestamp(t) => {
            h.write_u8(5);
            h.write_u64(t.timestamp() as u64);
            h.write_u64(u64::from(t.timestamp_subsec_nanos()));
        }
        Value::Array(items) => {
            h.write_u8(6);
            h.write_u64(items.len() as u64);
            for item in items {
                write_value(h, item);
            }
        }
        Value::Object(map) => write_map(h, map),
    }
}

/// [`write_value`] of an object.
pub fn write_map(h: &mut Hasher128, map: &Map) {
    let mut sum = 0u128;
    for (k, v) in map {
        let mut pair = Hasher128::new(0);
        pair.write_field(k.as_bytes());
        write_value(&mut pair, v);
        sum = sum.wrapping_add(pair.finish());
    }
    h.write_u8(7);
    h.write_u64(map.len() as u64);
    h.write(&sum.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn murmur(bytes: &[u8], seed: u32) -> u128 {
        let mut h = Hasher128::new(seed);
        h.write(bytes);
        h.finish()
    }

    /// The 16 bytes of `h1` then `h2`, little-endian, in hex: how the
    /// reference implementation's output is usually printed.
    fn hex(h: u128) -> String {
        h.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_murmur3_x64_128_values() {
        assert_eq!(murmur(b"", 0), 0);
        assert_eq!(
            hex(murmur(b"Hello world", 0)),
            "09c01ad2296d65bdb32ceb54cdb5b54a"
        );
        assert_eq!(
            hex(murmur(b"", 2_538_058_380)),
            "b3bbaa1d8a202b397a9502e38f60b093"
        );
        assert_eq!(
            hex(murmur(
                b"The quick brown fox jumps over the lazy dog",
                2_538_058_380
            )),
            "213163d23b7f8a73e516c07e727345f9"
        );
    }

    #[test]
    fn splitting_the_input_does_not_change_the_hash() {
        let text: Vec<u8> = (0..200u8).collect();
        let whole = murmur(&text, 7);
        for cut in [0, 1, 15, 16, 17, 31, 33, 100, 199, 200] {
            for piece in 1..=33 {
                let mut h = Hasher128::new(7);
                h.write(&text[..cut]);
                for b in text[cut..].chunks(piece) {
                    h.write(b);
                }
                assert_eq!(h.finish(), whole, "cut at {cut}, pieces of {piece}");
            }
        }
        let mut h = Hasher128::new(7);
        for (i, b) in text.iter().enumerate() {
            if i % 2 == 0 {
                h.write_u8(*b);
            } else {
                h.write(&[*b]);
            }
        }
        assert_eq!(h.finish(), whole);
        let mut h = Hasher128::new(7);
        for b in text.chunks(8) {
            h.write_u64(u64::from_le_bytes(b.try_into().unwrap()));
        }
        assert_eq!(h.finish(), whole);
    }

    #[test]
    fn a_field_is_its_length_then_its_bytes() {
        let text: Vec<u8> = (100..140u8).collect();
        for before in 0..17 {
            for len in 0..20 {
                let (mut a, mut b) = (Hasher128::new(3), Hasher128::new(3));
                a.write(&text[..before]);
                b.write(&text[..before]);
                a.write_field(&text[before..before + len]);
                b.write(&(len as u64).to_le_bytes());
                b.write(&text[before..before + len]);
                assert_eq!(a.finish(), b.finish(), "{before} then {len}");
            }
        }
    }

    #[test]
    fn ids_are_22_url_safe_characters() {
        assert_eq!(encode(0), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(encode(u128::MAX), "_____________________w");
        let id = encode(murmur(b"x", 0));
        assert_eq!(id.len(), 22);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn object_key_order_does_not_matter_but_values_do() {
        let parse = |s: &str| crate::event::json::parse(s.as_bytes()).unwrap();
        let id = |v: &Value| {
            let mut h = Hasher128::new(0);
            write_value(&mut h, v);
            h.finish()
        };
        let a = parse(r#"{"a":1,"b":{"x":"y","z":[1,2]},"c":null}"#);
        let b = parse(r#"{ "c" : null, "b": {"z":[1,2],"x":"y"}, "a":1 }"#);
        assert_eq!(id(&a), id(&b));
        for other in [
            r#"{"a":1,"b":{"x":"y","z":[2,1]},"c":null}"#,
            r#"{"a":"1","b":{"x":"y","z":[1,2]},"c":null}"#,
            r#"{"a":1,"b":{"x":"y","z":[1,2]}}"#,
            r#"{"a":1,"b":{"x":"y","z":[1,2]},"c":null,"d":0}"#,
            r#"{"b":1,"a":{"x":"y","z":[1,2]},"c":null}"#,
        ] {
            assert_ne!(id(&a), id(&parse(other)), "{other}");
        }
    }
}
