//! `mutate`: renames, copies, replaces, converts and edits fields, as
//! Logstash's mutate filter does.
//!
//! ```yaml
//! filters:
//!   - mutate:
//!       coerce: { level: "INFO" }                  # only where the field is null
//!       rename: { old_name: new_name }             # both sides may be sprintf
//!       update: { field: "new %{[other]} value" }  # only where the field exists
//!       replace: { field: "new %{[other]} value" }
//!       convert: { status: integer, took: float, ok: boolean, id: string }
//!       gsub: [message, '\s+', " ", path, '/(\w+)$', '/\1']
//!       uppercase: [code]
//!       capitalize: [name]
//!       lowercase: [level]
//!       strip: [message]
//!       split: { path: "/" }
//!       join: { list: "," }
//!       merge: { all_ids: other_ids }
//!       copy: { source: destination }
//!       tag_on_failure: _mutate_error
//! ```
//!
//! Operations run in Logstash's order, whatever the order in the file:
//! coerce, rename, update, replace, convert, gsub, uppercase, capitalize,
//! lowercase, strip, split, join, merge, copy. Within one operation, fields
//! are handled in the order written. With no operation the filter passes
//! events through unchanged (plus any shared `add_field` / `add_tag`).
//!
//! A value that cannot be converted to a number, or a `gsub` whose
//! per-event pattern does not compile, tags the event `_mutate_error`; the
//! value is left as it was, the other operations still run, and the shared
//! `add_*` / `remove_*` options do not apply.

mod convert;
mod options;

pub use convert::{Conversion, ConvertError, convert, float_text, text};
pub use options::{GsubList, StringList};

use crate::config::{ComponentConfig, ConfigErrors};
use crate::event::{Event, FieldPath, Value};
use crate::expr::Template;
use crate::topology::{BuildContext, Filter, Verdict};
use indexmap::IndexMap;
use regex::Regex;
use serde::Deserialize;

/// Options of the `mutate` filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutateConfig {
    #[serde(default)]
    pub coerce: IndexMap<String, String>,
    #[serde(default)]
    pub rename: IndexMap<String, String>,
    #[serde(default)]
    pub update: IndexMap<String, String>,
    #[serde(default)]
    pub replace: IndexMap<String, String>,
    #[serde(default)]
    pub convert: IndexMap<String, Conversion>,
    #[serde(default)]
    pub gsub: GsubList,
    #[serde(default)]
    pub uppercase: StringList,
    #[serde(default)]
    pub capitalize: StringList,
    #[serde(default)]
    pub lowercase: StringList,
    #[serde(default)]
    pub strip: StringList,
    #[serde(default)]
    pub split: IndexMap<String, String>,
    #[serde(default)]
    pub join: IndexMap<String, String>,
    #[serde(default)]
    pub merge: IndexMap<String, StringList>,
    #[serde(default)]
    pub copy: IndexMap<String, String>,
    #[serde(default = "default_tags")]
    pub tag_on_failure: StringList,
}

fn default_tags() -> StringList {
    StringList::one("_mutate_error")
}

/// A field named literally or by a sprintf template (`rename`).
enum FieldName {
    Fixed(FieldPath),
    Dynamic(Template),
}

impl FieldName {
    fn resolve(&self, event: &Event) -> Option<FieldPath> {
        match self {
            FieldName::Fixed(p) => Some(p.clone()),
            FieldName::Dynamic(t) => FieldPath::parse(&t.render_string(event)).ok(),
        }
    }
}

/// A `gsub` pattern: compiled once, or per event when it holds `%{…}`.
enum Needle {
    Fixed(Regex),
    Dynamic(Template),
}

/// A `gsub` replacement, already in `regex` syntax when constant.
enum Replacement {
    Fixed(String),
    Dynamic(Template),
}

struct Gsub {
    field: FieldPath,
    needle: Needle,
    replacement: Replacement,
}

/// Collects the build errors of every option.
struct Builder<'a> {
    c: &'a ComponentConfig,
    errors: ConfigErrors,
}

impl Builder<'_> {
    fn path(&mut self, key: &str, text: &str) -> Option<FieldPath> {
        super::field_option(self.c, key, text)
            .map_err(|e| self.errors.push(e))
            .ok()
    }

    fn paths(&mut self, key: &str, list: &StringList) -> Vec<FieldPath> {
        list.0.iter().filter_map(|f| self.path(key, f)).collect()
    }

    fn template(&mut self, key: &str, text: &str) -> Option<Template> {
        Template::parse(text)
            .map_err(|e| {
                self.errors.push(
                    self.c
                        .option_error(key, format!("invalid sprintf template `{text}`: {e}")),
                )
            })
            .ok()
    }

    /// `field: sprintf value` pairs.
    fn values(&mut self, key: &str, m: &IndexMap<String, String>) -> Vec<(FieldPath, Template)> {
        m.iter()
            .filter_map(|(f, v)| {
                let p = self.path(key, f);
                let t = self.template(key, v);
                Some((p?, t?))
            })
            .collect()
    }

    /// `field: text` pairs (separators).
    fn texts(&mut self, key: &str, m: &IndexMap<String, String>) -> Vec<(FieldPath, String)> {
        m.iter()
            .filter_map(|(f, v)| Some((self.path(key, f)?, v.clone())))
            .collect()
    }

    fn name(&mut self, key: &str, text: &str) -> Option<FieldName> {
        if text.contains("%{") {
            self.template(key, text).map(FieldName::Dynamic)
        } else {
            self.path(key, text).map(FieldName::Fixed)
        }
    }

    fn error(&mut self, key: &str, message: String) {
        self.errors.push(self.c.option_error(key, message));
    }
}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
    let config: MutateConfig = c.parse_options()?;
    let mut b = Builder {
        c,
        errors: ConfigErrors::default(),
    };
    let coerce = b.values("coerce", &config.coerce);
    let rename = config
        .rename
        .iter()
        .filter_map(|(from, to)| {
            let from = b.name("rename", from);
            let to = b.name("rename", to);
            Some((from?, to?))
        })
        .collect();
    let update = b.values("update", &config.update);
    let replace = b.values("replace", &config.replace);
    let convert = config
        .convert
        .iter()
        .filter_map(|(f, t)| Some((b.path("convert", f)?, *t)))
        .collect();
    let mut gsub = Vec::new();
    for (i, [field, needle, replacement]) in config.gsub.0.iter().enumerate() {
        let field = b.path("gsub", field);
        let needle = if needle.contains("%{") {
            b.template("gsub", needle).map(Needle::Dynamic)
        } else {
            match Regex::new(needle) {
                Ok(re) => Some(Needle::Fixed(re)),
                Err(e) => {
                    b.error(
                        "gsub",
                        format!("substitution {}: invalid regex `{needle}`: {e}", i + 1),
                    );
                    None
                }
            }
        };
        let replacement = b.template("gsub", replacement).map(|t| {
            if t.is_constant() {
                Replacement::Fixed(ruby_replacement(t.source()))
            } else {
                Replacement::Dynamic(t)
            }
        });
        if let (Some(field), Some(needle), Some(replacement)) = (field, needle, replacement) {
            gsub.push(Gsub {
                field,
                needle,
                replacement,
            });
        }
    }
    let uppercase = b.paths("uppercase", &config.uppercase);
    let capitalize = b.paths("capitalize", &config.capitalize);
    let lowercase = b.paths("lowercase", &config.lowercase);
    let strip = b.paths("strip", &config.strip);
    let split = b.texts("split", &config.split);
    let join = b.texts("join", &config.join);
    let merge = config
        .merge
        .iter()
        .filter_map(|(dest, added)| {
            let dest = b.path("merge", dest);
            let added = b.paths("merge", added);
            Some((dest?, added))
        })
        .collect();
    let copy = config
        .copy
        .iter()
        .filter_map(|(from, to)| {
            let from = b.path("copy", from);
            let to = b.path("copy", to);
            Some((from?, to?))
        })
        .collect();
    let filter = MutateFilter {
        coerce,
        rename,
        update,
        replace,
        convert,
        gsub,
        uppercase,
        capitalize,
        lowercase,
        strip,
        split,
        join,
        merge,
        copy,
        tag_on_failure: config.tag_on_failure.0,
    };
    b.errors.into_result(Box::new(filter) as Box<dyn Filter>)
}

/// Rewrites a Ruby `gsub` replacement for the `regex` crate: `\1` → `${1}`,
/// `\0` and `\&` → `${0}`, `\k<name>` → `${name}`, `\\` → `\`, and a
/// literal `$` → `$$`.
pub fn ruby_replacement(ruby: &str) -> String {
    let mut out = String::with_capacity(ruby.len() + 8);
    let mut chars = ruby.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d @ '0'..='9') => {
                    chars.next();
                    out.push_str("${");
                    out.push(d);
                    out.push('}');
                }
                Some('&') => {
                    chars.next();
                    out.push_str("${0}");
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                Some('k') => {
                    let rest: String = chars.clone().collect();
                    let name = rest
                        .strip_prefix("k<")
                        .and_then(|r| r.split_once('>'))
                        .map(|(n, _)| n)
                        .filter(|n| {
                            !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_')
                        });
                    match name {
                        Some(n) => {
                            for _ in 0..n.chars().count() + 3 {
                                chars.next();
                            }
                            out.push_str("${");
                            out.push_str(n);
                            out.push('}');
                        }
                        None => out.push('\\'),
                    }
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// The compiled operations.
pub struct MutateFilter {
    coerce: Vec<(FieldPath, Template)>,
    rename: Vec<(FieldName, FieldName)>,
    update: Vec<(FieldPath, Template)>,
    replace: Vec<(FieldPath, Template)>,
    convert: Vec<(FieldPath, Conversion)>,
    gsub: Vec<Gsub>,
    uppercase: Vec<FieldPath>,
    capitalize: Vec<FieldPath>,
    lowercase: Vec<FieldPath>,
    strip: Vec<FieldPath>,
    split: Vec<(FieldPath, String)>,
    join: Vec<(FieldPath, String)>,
    merge: Vec<(FieldPath, Vec<FieldPath>)>,
    copy: Vec<(FieldPath, FieldPath)>,
    tag_on_failure: Vec<String>,
}

/// Applies `f` to a string field or to the strings of a list field.
fn map_strings(event: &mut Event, path: &FieldPath, f: impl Fn(&str) -> String) {
    match event.get_mut(path) {
        Some(Value::String(s)) => *s = f(s).into(),
        Some(Value::Array(items)) => {
            for item in items {
                if let Value::String(s) = item {
                    *s = f(s).into();
                }
            }
        }
        _ => {}
    }
}

/// Ruby's `capitalize`: the first character upper case, the rest lower.
pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => {
            let mut out: String = first.to_uppercase().collect();
            out.push_str(&chars.as_str().to_lowercase());
            out
        }
    }
}

/// Ruby's `String#split` with a string separator: `" "` splits on runs of
/// whitespace ignoring leading whitespace, `""` splits into characters,
/// and trailing empty strings are dropped.
pub fn split(s: &str, separator: &str) -> Vec<Value> {
    let mut parts: Vec<&str> = if separator == " " {
        s.split_whitespace().collect()
    } else if separator.is_empty() {
        s.char_indices()
            .map(|(i, c)| &s[i..i + c.len_utf8()])
            .collect()
    } else {
        s.split(separator).collect()
    };
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts.into_iter().map(Value::from).collect()
}

/// Ruby's `Array#join`: nested lists are joined too, `null` is empty.
fn join(items: &[Value], separator: &str, out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        match item {
            Value::Array(inner) => join(inner, separator, out),
            other => out.push_str(&text(other)),
        }
    }
}

/// Merges `added` into `dest` as Logstash does: two objects merge their
/// keys; otherwise both sides become lists and are concatenated. An object
/// and a non-object do not merge.
fn merge_values(dest: Option<Value>, added: &Value) -> Option<Value> {
    match (dest, added) {
        (Some(Value::Object(mut d)), Value::Object(a)) => {
            for (k, v) in a {
                d.insert(k.clone(), v.clone());
            }
            Some(Value::Object(d))
        }
        (Some(Value::Object(_)), _) | (_, Value::Object(_)) => None,
        (dest, added) => {
            let mut list = match dest {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items,
                Some(other) => vec![other],
            };
            match added {
                Value::Array(items) => list.extend(items.iter().cloned()),
                Value::Null => {}
                other => list.push(other.clone()),
            }
            Some(Value::Array(list))
        }
    }
}

impl MutateFilter {
    fn gsub_one(&self, g: &Gsub, event: &mut Event) -> bool {
        if !matches!(
            event.get(&g.field),
            Some(Value::String(_) | Value::Array(_))
        ) {
            return true;
        }
        let dynamic_re;
        let re = match &g.needle {
            Needle::Fixed(re) => re,
            Needle::Dynamic(t) => match Regex::new(&t.render_string(event)) {
                Ok(re) => {
                    dynamic_re = re;
                    &dynamic_re
                }
                Err(_) => return false,
            },
        };
        let rendered;
        let replacement = match &g.replacement {
            Replacement::Fixed(r) => r.as_str(),
            Replacement::Dynamic(t) => {
                rendered = ruby_replacement(&t.render_string(event));
                rendered.as_str()
            }
        };
        map_strings(event, &g.field, |s| {
            re.replace_all(s, replacement).into_owned()
        });
        true
    }
}

impl Filter for MutateFilter {
    fn process(&self, event: &mut Event) -> Verdict {
        let mut failed = false;
        for (field, template) in &self.coerce {
            if let Some(Value::Null) = event.get(field) {
                let v = template.render_string(event);
                event.set(field, v);
            }
        }
        for (from, to) in &self.rename {
            if let (Some(from), Some(to)) = (from.resolve(event), to.resolve(event)) {
                event.rename(&from, &to);
            }
        }
        for (field, template) in &self.update {
            if event.contains(field) {
                let v = template.render_string(event);
                event.set(field, v);
            }
        }
        for (field, template) in &self.replace {
            let v = template.render_string(event);
            event.set(field, v);
        }
        for (field, to) in &self.convert {
            let Some(value) = event.get(field) else {
                continue;
            };
            match convert(value, *to) {
                Ok(Some(v)) => event.set(field, v),
                Ok(None) => {}
                Err(ConvertError) => failed = true,
            }
        }
        for g in &self.gsub {
            if !self.gsub_one(g, event) {
                failed = true;
            }
        }
        for f in &self.uppercase {
            map_strings(event, f, str::to_uppercase);
        }
        for f in &self.capitalize {
            map_strings(event, f, capitalize);
        }
        for f in &self.lowercase {
            map_strings(event, f, str::to_lowercase);
        }
        for f in &self.strip {
            map_strings(event, f, |s| s.trim().to_owned());
        }
        for (field, separator) in &self.split {
            if let Some(Value::String(s)) = event.get(field) {
                let parts = split(s, separator);
                event.set(field, Value::Array(parts));
            }
        }
        for (field, separator) in &self.join {
            if let Some(Value::Array(items)) = event.get(field) {
                let mut out = String::new();
                join(items, separator, &mut out);
                event.set(field, out);
            }
        }
        for (dest, added) in &self.merge {
            for a in added {
                let Some(added_value) = event.get(a).cloned() else {
                    continue;
                };
                let current = event.get(dest).cloned();
                if let Some(v) = merge_values(current, &added_value) {
                    event.set(dest, v);
                }
            }
        }
        for (from, to) in &self.copy {
            match event.get(from) {
                None | Some(Value::Null) => {}
                Some(v) => {
                    let v = v.clone();
                    event.set(to, v);
                }
            }
        }
        if failed {
            for t in &self.tag_on_failure {
                event.add_tag(t);
            }
            Verdict::Skipped
        } else {
            Verdict::Applied
        }
    }
}

#[cfg(test)]
mod tests;
