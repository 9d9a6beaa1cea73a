//! Logstash sprintf templates: `logs-%{[service][name]}-%{+YYYY.MM.dd}`.
//!
//! A template is literal text with references in `%{...}`:
//!
//! - `%{[a][b]}`, `%{a.b}` or `%{a}`: the text of that field (see
//!   [`Value::write_text`](crate::event::Value::write_text)). A missing or
//!   `null` field leaves the reference in the output as written, as
//!   Logstash does, so a mistake is visible rather than silently empty.
//! - `%{+PATTERN}`: the event's `@timestamp` formatted with a Joda pattern
//!   (see [`DateFormat`]), in UTC unless the caller supplies an offset.
//! - `%{+%s}`: the event's `@timestamp` as whole seconds since the epoch.
//!
//! There is no escape for `%{`: as in Logstash, it always starts a
//! reference.

use std::fmt;
use std::ops::Range;

use chrono::{DateTime, FixedOffset, Offset, Utc};

use super::joda::DateFormat;
use crate::event::{Event, FieldPath, Value};

/// A compiled sprintf template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// Why a template could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct SprintfError {
    /// 1-based column, in characters, of the problem.
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A field; `reference` is the span of `%{...}` in the source, shown
    /// when the field is missing.
    Field {
        path: FieldPath,
        reference: Range<usize>,
    },
    Date(DateFormat),
    EpochSeconds,
}

const OPEN: &str = "%{";

impl Template {
    /// Compiles `text`. Fails on an unclosed `%{`, an empty reference, a
    /// malformed field reference or an invalid date pattern.
    pub fn parse(text: &str) -> Result<Template, SprintfError> {
        let mut parts = Vec::new();
        let mut pos = 0;
        while let Some(found) = text[pos..].find(OPEN) {
            let open = pos + found;
            let inner_start = open + OPEN.len();
            let Some(len) = text[inner_start..].find('}') else {
                return Err(error_at(text, open, "unclosed `%{`: expected `}`"));
            };
            let close = inner_start + len;
            if open > pos {
                parts.push(Part::Literal(text[pos..open].to_owned()));
            }
            parts.push(reference(text, open..close + 1)?);
            pos = close + 1;
        }
        if pos < text.len() {
            parts.push(Part::Literal(text[pos..].to_owned()));
        }
        Ok(Template {
            source: text.to_owned(),
            parts,
        })
    }

    /// The text this template was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True if the template has no references, so every event renders it
    /// to [`Template::source`] and callers can skip rendering.
    pub fn is_constant(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Appends the template rendered for `event`, dates in UTC.
    pub fn render(&self, event: &Event, out: &mut String) {
        self.render_with_offset(event, |_| utc(), out);
    }

    /// The template rendered for `event`, dates in UTC, as a new string.
    pub fn render_string(&self, event: &Event) -> String {
        let mut out = String::with_capacity(self.source.len() + 16);
        self.render(event, &mut out);
        out
    }

    /// Appends the template rendered for `event`, formatting dates in the
    /// offset `offset_for` gives for the event time. This is how a time
    /// zone option is applied: the caller maps an instant to the offset its
    /// zone has then (daylight saving time included). Epoch seconds do not
    /// depend on the offset.
    pub fn render_with_offset(
        &self,
        event: &Event,
        offset_for: impl Fn(DateTime<Utc>) -> FixedOffset,
        out: &mut String,
    ) {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field { path, reference } => match event.get(path) {
                    Some(Value::Null) | None => out.push_str(&self.source[reference.clone()]),
                    Some(value) => value.write_text(out),
                },
                Part::Date(format) => {
                    let t = event.timestamp();
                    format.format_with_offset(&t.with_timezone(&offset_for(t)), out);
                }
                Part::EpochSeconds => {
                    use fmt::Write;
                    let _ = write!(out, "{}", event.timestamp().timestamp());
                }
            }
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn utc() -> FixedOffset {
    Utc.fix()
}

/// Compiles the reference at `span` (`%{` through `}`) of `text`.
fn reference(text: &str, span: Range<usize>) -> Result<Part, SprintfError> {
    let inner_start = span.start + OPEN.len();
    let inner = &text[inner_start..span.end - 1];
    if inner.is_empty() {
        return Err(error_at(text, span.start, "empty reference `%{}`"));
    }
    if let Some(pattern) = inner.strip_prefix('+') {
        return date(text, inner_start + 1, pattern);
    }
    if inner.starts_with('{') {
        return Err(error_at(
            text,
            span.start,
            "strftime formats `%{{...}}` are not supported; use a Joda pattern `%{+...}`",
        ));
    }
    match FieldPath::parse(inner) {
        Ok(path) => Ok(Part::Field {
            path,
            reference: span,
        }),
        Err(e) => Err(error_at(text, inner_start, e.to_string())),
    }
}

/// Compiles the date pattern that starts at byte `start` of `text`.
fn date(text: &str, start: usize, pattern: &str) -> Result<Part, SprintfError> {
    if pattern == "%s" {
        return Ok(Part::EpochSeconds);
    }
    DateFormat::compile(pattern)
        .map(Part::Date)
        .map_err(|e| SprintfError {
            column: column(text, start) + e.index,
            message: e.message,
        })
}

fn error_at(text: &str, byte: usize, message: impl Into<String>) -> SprintfError {
    SprintfError {
        column: column(text, byte),
        message: message.into(),
    }
}

/// The 1-based character column of byte offset `byte` in `text`.
fn column(text: &str, byte: usize) -> usize {
    text[..byte].chars().count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json;
    use chrono::TimeZone;

    fn event(fields: &str) -> Event {
        match json::parse(fields.as_bytes()).unwrap() {
            Value::Object(m) => Event::from_map(m),
            other => panic!("not an object: {other:?}"),
        }
    }

    fn render(template: &str, fields: &str) -> String {
        Template::parse(template)
            .unwrap()
            .render_string(&event(fields))
    }

    const AT: &str = r#""@timestamp":"2026-11-27T23:30:15.250Z""#;

    #[test]
    fn literal_only_is_constant() {
        let t = Template::parse("jupiter-logs").unwrap();
        assert!(t.is_constant());
        assert_eq!(t.source(), "jupiter-logs");
        assert_eq!(t.render_string(&Event::new()), "jupiter-logs");
        assert!(Template::parse("").unwrap().is_constant());
        assert_eq!(
            Template::parse("").unwrap().render_string(&Event::new()),
            ""
        );
        assert!(!Template::parse("%{a}").unwrap().is_constant());
        assert!(!Template::parse("%{+YYYY}").unwrap().is_constant());
    }

    #[test]
    fn field_references() {
        let fields =
            r#"{"a":{"b":"deep"},"n":42,"f":1.5,"ok":true,"list":["x","y"],"log.level":"warn"}"#;
        assert_eq!(render("%{[a][b]}", fields), "deep");
        assert_eq!(render("%{a.b}", fields), "deep");
        assert_eq!(
            render("n=%{n} f=%{f} ok=%{ok}", fields),
            "n=42 f=1.5 ok=true"
        );
        assert_eq!(render("%{list}", fields), "x,y");
        assert_eq!(render("%{[list][1]}", fields), "y");
        assert_eq!(render("%{[log.level]}", fields), "warn");
        assert_eq!(render("%{a}", fields), r#"{"b":"deep"}"#);
    }

    #[test]
    fn metadata_references() {
        let mut e = Event::new();
        e.set(&FieldPath::parse("[@metadata][index]").unwrap(), "audit");
        let t = Template::parse("%{[@metadata][index]}-v1").unwrap();
        assert_eq!(t.render_string(&e), "audit-v1");
    }

    #[test]
    fn missing_and_null_fields_stay_as_written() {
        let fields = r#"{"present":"p","nothing":null}"#;
        assert_eq!(render("a-%{[missing]}-b", fields), "a-%{[missing]}-b");
        assert_eq!(render("%{missing.deep}", fields), "%{missing.deep}");
        assert_eq!(render("%{nothing}/%{present}", fields), "%{nothing}/p");
    }

    #[test]
    fn daily_index_name() {
        let fields = format!(r#"{{{AT},"service":"jupiter"}}"#);
        assert_eq!(
            render("%{service}-logs-%{+YYYY.MM.dd}", &fields),
            "jupiter-logs-2026.11.27"
        );
        assert_eq!(render("%{+HH:mm:ss.SSS}", &fields), "23:30:15.250");
    }

    #[test]
    fn epoch_seconds() {
        let mut e = Event::new();
        e.set_timestamp(Utc.timestamp_opt(1_795_000_000, 999_000_000).unwrap());
        let t = Template::parse("%{+%s}").unwrap();
        assert_eq!(t.render_string(&e), "1795000000");
    }

    #[test]
    fn mixed_parts_render_in_order() {
        let fields = format!(r#"{{{AT},"host":{{"name":"io"}},"code":503}}"#);
        assert_eq!(
            render("[%{+yyyy}] %{host.name} %{code} %{nope} 100%", &fields),
            "[2026] io 503 %{nope} 100%"
        );
        let t = Template::parse("x%{code}y").unwrap();
        let mut out = String::from(">");
        t.render(&event(&fields), &mut out);
        assert_eq!(out, ">x503y");
    }

    #[test]
    fn dates_in_another_offset() {
        let t = Template::parse("logs-%{+YYYY.MM.dd}-%{+%s}").unwrap();
        let e = event(&format!("{{{AT}}}"));
        let plus_one = FixedOffset::east_opt(3600).unwrap();
        let mut out = String::new();
        t.render_with_offset(&e, |_| plus_one, &mut out);
        let epoch = e.timestamp().timestamp();
        assert_eq!(out, format!("logs-2026.11.28-{epoch}"));
        assert_eq!(t.render_string(&e), format!("logs-2026.11.27-{epoch}"));
    }

    #[test]
    fn percent_and_braces_without_a_reference_are_literal() {
        assert_eq!(render("100% {done} %d", "{}"), "100% {done} %d");
        assert!(Template::parse("50%").unwrap().is_constant());
    }

    #[test]
    fn errors_point_at_the_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("logs-%{service", 6, "unclosed `%{`"),
            ("%{a}-%{", 6, "unclosed `%{`"),
            ("é%{}", 2, "empty reference"),
            ("x-%{+YYYY.qq}", 11, "unknown date pattern letter `q`"),
            ("%{+}", 4, "empty date pattern"),
            ("%{+'T}", 4, "unterminated quoted text"),
            ("a %{[a][b}", 5, "unbalanced"),
            ("%{a..b}", 3, "empty segment"),
            ("%{{%Y}}", 1, "strftime"),
        ];
        for &(text, column, message) in cases {
            let e = Template::parse(text).unwrap_err();
            assert_eq!(e.column, column, "{text:?}: {e}");
            assert!(e.message.contains(message), "{text:?}: {e}");
            assert_eq!(e.to_string(), format!("column {column}: {}", e.message));
        }
    }

    #[test]
    fn display_is_the_source() {
        let t = Template::parse("%{a}-%{+YYYY}").unwrap();
        assert_eq!(t.to_string(), "%{a}-%{+YYYY}");
    }
}
