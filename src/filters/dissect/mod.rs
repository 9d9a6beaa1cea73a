//! `dissect`: splits text on literal delimiters, as Logstash's dissect
//! filter does, without regular expressions.
//!
//! ```yaml
//! filters:
//!   - dissect:
//!       mapping:
//!         message: "%{ts} %{+ts} %{+ts} %{src} %{} %{prog}[%{pid}]: %{msg}"
//!       convert_datatype: { pid: int }
//!       tag_on_failure: [_dissectfailure]
//! ```
//!
//! Field syntax: `%{name}` (also `%{[nested][name]}`), `%{}` and
//! `%{?name}` skip, `%{+name}` appends to `name` with the delimiter before
//! it (`%{+name/2}` sets the order), `%{&name}` stores the value under the
//! field named by the value of `name` (usually a `%{?name}` of the same
//! pattern), and a `->` suffix (`%{name->}`) skips repeats of the
//! delimiter after the field (padding).
//!
//! Each pattern compiles once; applying it scans the text once, so the
//! cost is linear in the text. A text that lacks one of the delimiters
//! gets `tag_on_failure` and none of that mapping's fields.

mod pattern;

pub use pattern::{Kind, Pattern, PatternError};

use crate::config::{ComponentConfig, ConfigErrors};
use crate::event::{Event, FieldPath, Value};
use crate::filters::mutate::StringList;
use crate::topology::{BuildContext, Filter, Verdict};
use indexmap::IndexMap;
use serde::Deserialize;

/// `convert_datatype` targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Int,
    Float,
}

impl DataType {
    fn as_str(self) -> &'static str {
        match self {
            DataType::Int => "int",
            DataType::Float => "float",
        }
    }
}

/// Options of the `dissect` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DissectConfig {
    /// Source field → pattern.
    #[serde(default)]
    pub mapping: IndexMap<String, String>,
    #[serde(default)]
    pub convert_datatype: IndexMap<String, DataType>,
    #[serde(default = "default_tags")]
    pub tag_on_failure: StringList,
}

fn default_tags() -> StringList {
    StringList::one("_dissectfailure")
}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
    let config: DissectConfig = c.parse_options()?;
    let mut errors = ConfigErrors::default();
    let mut mappings = Vec::new();
    for (field, text) in &config.mapping {
        let source = super::field_option(c, "mapping", field).map_err(|e| errors.push(e));
        let pattern = Pattern::compile(text).map_err(|e| {
            errors.push(c.option_error("mapping", format!("pattern of `{field}`: {e}")))
        });
        if let (Ok(source), Ok(pattern)) = (source, pattern) {
            mappings.push(Mapping::new(source, pattern));
        }
    }
    let mut conversions = Vec::new();
    for (field, to) in &config.convert_datatype {
        match super::field_option(c, "convert_datatype", field) {
            Ok(p) => conversions.push((p, field.clone(), *to)),
            Err(e) => errors.push(e),
        }
    }
    if mappings.is_empty() && conversions.is_empty() && errors.is_empty() {
        errors.push(c.error("dissect needs `mapping` (or `convert_datatype`)"));
    }
    errors.into_result(Box::new(DissectFilter {
        mappings,
        conversions,
        tag_on_failure: config.tag_on_failure.0,
    }) as Box<dyn Filter>)
}

/// One source field and its pattern, with the order fields are stored in:
/// plain fields, then appends by their order, then indirect fields.
struct Mapping {
    source: FieldPath,
    pattern: Pattern,
    store_order: Vec<usize>,
    /// Per field, for `%{&name}`: the event field `name` and the index of
    /// the `%{?name}` of this pattern, resolved once.
    indirect: Vec<(Option<FieldPath>, Option<usize>)>,
}

impl Mapping {
    fn new(source: FieldPath, pattern: Pattern) -> Self {
        let rank = |k: &Kind| match k {
            Kind::Skip(_) => None,
            Kind::Normal(_) => Some((0, 0)),
            Kind::Append { order, .. } => Some((1, *order)),
            Kind::Indirect(_) => Some((2, 0)),
        };
        let mut store_order: Vec<(usize, (u8, u32))> = pattern
            .fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| Some((i, rank(&f.kind)?)))
            .collect();
        // Stable: fields of one rank keep their written order.
        store_order.sort_by_key(|&(_, r)| r);
        let indirect = pattern
            .fields
            .iter()
            .map(|f| match &f.kind {
                Kind::Indirect(name) => (
                    FieldPath::parse(name).ok(),
                    pattern
                        .fields
                        .iter()
                        .position(|g| matches!(&g.kind, Kind::Skip(Some(n)) if n == name)),
                ),
                _ => (None, None),
            })
            .collect();
        Mapping {
            source,
            pattern,
            store_order: store_order.into_iter().map(|(i, _)| i).collect(),
            indirect,
        }
    }

    /// Dissects `text` into `event`; false if the text does not match.
    fn apply(&self, text: &str, event: &mut Event) -> bool {
        let Some(ranges) = self.pattern.split(text) else {
            return false;
        };
        let value = |i: usize| &text[ranges[i].0..ranges[i].1];
        for &i in &self.store_order {
            let field = &self.pattern.fields[i];
            match &field.kind {
                Kind::Normal(path) => event.set(path, value(i)),
                Kind::Append { path, .. } => {
                    let joined = match event.get(path) {
                        Some(old) => {
                            let sep = if field.previous.is_empty() {
                                " "
                            } else {
                                field.previous.as_str()
                            };
                            let mut s = old.to_text();
                            s.push_str(sep);
                            s.push_str(value(i));
                            s
                        }
                        None => value(i).to_owned(),
                    };
                    event.set(path, joined);
                }
                Kind::Indirect(_) => {
                    let (path, skip) = &self.indirect[i];
                    let key = match path.as_ref().and_then(|p| event.get(p)) {
                        Some(v) => v.to_text(),
                        None => skip.map(|j| value(j).to_owned()).unwrap_or_default(),
                    };
                    if !key.is_empty() {
                        event.set(&FieldPath::key(&key), value(i));
                    }
                }
                Kind::Skip(_) => {}
            }
        }
        true
    }
}

/// Splits fields by compiled patterns.
pub struct DissectFilter {
    mappings: Vec<Mapping>,
    /// (field, its name as written, type).
    conversions: Vec<(FieldPath, String, DataType)>,
    tag_on_failure: Vec<String>,
}

fn convert(value: &Value, to: DataType) -> Option<Value> {
    match (to, value) {
        (DataType::Int, Value::Integer(_)) | (DataType::Float, Value::Float(_)) => {
            Some(value.clone())
        }
        (DataType::Int, Value::String(s)) => s.trim().parse::<i64>().ok().map(Value::Integer),
        (DataType::Int, Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e18 => {
            Some(Value::Integer(*f as i64))
        }
        (DataType::Float, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::Float),
        (DataType::Float, Value::Integer(i)) => Some(Value::Float(*i as f64)),
        _ => None,
    }
}

impl Filter for DissectFilter {
    fn process(&self, event: &mut Event) -> Verdict {
        let mut failed = false;
        for m in &self.mappings {
            let text = match event.get(&m.source) {
                None => continue,
                Some(Value::String(s)) => s.to_string(),
                Some(v @ (Value::Integer(_) | Value::Float(_) | Value::Bool(_))) => v.to_text(),
                Some(v @ Value::Timestamp(_)) => v.to_text(),
                Some(_) => {
                    failed = true;
                    continue;
                }
            };
            if !m.apply(&text, event) {
                failed = true;
            }
        }
        if failed {
            for t in &self.tag_on_failure {
                event.add_tag(t);
            }
            return Verdict::Skipped;
        }
        for (path, name, to) in &self.conversions {
            let tag = match event.get(path) {
                None | Some(Value::Null) => "_dataconversionnullvalue",
                Some(v) => match convert(v, *to) {
                    Some(v) => {
                        event.set(path, v);
                        continue;
                    }
                    None => "_dataconversionuncoercible",
                },
            };
            event.add_tag(&format!("{tag}_{name}_{}", to.as_str()));
        }
        Verdict::Applied
    }
}

#[cfg(test)]
mod tests;
