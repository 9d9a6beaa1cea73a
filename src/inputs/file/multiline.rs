//! Joins the lines of one event (stack traces, wrapped messages), with
//! Filebeat's semantics.
//!
//! A line "matches" when the pattern finds it (inverted by `negate`).
//! - `match: after`: a matching line is appended to the line before it.
//! - `match: before`: a matching line is joined with the line after it;
//!   the event ends at the first line that does not match.
//!
//! Events are cut at `max_lines` lines (later lines are read and dropped,
//! the event is tagged truncated) or `max_bytes`, and a pending event is
//! flushed after `timeout` without new lines, so the last event of a file is
//! never held back.

use super::config::{MultilineConfig, MultilineMatch, MultilinePreset};
use super::lines::Line;
use regex::Regex;
use std::time::{Duration, Instant};

/// The Java preset: the exception line (`java.lang.IllegalStateException: …`,
/// a qualified class name ending in Exception, Error or Throwable), indented
/// lines (`\tat …`, `\t... 3 more`), `Caused by:`, `Suppressed:` and blank
/// lines (Spring Boot writes one before and after a trace) continue the
/// previous line, so a trace stays with the log line that reported it.
pub const JAVA_PATTERN: &str = r"^(?:\s*$|[ \t]+\S|Caused by:|Suppressed:|\s*\.\.\. \d+ more|(?:[a-zA-Z_$][\w$]*\.)+[\w$]*(?:Exception|Error|Throwable)(?::|$))";

/// The Python preset: a traceback header, its indented frames, chained
/// traceback notes with the blank lines around them, and the final
/// exception line (`SomeError: …`, or a qualified class such as
/// `requests.exceptions.ReadTimeout: …`) continue the line before the
/// traceback.
pub const PYTHON_PATTERN: &str = r"^(?:\s*$|[ \t]+\S|Traceback \(most recent call last\):|During handling of the above exception|The above exception was the direct cause|[A-Za-z_][\w.]*(?:Error|Exception|Warning|Interrupt|Exit)(?::|$)|(?:[a-z_]\w*\.)+[A-Z]\w*(?::|$))";

/// The compiled settings.
#[derive(Debug, Clone)]
pub struct MultilineRule {
    pattern: Regex,
    negate: bool,
    mode: MultilineMatch,
    max_lines: usize,
    max_bytes: usize,
    pub timeout: Duration,
}

impl MultilineRule {
    /// Compiles the options; the error names what is wrong.
    pub fn compile(c: &MultilineConfig) -> Result<Self, String> {
        let pattern = match (&c.pattern, c.preset) {
            (Some(_), Some(_)) => return Err("give either `pattern` or `preset`, not both".into()),
            (Some(p), None) => p.as_str(),
            (None, Some(MultilinePreset::Java)) => JAVA_PATTERN,
            (None, Some(MultilinePreset::Python)) => PYTHON_PATTERN,
            (None, None) => return Err("needs a `pattern` or a `preset` (java, python)".into()),
        };
        let pattern = Regex::new(pattern).map_err(|e| format!("invalid pattern: {e}"))?;
        Ok(MultilineRule {
            pattern,
            negate: c.negate,
            mode: c.r#match,
            max_lines: c.max_lines.max(1),
            max_bytes: c.max_bytes.0 as usize,
            timeout: c.timeout.0,
        })
    }
}

/// The event being assembled.
#[derive(Debug)]
struct Pending {
    line: Line,
    lines: usize,
}

/// Multiline state of one file.
#[derive(Debug)]
pub struct Multiline {
    rule: MultilineRule,
    pending: Option<Pending>,
    last_line: Instant,
}

impl Multiline {
    pub fn new(rule: MultilineRule) -> Self {
        Multiline {
            rule,
            pending: None,
            last_line: Instant::now(),
        }
    }

    /// Takes one line; returns a completed event, if this line completed one.
    pub fn push(&mut self, line: Line, now: Instant) -> Option<Line> {
        self.last_line = now;
        let matches = self.rule.pattern.is_match(&line.text) != self.rule.negate;
        match self.rule.mode {
            MultilineMatch::After => {
                if matches && self.pending.is_some() {
                    self.append(line);
                    None
                } else {
                    let done = self.pending.take().map(|p| p.line);
                    self.pending = Some(Pending { line, lines: 1 });
                    done
                }
            }
            MultilineMatch::Before => {
                if self.pending.is_some() {
                    self.append(line);
                } else {
                    self.pending = Some(Pending { line, lines: 1 });
                }
                if matches {
                    None
                } else {
                    self.pending.take().map(|p| p.line)
                }
            }
        }
    }

    fn append(&mut self, line: Line) {
        let Some(p) = self.pending.as_mut() else {
            return;
        };
        p.line.end = line.end;
        p.lines += 1;
        if p.lines > self.rule.max_lines
            || p.line.text.len() + 1 + line.text.len() > self.rule.max_bytes
        {
            p.line.truncated = true;
            return;
        }
        p.line.text.push('\n');
        p.line.text.push_str(&line.text);
        p.line.truncated |= line.truncated;
    }

    /// The pending event, if no line came for the timeout.
    pub fn flush_if_idle(&mut self, now: Instant) -> Option<Line> {
        if self.pending.is_some() && now.duration_since(self.last_line) >= self.rule.timeout {
            self.flush()
        } else {
            None
        }
    }

    /// The pending event, whatever its state (file closed, end of input).
    pub fn flush(&mut self) -> Option<Line> {
        self.pending.take().map(|p| p.line)
    }

    /// The file offset where the pending event starts: nothing from there
    /// on may be committed yet.
    pub fn pending_start(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.line.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ByteSize, Span};

    fn rule(
        pattern: Option<&str>,
        preset: Option<MultilinePreset>,
        negate: bool,
        mode: MultilineMatch,
    ) -> MultilineRule {
        MultilineRule::compile(&MultilineConfig {
            preset,
            pattern: pattern.map(str::to_owned),
            negate,
            r#match: mode,
            max_lines: 500,
            max_bytes: ByteSize(1 << 20),
            timeout: Span::secs(5),
        })
        .unwrap()
    }

    fn run(rule: MultilineRule, text: &str) -> Vec<String> {
        let mut m = Multiline::new(rule);
        let mut out = Vec::new();
        let mut off = 0u64;
        let now = Instant::now();
        for l in text.lines() {
            let line = Line {
                text: l.to_owned(),
                start: off,
                end: off + l.len() as u64 + 1,
                truncated: false,
            };
            off = line.end;
            out.extend(m.push(line, now).map(|l| l.text));
        }
        out.extend(m.flush().map(|l| l.text));
        out
    }

    #[test]
    fn negated_date_pattern_after() {
        let r = rule(Some(r"^\d{4}-"), None, true, MultilineMatch::After);
        let got = run(r, "2026-01-01 a\n  cont\nmore\n2026-01-02 b\n");
        assert_eq!(got, ["2026-01-01 a\n  cont\nmore", "2026-01-02 b"]);
    }

    #[test]
    fn before_joins_with_the_next_line() {
        let r = rule(Some(r"\\$"), None, false, MultilineMatch::Before);
        let got = run(r, "one \\\ntwo\nthree\n");
        assert_eq!(got, ["one \\\ntwo", "three"]);
    }

    #[test]
    fn java_preset() {
        let trace = "2026-11-27 ERROR boom\njava.lang.IllegalStateException: bad\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)\nCaused by: java.io.IOException: x\n\tat a.C.e(C.java:3)\n\t... 2 more\n2026-11-27 INFO next\n";
        let got = run(
            rule(
                None,
                Some(MultilinePreset::Java),
                false,
                MultilineMatch::After,
            ),
            trace,
        );
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(
            got[0].starts_with("2026-11-27 ERROR boom\njava.lang.IllegalStateException")
                && got[0].ends_with("... 2 more")
        );
        // Spring Boot's layout: blank lines around the trace; a bare class.
        let spring = "2026-11-27 ERROR boom\n\njava.lang.NullPointerException\n\tat a.B.c(B.java:1)\n\n2026-11-27 INFO next\n";
        let got = run(
            rule(
                None,
                Some(MultilinePreset::Java),
                false,
                MultilineMatch::After,
            ),
            spring,
        );
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].ends_with("(B.java:1)\n"));
    }

    #[test]
    fn python_preset() {
        let trace = "2026-11-27 ERROR failed\nTraceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n    f()\nValueError: bad value\n2026-11-27 INFO next\n";
        let got = run(
            rule(
                None,
                Some(MultilinePreset::Python),
                false,
                MultilineMatch::After,
            ),
            trace,
        );
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].ends_with("ValueError: bad value"));
        let chained = "2026-11-27 ERROR failed\nTraceback (most recent call last):\n  File \"x.py\", line 1, in f\npsycopg2.errors.UniqueViolation: dup\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"x.py\", line 3, in f\nrequests.exceptions.ReadTimeout: slow\n2026-11-27 INFO next\n";
        let got = run(
            rule(
                None,
                Some(MultilinePreset::Python),
                false,
                MultilineMatch::After,
            ),
            chained,
        );
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].ends_with("requests.exceptions.ReadTimeout: slow"));
    }

    #[test]
    fn max_lines_truncates_but_keeps_offsets() {
        let mut r = rule(Some(r"^\s"), None, false, MultilineMatch::After);
        r.max_lines = 2;
        let mut m = Multiline::new(r);
        let now = Instant::now();
        let mk = |t: &str, s: u64| Line {
            text: t.into(),
            start: s,
            end: s + 10,
            truncated: false,
        };
        assert!(m.push(mk("a", 0), now).is_none());
        assert!(m.push(mk(" b", 10), now).is_none());
        assert!(m.push(mk(" c", 20), now).is_none());
        let l = m.flush().unwrap();
        assert_eq!(l.text, "a\n b");
        assert!(l.truncated);
        assert_eq!((l.start, l.end), (0, 30));
    }

    #[test]
    fn timeout_flushes_the_last_event() {
        let mut m = Multiline::new(rule(Some(r"^\s"), None, false, MultilineMatch::After));
        let t0 = Instant::now();
        m.push(
            Line {
                text: "x".into(),
                start: 0,
                end: 2,
                truncated: false,
            },
            t0,
        );
        assert!(m.flush_if_idle(t0).is_none());
        assert!(m.flush_if_idle(t0 + Duration::from_secs(6)).is_some());
    }
}
