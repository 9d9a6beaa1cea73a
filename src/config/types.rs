//! Small value types that pipeline files use in many places.

use serde::de::{self, Deserialize, Deserializer};
use std::time::Duration;

/// A duration written as `500ms`, `5s`, `1m`, `2h`, `1d` or plain seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    pub fn secs(s: u64) -> Self {
        Span(Duration::from_secs(s))
    }

    pub fn millis(ms: u64) -> Self {
        Span(Duration::from_millis(ms))
    }

    /// Parses `500ms`, `1.5s`, `10m`, `2h`, `1d`, or a bare number of seconds.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("`{text}` is not a duration (try `500ms`, `5s`, `1m`)"))?;
        let secs = match unit.trim() {
            "" | "s" | "sec" | "secs" => n,
            "ms" => n / 1000.0,
            "us" | "µs" => n / 1_000_000.0,
            "m" | "min" => n * 60.0,
            "h" => n * 3600.0,
            "d" => n * 86400.0,
            other => {
                return Err(format!(
                    "`{other}` is not a duration unit in `{text}` (use ms, s, m, h or d)"
                ));
            }
        };
        if !secs.is_finite() || secs < 0.0 {
            return Err(format!("`{text}` is not a valid duration"));
        }
        Ok(Span(Duration::from_secs_f64(secs)))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(de::Error::custom)
    }
}

/// A size written as `512`, `64KiB`, `5MiB`, `1GB` (decimal and binary units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("`{text}` is not a size (try `512KiB`, `5MiB`)"))?;
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" => 1e3,
            "kib" => 1024.0,
            "m" | "mb" => 1e6,
            "mib" => 1024.0 * 1024.0,
            "g" | "gb" => 1e9,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            other => return Err(format!("`{other}` is not a size unit in `{text}`")),
        };
        Ok(ByteSize((n * mult) as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ByteSize::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Span::parse("500ms").unwrap(), Span::millis(500));
        assert_eq!(Span::parse("5s").unwrap(), Span::secs(5));
        assert_eq!(Span::parse("5").unwrap(), Span::secs(5));
        assert_eq!(Span::parse("2m").unwrap(), Span::secs(120));
        assert_eq!(Span::parse("1.5s").unwrap(), Span::millis(1500));
        assert!(Span::parse("5 parsecs").is_err());
        assert!(Span::parse("soon").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("5MiB").unwrap(), ByteSize(5 * 1024 * 1024));
        assert_eq!(ByteSize::parse("1kb").unwrap(), ByteSize(1000));
        assert_eq!(ByteSize::parse("42").unwrap(), ByteSize(42));
        assert!(ByteSize::parse("3 apples").is_err());
    }
}
