//! Dissect patterns: compiled once, applied without regular expressions.
//!
//! A pattern is literal delimiters and `%{…}` fields. Applying it walks the
//! text once from the left: each field ends at the first occurrence of the
//! delimiter that follows it (found with `memmem`), the last field takes
//! the rest. The work is linear in the length of the text.

use crate::event::FieldPath;
use memchr::memmem::Finder;

/// What a field does with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `%{name}`: set the field.
    Normal(FieldPath),
    /// `%{}` or `%{?name}`: capture but do not store (a named one can be
    /// the key of an indirect field).
    Skip(Option<String>),
    /// `%{+name}` / `%{+name/N}`: append to the field, in order `N`.
    Append { path: FieldPath, order: u32 },
    /// `%{&name}`: store under the field named by the value of `name`.
    Indirect(String),
}

/// One `%{…}` of a pattern.
#[derive(Debug, Clone)]
pub struct Field {
    pub kind: Kind,
    /// The delimiter before the field (what an append joins with).
    pub previous: String,
    /// The delimiter after the field; `None` for a last field that takes
    /// the rest of the text.
    next: Option<Finder<'static>>,
    next_len: usize,
    /// `->`: repeats of the next delimiter are padding.
    greedy: bool,
}

/// A compiled dissect pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    prefix: String,
    pub fields: Vec<Field>,
}

/// Why a pattern does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(msg.into()))
}

fn path(name: &str, whole: &str) -> Result<FieldPath, PatternError> {
    FieldPath::parse(name).or_else(|e| {
        err(format!(
            "field `%{{{whole}}}`: invalid field reference: {e}"
        ))
    })
}

/// Reads the text between `%{` and `}`.
fn field_kind(raw: &str) -> Result<(Kind, bool), PatternError> {
    let (name, greedy) = match raw.strip_suffix("->") {
        Some(n) => (n, true),
        None => (raw, false),
    };
    if name.starts_with("+&") || name.starts_with("&+") {
        return err(format!(
            "field `%{{{raw}}}` cannot be both append (`+`) and indirect (`&`)"
        ));
    }
    let kind = if name.is_empty() {
        Kind::Skip(None)
    } else if let Some(n) = name.strip_prefix('?') {
        Kind::Skip((!n.is_empty()).then(|| n.to_owned()))
    } else if let Some(n) = name.strip_prefix('+') {
        let (n, order) = match n.rsplit_once('/') {
            Some((n, o)) => match o.parse::<u32>() {
                Ok(o) => (n, o),
                Err(_) => {
                    return err(format!(
                        "field `%{{{raw}}}`: the order after `/` must be a number"
                    ));
                }
            },
            None => (n, 0),
        };
        if n.is_empty() {
            return err(format!("field `%{{{raw}}}` needs a name after `+`"));
        }
        Kind::Append {
            path: path(n, raw)?,
            order,
        }
    } else if let Some(n) = name.strip_prefix('&') {
        if n.is_empty() {
            return err(format!("field `%{{{raw}}}` needs a name after `&`"));
        }
        Kind::Indirect(n.to_owned())
    } else {
        Kind::Normal(path(name, raw)?)
    };
    Ok((kind, greedy))
}

impl Pattern {
    pub fn compile(text: &str) -> Result<Pattern, PatternError> {
        if text.is_empty() {
            return err("the pattern is empty");
        }
        // (delimiter before, raw field) pairs, then the trailing text.
        let mut parts: Vec<(&str, &str)> = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("%{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find('}') else {
                return err(format!(
                    "unclosed `%{{` at byte {}",
                    text.len() - rest.len() + open
                ));
            };
            parts.push((&rest[..open], &after[..close]));
            rest = &after[close + 1..];
        }
        if parts.is_empty() {
            return err("the pattern has no `%{field}`");
        }
        let trailing = rest;
        let prefix = parts[0].0.to_owned();
        let mut fields: Vec<Field> = Vec::with_capacity(parts.len());
        for (i, (before, raw)) in parts.iter().enumerate() {
            let (kind, greedy) = field_kind(raw)?;
            let next: Option<&str> = match parts.get(i + 1) {
                Some((d, next_raw)) => {
                    if d.is_empty() {
                        return err(format!(
                            "fields `%{{{raw}}}` and `%{{{next_raw}}}` need a delimiter between them"
                        ));
                    }
                    Some(d)
                }
                None => (!trailing.is_empty()).then_some(trailing),
            };
            fields.push(Field {
                kind,
                previous: (*before).to_owned(),
                next: next.map(|d| Finder::new(d.as_bytes()).into_owned()),
                next_len: next.map_or(0, str::len),
                greedy,
            });
        }
        Ok(Pattern { prefix, fields })
    }

    /// The byte range of each field's value in `text`, or `None` if the
    /// text does not have the pattern's shape (a delimiter is missing).
    pub fn split(&self, text: &str) -> Option<Vec<(usize, usize)>> {
        let bytes = text.as_bytes();
        if bytes.is_empty() || !bytes.starts_with(self.prefix.as_bytes()) {
            return None;
        }
        let mut left = self.prefix.len();
        let mut out = Vec::with_capacity(self.fields.len());
        let mut previous: Option<&Field> = None;
        for field in &self.fields {
            if let Some(p) = previous
                && p.greedy
                && let Some(d) = &p.next
            {
                let d = d.needle();
                while bytes[left..].starts_with(d) {
                    left += d.len();
                }
            }
            match &field.next {
                Some(finder) => {
                    let at = left + finder.find(&bytes[left..])?;
                    out.push((left, at));
                    left = at + field.next_len;
                }
                None => {
                    out.push((left, bytes.len()));
                    left = bytes.len();
                }
            }
            previous = Some(field);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(pattern: &str, text: &'a str) -> Option<Vec<&'a str>> {
        let p = Pattern::compile(pattern).unwrap();
        p.split(text)
            .map(|r| r.into_iter().map(|(a, b)| &text[a..b]).collect())
    }

    #[test]
    fn splits_on_first_occurrences() {
        assert_eq!(
            values("%{a} %{b}", "foo bar baz"),
            Some(vec!["foo", "bar baz"])
        );
        assert_eq!(
            values("/var/%{key}/log", "/var/foobar/log"),
            Some(vec!["foobar"])
        );
        assert_eq!(
            values("/var/%{key}", "/var/foobar/log"),
            Some(vec!["foobar/log"])
        );
        assert_eq!(
            values("/var/%{key}/log/%{key1}.log", "/var/foobar/log/apache.log"),
            Some(vec!["foobar", "apache"])
        );
        assert_eq!(values("%{a}", "x"), Some(vec!["x"]));
    }

    #[test]
    fn missing_delimiters_do_not_match() {
        assert_eq!(values("[%{a}] %{b}", "no bracket"), None);
        assert_eq!(values("%{a}, %{b}", "a b"), None);
        assert_eq!(values("%{a}.log", "a.txt"), None);
        assert_eq!(values("%{a} %{b}", ""), None);
    }

    #[test]
    fn empty_values_between_delimiters() {
        assert_eq!(
            values(
                "%{name},%{addr1},%{addr2},%{addr3},%{city},%{zip}",
                "Jane Doe,4321 Fifth Avenue,,,New York,87432"
            ),
            Some(vec![
                "Jane Doe",
                "4321 Fifth Avenue",
                "",
                "",
                "New York",
                "87432"
            ])
        );
    }

    #[test]
    fn padding_is_skipped_after_an_arrow() {
        assert_eq!(
            values(
                "%{id} %{function->} %{server}",
                "00000043 ViewReceive     machine-321"
            ),
            Some(vec!["00000043", "ViewReceive", "machine-321"])
        );
        assert_eq!(
            values(
                "%{id->} %{function} %{server}",
                "00000043    ViewReceive machine-321"
            ),
            Some(vec!["00000043", "ViewReceive", "machine-321"])
        );
        assert_eq!(values("%{a->} %{b}", "x y"), Some(vec!["x", "y"]));
    }

    #[test]
    fn multibyte_delimiters() {
        assert_eq!(
            values("[%{a}]྿྿྿%{b}྿%{c}", "[x y]྿྿྿1྿rest྿of"),
            Some(vec!["x y", "1", "rest྿of"])
        );
    }

    #[test]
    fn field_kinds() {
        let p = Pattern::compile("%{a} %{} %{?b} %{+c/2} %{+c} %{&b} %{[n][x]->}").unwrap();
        let kinds: Vec<&Kind> = p.fields.iter().map(|f| &f.kind).collect();
        assert_eq!(
            kinds,
            [
                &Kind::Normal(FieldPath::key("a")),
                &Kind::Skip(None),
                &Kind::Skip(Some("b".into())),
                &Kind::Append {
                    path: FieldPath::key("c"),
                    order: 2
                },
                &Kind::Append {
                    path: FieldPath::key("c"),
                    order: 0
                },
                &Kind::Indirect("b".into()),
                &Kind::Normal(FieldPath::parse("[n][x]").unwrap()),
            ]
        );
    }

    #[test]
    fn invalid_patterns() {
        for (bad, why) in [
            ("", "empty"),
            ("no fields", "no `%{field}`"),
            ("%{a", "unclosed"),
            ("%{a}%{b}", "delimiter between"),
            ("%{+&a}", "both append"),
            ("%{&+a}", "both append"),
            ("%{+}", "needs a name"),
            ("%{&}", "needs a name"),
            ("%{+a/x}", "must be a number"),
            ("%{[a}", "invalid field reference"),
        ] {
            let e = Pattern::compile(bad).unwrap_err();
            assert!(e.0.contains(why), "{bad}: {e}");
        }
    }
}
