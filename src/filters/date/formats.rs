//! The formats one `match` entry can name: a Joda pattern or one of
//! Logstash's named formats, each read by hand without allocating.

use super::zone::Zone;
use crate::event::Value;
use crate::expr::DateFormat;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};

/// One compiled format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// A Joda pattern such as `dd/MMM/yyyy:HH:mm:ss Z`.
    Pattern(DateFormat),
    /// `ISO8601`: `2026-11-27T08:15:02.114302+02:00` and its variants.
    Iso8601,
    /// `UNIX`: seconds since the epoch, possibly fractional.
    Unix,
    /// `UNIX_MS`: milliseconds since the epoch.
    UnixMs,
    /// `TAI64N`: `@4000000063…`, as written by daemontools and s6.
    Tai64n,
}

impl Format {
    /// A named format (exact, upper case as in Logstash) or else a Joda
    /// pattern.
    pub fn parse(spec: &str) -> Result<Format, String> {
        Ok(match spec {
            "ISO8601" => Format::Iso8601,
            "UNIX" => Format::Unix,
            "UNIX_MS" => Format::UnixMs,
            "TAI64N" => Format::Tai64n,
            pattern => Format::Pattern(DateFormat::for_parsing(pattern)?),
        })
    }

    /// Reads `text`; local times are in `zone`.
    pub fn read_text(
        &self,
        text: &str,
        zone: &Zone,
        now: impl FnOnce() -> DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Format::Pattern(format) => zone.parse_with(format, text, now),
            Format::Iso8601 => iso8601(text, zone),
            Format::Unix => epoch_text(text, 1_000_000_000),
            Format::UnixMs => epoch_text(text, 1_000_000),
            Format::Tai64n => tai64n(text),
        }
    }

    /// Reads a number: epoch formats take it as is, others read it as
    /// text (`20261127` with `yyyyMMdd`).
    pub fn read_number(
        &self,
        number: &Value,
        zone: &Zone,
        now: impl FnOnce() -> DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let unit = match self {
            Format::Unix => 1_000_000_000,
            Format::UnixMs => 1_000_000,
            _ => return self.read_text(&number.to_text(), zone, now),
        };
        let nanos = match *number {
            Value::Integer(n) => i128::from(n) * unit,
            // A float carries about 16 significant digits: round to the
            // microsecond rather than show noise as nanoseconds.
            Value::Float(f) if f.is_finite() && f.abs() < 1e15 => {
                (f * (unit / 1000) as f64).round() as i128 * 1000
            }
            _ => return None,
        };
        from_nanos(nanos)
    }
}

/// The instant `nanos` nanoseconds from the epoch, if representable.
fn from_nanos(nanos: i128) -> Option<DateTime<Utc>> {
    const NANOS: i128 = 1_000_000_000;
    let secs = i64::try_from(nanos.div_euclid(NANOS)).ok()?;
    DateTime::from_timestamp(secs, nanos.rem_euclid(NANOS) as u32)
}

/// `[-]digits[.digits]` counting units of `unit` nanoseconds (seconds or
/// milliseconds); fraction digits below a nanosecond are dropped.
fn epoch_text(text: &str, unit: i128) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let (negative, b) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(dot) => (&b[..dot], &b[dot + 1..]),
        None => (b, &b[..0]),
    };
    if int.is_empty() || int.len() > 20 || !int.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > int.len() && (frac.is_empty() || !frac.iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let whole = int.iter().fold(0i128, |n, d| n * 10 + i128::from(d - b'0'));
    // The fraction of one unit, in nanoseconds: as many digits as the unit
    // has below a nanosecond (9 for seconds, 6 for milliseconds).
    let mut part = 0i128;
    let mut scale = unit;
    for &d in frac {
        if scale == 1 {
            break;
        }
        scale /= 10;
        part += i128::from(d - b'0') * scale;
    }
    let nanos = whole.checked_mul(unit)? + part;
    from_nanos(if negative { -nanos } else { nanos })
}

/// `@` (optional), 16 hex digits of TAI64 label and 8 of nanoseconds.
/// As Logstash does, the label is taken as 2^62 plus Unix seconds, without
/// the TAI-UTC leap second difference.
fn tai64n(text: &str) -> Option<DateTime<Utc>> {
    let hex = text.strip_prefix('@').unwrap_or(text).as_bytes();
    if hex.len() != 24 {
        return None;
    }
    let label = hex_value(&hex[..16])?;
    let nanos = u32::try_from(hex_value(&hex[16..])?).ok()?;
    if nanos >= 1_000_000_000 {
        return None;
    }
    let secs = i64::try_from(i128::from(label) - (1i128 << 62)).ok()?;
    DateTime::from_timestamp(secs, nanos)
}

fn hex_value(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |n, &d| {
        let v = (d as char).to_digit(16)?;
        Some(n << 4 | u64::from(v))
    })
}

/// A cursor over ASCII text for the ISO 8601 reader.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.pos += usize::from(hit);
        hit
    }

    /// Exactly `n` digits.
    fn number(&mut self, n: usize) -> Option<u32> {
        let digits = self.b.get(self.pos..self.pos + n)?;
        let mut v = 0;
        for &d in digits {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(d - b'0');
        }
        self.pos += n;
        Some(v)
    }

    /// How many digits follow.
    fn digit_run(&self) -> usize {
        self.b[self.pos..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count()
    }
}

/// ISO 8601 as Logstash accepts it, and a little more: a date
/// (`2026-11-27`, `2026-11`, `2026`, `2026-331`, `2026-W48-5`), optionally
/// followed by `T` or a space and `HH[:mm[:ss[.fraction]]]` (fraction
/// after `.` or `,`, any number of digits, kept to the nanosecond), then
/// optionally `Z`, `+HH`, `+HHmm` or `+HH:mm`. Without an offset the time
/// is local time in `zone`.
pub fn iso8601(text: &str, zone: &Zone) -> Option<DateTime<Utc>> {
    let mut c = Cursor {
        b: text.as_bytes(),
        pos: 0,
    };
    let date = iso_date(&mut c)?;
    let mut time = NaiveTime::MIN;
    let mut offset = None;
    if matches!(c.peek(), Some(b'T' | b't' | b' ')) {
        c.pos += 1;
        time = iso_time(&mut c)?;
        offset = iso_offset(&mut c)?;
    }
    if c.pos != c.b.len() {
        return None;
    }
    let local = NaiveDateTime::new(date, time);
    match offset {
        Some(offset) => Some(local.checked_sub_offset(offset)?.and_utc()),
        None => zone.to_utc(&local),
    }
}

fn iso_date(c: &mut Cursor) -> Option<NaiveDate> {
    let year = c.number(4)? as i32;
    if !c.eat(b'-') {
        return (c.peek().is_none() || matches!(c.peek(), Some(b'T' | b't' | b' ')))
            .then(|| NaiveDate::from_ymd_opt(year, 1, 1))?;
    }
    if c.eat(b'W') {
        let week = c.number(2)?;
        let day = if c.eat(b'-') { c.number(1)? } else { 1 };
        let weekday = Weekday::try_from(u8::try_from(day.checked_sub(1)?).ok()?).ok()?;
        return NaiveDate::from_isoywd_opt(year, week, weekday);
    }
    if c.digit_run() == 3 {
        return NaiveDate::from_yo_opt(year, c.number(3)?);
    }
    let month = c.number(2)?;
    let day = if c.eat(b'-') { c.number(2)? } else { 1 };
    NaiveDate::from_ymd_opt(year, month, day)
}

fn iso_time(c: &mut Cursor) -> Option<NaiveTime> {
    let hour = c.number(2)?;
    let (mut minute, mut second, mut nanos) = (0, 0, 0);
    if c.eat(b':') {
        minute = c.number(2)?;
        if c.eat(b':') {
            second = c.number(2)?;
            if matches!(c.peek(), Some(b'.' | b',')) {
                c.pos += 1;
                let n = c.digit_run();
                if n == 0 {
                    return None;
                }
                let mut scale = 1_000_000_000;
                for &d in &c.b[c.pos..c.pos + n] {
                    if scale == 1 {
                        break;
                    }
                    scale /= 10;
                    nanos += u32::from(d - b'0') * scale;
                }
                c.pos += n;
            }
        }
    }
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
}

/// `Ok(None)`-like: `Some(None)` when no offset follows, `None` when a
/// malformed one does.
fn iso_offset(c: &mut Cursor) -> Option<Option<FixedOffset>> {
    let sign = match c.peek() {
        None => return Some(None),
        Some(b'Z' | b'z') => {
            c.pos += 1;
            return Some(Some(FixedOffset::east_opt(0)?));
        }
        Some(b'+') => 1,
        Some(b'-') => -1,
        Some(_) => return None,
    };
    c.pos += 1;
    let hours = c.number(2)?;
    // Minutes, with or without a colon, are optional only at the end.
    let minutes = if c.peek().is_some() {
        c.eat(b':');
        c.number(2)?
    } else {
        0
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    let secs = sign * (hours * 3600 + minutes * 60) as i32;
    Some(Some(FixedOffset::east_opt(secs)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn iso(text: &str) -> Option<DateTime<Utc>> {
        iso8601(text, &Zone::utc())
    }

    #[test]
    fn iso8601_variants() {
        let micros = Some(utc("2026-11-27T08:15:02.114302Z"));
        assert_eq!(iso("2026-11-27T08:15:02.114302"), micros);
        assert_eq!(iso("2026-11-27T08:15:02.114302Z"), micros);
        assert_eq!(iso("2026-11-27 08:15:02.114302"), micros);
        assert_eq!(iso("2026-11-27t08:15:02,114302z"), micros);
        assert_eq!(iso("2026-11-27T10:15:02.114302+0200"), micros);
        assert_eq!(iso("2026-11-27T10:15:02.114302+02:00"), micros);
        assert_eq!(iso("2026-11-27T10:15:02.114302+02"), micros);
        assert_eq!(iso("2026-11-27T03:15:02.114302-05:00"), micros);
        assert_eq!(
            iso("2026-11-27T08:15:02Z"),
            Some(utc("2026-11-27T08:15:02Z"))
        );
        assert_eq!(iso("2026-11-27T08:15Z"), Some(utc("2026-11-27T08:15:00Z")));
        assert_eq!(iso("2026-11-27T08"), Some(utc("2026-11-27T08:00:00Z")));
    }

    #[test]
    fn iso8601_fractions_of_any_length() {
        let at = |frac: &str| iso(&format!("2026-11-27T08:15:02.{frac}Z")).unwrap();
        assert_eq!(at("1"), utc("2026-11-27T08:15:02.1Z"));
        assert_eq!(at("12"), utc("2026-11-27T08:15:02.12Z"));
        assert_eq!(at("123"), utc("2026-11-27T08:15:02.123Z"));
        assert_eq!(at("123456789"), utc("2026-11-27T08:15:02.123456789Z"));
        assert_eq!(at("1234567891234"), utc("2026-11-27T08:15:02.123456789Z"));
        assert_eq!(iso("2026-11-27T08:15:02.Z"), None);
        assert_eq!(iso("2026-11-27T08:15:02,Z"), None);
    }

    #[test]
    fn iso8601_dates() {
        let day = Some(utc("2026-11-27T00:00:00Z"));
        assert_eq!(iso("2026-11-27"), day);
        assert_eq!(iso("2026-331"), day);
        assert_eq!(iso("2026-W48-5"), day);
        assert_eq!(iso("2026-W48"), Some(utc("2026-11-23T00:00:00Z")));
        assert_eq!(iso("2026-11"), Some(utc("2026-11-01T00:00:00Z")));
        assert_eq!(iso("2026"), Some(utc("2026-01-01T00:00:00Z")));
    }

    #[test]
    fn iso8601_rejects_malformed_text() {
        for bad in [
            "",
            "2026-11-27T",
            "2026-11-27T8:15:02",
            "2026-11-27T08:15:02+2",
            "2026-11-27T08:15:02+02:0",
            "2026-11-27T08:15:02 +02:00",
            "2026-11-27T08:15:02Zjunk",
            "2026-11-32",
            "2026-13-01",
            "2026-02-29",
            "2026-11-27T24:00:00",
            "2026-W54",
            "2026-W48-8",
            "26-11-27",
            "2026/11/27",
            "27/Nov/2026:08:15:02 +0200",
        ] {
            assert_eq!(iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn iso8601_without_offset_uses_the_zone() {
        let berlin = Zone::parse("Europe/Berlin").unwrap();
        assert_eq!(
            iso8601("2026-07-01T12:00:00", &berlin),
            Some(utc("2026-07-01T10:00:00Z"))
        );
        assert_eq!(
            iso8601("2026-07-01T12:00:00Z", &berlin),
            Some(utc("2026-07-01T12:00:00Z"))
        );
        assert_eq!(
            iso8601("2026-01-01", &berlin),
            Some(utc("2025-12-31T23:00:00Z"))
        );
    }

    #[test]
    fn unix_seconds_and_millis() {
        let z = Zone::utc();
        let unix = |t: &str| Format::Unix.read_text(t, &z, Utc::now);
        let ms = |t: &str| Format::UnixMs.read_text(t, &z, Utc::now);
        assert_eq!(unix("1795767302"), Some(utc("2026-11-27T08:15:02Z")));
        assert_eq!(
            unix("1795767302.114"),
            Some(utc("2026-11-27T08:15:02.114Z"))
        );
        assert_eq!(
            unix("1795767302.1234567891"),
            Some(utc("2026-11-27T08:15:02.123456789Z"))
        );
        assert_eq!(unix("0"), Some(utc("1970-01-01T00:00:00Z")));
        assert_eq!(unix("-1.5"), Some(utc("1969-12-31T23:59:58.5Z")));
        assert_eq!(ms("1795767302114"), Some(utc("2026-11-27T08:15:02.114Z")));
        assert_eq!(
            ms("1795767302114.5"),
            Some(utc("2026-11-27T08:15:02.1145Z"))
        );
        assert_eq!(ms("-1"), Some(utc("1969-12-31T23:59:59.999Z")));
        for bad in [
            "",
            "-",
            "1.",
            ".5",
            "1e9",
            "12a",
            " 1",
            "1.2.3",
            "99999999999999999999999",
        ] {
            assert_eq!(unix(bad), None, "{bad}");
            assert_eq!(ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn unix_numbers() {
        let z = Zone::utc();
        let read = |f: Format, v: Value| f.read_number(&v, &z, Utc::now);
        assert_eq!(
            read(Format::Unix, Value::Integer(1795767302)),
            Some(utc("2026-11-27T08:15:02Z"))
        );
        assert_eq!(
            read(Format::Unix, Value::Float(1795767302.5)),
            Some(utc("2026-11-27T08:15:02.5Z"))
        );
        assert_eq!(
            read(Format::UnixMs, Value::Integer(1795767302114)),
            Some(utc("2026-11-27T08:15:02.114Z"))
        );
        assert_eq!(
            read(Format::UnixMs, Value::Float(1795767302114.0)),
            Some(utc("2026-11-27T08:15:02.114Z"))
        );
        assert_eq!(read(Format::Unix, Value::Float(f64::NAN)), None);
        assert_eq!(read(Format::Unix, Value::Integer(i64::MAX)), None);
        let pattern = Format::parse("yyyyMMdd").unwrap();
        assert_eq!(
            read(pattern, Value::Integer(20261127)),
            Some(utc("2026-11-27T00:00:00Z"))
        );
        assert_eq!(read(Format::Tai64n, Value::Integer(1)), None);
    }

    #[test]
    fn tai64n_labels() {
        let z = Zone::utc();
        let tai = |t: &str| Format::Tai64n.read_text(t, &z, Utc::now);
        // 0x6a369e06 = 1781964294 seconds, 0x06cb8080 = 114_000_000 ns.
        let want = Some(utc("2026-06-20T14:04:54.114Z"));
        assert_eq!(tai("@400000006a369e0606cb8080"), want);
        assert_eq!(tai("400000006a369e0606cb8080"), want);
        assert_eq!(tai("@400000006A369E0606CB8080"), want);
        assert_eq!(tai("@4000000000000000000000000"), None);
        assert_eq!(tai("@400000006a369e0606cb808"), None);
        assert_eq!(tai("@400000006a369e063b9aca00"), None, "10^9 ns");
        assert_eq!(tai("@400000006a369e0606cb808g"), None);
        assert_eq!(
            tai("@3fffffffffffffff00000000"),
            Some(utc("1969-12-31T23:59:59Z"))
        );
    }

    #[test]
    fn named_formats_and_patterns() {
        assert_eq!(Format::parse("ISO8601"), Ok(Format::Iso8601));
        assert_eq!(Format::parse("UNIX"), Ok(Format::Unix));
        assert_eq!(Format::parse("UNIX_MS"), Ok(Format::UnixMs));
        assert_eq!(Format::parse("TAI64N"), Ok(Format::Tai64n));
        assert!(matches!(
            Format::parse("yyyy-MM-dd"),
            Ok(Format::Pattern(_))
        ));
        assert!(
            Format::parse("iso8601").is_err(),
            "not a valid pattern either"
        );
        assert!(Format::parse("yyyy zzzz").is_err());
    }
}
