//! `date`: reads the event's own time from a field, as Logstash's date
//! filter does.
//!
//! ```yaml
//! filters:
//!   - date:
//!       match: [timestamp, "dd/MMM/yyyy:HH:mm:ss Z", ISO8601]
//!       timezone: Europe/Berlin   # for times without an offset
//!       locale: en                # month and day names
//!       target: "@timestamp"      # default
//!       tag_on_failure: [_dateparsefailure]
//! ```
//!
//! `match` names the source field, then formats tried in order: Joda
//! patterns (see [`crate::expr::DateFormat::parse_timestamp`]) and the named formats
//! `ISO8601`, `UNIX` (seconds, may be fractional), `UNIX_MS` and `TAI64N`.
//! The first that reads the whole value wins; its time, in UTC, is stored
//! in `target`. If the field holds an array, its first element is read. A
//! missing field leaves the event alone; a value no format reads gets the
//! `tag_on_failure` tags.
//!
//! - `timezone` applies to times that carry no offset or zone: an IANA
//!   name, `UTC`, or an offset such as `+02:00`; it may reference fields
//!   (`%{[tz]}`). Default: the machine's zone, as in Logstash; set it for
//!   results that do not depend on the host. A local time skipped by a
//!   daylight saving change is moved forward by the gap (Logstash rejects
//!   it); one that happens twice is read as the earlier.
//! - `locale`: only English month and day names are known (in any case,
//!   short or long). `en`, `en-US`, `en_GB`… are accepted silently; any
//!   other locale is accepted with a warning, and its names will not parse.
//! - Patterns without a year (syslog's `MMM dd HH:mm:ss`) take the year
//!   that puts the time nearest to now, so December lines read in January
//!   stay in the old year.
//!
//! Formats are compiled when the pipeline is built; reading a value walks
//! them without regular expressions or allocation.

mod formats;
mod zone;

pub use formats::{Format, iso8601};
pub use zone::Zone;

use crate::config::{ComponentConfig, ConfigError, ConfigErrors, NodeKind};
use crate::event::{Event, FieldPath, Value};
use crate::expr::Template;
use crate::topology::{BuildContext, Filter, Verdict};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Options of the `date` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateConfig {
    /// The source field, then one or more formats.
    #[serde(rename = "match")]
    pub matches: Vec<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default = "default_tags")]
    pub tag_on_failure: Vec<String>,
}

fn default_tags() -> Vec<String> {
    vec!["_dateparsefailure".to_owned()]
}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
    Ok(Box::new(DateFilter::from_config(c)?))
}

/// Where local times are read: one zone, or one named by each event.
#[derive(Debug, Clone)]
enum ZoneOption {
    Fixed(Zone),
    PerEvent(Template),
}

/// Reads a date from a field into a timestamp.
#[derive(Debug, Clone)]
pub struct DateFilter {
    source: FieldPath,
    formats: Vec<Format>,
    zone: ZoneOption,
    target: FieldPath,
    tag_on_failure: Vec<String>,
    now: fn() -> DateTime<Utc>,
}

impl DateFilter {
    /// Compiles the filter's options, reporting every problem found.
    pub fn from_config(c: &ComponentConfig) -> Result<DateFilter, ConfigErrors> {
        let config: DateConfig = c.parse_options()?;
        let mut errors = ConfigErrors::default();
        let Some((field, specs)) = config.matches.split_first().filter(|(_, f)| !f.is_empty())
        else {
            return Err(c
                .option_error(
                    "match",
                    "`match` is the source field followed by at least one format, \
                     e.g. [timestamp, ISO8601]",
                )
                .into());
        };
        let source = super::field_option(c, "match", field).unwrap_or_else(|e| {
            errors.push(e);
            FieldPath::key(field)
        });
        let mut formats = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            match Format::parse(spec) {
                Ok(f) => formats.push(f),
                Err(e) => errors.push(match_error(
                    c,
                    i + 1,
                    format!("invalid date format `{spec}`: {e}"),
                )),
            }
        }
        let zone = match config.timezone.as_deref() {
            None => ZoneOption::Fixed(Zone::Local),
            Some(text) if text.contains("%{") => match Template::parse(text) {
                Ok(t) => ZoneOption::PerEvent(t),
                Err(e) => {
                    errors
                        .push(c.option_error("timezone", format!("invalid sprintf template: {e}")));
                    ZoneOption::Fixed(Zone::Local)
                }
            },
            Some(text) => match Zone::parse(text) {
                Ok(z) => ZoneOption::Fixed(z),
                Err(e) => {
                    errors.push(c.option_error("timezone", e));
                    ZoneOption::Fixed(Zone::Local)
                }
            },
        };
        if let Some(locale) = &config.locale {
            check_locale(c, locale, &mut errors);
        }
        let target = match &config.target {
            Some(t) => super::field_option(c, "target", t).unwrap_or_else(|e| {
                errors.push(e);
                FieldPath::timestamp()
            }),
            None => FieldPath::timestamp(),
        };
        errors.into_result(DateFilter {
            source,
            formats,
            zone,
            target,
            tag_on_failure: config.tag_on_failure,
            now: Utc::now,
        })
    }

    /// Replaces the clock that year-less patterns are read against.
    pub fn with_clock(mut self, now: fn() -> DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    /// The time in `value`, by the first format that reads it.
    fn read(&self, value: &Value, zone: &Zone) -> Option<DateTime<Utc>> {
        match value {
            Value::String(text) => self
                .formats
                .iter()
                .find_map(|f| f.read_text(text, zone, self.now)),
            Value::Integer(_) | Value::Float(_) => self
                .formats
                .iter()
                .find_map(|f| f.read_number(value, zone, self.now)),
            Value::Timestamp(t) => Some(*t),
            _ => None,
        }
    }

    /// What the source holds: `None` if nothing (the filter does not
    /// apply), else the time read, if any.
    fn evaluate(&self, event: &Event) -> Option<Option<DateTime<Utc>>> {
        let value = match event.get(&self.source)? {
            Value::Array(items) => items.first()?,
            v => v,
        };
        if matches!(value, Value::Null) {
            return None;
        }
        Some(match &self.zone {
            ZoneOption::Fixed(zone) => self.read(value, zone),
            ZoneOption::PerEvent(template) => {
                let name = template.render_string(event);
                Zone::parse(&name)
                    .ok()
                    .and_then(|zone| self.read(value, &zone))
            }
        })
    }
}

impl Filter for DateFilter {
    fn process(&self, event: &mut Event) -> Verdict {
        match self.evaluate(event) {
            None => Verdict::Skipped,
            Some(Some(t)) => {
                event.set(&self.target, Value::Timestamp(t));
                Verdict::Applied
            }
            Some(None) => {
                tracing::debug!(field = %self.source, "no date format matched");
                for t in &self.tag_on_failure {
                    event.add_tag(t);
                }
                Verdict::Skipped
            }
        }
    }
}

/// An error at the `index`th element of `match`.
fn match_error(c: &ComponentConfig, index: usize, message: String) -> ConfigError {
    let mark = c.options.get("match").and_then(|n| match &n.kind {
        NodeKind::Seq(items) => items.get(index).map(|item| item.mark),
        _ => None,
    });
    match mark {
        Some(mark) => ConfigError::new(message)
            .at(mark)
            .under(&format!("[{index}]"))
            .under("match")
            .under(&c.key_path),
        None => c.option_error("match", message),
    }
}

/// Accepts any locale tag, warning when its language is not English.
fn check_locale(c: &ComponentConfig, locale: &str, errors: &mut ConfigErrors) {
    let language = locale.split(['-', '_', '.']).next().unwrap_or_default();
    if language.is_empty() {
        errors.push(c.option_error("locale", "the locale is empty; use e.g. `en` or `en-US`"));
    } else if !language.eq_ignore_ascii_case("en") {
        tracing::warn!(
            component = %c.key_path,
            locale,
            "only English month and day names are supported; names in this locale will not parse"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PipelineConfig;
    use std::collections::HashMap;
    use std::path::Path;

    fn config(options: &str) -> ComponentConfig {
        let text = format!(
            "inputs: [{{stdin: {{}}}}]\nfilters:\n  - date:\n{options}\noutputs: [{{null: {{}}}}]\n"
        );
        PipelineConfig::from_text(Path::new("p.yml"), &text, &HashMap::new())
            .unwrap()
            .filters
            .remove(0)
    }

    /// 2026-06-15T12:00:00Z.
    fn june() -> DateTime<Utc> {
        utc("2026-06-15T12:00:00Z")
    }

    fn filter(options: &str) -> DateFilter {
        DateFilter::from_config(&config(options))
            .unwrap()
            .with_clock(june)
    }

    fn errors(options: &str) -> String {
        let e = DateFilter::from_config(&config(options)).unwrap_err();
        e.iter().map(|e| format!("{e}\n")).collect()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn p(s: &str) -> FieldPath {
        FieldPath::parse(s).unwrap()
    }

    fn event_with(field: &str, value: impl Into<Value>) -> Event {
        let mut e = Event::new();
        e.set(&p(field), value);
        e
    }

    fn ts(e: &Event, field: &str) -> Option<DateTime<Utc>> {
        match e.get(&p(field)) {
            Some(Value::Timestamp(t)) => Some(*t),
            _ => None,
        }
    }

    #[test]
    fn sets_the_timestamp_from_an_access_log_time() {
        let f = filter("      match: [ts, \"dd/MMM/yyyy:HH:mm:ss Z\"]");
        let mut e = event_with("ts", "27/Nov/2026:08:15:02 +0200");
        assert_eq!(f.process(&mut e), Verdict::Applied);
        assert_eq!(e.timestamp(), utc("2026-11-27T06:15:02Z"));
        assert_eq!(e.tags().count(), 0);
    }

    #[test]
    fn formats_are_tried_in_order() {
        let f = filter(
            "      match: [ts, \"yyyy-MM-dd HH:mm:ss,SSS\", \"yyyy-MM-dd HH:mm:ss.SSS\", ISO8601, UNIX, UNIX_MS, TAI64N]\n      timezone: UTC",
        );
        let cases = [
            ("2026-11-27 08:15:02,114", "2026-11-27T08:15:02.114Z"),
            ("2026-11-27 08:15:02.114", "2026-11-27T08:15:02.114Z"),
            ("2026-11-27T08:15:02.114302", "2026-11-27T08:15:02.114302Z"),
            ("2026-11-27T10:15:02+02:00", "2026-11-27T08:15:02Z"),
            ("1795767302", "2026-11-27T08:15:02Z"),
            ("1795767302.5", "2026-11-27T08:15:02.5Z"),
            ("@400000006a369e0606cb8080", "2026-06-20T14:04:54.114Z"),
        ];
        for (text, want) in cases {
            let mut e = event_with("ts", text);
            assert_eq!(f.process(&mut e), Verdict::Applied, "{text}");
            assert_eq!(e.timestamp(), utc(want), "{text}");
        }
        // Order matters when two formats read the same text.
        let ms_first = filter("      match: [ts, UNIX_MS, UNIX]");
        let mut e = event_with("ts", "1795767302114");
        assert_eq!(ms_first.process(&mut e), Verdict::Applied);
        assert_eq!(e.timestamp(), utc("2026-11-27T08:15:02.114Z"));
    }

    #[test]
    fn numbers_are_read_by_epoch_formats() {
        let f = filter("      match: [ms, UNIX_MS]");
        let mut e = event_with("ms", 1795767302114i64);
        assert_eq!(f.process(&mut e), Verdict::Applied);
        assert_eq!(e.timestamp(), utc("2026-11-27T08:15:02.114Z"));
        let f = filter("      match: [s, UNIX]");
        let mut e = event_with("s", Value::Float(1795767302.114));
        assert_eq!(f.process(&mut e), Verdict::Applied);
        assert_eq!(e.timestamp(), utc("2026-11-27T08:15:02.114Z"));
    }

    #[test]
    fn timezone_applies_to_times_without_an_offset() {
        let f = filter(
            "      match: [ts, \"yyyy-MM-dd HH:mm:ss\", ISO8601]\n      timezone: America/New_York",
        );
        for (text, want) in [
            ("2026-07-01 12:00:00", "2026-07-01T16:00:00Z"),
            ("2026-01-01 12:00:00", "2026-01-01T17:00:00Z"),
            ("2026-03-08 02:30:00", "2026-03-08T07:30:00Z"),
            ("2026-11-01 01:30:00", "2026-11-01T05:30:00Z"),
            ("2026-07-01T12:00:00", "2026-07-01T16:00:00Z"),
            ("2026-07-01T12:00:00Z", "2026-07-01T12:00:00Z"),
        ] {
            let mut e = event_with("ts", text);
            assert_eq!(f.process(&mut e), Verdict::Applied, "{text}");
            assert_eq!(e.timestamp(), utc(want), "{text}");
        }
        let f = filter("      match: [ts, ISO8601]\n      timezone: \"+05:30\"");
        let mut e = event_with("ts", "2026-07-01T12:00:00");
        f.process(&mut e);
        assert_eq!(e.timestamp(), utc("2026-07-01T06:30:00Z"));
    }

    #[test]
    fn dst_gaps_and_overlaps_in_berlin() {
        let f = filter("      match: [ts, ISO8601]\n      timezone: Europe/Berlin");
        for (text, want) in [
            ("2026-03-29T02:30:00", "2026-03-29T01:30:00Z"),
            ("2026-10-25T02:30:00", "2026-10-25T00:30:00Z"),
            ("2026-10-25T03:30:00", "2026-10-25T02:30:00Z"),
        ] {
            let mut e = event_with("ts", text);
            assert_eq!(f.process(&mut e), Verdict::Applied, "{text}");
            assert_eq!(e.timestamp(), utc(want), "{text}");
        }
    }

    #[test]
    fn timezone_from_the_event() {
        let f = filter("      match: [ts, \"yyyy-MM-dd HH:mm:ss\"]\n      timezone: \"%{[tz]}\"");
        let mut e = event_with("ts", "2026-07-01 12:00:00");
        e.set(&p("tz"), "Europe/Berlin");
        assert_eq!(f.process(&mut e), Verdict::Applied);
        assert_eq!(e.timestamp(), utc("2026-07-01T10:00:00Z"));
        let mut e = event_with("ts", "2026-07-01 12:00:00");
        e.set(&p("tz"), "Nowhere/Special");
        assert_eq!(f.process(&mut e), Verdict::Skipped);
        assert!(e.has_tag("_dateparsefailure"));
        let mut e = event_with("ts", "2026-07-01 12:00:00");
        assert_eq!(f.process(&mut e), Verdict::Skipped, "no tz field");
        assert!(e.has_tag("_dateparsefailure"));
    }

    #[test]
    fn syslog_stamps_roll_over_the_year() {
        let opts =
            "      match: [ts, \"MMM  d HH:mm:ss\", \"MMM dd HH:mm:ss\"]\n      timezone: UTC";
        let in_january = DateFilter::from_config(&config(opts))
            .unwrap()
            .with_clock(|| utc("2027-01-01T00:00:30Z"));
        let mut e = event_with("ts", "Dec 31 23:59:59");
        assert_eq!(in_january.process(&mut e), Verdict::Applied);
        assert_eq!(e.timestamp(), utc("2026-12-31T23:59:59Z"));
        let mut e = event_with("ts", "Jan  1 00:00:29");
        in_january.process(&mut e);
        assert_eq!(e.timestamp(), utc("2027-01-01T00:00:29Z"));

        let in_december = DateFilter::from_config(&config(opts))
            .unwrap()
            .with_clock(|| utc("2026-12-31T23:59:00Z"));
        let mut e = event_with("ts", "Jan  1 00:00:02");
        assert_eq!(in_december.process(&mut e), Verdict::Applied);
        assert_eq!(e.timestamp(), utc("2027-01-01T00:00:02Z"));
        let mut e = event_with("ts", "Dec 24 18:00:00");
        in_december.process(&mut e);
        assert_eq!(e.timestamp(), utc("2026-12-24T18:00:00Z"));

        let mut e = event_with("ts", "Jun 14 10:00:00");
        filter(opts).process(&mut e);
        assert_eq!(e.timestamp(), utc("2026-06-14T10:00:00Z"));
    }

    #[test]
    fn arrays_use_their_first_element() {
        let f = filter("      match: [ts, ISO8601]\n      timezone: UTC");
        let mut e = event_with(
            "ts",
            vec![Value::from("2026-11-27T08:15:02Z"), Value::from("garbage")],
        );
        assert_eq!(f.process(&mut e), Verdict::Applied);
        assert_eq!(e.timestamp(), utc("2026-11-27T08:15:02Z"));
        let mut e = event_with(
            "ts",
            vec![Value::from("garbage"), Value::from("2026-11-27")],
        );
        assert_eq!(f.process(&mut e), Verdict::Skipped);
        assert!(e.has_tag("_dateparsefailure"));
        let mut e = event_with("ts", Vec::<Value>::new());
        assert_eq!(f.process(&mut e), Verdict::Skipped);
        assert!(!e.has_tag("_dateparsefailure"));
    }

    #[test]
    fn failures_are_tagged_and_missing_fields_are_not() {
        let f = filter(
            "      match: [ts, ISO8601]\n      tag_on_failure: [bad_date, _dateparsefailure]",
        );
        let mut e = event_with("ts", "not a date");
        let before = e.timestamp();
        assert_eq!(f.process(&mut e), Verdict::Skipped);
        assert_eq!(
            e.tags().collect::<Vec<_>>(),
            ["bad_date", "_dateparsefailure"]
        );
        assert_eq!(e.timestamp(), before, "the timestamp is left alone");

        let mut e = event_with("other", "2026-11-27");
        assert_eq!(f.process(&mut e), Verdict::Skipped);
        assert_eq!(e.tags().count(), 0);
        let mut e = event_with("ts", Value::Null);
        assert_eq!(f.process(&mut e), Verdict::Skipped);
        assert_eq!(e.tags().count(), 0);
        let mut e = event_with("ts", true);
        assert_eq!(f.process(&mut e), Verdict::Skipped);
        assert!(e.has_tag("bad_date"));

        let f = filter("      match: [ts, ISO8601]\n      tag_on_failure: []");
        let mut e = event_with("ts", "nope");
        assert_eq!(f.process(&mut e), Verdict::Skipped);
        assert_eq!(e.tags().count(), 0);
    }

    #[test]
    fn target_field() {
        let f =
            filter("      match: [\"[log][time]\", ISO8601]\n      target: \"[event][created]\"");
        let mut e = event_with("[log][time]", "2026-11-27T08:15:02.114Z");
        let before = e.timestamp();
        assert_eq!(f.process(&mut e), Verdict::Applied);
        assert_eq!(
            ts(&e, "[event][created]"),
            Some(utc("2026-11-27T08:15:02.114Z"))
        );
        assert_eq!(e.timestamp(), before);
        // A timestamp already parsed is copied as is.
        let f = filter("      match: [\"[event][created]\", ISO8601]\n      target: copy");
        f.process(&mut e);
        assert_eq!(ts(&e, "copy"), Some(utc("2026-11-27T08:15:02.114Z")));
    }

    #[test]
    fn locale_is_checked_lightly() {
        let f =
            filter("      match: [ts, \"dd MMMM yyyy\"]\n      locale: en-US\n      timezone: UTC");
        let mut e = event_with("ts", "05 january 2026");
        assert_eq!(f.process(&mut e), Verdict::Applied);
        assert_eq!(e.timestamp(), utc("2026-01-05T00:00:00Z"));
        assert!(
            DateFilter::from_config(&config("      match: [ts, ISO8601]\n      locale: de_DE"))
                .is_ok()
        );
        assert!(errors("      match: [ts, ISO8601]\n      locale: \"\"").contains("locale"));
    }

    #[test]
    fn config_errors_point_at_the_option() {
        let e = errors("      match: [ts, \"yyyy-MM-dd\", \"yyyy-qq\", ISO8601, \"HH 'oops\"]");
        assert!(e.contains("match[2]"), "{e}");
        assert!(e.contains("`q`"), "{e}");
        assert!(e.contains("match[4]"), "{e}");
        assert!(e.contains("unterminated"), "{e}");
        assert!(e.starts_with("4:33: "), "{e}");

        let e = errors("      match: [ts]");
        assert!(
            e.contains("`match`") && e.contains("at least one format"),
            "{e}"
        );
        let e = errors("      match: [ts, ISO8601]\n      timezone: Mars/Olympus");
        assert!(
            e.contains("timezone") && e.contains("unknown time zone"),
            "{e}"
        );
        let e = errors("      match: [ts, ISO8601]\n      timezone: \"%{[tz\"");
        assert!(e.contains("timezone"), "{e}");
        let e = errors("      match: [\"[a\", ISO8601]\n      target: \"b]\"");
        assert!(e.contains("match") && e.contains("target"), "{e}");
        let e = errors("      match: [ts, ISO8601]\n      tagz: [x]");
        assert!(e.contains("tagz"), "{e}");
    }

    #[test]
    fn default_zone_is_the_machine_zone() {
        let f = filter("      match: [ts, ISO8601]");
        assert!(matches!(f.zone, ZoneOption::Fixed(Zone::Local)));
        let mut e = event_with("ts", "2026-11-27T08:15:02+01:00");
        assert_eq!(f.process(&mut e), Verdict::Applied);
        assert_eq!(e.timestamp(), utc("2026-11-27T07:15:02Z"));
    }
}
