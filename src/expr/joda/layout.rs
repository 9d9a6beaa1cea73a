//! A quick reader for dates whose every field has one usual width.
//!
//! Most patterns in pipelines are fixed-width: Apache's
//! `dd/MMM/yyyy:HH:mm:ss Z`, Java's `yyyy-MM-dd HH:mm:ss,SSS`. Written the
//! usual way (two-digit days, a four-digit year, a three-letter month,
//! `+0200`), such a text has one length and each field one place in it.
//! The general reader walks the parts one by one, a dispatch and a digit
//! loop per part; this one takes a text of exactly that length, checks
//! all its literals and digits eight bytes at a time, and picks the
//! fields from their places.
//!
//! It only ever accepts texts that the general reader reads the same way
//! (the conditions are at [`Layout::of`]); anything else (another length,
//! `5` for a day, `January`, `Z` for an offset, a range error) is left to
//! the general reader, so the two never disagree.

use super::{Fields, Form, MONTH_KEYS, Numeric, Part, TextZone, key3};
use chrono::FixedOffset;

/// The longest text a layout covers, in 8-byte words.
const WORDS: usize = 4;

/// Where each field of a fixed-width pattern sits in its usual text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Layout {
    len: usize,
    /// Per word of the text: `0x20` under the letters of literals, so
    /// that OR-ing it in compares them ignoring case.
    fold: [u64; WORDS],
    /// `0xFF` under literal bytes, and those bytes (letters in lower case).
    literal_mask: [u64; WORDS],
    literal: [u64; WORDS],
    /// `0xFF` under the bytes that must be ASCII digits.
    digit_mask: [u64; WORDS],
    year: Option<u8>,
    month: Option<u8>,
    month_name: Option<u8>,
    day: Option<u8>,
    hour: Option<u8>,
    minute: Option<u8>,
    second: Option<u8>,
    /// Position and digit count.
    fraction: Option<(u8, u8)>,
    /// Position of the sign, and whether a colon splits hours and minutes.
    offset: Option<(u8, bool)>,
}

impl Layout {
    /// The layout of `parts`, if they have one that reads exactly as the
    /// general reader does:
    ///
    /// - only literals, four-digit years (`yyyy`, `YYYY`), two-digit
    ///   months, days, hours (`H`), minutes and seconds, fractions,
    ///   three-letter months and numeric offsets (`Z`, `ZZ`);
    /// - no literal starting with a digit right after a number (the
    ///   general reader would take that digit into the number), nor with
    ///   a letter right after a month name (it could be the rest of a full
    ///   name);
    /// - at least 8 bytes and at most 32 in all.
    ///
    /// Every number then ends where a non-digit or its width limit stops
    /// the general reader's digit loop too, so both read the same fields.
    pub(super) fn of(parts: &[Part]) -> Option<Layout> {
        let mut layout = Layout {
            len: 0,
            fold: [0; WORDS],
            literal_mask: [0; WORDS],
            literal: [0; WORDS],
            digit_mask: [0; WORDS],
            year: None,
            month: None,
            month_name: None,
            day: None,
            hour: None,
            minute: None,
            second: None,
            fraction: None,
            offset: None,
        };
        for (i, part) in parts.iter().enumerate() {
            let at = layout.len;
            let next_literal_starts = |test: fn(&u8) -> bool| match parts.get(i + 1) {
                Some(Part::Literal(l)) => l.as_bytes().first().is_some_and(test),
                _ => false,
            };
            let number_ends_cleanly = !next_literal_starts(u8::is_ascii_digit);
            match part {
                Part::Literal(text) => {
                    for (j, &b) in text.as_bytes().iter().enumerate() {
                        layout.literal_at(at + j, b)?;
                    }
                    layout.len += text.len();
                }
                Part::Number { field, width } if number_ends_cleanly => {
                    let (place, digits) = match (field, *width) {
                        (Numeric::Year | Numeric::YearOfEra, 4) => (&mut layout.year, 4),
                        (_, 1 | 2) => match field {
                            Numeric::Month => (&mut layout.month, 2),
                            Numeric::DayOfMonth => (&mut layout.day, 2),
                            Numeric::HourOfDay => (&mut layout.hour, 2),
                            Numeric::Minute => (&mut layout.minute, 2),
                            Numeric::Second => (&mut layout.second, 2),
                            _ => return None,
                        },
                        _ => return None,
                    };
                    if place.is_some() {
                        return None;
                    }
                    *place = Some(u8::try_from(at).ok()?);
                    layout.digits_at(at, digits)?;
                }
                Part::Fraction(count) if number_ends_cleanly && (1..=9).contains(count) => {
                    if layout.fraction.is_some() {
                        return None;
                    }
                    layout.fraction = Some((u8::try_from(at).ok()?, *count as u8));
                    layout.digits_at(at, *count)?;
                }
                Part::MonthName(Form::Short) if !next_literal_starts(u8::is_ascii_alphabetic) => {
                    if layout.month_name.is_some() {
                        return None;
                    }
                    layout.month_name = Some(u8::try_from(at).ok()?);
                    layout.len += 3;
                }
                Part::Offset { colon } => {
                    if layout.offset.is_some() {
                        return None;
                    }
                    layout.offset = Some((u8::try_from(at).ok()?, *colon));
                    layout.len += 1;
                    layout.digits_at(at + 1, 2)?;
                    if *colon {
                        layout.literal_at(at + 3, b':')?;
                        layout.len += 1;
                    }
                    layout.digits_at(layout.len, 2)?;
                }
                _ => return None,
            }
        }
        (8..=8 * WORDS).contains(&layout.len).then_some(layout)
    }

    fn literal_at(&mut self, at: usize, b: u8) -> Option<()> {
        let (word, shift) = (at / 8, 8 * (at % 8));
        *self.literal_mask.get_mut(word)? |= 0xFF << shift;
        self.literal[word] |= u64::from(b.to_ascii_lowercase()) << shift;
        if b.is_ascii_alphabetic() {
            self.fold[word] |= 0x20 << shift;
        }
        Some(())
    }

    /// Marks `count` digits from `at` and moves the length past them.
    fn digits_at(&mut self, at: usize, count: usize) -> Option<()> {
        for p in at..at + count {
            *self.digit_mask.get_mut(p / 8)? |= 0xFF << (8 * (p % 8));
        }
        self.len = at + count;
        Some(())
    }

    /// Reads the fields of `text` into `f` (which starts as the default)
    /// if it is written in this layout; on `None`, `f` may hold some.
    #[inline]
    pub(super) fn read(&self, text: &[u8], f: &mut Fields) -> Option<()> {
        if text.len() != self.len {
            return None;
        }
        const LOW_NIBBLES: u64 = 0x0F0F_0F0F_0F0F_0F0F;
        const ONES: u64 = 0x0101_0101_0101_0101;
        for k in 0..self.len.div_ceil(8) {
            let w = word(text, k);
            if (w | self.fold[k]) & self.literal_mask[k] != self.literal[k] {
                return None;
            }
            // Digits are 0x30..=0x39: high nibble 3, low nibble at most 9
            // (adding 6 to it must not carry into bit 4).
            let digits = self.digit_mask[k];
            let low = w & digits & LOW_NIBBLES;
            if w & digits & !LOW_NIBBLES != digits & (0x30 * ONES)
                || (low + (digits & (6 * ONES))) & (digits & (0x10 * ONES)) != 0
            {
                return None;
            }
        }
        let two = |at: Option<u8>| at.map(|p| two_digits(text, usize::from(p)));
        if let Some(p) = self.year {
            let p = usize::from(p);
            f.year = Some(two_digits(text, p) as i32 * 100 + two_digits(text, p + 2) as i32);
        }
        if let Some(v) = two(self.month) {
            Numeric::Month.store(v, f)?;
        }
        if let Some(p) = self.month_name {
            let p = usize::from(p);
            f.month = Some(month_of(key3(&text[p..p + 3]))?);
        }
        if let Some(v) = two(self.day) {
            Numeric::DayOfMonth.store(v, f)?;
        }
        if let Some(v) = two(self.hour) {
            Numeric::HourOfDay.store(v, f)?;
        }
        if let Some(v) = two(self.minute) {
            Numeric::Minute.store(v, f)?;
        }
        if let Some(v) = two(self.second) {
            Numeric::Second.store(v, f)?;
        }
        if let Some((p, count)) = self.fraction {
            let digits = &text[usize::from(p)..usize::from(p + count)];
            let value = digits
                .iter()
                .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
            f.nanos = value * 10u32.pow(9 - u32::from(count));
        }
        if let Some((p, colon)) = self.offset {
            let p = usize::from(p);
            let sign = match text[p] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours = two_digits(text, p + 1);
            let minutes = two_digits(text, p + 3 + usize::from(colon));
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = sign * (hours as i32 * 3600 + minutes as i32 * 60);
            f.zone = TextZone::Offset(FixedOffset::east_opt(seconds)?);
        }
        Some(())
    }
}

/// The `k`th 8 bytes of `text` (at least 8 long), little-endian; the last
/// word of a text whose length is not a multiple of 8 holds its last bytes
/// and zeros above them.
#[inline(always)]
fn word(text: &[u8], k: usize) -> u64 {
    let start = 8 * k;
    match text.get(start..start + 8) {
        Some(bytes) => u64::from_le_bytes(bytes.try_into().unwrap_or_default()),
        None => {
            let tail = &text[text.len() - 8..];
            let missing = start + 8 - text.len();
            u64::from_le_bytes(tail.try_into().unwrap_or_default()) >> (8 * missing)
        }
    }
}

/// The two digits at `at`, already checked.
#[inline(always)]
fn two_digits(text: &[u8], at: usize) -> u64 {
    u64::from(text[at] - b'0') * 10 + u64::from(text[at + 1] - b'0')
}

/// The month (1-12) whose three-letter key (see `key3`) is `key`.
///
/// Months come in no predictable order, so a search over the twelve keys
/// mispredicts a branch on most texts; this looks the key up in a table
/// of 16 places that no two month keys share, and compares once.
#[inline(always)]
fn month_of(key: u32) -> Option<u32> {
    let (k, month) = MONTH_TABLE[month_slot(key, MONTH_HASH)];
    (k == key && month != 0).then_some(month)
}

#[inline(always)]
const fn month_slot(key: u32, multiplier: u32) -> usize {
    (key.wrapping_mul(multiplier) >> 28) as usize
}

/// A multiplier under which the twelve month keys fall into distinct
/// places of 16 (found by trying odd numbers in turn; the table below
/// fails to compile if two keys ever share a place).
const MONTH_HASH: u32 = 0x001D_21D7;

/// Per place: the month key there and its month, `(0, 0)` if none.
const MONTH_TABLE: [(u32, u32); 16] = {
    let mut table = [(0, 0); 16];
    let mut i = 0;
    while i < 12 {
        let slot = month_slot(MONTH_KEYS[i], MONTH_HASH);
        assert!(table[slot].1 == 0, "two months share a place");
        table[slot] = (MONTH_KEYS[i], i as u32 + 1);
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::super::DateFormat;
    use super::*;

    fn layout(pattern: &str) -> Option<Layout> {
        Layout::of(&DateFormat::compile(pattern).unwrap().parts)
    }

    #[test]
    fn months_are_found_by_their_table_place() {
        for (i, name) in super::super::MONTHS.iter().enumerate() {
            for text in [
                &name[..3],
                &name[..3].to_uppercase(),
                &name[..3].to_lowercase(),
            ] {
                assert_eq!(
                    month_of(key3(text.as_bytes())),
                    Some(i as u32 + 1),
                    "{text}"
                );
            }
        }
        for text in ["Jux", "abc", "000", "   ", "MAI", "\0\0\0"] {
            assert_eq!(month_of(key3(text.as_bytes())), None, "{text}");
        }
    }

    #[test]
    fn fixed_width_patterns_have_a_layout_and_others_do_not() {
        for pattern in [
            "dd/MMM/yyyy:HH:mm:ss Z",
            "yyyy-MM-dd HH:mm:ss,SSS",
            "yyyy-MM-dd'T'HH:mm:ss.SSSZZ",
            "MMM dd HH:mm:ss",
            "d/M/yyyy H:m:s",
            "yyyyMMddHHmmss",
        ] {
            assert!(layout(pattern).is_some(), "{pattern}");
        }
        for pattern in [
            // A name of varying length, a day of the year, a zone id.
            "dd MMMM yyyy",
            "yyyy-DDD HH:mm",
            "yyyy-MM-dd HH:mm ZZZ",
            // A digit right after a number, a letter right after a month name.
            "yyyy-MM-dd HH'1'",
            "dd MMM'x' yyyy HH",
            // A field twice; too short; too long.
            "yyyy-MM-dd yyyy",
            "HH:mm",
            "yyyy-MM-dd HH:mm:ss.SSSSSSSSS 'and more text'",
            // Two-digit years and 12-hour clocks go the general way.
            "yy-MM-dd HH:mm:ss",
            "yyyy-MM-dd hh:mm:ss a",
        ] {
            assert!(layout(pattern).is_none(), "{pattern}");
        }
    }

    /// Texts near `base`: every byte replaced by a few telling others,
    /// removed, or doubled.
    fn variants(base: &str) -> Vec<Vec<u8>> {
        let b = base.as_bytes();
        let mut out = vec![b.to_vec()];
        for i in 0..b.len() {
            for r in [
                b'0', b'9', b'/', b':', b'+', b'-', b'a', b'J', b'z', b' ', 0x2F, 0x3A, 0xC3,
            ] {
                let mut t = b.to_vec();
                t[i] = r;
                out.push(t);
            }
            let mut t = b.to_vec();
            t.remove(i);
            out.push(t);
            let mut t = b.to_vec();
            t.insert(i, b[i]);
            out.push(t);
            let mut t = b.to_vec();
            t[i] = t[i].to_ascii_uppercase();
            out.push(t);
        }
        out
    }

    #[test]
    fn a_layout_reads_what_the_general_reader_reads() {
        let cases = [
            ("dd/MMM/yyyy:HH:mm:ss Z", "27/Nov/2026:09:05:03 -0700"),
            ("dd/MMM/yyyy:HH:mm:ss Z", "31/dec/1999:23:59:59 +1400"),
            ("yyyy-MM-dd HH:mm:ss,SSS", "2026-11-27 09:05:03,123"),
            (
                "yyyy-MM-dd'T'HH:mm:ss.SSSZZ",
                "2026-02-28T00:00:00.007+05:30",
            ),
            ("MMM dd HH:mm:ss", "Feb 29 12:00:00"),
            ("d/M/yyyy H:m:s", "05/11/2026 07:08:09"),
            ("yyyyMMddHHmmss", "20261127090503"),
            ("EEE yyyy", "Fri 2026"),
        ];
        let mut read_by_layout = 0;
        for (pattern, base) in cases {
            let format = DateFormat::compile(pattern).unwrap();
            let Some(layout) = format.layout.as_deref() else {
                continue;
            };
            for text in variants(base) {
                let mut general = Fields::default();
                let general = format.read_fields(&text, &mut general).map(|()| general);
                let mut fast = Fields::default();
                if layout.read(&text, &mut fast).is_some() {
                    read_by_layout += 1;
                    let shown = String::from_utf8_lossy(&text);
                    let general = general.unwrap_or_else(|| panic!("{pattern}: {shown}"));
                    assert_eq!(
                        format!("{fast:?}"),
                        format!("{general:?}"),
                        "{pattern}: {shown}"
                    );
                }
            }
            let mut fields = Fields::default();
            let read = layout.read(base.as_bytes(), &mut fields);
            assert!(read.is_some(), "{pattern}: {base}");
        }
        assert!(read_by_layout > 100, "{read_by_layout}");
    }
}
