//! Joda-Time date patterns, the dialect Logstash configurations use.
//!
//! Index names (`logs-%{+YYYY.MM.dd}`) and, later, the date filter are
//! written with Joda patterns, so existing configurations keep working
//! unchanged. A pattern is compiled once into a list of parts; formatting
//! then walks that list without re-reading the pattern.
//!
//! Letters name fields and repeat to choose a width or form (`M` 1,
//! `MM` 01, `MMM` Jan, `MMMM` January); text in single quotes is copied
//! (`'T'`, with `''` for a quote itself); any other non-letter is copied as
//! is. An unknown letter is an error rather than literal text, so a typo is
//! caught when the pipeline is built instead of showing up in index names.

use std::fmt::{self, Write};

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};

/// A compiled Joda date pattern.
///
/// Supported letters: `y` year, `Y` year of era, `x` ISO week-year (for
/// these three a count of two prints the last two digits), `w` ISO week,
/// `M` month (3: `Jan`, 4+: `January`), `d` day of month, `D` day of year,
/// `H` hour 0-23, `k` hour 1-24, `K` hour 0-11, `h` hour 1-12, `m` minute,
/// `s` second, `S` fraction of second (one digit per letter, truncated),
/// `a` AM/PM, `E` day name (up to 3: `Mon`, 4+: `Monday`), `e` ISO day of
/// week (1 = Monday), `Z` offset `+0200`, `ZZ` offset `+02:00`, `ZZZ` zone
/// id, `z` short zone name, `zzzz` long zone name. Numeric fields are
/// zero-padded to the number of letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    pattern: String,
    parts: Vec<Part>,
}

/// Why a pattern could not be compiled, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternError {
    /// Index, in characters, of the offending letter or quote.
    pub(crate) index: usize,
    pub(crate) message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.index + 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A number zero-padded to at least `width` digits.
    Number {
        field: Numeric,
        width: usize,
    },
    /// The last two digits of a year-like field (`yy`, `YY`, `xx`).
    TwoDigits(Numeric),
    /// The fraction of the second, with this many digits.
    Fraction(usize),
    MonthName(Form),
    DayName(Form),
    HalfDay,
    Offset {
        colon: bool,
    },
    ZoneId,
    ZoneName(Form),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Short,
    Long,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Numeric {
    Year,
    YearOfEra,
    WeekYear,
    Week,
    Month,
    DayOfMonth,
    DayOfYear,
    DayOfWeek,
    HourOfDay,
    ClockHourOfDay,
    HourOfHalfDay,
    ClockHourOfHalfDay,
    Minute,
    Second,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl DateFormat {
    /// Compiles a Joda pattern such as `YYYY.MM.dd` or
    /// `yyyy-MM-dd'T'HH:mm:ss.SSSZZ`.
    pub fn parse(pattern: &str) -> Result<DateFormat, String> {
        Self::compile(pattern).map_err(|e| e.to_string())
    }

    /// As [`DateFormat::parse`], keeping the error position so that callers
    /// embedding a pattern in larger text can point at the exact column.
    pub(crate) fn compile(pattern: &str) -> Result<DateFormat, PatternError> {
        Ok(DateFormat {
            pattern: pattern.to_owned(),
            parts: compile_parts(pattern)?,
        })
    }

    /// The pattern this format was compiled from.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Appends `t` formatted in UTC.
    pub fn format(&self, t: &DateTime<Utc>, out: &mut String) {
        self.format_with_offset(&t.fixed_offset(), out);
    }

    /// Appends `t` formatted in its own offset, for callers that resolved
    /// a time zone to the offset in force at that instant.
    pub fn format_with_offset(&self, t: &DateTime<FixedOffset>, out: &mut String) {
        for part in &self.parts {
            part.format(t, out);
        }
    }

    /// `t` formatted in UTC, as a new string.
    pub fn format_to_string(&self, t: &DateTime<Utc>) -> String {
        let mut out = String::with_capacity(self.pattern.len() + 8);
        self.format(t, &mut out);
        out
    }
}

impl fmt::Display for DateFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

fn compile_parts(pattern: &str) -> Result<Vec<Part>, PatternError> {
    if pattern.is_empty() {
        return Err(PatternError {
            index: 0,
            message: "empty date pattern".to_owned(),
        });
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i = quoted(&chars, i, &mut literal)?;
        } else if c.is_ascii_alphabetic() {
            let count = chars[i..].iter().take_while(|&&x| x == c).count();
            let part = letter(c, count).ok_or_else(|| PatternError {
                index: i,
                message: format!("unknown date pattern letter `{c}`"),
            })?;
            flush_literal(&mut literal, &mut parts);
            parts.push(part);
            i += count;
        } else {
            literal.push(c);
            i += 1;
        }
    }
    flush_literal(&mut literal, &mut parts);
    Ok(parts)
}

/// Reads quoted text starting at the quote at `start` into `literal` and
/// returns the index after it. `''` is a quote, inside or outside quotes.
fn quoted(chars: &[char], start: usize, literal: &mut String) -> Result<usize, PatternError> {
    if chars.get(start + 1) == Some(&'\'') {
        literal.push('\'');
        return Ok(start + 2);
    }
    let mut i = start + 1;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1)) {
            ('\'', Some('\'')) => {
                literal.push('\'');
                i += 2;
            }
            ('\'', _) => return Ok(i + 1),
            (c, _) => {
                literal.push(c);
                i += 1;
            }
        }
    }
    Err(PatternError {
        index: start,
        message: "unterminated quoted text in date pattern".to_owned(),
    })
}

fn flush_literal(literal: &mut String, parts: &mut Vec<Part>) {
    if !literal.is_empty() {
        parts.push(Part::Literal(std::mem::take(literal)));
    }
}

/// The part for `count` repetitions of the pattern letter `c`.
fn letter(c: char, count: usize) -> Option<Part> {
    let form = if count >= 4 { Form::Long } else { Form::Short };
    let part = match c {
        'y' => year(Numeric::Year, count),
        'Y' => year(Numeric::YearOfEra, count),
        'x' => year(Numeric::WeekYear, count),
        'M' if count >= 3 => Part::MonthName(form),
        'E' => Part::DayName(form),
        'S' => Part::Fraction(count),
        'a' => Part::HalfDay,
        'Z' => match count {
            1 => Part::Offset { colon: false },
            2 => Part::Offset { colon: true },
            _ => Part::ZoneId,
        },
        'z' => Part::ZoneName(form),
        _ => Part::Number {
            field: numeric(c)?,
            width: count,
        },
    };
    Some(part)
}

fn year(field: Numeric, count: usize) -> Part {
    if count == 2 {
        Part::TwoDigits(field)
    } else {
        Part::Number {
            field,
            width: count,
        }
    }
}

fn numeric(c: char) -> Option<Numeric> {
    Some(match c {
        'w' => Numeric::Week,
        'M' => Numeric::Month,
        'd' => Numeric::DayOfMonth,
        'D' => Numeric::DayOfYear,
        'e' => Numeric::DayOfWeek,
        'H' => Numeric::HourOfDay,
        'k' => Numeric::ClockHourOfDay,
        'K' => Numeric::HourOfHalfDay,
        'h' => Numeric::ClockHourOfHalfDay,
        'm' => Numeric::Minute,
        's' => Numeric::Second,
        _ => return None,
    })
}

impl Part {
    fn format(&self, t: &DateTime<FixedOffset>, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match self {
            Part::Literal(s) => out.write_str(s),
            Part::Number { field, width } => write!(out, "{:0width$}", field.of(t)),
            Part::TwoDigits(field) => write!(out, "{:02}", field.of(t).rem_euclid(100)),
            Part::Fraction(digits) => write_fraction(t.nanosecond(), *digits, out),
            Part::MonthName(form) => out.write_str(name(MONTHS[t.month0() as usize], *form)),
            Part::DayName(form) => {
                let day = t.weekday().num_days_from_monday() as usize;
                out.write_str(name(DAYS[day], *form))
            }
            Part::HalfDay => out.write_str(if t.hour() < 12 { "AM" } else { "PM" }),
            Part::Offset { colon } => write_offset(t.offset(), *colon, out),
            Part::ZoneId => write_zone(t.offset(), "UTC", out),
            Part::ZoneName(Form::Short) => write_zone(t.offset(), "UTC", out),
            Part::ZoneName(Form::Long) => write_zone(t.offset(), "Coordinated Universal Time", out),
        };
    }
}

impl Numeric {
    fn of(self, t: &DateTime<FixedOffset>) -> i64 {
        let value = match self {
            Numeric::Year => t.year(),
            Numeric::YearOfEra if t.year() <= 0 => 1 - t.year(),
            Numeric::YearOfEra => t.year(),
            Numeric::WeekYear => t.iso_week().year(),
            Numeric::Week => t.iso_week().week() as i32,
            Numeric::Month => t.month() as i32,
            Numeric::DayOfMonth => t.day() as i32,
            Numeric::DayOfYear => t.ordinal() as i32,
            Numeric::DayOfWeek => t.weekday().number_from_monday() as i32,
            Numeric::HourOfDay => t.hour() as i32,
            Numeric::ClockHourOfDay if t.hour() == 0 => 24,
            Numeric::ClockHourOfDay => t.hour() as i32,
            Numeric::HourOfHalfDay => (t.hour() % 12) as i32,
            Numeric::ClockHourOfHalfDay => t.hour12().1 as i32,
            Numeric::Minute => t.minute() as i32,
            Numeric::Second => t.second() as i32,
        };
        i64::from(value)
    }
}

fn name(full: &'static str, form: Form) -> &'static str {
    match form {
        Form::Long => full,
        Form::Short => &full[..3],
    }
}

/// Writes `digits` digits of the fraction of a second, truncated; beyond
/// nanosecond precision the extra digits are zeros.
fn write_fraction(nanos: u32, digits: usize, out: &mut String) -> fmt::Result {
    // A leap second is reported as nanos >= 1e9; show it as .999….
    let nanos = nanos.min(999_999_999);
    let shown = digits.min(9);
    let value = nanos / 10u32.pow(9 - shown as u32);
    write!(out, "{value:0shown$}")?;
    for _ in shown..digits {
        out.push('0');
    }
    Ok(())
}

/// `+0200` or `+02:00`; UTC is `+0000` / `+00:00`, as Joda prints it.
fn write_offset(offset: &FixedOffset, colon: bool, out: &mut String) -> fmt::Result {
    let secs = offset.local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let minutes = secs.unsigned_abs() / 60;
    let (h, m) = (minutes / 60, minutes % 60);
    if colon {
        write!(out, "{sign}{h:02}:{m:02}")
    } else {
        write!(out, "{sign}{h:02}{m:02}")
    }
}

/// A zone id or name: `utc_name` for UTC, else the offset (`+02:00`), which
/// is how Joda names a fixed-offset zone.
fn write_zone(offset: &FixedOffset, utc_name: &str, out: &mut String) -> fmt::Result {
    if offset.local_minus_utc() == 0 {
        out.write_str(utc_name)
    } else {
        write_offset(offset, true, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Friday 2026-11-27 09:05:03.123456789 UTC: day 331, ISO week 48.
    fn sample() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 5, 3).unwrap()
            + chrono::Duration::nanoseconds(123_456_789)
    }

    fn fmt(pattern: &str, t: DateTime<Utc>) -> String {
        DateFormat::parse(pattern).unwrap().format_to_string(&t)
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap()
    }

    #[test]
    fn years() {
        let t = sample();
        assert_eq!(fmt("yyyy", t), "2026");
        assert_eq!(fmt("y", t), "2026");
        assert_eq!(fmt("yy", t), "26");
        assert_eq!(fmt("YYYY", t), "2026");
        assert_eq!(fmt("YY", t), "26");
        assert_eq!(fmt("yyyyy", t), "02026");
        let early = Utc.with_ymd_and_hms(905, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(fmt("yyyy yy", early), "0905 05");
    }

    #[test]
    fn iso_week_year_and_week() {
        assert_eq!(fmt("xxxx-'W'ww", sample()), "2026-W48");
        // 2027-01-01 is a Friday, so it belongs to week 53 of 2026.
        let new_year = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(fmt("xxxx-'W'ww yyyy", new_year), "2026-W53 2027");
        assert_eq!(fmt("x w xx", new_year), "2026 53 26");
    }

    #[test]
    fn months() {
        let t = sample();
        assert_eq!(fmt("M", t), "11");
        assert_eq!(fmt("MM", t), "11");
        assert_eq!(fmt("MMM", t), "Nov");
        assert_eq!(fmt("MMMM", t), "November");
        let may = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        assert_eq!(fmt("M MM MMM MMMM", may), "5 05 May May");
    }

    #[test]
    fn days() {
        let t = sample();
        assert_eq!(fmt("d dd", t), "27 27");
        assert_eq!(fmt("D DDD", t), "331 331");
        let jan2 = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        assert_eq!(fmt("d dd D DDD", jan2), "2 02 2 002");
        assert_eq!(fmt("E EEE EEEE e", t), "Fri Fri Friday 5");
        let sunday = Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap();
        assert_eq!(fmt("EEEE e", sunday), "Sunday 7");
    }

    #[test]
    fn hours_in_every_convention() {
        assert_eq!(fmt("H HH k K h hh a", at(0, 0)), "0 00 24 0 12 12 AM");
        assert_eq!(fmt("H HH k K h hh a", at(9, 0)), "9 09 9 9 9 09 AM");
        assert_eq!(fmt("H HH k K h hh a", at(12, 0)), "12 12 12 0 12 12 PM");
        assert_eq!(fmt("H HH k K h hh a", at(23, 0)), "23 23 23 11 11 11 PM");
    }

    #[test]
    fn minutes_seconds_and_fractions() {
        let t = sample();
        assert_eq!(fmt("m mm s ss", t), "5 05 3 03");
        assert_eq!(fmt("S", t), "1");
        assert_eq!(fmt("SSS", t), "123");
        assert_eq!(fmt("SSSSSS", t), "123456");
        assert_eq!(fmt("SSSSSSSSS", t), "123456789");
        assert_eq!(fmt("SSSSSSSSSSS", t), "12345678900");
        assert_eq!(fmt("SSS", at(0, 0)), "000");
    }

    #[test]
    fn zones_in_utc() {
        let t = sample();
        assert_eq!(fmt("Z", t), "+0000");
        assert_eq!(fmt("ZZ", t), "+00:00");
        assert_eq!(fmt("ZZZ", t), "UTC");
        assert_eq!(fmt("z", t), "UTC");
        assert_eq!(fmt("zzzz", t), "Coordinated Universal Time");
    }

    #[test]
    fn zones_and_fields_with_an_offset() {
        let f = DateFormat::parse("yyyy-MM-dd HH:mm Z ZZ ZZZ z").unwrap();
        let east = FixedOffset::east_opt(2 * 3600).unwrap();
        let mut out = String::new();
        f.format_with_offset(&sample().with_timezone(&east), &mut out);
        assert_eq!(out, "2026-11-27 11:05 +0200 +02:00 +02:00 +02:00");

        let west = FixedOffset::west_opt(9 * 3600 + 30 * 60).unwrap();
        out.clear();
        f.format_with_offset(&sample().with_timezone(&west), &mut out);
        assert_eq!(out, "2026-11-26 23:35 -0930 -09:30 -09:30 -09:30");
    }

    #[test]
    fn quoted_and_punctuation_literals() {
        let t = sample();
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ss.SSSZZ", t),
            "2026-11-27T09:05:03.123+00:00"
        );
        assert_eq!(fmt("'at' HH 'o''clock'", t), "at 09 o'clock");
        assert_eq!(fmt("''HH''", t), "'09'");
        assert_eq!(fmt("YYYY.MM.dd", t), "2026.11.27");
        assert_eq!(fmt("[é] #", t), "[é] #");
    }

    #[test]
    fn format_appends() {
        let f = DateFormat::parse("YYYY.MM.dd").unwrap();
        let mut out = String::from("logs-");
        f.format(&sample(), &mut out);
        assert_eq!(out, "logs-2026.11.27");
        assert_eq!(f.pattern(), "YYYY.MM.dd");
        assert_eq!(f.to_string(), "YYYY.MM.dd");
    }

    #[test]
    fn bad_patterns_are_rejected_with_a_position() {
        let e = DateFormat::compile("yyyy-qq").unwrap_err();
        assert_eq!(e.index, 5);
        assert!(e.message.contains("`q`"), "{}", e.message);
        let e = DateFormat::compile("HH 'oops").unwrap_err();
        assert_eq!(e.index, 3);
        assert!(e.message.contains("unterminated"), "{}", e.message);
        assert!(DateFormat::parse("").is_err());
        assert!(DateFormat::parse("YYYY.MM.dd G").is_err());
        let text = DateFormat::parse("ab").unwrap_err();
        assert!(text.contains("character 2"), "{text}");
    }
}
