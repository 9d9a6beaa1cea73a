//! `mutate`: renames, copies, replaces and converts fields.
//!
//! ```yaml
//! filters:
//!   - mutate:
//!       rename: { old_name: new_name }
//!       copy: { source: destination }
//!       replace: { field: "new %{[other]} value" }
//!       convert: { status: integer, took: float, ok: boolean, id: string }
//!       lowercase: [level]
//!       uppercase: [code]
//!       strip: [message]
//! ```
//!
//! Operations run in Logstash's order: rename, replace, convert, lowercase,
//! uppercase, strip, copy. With no operation the filter passes events
//! through unchanged (plus any shared `add_field` / `add_tag`).

use crate::config::{ComponentConfig, ConfigError, ConfigErrors};
use crate::event::{Event, FieldPath, Value};
use crate::expr::Template;
use crate::topology::{BuildContext, Filter, Verdict};
use indexmap::IndexMap;
use serde::Deserialize;

/// Target types of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conversion {
    Integer,
    Float,
    Boolean,
    String,
}

/// Options of the `mutate` filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutateConfig {
    #[serde(default)]
    pub rename: IndexMap<String, String>,
    #[serde(default)]
    pub replace: IndexMap<String, String>,
    #[serde(default)]
    pub convert: IndexMap<String, Conversion>,
    #[serde(default)]
    pub lowercase: Vec<String>,
    #[serde(default)]
    pub uppercase: Vec<String>,
    #[serde(default)]
    pub strip: Vec<String>,
    #[serde(default)]
    pub copy: IndexMap<String, String>,
}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
    let config: MutateConfig = c.parse_options()?;
    let mut errors = ConfigErrors::default();
    let mut path = |key: &str, text: &str| -> Option<FieldPath> {
        super::field_option(c, key, text)
            .map_err(|e| errors.push(e))
            .ok()
    };
    let pairs = |key: &str,
                 m: &IndexMap<String, String>,
                 path: &mut dyn FnMut(&str, &str) -> Option<FieldPath>| {
        m.iter()
            .filter_map(|(a, b)| Some((path(key, a)?, path(key, b)?)))
            .collect::<Vec<_>>()
    };
    let rename = pairs("rename", &config.rename, &mut path);
    let copy = pairs("copy", &config.copy, &mut path);
    let convert: Vec<_> = config
        .convert
        .iter()
        .filter_map(|(f, t)| Some((path("convert", f)?, *t)))
        .collect();
    let lowercase: Vec<_> = config
        .lowercase
        .iter()
        .filter_map(|f| path("lowercase", f))
        .collect();
    let uppercase: Vec<_> = config
        .uppercase
        .iter()
        .filter_map(|f| path("uppercase", f))
        .collect();
    let strip: Vec<_> = config
        .strip
        .iter()
        .filter_map(|f| path("strip", f))
        .collect();
    let mut replace = Vec::new();
    let mut template_errors = Vec::new();
    for (f, v) in &config.replace {
        let Some(p) = path("replace", f) else {
            continue;
        };
        match Template::parse(v) {
            Ok(t) => replace.push((p, t)),
            Err(e) => template_errors.push(template_error(c, e.message)),
        }
    }
    errors.0.extend(template_errors);
    errors.into_result(Box::new(MutateFilter {
        rename,
        replace,
        convert,
        lowercase,
        uppercase,
        strip,
        copy,
    }) as Box<dyn Filter>)
}

fn template_error(c: &ComponentConfig, message: String) -> ConfigError {
    c.option_error("replace", format!("invalid sprintf template: {message}"))
}

/// The compiled operations.
pub struct MutateFilter {
    rename: Vec<(FieldPath, FieldPath)>,
    replace: Vec<(FieldPath, Template)>,
    convert: Vec<(FieldPath, Conversion)>,
    lowercase: Vec<FieldPath>,
    uppercase: Vec<FieldPath>,
    strip: Vec<FieldPath>,
    copy: Vec<(FieldPath, FieldPath)>,
}

fn map_strings(event: &mut Event, path: &FieldPath, f: impl Fn(&str) -> String) {
    match event.get_mut(path) {
        Some(Value::String(s)) => *s = f(s),
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::String(s) = item {
                    *s = f(s);
                }
            }
        }
        _ => {}
    }
}

/// Converts one value, Logstash-style; values that do not convert stay.
pub fn convert(value: &Value, to: Conversion) -> Option<Value> {
    match (to, value) {
        (Conversion::Integer, Value::String(s)) => {
            let t = s.trim();
            t.parse::<i64>()
                .ok()
                .or_else(|| t.parse::<f64>().ok().map(|f| f.trunc() as i64))
                .map(Value::Integer)
        }
        (Conversion::Integer, Value::Float(f)) => Some(Value::Integer(f.trunc() as i64)),
        (Conversion::Integer, Value::Bool(b)) => Some(Value::Integer(*b as i64)),
        (Conversion::Float, Value::String(s)) => s.trim().parse::<f64>().ok().map(Value::Float),
        (Conversion::Float, Value::Integer(i)) => Some(Value::Float(*i as f64)),
        (Conversion::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Some(Value::Bool(true)),
            "false" | "f" | "no" | "n" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        (Conversion::Boolean, Value::Integer(i)) => Some(Value::Bool(*i != 0)),
        (
            Conversion::String,
            v @ (Value::Integer(_) | Value::Float(_) | Value::Bool(_) | Value::Timestamp(_)),
        ) => Some(Value::String(v.to_text())),
        (_, Value::Array(items)) => Some(Value::Array(
            items
                .iter()
                .map(|i| convert(i, to).unwrap_or_else(|| i.clone()))
                .collect(),
        )),
        _ => None,
    }
}

impl Filter for MutateFilter {
    fn process(&self, event: &mut Event) -> Verdict {
        for (from, to) in &self.rename {
            event.rename(from, to);
        }
        for (field, template) in &self.replace {
            let v = template.render_string(event);
            event.set(field, v);
        }
        for (field, to) in &self.convert {
            if let Some(v) = event.get(field).and_then(|v| convert(v, *to)) {
                event.set(field, v);
            }
        }
        for f in &self.lowercase {
            map_strings(event, f, str::to_lowercase);
        }
        for f in &self.uppercase {
            map_strings(event, f, str::to_uppercase);
        }
        for f in &self.strip {
            map_strings(event, f, |s| s.trim().to_owned());
        }
        for (from, to) in &self.copy {
            if let Some(v) = event.get(from).cloned() {
                event.set(to, v);
            }
        }
        Verdict::Applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> FieldPath {
        FieldPath::parse(s).unwrap()
    }

    #[test]
    fn operations_in_order() {
        let f = MutateFilter {
            rename: vec![(p("lvl"), p("[log][level]"))],
            replace: vec![(p("msg"), Template::parse("got %{[log][level]}").unwrap())],
            convert: vec![(p("status"), Conversion::Integer)],
            lowercase: vec![p("[log][level]")],
            uppercase: vec![],
            strip: vec![p("pad")],
            copy: vec![(p("status"), p("code"))],
        };
        let mut e = Event::new();
        e.set(&p("lvl"), "WARN");
        e.set(&p("status"), "404");
        e.set(&p("pad"), "  x  ");
        assert_eq!(f.process(&mut e), Verdict::Applied);
        assert_eq!(e.get(&p("log.level")), Some(&Value::from("warn")));
        assert_eq!(e.get(&p("msg")), Some(&Value::from("got WARN")));
        assert_eq!(e.get(&p("status")), Some(&Value::Integer(404)));
        assert_eq!(e.get(&p("code")), Some(&Value::Integer(404)));
        assert_eq!(e.get(&p("pad")), Some(&Value::from("x")));
    }

    #[test]
    fn conversions() {
        assert_eq!(
            convert(&Value::from("3.7"), Conversion::Integer),
            Some(Value::Integer(3))
        );
        assert_eq!(
            convert(&Value::from("yes"), Conversion::Boolean),
            Some(Value::Bool(true))
        );
        assert_eq!(convert(&Value::from("x"), Conversion::Float), None);
        assert_eq!(
            convert(&Value::Integer(5), Conversion::String),
            Some(Value::from("5"))
        );
    }
}
