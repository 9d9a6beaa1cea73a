//! Making short [`Key`]s without a stall.
//!
//! `CompactString::from(&str)` builds an inline string in a stack buffer:
//! a zero fill, a length byte, then a copy of the text, each with stores
//! of its own width. Moving the result into an event then reads the buffer
//! back as 8-byte words, and a load that spans several pending stores
//! cannot take its bytes from them: the core waits until they reach the
//! cache. Grok makes several such strings per event.
//!
//! [`key_from`] puts the same three words together in registers, from
//! loads of the text itself, so that the string is written once, whole.
//! It relies on compact_str's inline layout (the text, zero padding, and
//! in the last byte `0xC0 | len` unless the text fills all 24 bytes),
//! which the crate's version is pinned for and the tests below compare
//! byte for byte with the crate's own constructor.

use super::map::Key;

/// The longest text kept inline.
const INLINE: usize = 24;

const _: () = assert!(std::mem::size_of::<Key>() == INLINE);
const _: () = assert!(std::mem::align_of::<Key>() == 8);

/// `text` as a [`Key`]: the same value `Key::from(text)` gives.
#[inline]
pub fn key_from(text: &str) -> Key {
    if text.len() > INLINE
        || cfg!(not(all(
            target_pointer_width = "64",
            target_endian = "little"
        )))
    {
        return Key::from(text);
    }
    let b = text.as_bytes();
    let len = b.len();
    // Overlapping loads, shifted so that no byte counts twice.
    let (w0, w1, mut w2) = if len > 16 {
        (
            load8(b, 0),
            load8(b, 8),
            load8(b, len - 8) >> (8 * (24 - len)),
        )
    } else if len > 8 {
        (load8(b, 0), load8(b, len - 8) >> (8 * (16 - len)), 0)
    } else {
        (small(b), 0, 0)
    };
    if len < INLINE {
        w2 |= (0xC0 | len as u64) << 56;
    }
    // SAFETY: on this 64-bit little-endian target, these are the bytes of
    // compact_str's inline representation of `text` (see the module docs;
    // checked against the crate by the tests): the text, zeros up to byte
    // 23, and the length marker there unless the text reaches it, which
    // a valid UTF-8 text can only do with a byte below 0xC0.
    unsafe { std::mem::transmute::<[u64; 3], Key>([w0, w1, w2]) }
}

/// The 8 bytes of `b` from `at`, little-endian.
#[inline(always)]
fn load8(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

/// A text of at most 8 bytes as one little-endian word, zero above it,
/// from at most two overlapping loads (or three byte loads).
#[inline(always)]
fn small(b: &[u8]) -> u64 {
    let len = b.len();
    if len >= 4 {
        let lo = u64::from(u32::from_le_bytes(b[..4].try_into().unwrap_or_default()));
        let hi = u64::from(u32::from_le_bytes(
            b[len - 4..].try_into().unwrap_or_default(),
        ));
        lo | hi << (8 * (len - 4))
    } else if len > 0 {
        u64::from(b[0])
            | u64::from(b[len / 2]) << (8 * (len / 2))
            | u64::from(b[len - 1]) << (8 * (len - 1))
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(k: &Key) -> [u8; INLINE] {
        // SAFETY: a Key is 24 plain bytes (asserted above).
        unsafe { std::mem::transmute_copy(k) }
    }

    #[test]
    fn keys_are_byte_for_byte_what_compact_str_makes() {
        let pieces = ["a", "Z", "é", "€", "😀", "0", "-", " "];
        for len in 0..=30 {
            for i in 0..pieces.len() {
                // Texts of up to `len` bytes mixing one- to four-byte characters.
                let mut text = String::new();
                let mut j = i;
                while text.len() + pieces[j % pieces.len()].len() <= len {
                    text.push_str(pieces[j % pieces.len()]);
                    j += 1;
                }
                let ours = key_from(&text);
                let theirs = Key::from(text.as_str());
                assert_eq!(ours, theirs, "{text:?}");
                assert_eq!(ours.as_str(), text, "{text:?}");
                assert_eq!(ours.is_heap_allocated(), theirs.is_heap_allocated());
                if text.len() <= INLINE {
                    assert_eq!(bytes(&ours), bytes(&theirs), "{text:?}");
                }
                // It grows and changes as any other key.
                let mut grown = ours.clone();
                grown.push_str("xyz");
                assert_eq!(grown, format!("{text}xyz"));
            }
        }
    }

    #[test]
    fn every_length_of_ascii_text_is_kept_whole() {
        let source = "abcdefghijklmnopqrstuvwxyz0123456789";
        for start in 0..4 {
            for len in 0..=INLINE {
                let text = &source[start..start + len];
                assert_eq!(bytes(&key_from(text)), bytes(&Key::from(text)), "{text:?}");
            }
        }
    }
}
