//! Joda-Time date patterns, the dialect Logstash configurations use.
//!
//! Index names (`logs-%{+YYYY.MM.dd}`) and the date filter's `match` are
//! written with Joda patterns, so existing configurations keep working
//! unchanged. A pattern is compiled once into a list of parts; formatting
//! and parsing then walk that list without re-reading the pattern, and
//! parsing allocates nothing.
//!
//! Letters name fields and repeat to choose a width or form (`M` 1,
//! `MM` 01, `MMM` Jan, `MMMM` January); text in single quotes is copied
//! (`'T'`, with `''` for a quote itself); any other non-letter is copied as
//! is. An unknown letter is an error rather than literal text, so a typo is
//! caught when the pipeline is built instead of showing up in index names.

use std::fmt::{self, Write};

use chrono::{
    DateTime, Datelike, FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeDelta, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

mod layout;
use layout::Layout;

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
    /// Where the fields sit in the usual text, for fixed-width patterns.
    layout: Option<Box<Layout>>,
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
        let parts = compile_parts(pattern)?;
        Ok(DateFormat {
            pattern: pattern.to_owned(),
            layout: Layout::of(&parts).map(Box::new),
            parts,
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
            Part::Number { field, width } => push_padded(out, field.of(t), *width),
            Part::TwoDigits(field) => push_padded(out, field.of(t).rem_euclid(100), 2),
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

/// Appends `value` zero-padded to `width` digits, as `{:0width$}` does,
/// without the formatting machinery for the usual non-negative values
/// (index names format a date per event).
fn push_padded(out: &mut String, value: i64, width: usize) -> fmt::Result {
    if value < 0 {
        return write!(out, "{value:0width$}");
    }
    let mut buf = [0u8; 20];
    let digits = crate::event::json::format_i64(&mut buf, value);
    for _ in digits.len()..width {
        out.push('0');
    }
    // ASCII digits only.
    out.push_str(std::str::from_utf8(digits).unwrap_or_default());
    Ok(())
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

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

impl DateFormat {
    /// Compiles a pattern for reading dates, as the date filter's `match`
    /// does. Like [`DateFormat::parse`], but also rejects letters that can
    /// only be printed (`zzzz`, a long zone name).
    pub fn for_parsing(pattern: &str) -> Result<DateFormat, String> {
        let format = Self::compile(pattern).map_err(|e| e.to_string())?;
        if format.parts.contains(&Part::ZoneName(Form::Long)) {
            return Err(
                "`zzzz` (a long time zone name) can be printed but not parsed; \
                 use `Z`, `ZZ` or `ZZZ`"
                    .to_owned(),
            );
        }
        Ok(format)
    }

    /// Reads `text`, which must match the whole pattern, as an instant.
    ///
    /// Matching follows Joda: literals and names are compared ignoring
    /// ASCII case; a numeric field takes one digit up to its usual width
    /// (`d` and `dd` both take `5` or `05`; a year up to 9 digits unless a
    /// number follows it directly, then exactly as many as the letters);
    /// `S…` takes up to one digit per letter and reads them as a fraction
    /// (`SSS` reads `5` as 500 ms); `MMM` and `MMMM` both accept `Jan` and
    /// `January`, likewise `E`; day names are checked but do not move the
    /// date. `Z`/`ZZ` accept `Z`, `+02`, `+0200` and `+02:00`; `ZZZ` a zone
    /// id such as `Europe/Berlin` or an offset; `z` the abbreviations UT,
    /// UTC, GMT, EST, EDT, CST, CDT, MST, MDT, PST and PDT (as their fixed
    /// offsets) or an offset. Only English month and day names are known.
    ///
    /// A time without an offset or zone in the text is local time in
    /// `zone`, resolved by [`DateFormat::local_to_utc`]. Without a year
    /// field, the year is the one that puts the date nearest to `now`
    /// (a `Dec 31` line read on January 1st belongs to last year); `yy`
    /// reads two digits into the hundred years from 80 years before `now`
    /// to 19 after, as Joda does. `now` is only called when needed.
    pub fn parse_timestamp<Z: TimeZone>(
        &self,
        text: &str,
        zone: &Z,
        now: impl FnOnce() -> DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let text = text.as_bytes();
        let mut fields = Fields::default();
        let laid_out = match &self.layout {
            Some(layout) => layout.read(text, &mut fields).is_some(),
            None => false,
        };
        if !laid_out {
            fields = Fields::default();
            self.read_fields(text, &mut fields)?;
        }
        fields.resolve(zone, now)
    }

    /// The instant at which a wall clock in `zone` shows `local`.
    ///
    /// In an overlap (clocks set back, so the local time happens twice) the
    /// earlier instant is taken, as Joda does. In a gap (clocks set forward,
    /// so the local time never happens) the time is read with the offset in
    /// force before the gap, which moves it forward by the gap's length:
    /// 02:30 on the night Berlin springs forward is 03:30 CEST. This is what
    /// `java.time` does; Joda's parser, and so Logstash, rejects such times
    /// instead, which loses the event's time over a clock change.
    pub fn local_to_utc<Z: TimeZone>(zone: &Z, local: &NaiveDateTime) -> Option<DateTime<Utc>> {
        let at = |offset: FixedOffset| local.checked_sub_offset(offset).map(|t| t.and_utc());
        match zone.offset_from_local_datetime(local) {
            MappedLocalTime::Single(o) => at(o.fix()),
            MappedLocalTime::Ambiguous(a, b) => {
                let (a, b) = (at(a.fix())?, at(b.fix())?);
                Some(a.min(b))
            }
            MappedLocalTime::None => {
                let day_before = local.checked_sub_signed(TimeDelta::days(1))?;
                at(zone.offset_from_utc_datetime(&day_before).fix())
            }
        }
    }

    /// Walks the parts over `text`, collecting the fields it names into `f`.
    fn read_fields(&self, text: &[u8], f: &mut Fields) -> Option<()> {
        let mut pos = 0;
        for (i, part) in self.parts.iter().enumerate() {
            let rest = &text[pos..];
            let used = match part {
                Part::Literal(lit) => {
                    let lit = lit.as_bytes();
                    let matched = match (lit, rest) {
                        ([l], [r, ..]) => l.eq_ignore_ascii_case(r),
                        _ => rest.get(..lit.len())?.eq_ignore_ascii_case(lit),
                    };
                    if !matched {
                        return None;
                    }
                    lit.len()
                }
                Part::Number { field, width } => {
                    let adjacent = self.number_follows(i);
                    let (value, used) = digits(rest, field.max_digits(*width, adjacent))?;
                    field.store(value, f)?;
                    used
                }
                Part::TwoDigits(field) => {
                    let adjacent = self.number_follows(i);
                    let (value, used) = digits(rest, if adjacent { 2 } else { 9 })?;
                    field.store(value, f)?;
                    if used == 2 {
                        match field {
                            Numeric::WeekYear => f.two_digit_week_year = true,
                            _ => f.two_digit_year = true,
                        }
                    }
                    used
                }
                Part::Fraction(count) => {
                    let (nanos, used) = fraction(rest, *count)?;
                    f.nanos = nanos;
                    used
                }
                Part::MonthName(_) => {
                    let (index, used) = name_at(rest, &MONTHS, &MONTH_KEYS)?;
                    f.month = Some(index as u32 + 1);
                    used
                }
                Part::DayName(_) => {
                    let (index, used) = name_at(rest, &DAYS, &DAY_KEYS)?;
                    f.day_name = Some(index as u32 + 1);
                    used
                }
                Part::HalfDay => {
                    let pm = match key3(rest.get(..2)?) {
                        k if k == key3(b"am") => false,
                        k if k == key3(b"pm") => true,
                        _ => return None,
                    };
                    f.pm = Some(pm);
                    2
                }
                Part::Offset { .. } => {
                    let (offset, used) = offset_at(rest)?;
                    f.zone = TextZone::Offset(offset);
                    used
                }
                Part::ZoneId => {
                    let (zone, used) = zone_id_at(rest)?;
                    f.zone = zone;
                    used
                }
                Part::ZoneName(Form::Short) => {
                    let (offset, used) = zone_abbreviation_at(rest)?;
                    f.zone = TextZone::Offset(offset);
                    used
                }
                Part::ZoneName(Form::Long) => return None,
            };
            pos += used;
        }
        (pos == text.len()).then_some(())
    }

    /// True if the part after `index` reads digits, so the part at `index`
    /// must not take them (`yyyyMMdd`).
    fn number_follows(&self, index: usize) -> bool {
        matches!(
            self.parts.get(index + 1),
            Some(Part::Number { .. } | Part::TwoDigits(_) | Part::Fraction(_))
        )
    }
}

/// What a text said about its zone.
#[derive(Debug, Clone, Copy, Default)]
enum TextZone {
    /// Nothing: the caller's zone applies.
    #[default]
    None,
    Offset(FixedOffset),
    Named(Tz),
}

/// The fields read from one text, before they are combined into a date.
#[derive(Debug, Clone, Copy, Default)]
struct Fields {
    year: Option<i32>,
    /// The year was written with two digits (`yy`): a year of the century.
    two_digit_year: bool,
    week_year: Option<i32>,
    two_digit_week_year: bool,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    week: Option<u32>,
    /// ISO day of week, 1 = Monday, from `e`.
    day_of_week: Option<u32>,
    /// From `E`; only used with a week number.
    day_name: Option<u32>,
    /// Hour 0-23, from `H` or `k`.
    hour: Option<u32>,
    /// Hour of the half day 0-11, from `K` or `h`.
    half_day_hour: Option<u32>,
    pm: Option<bool>,
    minute: u32,
    second: u32,
    nanos: u32,
    zone: TextZone,
}

impl Numeric {
    /// How many digits this field may take when parsing.
    fn max_digits(self, width: usize, number_follows: bool) -> usize {
        let natural = match self {
            Numeric::Year | Numeric::YearOfEra | Numeric::WeekYear if number_follows => width,
            Numeric::Year | Numeric::YearOfEra | Numeric::WeekYear => 9,
            Numeric::DayOfYear => 3,
            Numeric::DayOfWeek => 1,
            _ => 2,
        };
        natural.max(width)
    }

    /// Checks `value`'s range and records it.
    #[inline]
    fn store(self, value: u64, f: &mut Fields) -> Option<()> {
        let in_range = |lo: u64, hi: u64| (lo..=hi).contains(&value).then_some(value as u32);
        match self {
            Numeric::Year | Numeric::YearOfEra => f.year = Some(in_range(0, 999_999_999)? as i32),
            Numeric::WeekYear => f.week_year = Some(in_range(0, 999_999_999)? as i32),
            Numeric::Week => f.week = Some(in_range(1, 53)?),
            Numeric::Month => f.month = Some(in_range(1, 12)?),
            Numeric::DayOfMonth => f.day = Some(in_range(1, 31)?),
            Numeric::DayOfYear => f.day_of_year = Some(in_range(1, 366)?),
            Numeric::DayOfWeek => f.day_of_week = Some(in_range(1, 7)?),
            Numeric::HourOfDay => f.hour = Some(in_range(0, 23)?),
            Numeric::ClockHourOfDay => f.hour = Some(in_range(1, 24)? % 24),
            Numeric::HourOfHalfDay => f.half_day_hour = Some(in_range(0, 11)?),
            Numeric::ClockHourOfHalfDay => f.half_day_hour = Some(in_range(1, 12)? % 12),
            Numeric::Minute => f.minute = in_range(0, 59)?,
            Numeric::Second => f.second = in_range(0, 59)?,
        }
        Some(())
    }
}

impl Fields {
    fn resolve<Z: TimeZone>(
        &self,
        zone: &Z,
        now: impl FnOnce() -> DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let hour = match (self.hour, self.half_day_hour) {
            (Some(h), _) => h,
            (None, Some(h)) => h + if self.pm == Some(true) { 12 } else { 0 },
            (None, None) => 0,
        };
        let time = NaiveTime::from_hms_nano_opt(hour, self.minute, self.second, self.nanos)?;
        let year_less = self.year.is_none() && self.week_year.is_none();
        let local = if year_less || self.two_digit_year || self.two_digit_week_year {
            let now = self.local_now(zone, now());
            if year_less {
                self.nearest_year(now, time)?
            } else {
                let window = |year: Option<i32>, two_digits: bool| match year {
                    Some(y) if two_digits => Some(century_window(y, now.year())),
                    other => other,
                };
                let fields = Fields {
                    year: window(self.year, self.two_digit_year),
                    week_year: window(self.week_year, self.two_digit_week_year),
                    ..*self
                };
                fields
                    .date(fields.year.or(fields.week_year)?)?
                    .and_time(time)
            }
        } else {
            self.date(self.year.or(self.week_year)?)?.and_time(time)
        };
        match self.zone {
            TextZone::Offset(offset) => Some(local.checked_sub_offset(offset)?.and_utc()),
            TextZone::Named(tz) => DateFormat::local_to_utc(&tz, &local),
            TextZone::None => DateFormat::local_to_utc(zone, &local),
        }
    }

    /// `now` as a wall clock in the zone the text will be read in.
    fn local_now<Z: TimeZone>(&self, zone: &Z, now: DateTime<Utc>) -> NaiveDateTime {
        match self.zone {
            TextZone::Offset(offset) => now.with_timezone(&offset).naive_local(),
            TextZone::Named(tz) => now.with_timezone(&tz).naive_local(),
            TextZone::None => now.with_timezone(zone).naive_local(),
        }
    }

    /// The date in `year` (or week-year) the fields describe.
    fn date(&self, year: i32) -> Option<NaiveDate> {
        if self.month.is_some() || self.day.is_some() {
            NaiveDate::from_ymd_opt(year, self.month.unwrap_or(1), self.day.unwrap_or(1))
        } else if let Some(day) = self.day_of_year {
            NaiveDate::from_yo_opt(year, day)
        } else if self.week.is_some() || self.week_year.is_some() {
            let weekday = self.day_of_week.or(self.day_name).unwrap_or(1);
            let weekday = Weekday::try_from(weekday as u8 - 1).ok()?;
            NaiveDate::from_isoywd_opt(self.week_year.unwrap_or(year), self.week?, weekday)
        } else {
            NaiveDate::from_ymd_opt(year, 1, 1)
        }
    }

    /// For a text without a year: the local time in the year before, the
    /// year of, or the year after `now` that lies nearest to `now`. A date
    /// that does not exist in a year (February 29th) skips that year.
    fn nearest_year(&self, now: NaiveDateTime, time: NaiveTime) -> Option<NaiveDateTime> {
        let in_year = |year: i32| Some(self.date(year)?.and_time(time));
        let distance = |t: &NaiveDateTime| (*t - now).abs();
        match in_year(now.year()) {
            // Other years are at least 365 days further off.
            Some(t) if distance(&t) <= TimeDelta::days(182) => Some(t),
            _ => [now.year() - 1, now.year(), now.year() + 1]
                .into_iter()
                .filter_map(in_year)
                .min_by_key(distance),
        }
    }
}

/// The year ending in `two_digits` within [now - 80, now + 19], Joda's
/// window for two-digit years.
fn century_window(two_digits: i32, now_year: i32) -> i32 {
    let low = now_year - 80;
    let year = low - low.rem_euclid(100) + two_digits;
    if year < low { year + 100 } else { year }
}

/// Reads one to `max` ASCII digits: their value (saturating) and count.
#[inline]
fn digits(text: &[u8], max: usize) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    let mut used = 0;
    for &b in text.iter().take(max) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        value = value.saturating_mul(10).saturating_add(u64::from(d));
        used += 1;
    }
    (used > 0).then_some((value, used))
}

/// Reads one to `max` digits of a fraction of a second as nanoseconds;
/// digits beyond the ninth are read but dropped.
#[inline]
fn fraction(text: &[u8], max: usize) -> Option<(u32, usize)> {
    let mut nanos: u32 = 0;
    let mut used = 0;
    for &b in text.iter().take(max) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if used < 9 {
            nanos = nanos * 10 + u32::from(d);
        }
        used += 1;
    }
    if used == 0 {
        return None;
    }
    Some((nanos * 10u32.pow(9 - used.min(9) as u32), used))
}

/// Three letters folded to lower case as one number, for quick name
/// matching; shorter input is padded with zeros. A letter only folds onto
/// a letter, so equal keys mean the same letters regardless of case.
const fn key3(b: &[u8]) -> u32 {
    let mut key = 0;
    let mut i = 0;
    while i < 3 {
        let c = if i < b.len() { b[i] | 0x20 } else { 0 };
        key = (key << 8) | c as u32;
        i += 1;
    }
    key
}

const fn keys<const N: usize>(names: &[&str; N]) -> [u32; N] {
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = key3(names[i].as_bytes());
        i += 1;
    }
    out
}

const MONTH_KEYS: [u32; 12] = keys(&MONTHS);
const DAY_KEYS: [u32; 7] = keys(&DAYS);

/// Matches a full or three-letter English name at the start of `text`,
/// ignoring case, preferring the full name: its index and length.
#[inline]
fn name_at(text: &[u8], names: &[&str], keys: &[u32]) -> Option<(usize, usize)> {
    let key = key3(text.get(..3)?);
    let index = keys.iter().position(|&k| k == key)?;
    let full = names[index].as_bytes();
    if text.len() >= full.len() && text[3..full.len()].eq_ignore_ascii_case(&full[3..]) {
        Some((index, full.len()))
    } else {
        Some((index, 3))
    }
}

/// Reads `Z`, `+HH`, `+HHmm` or `+HH:mm` (or with `-`).
fn offset_at(text: &[u8]) -> Option<(FixedOffset, usize)> {
    let sign = match *text.first()? {
        b'Z' | b'z' => return Some((FixedOffset::east_opt(0)?, 1)),
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let two = |at: usize| match text.get(at..at + 2) {
        Some([a, b]) if a.is_ascii_digit() && b.is_ascii_digit() => {
            Some(i32::from(a - b'0') * 10 + i32::from(b - b'0'))
        }
        _ => None,
    };
    let hours = two(1)?;
    let (minutes, used) = if text.get(3) == Some(&b':') && two(4).is_some() {
        (two(4)?, 6)
    } else if let Some(m) = two(3) {
        (m, 5)
    } else {
        (0, 3)
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((
        FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))?,
        used,
    ))
}

/// Reads an IANA zone id (`Europe/Berlin`, `UTC`) or an offset.
fn zone_id_at(text: &[u8]) -> Option<(TextZone, usize)> {
    if matches!(text.first(), Some(b'+' | b'-')) {
        let (offset, used) = offset_at(text)?;
        return Some((TextZone::Offset(offset), used));
    }
    let used = text
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
        .count();
    if used == 1 && text[0] == b'Z' {
        return Some((TextZone::Offset(FixedOffset::east_opt(0)?), 1));
    }
    // The run is ASCII, so it is valid UTF-8.
    let id = std::str::from_utf8(&text[..used]).ok()?;
    let tz: Tz = id.parse().ok()?;
    Some((TextZone::Named(tz), used))
}

/// Zone abbreviations Joda parses by default, as fixed offsets (Joda maps
/// the North American ones to their zones, so `EST` in July reads as EDT;
/// the abbreviation's own offset is what the writer meant).
const ZONE_ABBREVIATIONS: [(&str, i32); 11] = [
    ("UTC", 0),
    ("UT", 0),
    ("GMT", 0),
    ("EST", -5),
    ("EDT", -4),
    ("CST", -6),
    ("CDT", -5),
    ("MST", -7),
    ("MDT", -6),
    ("PST", -8),
    ("PDT", -7),
];

/// Reads a zone abbreviation (see [`ZONE_ABBREVIATIONS`]) or an offset.
fn zone_abbreviation_at(text: &[u8]) -> Option<(FixedOffset, usize)> {
    if matches!(text.first(), Some(b'+' | b'-')) {
        return offset_at(text);
    }
    let used = text.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let word = &text[..used];
    let &(_, hours) = ZONE_ABBREVIATIONS
        .iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name.as_bytes()))?;
    Some((FixedOffset::east_opt(hours * 3600)?, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_numbers_match_the_formatter() {
        for width in 0..=10 {
            for value in [
                0i64,
                7,
                42,
                999,
                2026,
                123_456_789,
                999_999_999,
                1_000_000_000,
                -5,
                -2026,
            ] {
                let mut ours = String::new();
                push_padded(&mut ours, value, width).unwrap();
                assert_eq!(ours, format!("{value:0width$}"), "{value} {width}");
            }
        }
    }
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

    // ---- parsing ----

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// Parses in UTC with "now" at 2026-06-15.
    fn read(pattern: &str, text: &str) -> Option<DateTime<Utc>> {
        read_in(pattern, text, &Utc)
    }

    fn read_in<Z: TimeZone>(pattern: &str, text: &str, zone: &Z) -> Option<DateTime<Utc>> {
        let f = DateFormat::for_parsing(pattern).unwrap();
        f.parse_timestamp(text, zone, || utc("2026-06-15T12:00:00Z"))
    }

    fn read_at(pattern: &str, text: &str, now: &str) -> Option<DateTime<Utc>> {
        let f = DateFormat::for_parsing(pattern).unwrap();
        f.parse_timestamp(text, &Utc, || utc(now))
    }

    #[test]
    fn parses_apache_access_log_time() {
        let t = read("dd/MMM/yyyy:HH:mm:ss Z", "27/Nov/2026:08:15:02 +0200");
        assert_eq!(t, Some(utc("2026-11-27T06:15:02Z")));
        let t = read("dd/MMM/yyyy:HH:mm:ss Z", "05/Jan/2026:23:59:59 -0530");
        assert_eq!(t, Some(utc("2026-01-06T05:29:59Z")));
    }

    #[test]
    fn comma_and_dot_fractions() {
        let t = read("yyyy-MM-dd HH:mm:ss,SSS", "2026-11-27 08:15:02,114");
        assert_eq!(t, Some(utc("2026-11-27T08:15:02.114Z")));
        let t = read("yyyy-MM-dd HH:mm:ss.SSS", "2026-11-27 08:15:02.114");
        assert_eq!(t, Some(utc("2026-11-27T08:15:02.114Z")));
        // Fewer digits are a fraction too; more than the letters are not.
        let t = read("yyyy-MM-dd HH:mm:ss.SSS", "2026-11-27 08:15:02.5");
        assert_eq!(t, Some(utc("2026-11-27T08:15:02.5Z")));
        assert_eq!(
            read("yyyy-MM-dd HH:mm:ss.SSS", "2026-11-27 08:15:02.1143"),
            None
        );
        let t = read("HH:mm:ss.SSSSSSSSS yyyy", "08:15:02.123456789 2026");
        assert_eq!(t, Some(utc("2026-01-01T08:15:02.123456789Z")));
        let t = read("ss.SSSSSSSSSSSS yyyy", "02.123456789999 2026");
        assert_eq!(t, Some(utc("2026-01-01T00:00:02.123456789Z")));
        assert_eq!(
            read("yyyy-MM-dd HH:mm:ss,SSS", "2026-11-27 08:15:02,"),
            None
        );
    }

    #[test]
    fn offsets_in_every_spelling() {
        let p = "yyyy-MM-dd'T'HH:mm:ss.SSSZZ";
        let want = Some(utc("2026-11-27T06:15:02.114Z"));
        assert_eq!(read(p, "2026-11-27T08:15:02.114+02:00"), want);
        assert_eq!(read(p, "2026-11-27T08:15:02.114+0200"), want);
        assert_eq!(read(p, "2026-11-27T08:15:02.114+02"), want);
        assert_eq!(read(p, "2026-11-27T06:15:02.114Z"), want);
        assert_eq!(read(p, "2026-11-27t06:15:02.114z"), want);
        let p = "yyyy-MM-dd HH:mm:ss Z";
        assert_eq!(
            read(p, "2026-11-27 08:15:02 -09:30"),
            Some(utc("2026-11-27T17:45:02Z"))
        );
        assert_eq!(read(p, "2026-11-27 08:15:02 +2400"), None);
        assert_eq!(read(p, "2026-11-27 08:15:02 +0260"), None);
        assert_eq!(read(p, "2026-11-27 08:15:02 0200"), None);
        assert_eq!(read(p, "2026-11-27 08:15:02"), None);
    }

    #[test]
    fn an_offset_in_the_text_wins_over_the_zone() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let t = read_in(
            "yyyy-MM-dd HH:mm:ss Z",
            "2026-07-01 12:00:00 +0000",
            &berlin,
        );
        assert_eq!(t, Some(utc("2026-07-01T12:00:00Z")));
        let t = read_in("yyyy-MM-dd HH:mm:ss", "2026-07-01 12:00:00", &berlin);
        assert_eq!(t, Some(utc("2026-07-01T10:00:00Z")));
        let t = read_in("yyyy-MM-dd HH:mm:ss", "2026-01-01 12:00:00", &berlin);
        assert_eq!(t, Some(utc("2026-01-01T11:00:00Z")));
    }

    #[test]
    fn zone_ids_and_abbreviations() {
        let p = "yyyy-MM-dd HH:mm:ss ZZZ";
        assert_eq!(
            read(p, "2026-07-01 12:00:00 Europe/Berlin"),
            Some(utc("2026-07-01T10:00:00Z"))
        );
        assert_eq!(
            read(p, "2026-07-01 12:00:00 America/New_York"),
            Some(utc("2026-07-01T16:00:00Z"))
        );
        assert_eq!(
            read(p, "2026-07-01 12:00:00 UTC"),
            Some(utc("2026-07-01T12:00:00Z"))
        );
        assert_eq!(
            read(p, "2026-07-01 12:00:00 Z"),
            Some(utc("2026-07-01T12:00:00Z"))
        );
        assert_eq!(
            read(p, "2026-07-01 12:00:00 +02:00"),
            Some(utc("2026-07-01T10:00:00Z"))
        );
        assert_eq!(read(p, "2026-07-01 12:00:00 Mars/Olympus"), None);
        let p = "[ZZZ] HH:mm yyyy";
        assert_eq!(
            read(p, "[Asia/Kolkata] 12:00 2026"),
            Some(utc("2026-01-01T06:30:00Z"))
        );

        let p = "yyyy-MM-dd HH:mm:ss z";
        assert_eq!(
            read(p, "2026-07-01 12:00:00 EST"),
            Some(utc("2026-07-01T17:00:00Z"))
        );
        assert_eq!(
            read(p, "2026-07-01 12:00:00 PDT"),
            Some(utc("2026-07-01T19:00:00Z"))
        );
        assert_eq!(
            read(p, "2026-07-01 12:00:00 GMT"),
            Some(utc("2026-07-01T12:00:00Z"))
        );
        assert_eq!(
            read(p, "2026-07-01 12:00:00 -0100"),
            Some(utc("2026-07-01T13:00:00Z"))
        );
        assert_eq!(read(p, "2026-07-01 12:00:00 CEST"), None);
    }

    #[test]
    fn month_and_day_names_ignore_case_and_length() {
        let p = "dd MMM yyyy";
        let want = Some(utc("2026-01-05T00:00:00Z"));
        for text in [
            "05 Jan 2026",
            "05 jan 2026",
            "05 JAN 2026",
            "05 January 2026",
            "05 jAnUaRy 2026",
        ] {
            assert_eq!(read(p, text), want, "{text}");
        }
        assert_eq!(read("dd MMMM yyyy", "05 Jan 2026"), want);
        assert_eq!(
            read("d MMM yyyy", "1 May 2026"),
            Some(utc("2026-05-01T00:00:00Z"))
        );
        assert_eq!(read(p, "05 Jnu 2026"), None);
        assert_eq!(read(p, "05 Ja 2026"), None);
        // A partial long name is the short name followed by junk.
        assert_eq!(read(p, "05 Janu 2026"), None);

        let p = "EEE MMM dd HH:mm:ss yyyy";
        assert_eq!(
            read(p, "Fri Nov 27 08:15:02 2026"),
            Some(utc("2026-11-27T08:15:02Z"))
        );
        assert_eq!(
            read("EEEE, dd-MMM-yyyy", "friday, 27-NOV-2026"),
            Some(utc("2026-11-27T00:00:00Z"))
        );
        // The day name is checked to be one, but the date comes from the
        // day of month (Joda would move the date to that weekday).
        assert_eq!(
            read(p, "Mon Nov 27 08:15:02 2026"),
            Some(utc("2026-11-27T08:15:02Z"))
        );
        assert_eq!(read(p, "Fry Nov 27 08:15:02 2026"), None);
    }

    #[test]
    fn syslog_day_padding() {
        let two_spaces = "MMM  d HH:mm:ss";
        let padded = "MMM dd HH:mm:ss";
        let want = Some(utc("2026-06-05T09:32:01Z"));
        assert_eq!(read(two_spaces, "Jun  5 09:32:01"), want);
        assert_eq!(read(padded, "Jun 05 09:32:01"), want);
        assert_eq!(read(padded, "Jun 5 09:32:01"), want);
        assert_eq!(read(padded, "Jun  5 09:32:01"), None);
        assert_eq!(read(two_spaces, "Jun 15 09:32:01"), None);
    }

    #[test]
    fn year_less_stamps_take_the_year_nearest_now() {
        let p = "MMM dd HH:mm:ss";
        // A December line read in early January is last year's.
        assert_eq!(
            read_at(p, "Dec 31 23:59:58", "2027-01-01T00:00:05Z"),
            Some(utc("2026-12-31T23:59:58Z"))
        );
        // A January line read in late December (a clock running ahead)
        // is next year's.
        assert_eq!(
            read_at(p, "Jan 01 00:00:03", "2026-12-31T23:59:50Z"),
            Some(utc("2027-01-01T00:00:03Z"))
        );
        assert_eq!(
            read_at(p, "Jun 14 10:00:00", "2026-06-15T12:00:00Z"),
            Some(utc("2026-06-14T10:00:00Z"))
        );
        // February 29th exists only in leap years.
        assert_eq!(
            read_at(p, "Feb 29 10:00:00", "2028-03-01T00:00:00Z"),
            Some(utc("2028-02-29T10:00:00Z"))
        );
        assert_eq!(
            read_at(p, "Feb 29 10:00:00", "2027-12-30T00:00:00Z"),
            Some(utc("2028-02-29T10:00:00Z"))
        );
        assert_eq!(read_at(p, "Feb 29 10:00:00", "2026-06-15T00:00:00Z"), None);
    }

    #[test]
    fn year_less_guess_uses_the_zone_wall_clock() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let f = DateFormat::for_parsing("MMM dd HH:mm:ss").unwrap();
        // 23:30 UTC on Dec 31st is already 00:30 on January 1st in Berlin:
        // a line stamped "Jan 01 00:29:00" there is from a minute ago.
        let t = f.parse_timestamp("Jan 01 00:29:00", &berlin, || utc("2026-12-31T23:30:00Z"));
        assert_eq!(t, Some(utc("2026-12-31T23:29:00Z")));
        let mut called = 0;
        let with_year = DateFormat::for_parsing("yyyy MMM dd").unwrap();
        with_year.parse_timestamp("2026 Jan 01", &Utc, || {
            called += 1;
            Utc::now()
        });
        assert_eq!(called, 0, "now is only read for year-less patterns");
    }

    #[test]
    fn dst_gap_moves_forward() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let p = "yyyy-MM-dd HH:mm:ss";
        // 2026-03-29: Berlin jumps from 02:00 CET to 03:00 CEST.
        assert_eq!(
            read_in(p, "2026-03-29 01:59:59", &berlin),
            Some(utc("2026-03-29T00:59:59Z"))
        );
        assert_eq!(
            read_in(p, "2026-03-29 02:30:00", &berlin),
            Some(utc("2026-03-29T01:30:00Z")),
            "02:30 does not exist; read as 03:30 CEST"
        );
        assert_eq!(
            read_in(p, "2026-03-29 03:00:00", &berlin),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        let new_york: Tz = "America/New_York".parse().unwrap();
        // 2026-03-08: New York jumps from 02:00 EST to 03:00 EDT.
        assert_eq!(
            read_in(p, "2026-03-08 02:30:00", &new_york),
            Some(utc("2026-03-08T07:30:00Z")),
            "02:30 does not exist; read as 03:30 EDT"
        );
        assert_eq!(
            read_in(p, "2026-03-08 03:30:00", &new_york),
            Some(utc("2026-03-08T07:30:00Z"))
        );
    }

    #[test]
    fn dst_overlap_takes_the_earlier_instant() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let p = "yyyy-MM-dd HH:mm:ss";
        // 2026-10-25: Berlin goes back from 03:00 CEST to 02:00 CET, so
        // 02:30 happens twice; the first (CEST) is taken.
        assert_eq!(
            read_in(p, "2026-10-25 02:30:00", &berlin),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            read_in(p, "2026-10-25 03:30:00", &berlin),
            Some(utc("2026-10-25T02:30:00Z"))
        );
        let new_york: Tz = "America/New_York".parse().unwrap();
        // 2026-11-01: New York goes back from 02:00 EDT to 01:00 EST.
        assert_eq!(
            read_in(p, "2026-11-01 01:30:00", &new_york),
            Some(utc("2026-11-01T05:30:00Z"))
        );
        assert_eq!(
            read_in(p, "2026-11-01 00:30:00", &new_york),
            Some(utc("2026-11-01T04:30:00Z"))
        );
    }

    #[test]
    fn local_to_utc_with_fixed_offsets() {
        let local = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 30, 0)
            .unwrap();
        let east = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            DateFormat::local_to_utc(&east, &local),
            Some(utc("2025-12-31T23:30:00Z"))
        );
        assert_eq!(
            DateFormat::local_to_utc(&Utc, &local),
            Some(utc("2026-01-01T00:30:00Z"))
        );
    }

    #[test]
    fn hours_in_every_convention_parse() {
        assert_eq!(
            read("yyyy h:mm a", "2026 12:05 AM"),
            Some(utc("2026-01-01T00:05:00Z"))
        );
        assert_eq!(
            read("yyyy h:mm a", "2026 12:05 pm"),
            Some(utc("2026-01-01T12:05:00Z"))
        );
        assert_eq!(
            read("yyyy hh:mm a", "2026 07:05 PM"),
            Some(utc("2026-01-01T19:05:00Z"))
        );
        assert_eq!(
            read("yyyy K:mm a", "2026 0:05 PM"),
            Some(utc("2026-01-01T12:05:00Z"))
        );
        assert_eq!(
            read("yyyy h:mm", "2026 7:05"),
            Some(utc("2026-01-01T07:05:00Z"))
        );
        assert_eq!(
            read("yyyy k:mm", "2026 24:05"),
            Some(utc("2026-01-01T00:05:00Z"))
        );
        assert_eq!(read("yyyy h:mm a", "2026 13:05 PM"), None);
        assert_eq!(read("yyyy H:mm", "2026 24:00"), None);
        assert_eq!(read("yyyy h:mm a", "2026 1:05 XM"), None);
    }

    #[test]
    fn two_digit_years_use_a_window_around_now() {
        // now is 2026: the window is 1946..=2045.
        assert_eq!(
            read("dd.MM.yy", "05.01.26"),
            Some(utc("2026-01-05T00:00:00Z"))
        );
        assert_eq!(
            read("dd.MM.yy", "05.01.45"),
            Some(utc("2045-01-05T00:00:00Z"))
        );
        assert_eq!(
            read("dd.MM.yy", "05.01.46"),
            Some(utc("1946-01-05T00:00:00Z"))
        );
        assert_eq!(
            read("dd.MM.yy", "05.01.99"),
            Some(utc("1999-01-05T00:00:00Z"))
        );
        // Joda reads a longer year literally when no number follows.
        assert_eq!(
            read("dd.MM.yy", "05.01.2026"),
            Some(utc("2026-01-05T00:00:00Z"))
        );
        assert_eq!(read("yyMMdd", "260105"), Some(utc("2026-01-05T00:00:00Z")));
    }

    #[test]
    fn adjacent_numbers_and_other_date_forms() {
        assert_eq!(
            read("yyyyMMddHHmmss", "20261127081502"),
            Some(utc("2026-11-27T08:15:02Z"))
        );
        assert_eq!(
            read("yyyyMMdd'T'HHmmss.SSSZ", "20261127T081502.114+0100"),
            Some(utc("2026-11-27T07:15:02.114Z"))
        );
        assert_eq!(
            read("yyyy-DDD", "2026-331"),
            Some(utc("2026-11-27T00:00:00Z"))
        );
        assert_eq!(read("yyyy-DDD", "2026-366"), None);
        assert_eq!(
            read("xxxx-'W'ww-e", "2026-W48-5"),
            Some(utc("2026-11-27T00:00:00Z"))
        );
        assert_eq!(
            read("xxxx-'W'ww", "2026-W01"),
            Some(utc("2025-12-29T00:00:00Z"))
        );
        assert_eq!(
            read("YYYY.MM.dd", "2026.11.27"),
            Some(utc("2026-11-27T00:00:00Z"))
        );
        assert_eq!(
            read("yyyy-MM", "2026-11"),
            Some(utc("2026-11-01T00:00:00Z"))
        );
    }

    #[test]
    fn invalid_dates_and_leftovers_fail() {
        let p = "yyyy-MM-dd HH:mm:ss";
        assert_eq!(read(p, "2026-02-29 00:00:00"), None);
        assert_eq!(read(p, "2026-13-01 00:00:00"), None);
        assert_eq!(read(p, "2026-00-01 00:00:00"), None);
        assert_eq!(read(p, "2026-11-31 00:00:00"), None);
        assert_eq!(read(p, "2026-11-27 24:00:00"), None);
        assert_eq!(read(p, "2026-11-27 08:60:00"), None);
        assert_eq!(read(p, "2026-11-27 08:15:60"), None);
        assert_eq!(read(p, "2026-11-27 08:15:02 "), None);
        assert_eq!(read(p, " 2026-11-27 08:15:02"), None);
        assert_eq!(read(p, "2026-11-27"), None);
        assert_eq!(read(p, ""), None);
        assert_eq!(read(p, "2026-11-27 08:15:0x"), None);
        assert_eq!(read("dd/MMM/yyyy", "27/Nov/2026é"), None);
        assert_eq!(
            read(
                "dddddddddddddddddddddd yyyy",
                "99999999999999999999999 2026"
            ),
            None
        );
        assert_eq!(
            read("[é] yyyy", "[é] 2026"),
            Some(utc("2026-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn what_is_formatted_parses_back() {
        let t = sample();
        for pattern in [
            "yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSZZ",
            "dd/MMM/yyyy:HH:mm:ss.SSSSSSSSS Z",
            "EEEE, dd MMMM yyyy HH:mm:ss.SSSSSSSSS ZZZ",
            "yyyyMMddHHmmssSSSSSSSSS",
        ] {
            let f = DateFormat::for_parsing(pattern).unwrap();
            let text = f.format_to_string(&t);
            assert_eq!(
                f.parse_timestamp(&text, &Utc, Utc::now),
                Some(t),
                "{pattern}: {text}"
            );
        }
    }

    #[test]
    fn long_zone_names_cannot_be_parsed() {
        let e = DateFormat::for_parsing("yyyy zzzz").unwrap_err();
        assert!(e.contains("zzzz"), "{e}");
        assert!(
            DateFormat::for_parsing("yyyy-qq")
                .unwrap_err()
                .contains("`q`")
        );
        assert!(
            DateFormat::parse("yyyy zzzz").is_ok(),
            "printing still works"
        );
    }
}
