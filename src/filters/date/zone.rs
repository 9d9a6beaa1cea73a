//! The `timezone` option: the zone a time without an offset is read in.

use crate::expr::DateFormat;
use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, Utc};
use chrono_tz::{TZ_VARIANTS, Tz};

/// A time zone: a fixed offset, an IANA zone with its daylight saving
/// rules, or the machine's own zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Fixed(FixedOffset),
    Named(Tz),
    /// The zone of the machine (`TZ`, else `/etc/localtime`), which is what
    /// Logstash uses when `timezone` is not set.
    Local,
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone::Fixed(FixedOffset::east_opt(0).expect("zero is a valid offset"))
    }

    /// Reads an IANA zone name (`Europe/Berlin`; exact case first, then
    /// ignoring case), `UTC`/`GMT`/`Z`, or a fixed offset (`+02:00`,
    /// `-0530`, `+2`, `UTC+01:00`).
    pub fn parse(text: &str) -> Result<Zone, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("unknown time zone ``: the time zone is empty".to_owned());
        }
        if let Ok(tz) = text.parse::<Tz>() {
            return Ok(named(tz));
        }
        let upper = text.to_ascii_uppercase();
        let offset = ["UTC", "GMT", "UT", "Z"]
            .iter()
            .find_map(|prefix| upper.strip_prefix(prefix))
            .unwrap_or(&upper);
        if offset.is_empty() {
            return Ok(Zone::utc());
        }
        if let Some(offset) = fixed_offset(offset) {
            return Ok(Zone::Fixed(offset));
        }
        if let Some(tz) = TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(text))
        {
            return Ok(named(*tz));
        }
        Err(format!(
            "unknown time zone `{text}`: use an IANA name such as `Europe/Berlin`, \
             `UTC`, or an offset such as `+02:00`"
        ))
    }

    /// The instant of `local` wall-clock time in this zone; see
    /// [`DateFormat::local_to_utc`] for gaps and overlaps.
    pub fn to_utc(&self, local: &NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Zone::Fixed(z) => DateFormat::local_to_utc(z, local),
            Zone::Named(z) => DateFormat::local_to_utc(z, local),
            Zone::Local => DateFormat::local_to_utc(&Local, local),
        }
    }

    /// Parses `text` with `format`, reading local times in this zone.
    pub fn parse_with(
        &self,
        format: &DateFormat,
        text: &str,
        now: impl FnOnce() -> DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Zone::Fixed(z) => format.parse_timestamp(text, z, now),
            Zone::Named(z) => format.parse_timestamp(text, z, now),
            Zone::Local => format.parse_timestamp(text, &Local, now),
        }
    }
}

/// A zone, with the aliases of UTC as a fixed offset, which is quicker to
/// resolve.
fn named(tz: Tz) -> Zone {
    match tz {
        Tz::UTC
        | Tz::UCT
        | Tz::GMT
        | Tz::Zulu
        | Tz::Universal
        | Tz::Etc__UTC
        | Tz::Etc__UCT
        | Tz::Etc__GMT
        | Tz::Etc__Zulu
        | Tz::Etc__Universal => Zone::utc(),
        tz => Zone::Named(tz),
    }
}

/// `+H`, `+HH`, `+HHMM` or `+HH:MM`, with `+` or `-`.
fn fixed_offset(text: &str) -> Option<FixedOffset> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some((h, m)) if m.len() == 2 => (h, m),
        Some(_) => return None,
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    let all_digits =
        |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(hours) || !all_digits(minutes) {
        return None;
    }
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(secs: i32) -> Zone {
        Zone::Fixed(FixedOffset::east_opt(secs).unwrap())
    }

    #[test]
    fn names_offsets_and_utc() {
        assert_eq!(
            Zone::parse("Europe/Berlin"),
            Ok(Zone::Named(Tz::Europe__Berlin))
        );
        assert_eq!(
            Zone::parse("europe/berlin"),
            Ok(Zone::Named(Tz::Europe__Berlin))
        );
        assert_eq!(
            Zone::parse(" America/New_York "),
            Ok(Zone::Named(Tz::America__New_York))
        );
        assert_eq!(Zone::parse("UTC"), Ok(Zone::utc()));
        assert_eq!(Zone::parse("Etc/UTC"), Ok(Zone::utc()));
        assert_eq!(Zone::parse("GMT"), Ok(Zone::utc()));
        assert_eq!(
            Zone::parse("Europe/London"),
            Ok(Zone::Named(Tz::Europe__London))
        );
        assert_eq!(Zone::parse("utc"), Ok(Zone::utc()));
        assert_eq!(Zone::parse("Z"), Ok(Zone::utc()));
        assert_eq!(Zone::parse("+02:00"), Ok(fixed(7200)));
        assert_eq!(Zone::parse("+0200"), Ok(fixed(7200)));
        assert_eq!(Zone::parse("+2"), Ok(fixed(7200)));
        assert_eq!(Zone::parse("-05:30"), Ok(fixed(-19800)));
        assert_eq!(Zone::parse("UTC+01:00"), Ok(fixed(3600)));
        assert_eq!(Zone::parse("GMT-3"), Ok(fixed(-10800)));
    }

    #[test]
    fn unknown_zones_are_errors() {
        for bad in [
            "",
            "Mars/Olympus",
            "+25:00",
            "+02:0",
            "+02:000",
            "+123",
            "UTC+x",
        ] {
            let e = Zone::parse(bad).unwrap_err();
            assert!(e.contains("unknown time zone"), "{bad}: {e}");
        }
    }
}
