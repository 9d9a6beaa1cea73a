//! JSON in and out of events.
//!
//! Serialisation writes straight into a caller's byte buffer (the NDJSON body
//! of a bulk request, a line of a file), with no intermediate tree. Decoding
//! builds `Value`s directly from the parser, again with no intermediate tree.

use super::map::Key;
use super::value::{Map, Value};
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Appends `value` as compact JSON.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Integer(i) => {
            let mut b = itoa_buf();
            out.extend_from_slice(format_i64(&mut b, *i));
        }
        Value::Float(f) => {
            if f.is_finite() {
                let mut s = String::new();
                use std::fmt::Write;
                let _ = write!(s, "{f}");
                if !s.contains(['.', 'e', 'E']) {
                    s.push_str(".0");
                }
                out.extend_from_slice(s.as_bytes());
            } else {
                // JSON has no NaN or infinity; Elasticsearch rejects them anyway.
                out.extend_from_slice(b"null");
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Timestamp(t) => {
            out.push(b'"');
            write_timestamp(out, t);
            out.push(b'"');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_map(out, map),
    }
}

/// Appends `map` as a JSON object. A shared map (the parts every event
/// of a source has in common) is written once and then copied.
pub fn write_map(out: &mut Vec<u8>, map: &Map) {
    match map.json_cache() {
        None => write_entries(out, map),
        Some(cache) => out.extend_from_slice(cache.get_or_init(|| {
            let mut json = Vec::new();
            write_entries(&mut json, map);
            json.into_boxed_slice()
        })),
    }
}

fn write_entries(out: &mut Vec<u8>, map: &Map) {
    out.push(b'{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_key(out, k);
        write_value(out, v);
    }
    out.push(b'}');
}

// Which bytes need escaping inside a JSON string: 0 = none, else the escape.
const fn escape_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
}
static ESCAPE: [u8; 256] = escape_table();

/// Appends `s` as a quoted, escaped JSON string.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_quoted(out, s.as_bytes(), b"\"");
}

/// Appends `key` as an object key: quoted, escaped, then `:`.
#[inline]
fn write_key(out: &mut Vec<u8>, key: &str) {
    write_quoted(out, key.as_bytes(), b"\":");
}

/// Appends `"`, `bytes` escaped, then `close` (`"` or `":`). Most strings
/// need no escape: they take one reservation and one copy, without a call
/// to `memcpy` for short ones (keys, levels, addresses), which is most of
/// the strings of an event.
#[inline(always)]
fn write_quoted(out: &mut Vec<u8>, bytes: &[u8], close: &[u8]) {
    let first = next_escape(bytes, 0);
    out.reserve(bytes.len() + 1 + close.len());
    append_reserved(out, b"\"");
    match first {
        None => append_reserved(out, bytes),
        Some(at) => write_escaped(out, bytes, at),
    }
    out.extend_from_slice(close);
}

/// The escaping part of [`write_quoted`], from the first byte to escape.
#[cold]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8], first: usize) {
    let mut start = 0;
    let mut next = Some(first);
    while let Some(at) = next {
        out.extend_from_slice(&bytes[start..at]);
        let b = bytes[at];
        match ESCAPE[b as usize] {
            b'u' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            esc => {
                out.push(b'\\');
                out.push(esc);
            }
        }
        start = at + 1;
        next = next_escape(bytes, start);
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `src` to `out`, which must have room for it (checked): up to 16
/// bytes are copied with two overlapping moves instead of a `memcpy` call.
#[inline(always)]
fn append_reserved(out: &mut Vec<u8>, src: &[u8]) {
    let n = src.len();
    let len = out.len();
    assert!(out.capacity() - len >= n, "room reserved for the copy");
    // SAFETY: `out` has room for `n` more bytes (asserted above), and
    // `src` cannot overlap that room: it is borrowed while `out` is
    // borrowed mutably, and the room is not part of any slice. Every
    // pointer below stays within `src[..n]` and `out`'s room, and
    // `set_len` covers only bytes just written.
    unsafe {
        let s = src.as_ptr();
        let d = out.as_mut_ptr().add(len);
        if (8..=16).contains(&n) {
            let a = s.cast::<u64>().read_unaligned();
            let b = s.add(n - 8).cast::<u64>().read_unaligned();
            d.cast::<u64>().write_unaligned(a);
            d.add(n - 8).cast::<u64>().write_unaligned(b);
        } else if (4..8).contains(&n) {
            let a = s.cast::<u32>().read_unaligned();
            let b = s.add(n - 4).cast::<u32>().read_unaligned();
            d.cast::<u32>().write_unaligned(a);
            d.add(n - 4).cast::<u32>().write_unaligned(b);
        } else if n < 4 {
            for i in 0..n {
                *d.add(i) = *s.add(i);
            }
        } else {
            std::ptr::copy_nonoverlapping(s, d, n);
        }
        out.set_len(len + n);
    }
}

/// The position of the first byte at or after `from` that JSON must
/// escape. Most text has none: it is scanned eight bytes at a time, and a
/// tail (or a whole short string, such as most keys) of four to seven
/// bytes as two overlapping halves of one word.
#[inline(always)]
pub(super) fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let n = bytes.len();
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mask = escape_mask(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        if mask != 0 {
            return Some(i + (mask.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    match n - i {
        0 => None,
        4..=7 => {
            // Low half: bytes i..i+4; high half: bytes n-4..n. Together
            // they cover the tail; a byte in both is found in the low half.
            let low = u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
            let high = u32::from_le_bytes(bytes[n - 4..n].try_into().expect("4 bytes"));
            let mask = escape_mask(u64::from(low) | (u64::from(high) << 32));
            if mask == 0 {
                return None;
            }
            let byte = (mask.trailing_zeros() / 8) as usize;
            // High-half byte b (4..8) is byte n - 4 + (b - 4).
            Some(if byte < 4 { i + byte } else { n + byte - 8 })
        }
        _ => bytes[i..]
            .iter()
            .position(|&b| ESCAPE[b as usize] != 0)
            .map(|p| i + p),
    }
}

/// The high bit of each of the eight bytes of `w` (little-endian) that is
/// a control character, `"` or `\\` (the bytes [`ESCAPE`] marks). Bits
/// above the lowest set one may be spurious (a borrow carries upwards), so
/// only the lowest is used.
#[inline]
fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below `n` (for n <= 128) sets its high bit in `x - n*ONES`
    // while its own high bit is clear; likewise a zero byte after XOR.
    let below = |x: u64, n: u64| x.wrapping_sub(n * ONES) & !x & HIGH;
    let control = below(w, 0x20);
    let quote = below(w ^ (u64::from(b'"') * ONES), 1);
    let backslash = below(w ^ (u64::from(b'\\') * ONES), 1);
    control | quote | backslash
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// The decimal digits of `v` (with a sign if negative), written at the
/// end of `buf`.
pub(crate) fn format_i64(buf: &mut [u8; 20], v: i64) -> &[u8] {
    let neg = v < 0;
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if neg {
        // i64::MIN has 19 digits plus sign = 20 bytes: fits.
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

fn push_digits(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut tmp = [b'0'; 10];
    let mut n = v;
    for slot in tmp[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&tmp[..width]);
}

/// Appends `t` as RFC 3339 UTC: millisecond precision, or more digits
/// when the value carries them (nanoseconds are never rounded away).
pub fn write_timestamp(out: &mut Vec<u8>, t: &DateTime<Utc>) {
    let year = t.year();
    if (0..=9999).contains(&year) {
        push_digits(out, year as u32, 4);
    } else {
        out.extend_from_slice(format!("{year:+}").as_bytes());
    }
    out.push(b'-');
    push_digits(out, t.month(), 2);
    out.push(b'-');
    push_digits(out, t.day(), 2);
    out.push(b'T');
    push_digits(out, t.hour(), 2);
    out.push(b':');
    push_digits(out, t.minute(), 2);
    out.push(b':');
    push_digits(out, t.second(), 2);
    out.push(b'.');
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos.is_multiple_of(1_000_000) {
        push_digits(out, nanos / 1_000_000, 3);
    } else if nanos.is_multiple_of(1_000) {
        push_digits(out, nanos / 1_000, 6);
    } else {
        push_digits(out, nanos, 9);
    }
    out.push(b'Z');
}

/// Reads `YYYY-MM-DDTHH:MM:SS.sssZ`, the shape Filebeat and ganymede
/// write, without a general parser; `None` for any other text (which the
/// caller then gives to a full RFC 3339 parser).
pub fn parse_utc_millis(s: &str) -> Option<DateTime<Utc>> {
    let b: &[u8; 24] = s.as_bytes().try_into().ok()?;
    let shape_ok = b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z';
    if !shape_ok {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = chrono::NaiveTime::from_hms_milli_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
        num(20..23)?,
    )?;
    Some(date.and_time(time).and_utc())
}

/// Appends `t` as RFC 3339 UTC text to a `String`.
pub fn write_timestamp_str(out: &mut String, t: &DateTime<Utc>) {
    let mut buf = Vec::with_capacity(30);
    write_timestamp(&mut buf, t);
    // Only ASCII digits and separators were written.
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

pub use super::parse::JsonError;

/// Parses JSON text into a `Value` (see [`super::parse`]).
pub fn parse(text: &[u8]) -> Result<Value, JsonError> {
    super::parse::parse(text)
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::Float(v as f64), Value::Integer))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        // JSON gives no member count up front: the members are gathered in
        // a reused scratch vector, so that the object is allocated once at
        // its final size instead of growing through 4, 8, 16… entries.
        let mut scratch = SCRATCH
            .with(|pool| pool.borrow_mut().pop())
            .unwrap_or_default();
        while let Some(k) = access.next_key_seed(KeySeed)? {
            let v = access.next_value::<Value>()?;
            scratch.push((k, v));
        }
        let mut map = Map::with_capacity(scratch.len());
        for (k, v) in scratch.drain(..) {
            map.insert(k, v);
        }
        SCRATCH.with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < SCRATCH_KEPT && scratch.capacity() <= SCRATCH_MAX_ENTRIES {
                pool.push(scratch);
            }
        });
        Ok(Value::Object(map))
    }
}

/// Scratch vectors kept per thread: one per nesting level in use.
const SCRATCH_KEPT: usize = 16;
/// A scratch vector grown past this by a huge object is not kept.
const SCRATCH_MAX_ENTRIES: usize = 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<Vec<(Key, Value)>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Integer(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(v) => s.serialize_str(v),
            Value::Timestamp(t) => {
                let mut text = String::new();
                write_timestamp_str(&mut text, t);
                s.serialize_str(&text)
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(map) => map.serialize(s),
        }
    }
}

/// Reads an object key straight into a [`Key`]: no `String` in between
/// when the key is short or borrowed from the input.
struct KeySeed;

impl<'de> de::DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(Key::from(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Key, E> {
        Ok(Key::from(v))
    }
}

impl serde::Serialize for Map {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            m.serialize_entry(k.as_str(), v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Map {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = Map;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Map, A::Error> {
                let mut map = Map::with_capacity(access.size_hint().unwrap_or(0));
                while let Some(k) = access.next_key_seed(KeySeed)? {
                    let v = access.next_value::<Value>()?;
                    map.insert(k, v);
                }
                Ok(map)
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

/// Error type for callers that map decode errors themselves.
pub type DecodeError = de::value::Error;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_maps_are_written_once_and_changed_copies_write_their_own() {
        let mut inner = Map::new();
        inner.insert("path", Value::from("/var/log/a.log"));
        let mut map = Map::new();
        map.insert("file", Value::Object(inner));
        let written = |m: &Map| {
            let mut out = Vec::new();
            write_map(&mut out, m);
            String::from_utf8(out).unwrap()
        };
        let expected = r#"{"file":{"path":"/var/log/a.log"}}"#;
        for kept in [map.clone().share(), map.clone().leak()] {
            assert_eq!(written(&kept), expected);
            assert!(
                kept.json_cache().unwrap().get().is_some(),
                "kept once written"
            );
            assert_eq!(written(&kept.clone()), expected, "clones share it");
            let mut changed = kept.clone();
            changed.insert("offset", Value::Integer(7));
            assert!(changed.json_cache().is_none(), "a changed copy is its own");
            assert_eq!(
                written(&changed),
                r#"{"file":{"path":"/var/log/a.log"},"offset":7}"#
            );
            assert_eq!(written(&kept), expected, "the shared one is unchanged");
        }
        assert!(
            map.json_cache().is_none(),
            "an owned map is written each time"
        );
    }

    #[test]
    fn next_escape_finds_the_first_byte_to_escape_at_every_length_and_place() {
        let naive = |b: &[u8], from: usize| {
            b[from..]
                .iter()
                .position(|&c| ESCAPE[c as usize] != 0)
                .map(|p| from + p)
        };
        for len in 0..=24 {
            let clean: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            for from in 0..=len {
                assert_eq!(next_escape(&clean, from), None, "{len} {from}");
            }
            for at in 0..len {
                for bad in [b'"', b'\\', b'\n', 0x00, 0x1f] {
                    let mut b = clean.clone();
                    b[at] = bad;
                    // A second one further on must not be found first.
                    if at + 2 < len {
                        b[at + 2] = b'"';
                    }
                    for from in 0..=len {
                        assert_eq!(next_escape(&b, from), naive(&b, from), "{b:?} from {from}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_common_timestamp_shape_reads_as_rfc3339_reads_it() {
        for text in [
            "2026-11-27T08:00:00.123Z",
            "2024-02-29T23:59:59.999Z",
            "1970-01-01T00:00:00.000Z",
        ] {
            let full = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(parse_utc_millis(text), Some(full), "{text}");
        }
        for other in [
            "2026-11-27T08:00:00.123+01:00",
            "2026-11-27T08:00:00Z",
            "2026-11-27T08:00:00.123456Z",
            "2025-02-29T00:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "2026-11-27T24:00:00.000Z",
            "2026-11-27T08:00:60.000Z",
            "2026-11-27 08:00:00.123Z",
            "2026-1a-27T08:00:00.123Z",
        ] {
            assert_eq!(parse_utc_millis(other), None, "{other}");
        }
    }
    use chrono::TimeZone;

    fn json(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_like_serde_json() {
        for s in [
            "plain",
            "quo\"te",
            "back\\slash",
            "nl\nx",
            "ctl\u{1}",
            "é ü 日本",
            "\t\r\u{8}\u{c}",
        ] {
            assert_eq!(json(&Value::from(s)), serde_json::to_string(s).unwrap());
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_escaped_like_serde_json(s in "(\\PC|[\\x00-\\x1f\"\\\\]){0,40}") {
            proptest::prop_assert_eq!(json(&Value::from(s.as_str())), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn any_key_and_printable_value_are_written_like_serde_json(
            k in "(\\PC|[\\x00-\\x1f\"\\\\]){0,40}",
            v in "[ -~]{0,40}",
        ) {
            let mut m = Map::new();
            m.insert(Key::from(k.as_str()), Value::from(v.as_str()));
            let expected = serde_json::to_string(&serde_json::json!({ k: v })).unwrap();
            proptest::prop_assert_eq!(json(&Value::Object(m)), expected);
        }
    }

    #[test]
    fn integers_and_floats() {
        assert_eq!(json(&Value::Integer(i64::MIN)), i64::MIN.to_string());
        assert_eq!(json(&Value::Integer(0)), "0");
        assert_eq!(json(&Value::Float(1.5)), "1.5");
        assert_eq!(json(&Value::Float(2.0)), "2.0");
        assert_eq!(json(&Value::Float(f64::NAN)), "null");
    }

    #[test]
    fn timestamps_keep_their_precision() {
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 4, 5, 6).unwrap();
        assert_eq!(json(&Value::Timestamp(t)), "\"2026-11-27T04:05:06.000Z\"");
        let t2 = t + chrono::Duration::nanoseconds(1_234_567);
        assert_eq!(
            json(&Value::Timestamp(t2)),
            "\"2026-11-27T04:05:06.001234567Z\""
        );
    }

    #[test]
    fn round_trip_through_parse() {
        let text = r#"{"a":1,"b":[true,null,2.5],"c":{"d":"x"}}"#;
        let v = parse(text.as_bytes()).unwrap();
        assert_eq!(json(&v), text);
    }
}
