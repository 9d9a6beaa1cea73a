//! `kv`: parses `key=value` text into fields, as Logstash's kv filter does.
//!
//! ```yaml
//! filters:
//!   - kv:
//!       source: message            # default
//!       target: params             # default: the event's top level
//!       field_split: "&?"          # characters between pairs (default " ")
//!       value_split: "="           # characters between key and value (default "=")
//!       include_keys: [from, to]
//!       prefix: "arg_"
//! ```
//!
//! `field_split` and `value_split` are sets of single characters, written
//! as the inside of a regex class (`"&?"`, `"\t"`); `field_split_pattern`
//! and `value_split_pattern` are whole regexes (`":+"`) and win over them.
//! A value in `"…"` or `'…'` (and, with `include_brackets`, `(…)`, `[…]`,
//! `<…>`) is taken whole, without the quotes. A key seen twice becomes a
//! list of its values.
//!
//! Parsing needs no backtracking and is linear in the text, so
//! `timeout_millis` and `tag_on_timeout` are accepted for compatibility
//! and have no effect.

mod scan;

pub use scan::{CharClass, Pair, Scanner, Splitter};

use crate::config::{ComponentConfig, ConfigError, ConfigErrors};
use crate::event::{Event, FieldPath, Map, Value};
use crate::expr::Template;
use crate::filters::mutate::{StringList, capitalize};
use crate::topology::{BuildContext, Filter, Verdict};
use indexmap::IndexMap;
use regex::Regex;
use serde::Deserialize;
use std::collections::HashSet;

/// A case change applied to keys or values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    Lowercase,
    Uppercase,
    Capitalize,
}

impl Transform {
    fn apply(self, s: &str) -> String {
        match self {
            Transform::Lowercase => s.to_lowercase(),
            Transform::Uppercase => s.to_uppercase(),
            Transform::Capitalize => capitalize(s),
        }
    }
}

/// `whitespace`: may spaces surround the value separator?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Whitespace {
    #[default]
    Lenient,
    Strict,
}

/// Options of the `kv` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvConfig {
    #[serde(default = "default_source")]
    pub source: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default = "default_field_split")]
    pub field_split: String,
    #[serde(default = "default_value_split")]
    pub value_split: String,
    #[serde(default)]
    pub field_split_pattern: Option<String>,
    #[serde(default)]
    pub value_split_pattern: Option<String>,
    #[serde(default)]
    pub trim_key: Option<String>,
    #[serde(default)]
    pub trim_value: Option<String>,
    #[serde(default)]
    pub remove_char_key: Option<String>,
    #[serde(default)]
    pub remove_char_value: Option<String>,
    #[serde(default)]
    pub transform_key: Option<Transform>,
    #[serde(default)]
    pub transform_value: Option<Transform>,
    #[serde(default)]
    pub include_keys: StringList,
    #[serde(default)]
    pub exclude_keys: StringList,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub default_keys: IndexMap<String, String>,
    #[serde(default = "yes")]
    pub allow_duplicate_values: bool,
    #[serde(default)]
    pub allow_empty_values: bool,
    #[serde(default = "yes")]
    pub include_brackets: bool,
    #[serde(default)]
    pub recursive: bool,
    #[serde(default)]
    pub whitespace: Whitespace,
    #[serde(default = "default_tags")]
    pub tag_on_failure: StringList,
    /// Accepted for compatibility; parsing is linear and never times out.
    #[serde(default)]
    pub timeout_millis: Option<u64>,
    #[serde(default)]
    pub tag_on_timeout: Option<String>,
}

fn default_source() -> String {
    "message".to_owned()
}

fn default_field_split() -> String {
    " ".to_owned()
}

fn default_value_split() -> String {
    "=".to_owned()
}

fn yes() -> bool {
    true
}

fn default_tags() -> StringList {
    StringList::one("_kv_filter_error")
}

/// `include_keys` / `exclude_keys`: fixed, or sprintf rendered per event.
enum Keys {
    Fixed(HashSet<String>),
    Dynamic(Vec<Template>),
}

impl Keys {
    fn resolve(&self, event: &Event) -> Option<HashSet<String>> {
        match self {
            Keys::Fixed(_) => None,
            Keys::Dynamic(ts) => Some(ts.iter().map(|t| t.render_string(event)).collect()),
        }
    }

    fn fixed(&self) -> Option<&HashSet<String>> {
        match self {
            Keys::Fixed(set) => Some(set),
            Keys::Dynamic(_) => None,
        }
    }
}

fn splitter(
    c: &ComponentConfig,
    chars_key: &str,
    chars: &str,
    pattern_key: &str,
    pattern: Option<&str>,
) -> Result<Splitter, ConfigError> {
    match pattern {
        Some(p) => {
            if p.is_empty() {
                return Err(c.option_error(pattern_key, "must not be empty"));
            }
            let re = Regex::new(p)
                .map_err(|e| c.option_error(pattern_key, format!("invalid regex: {e}")))?;
            if re.is_match("") {
                return Err(c.option_error(
                    pattern_key,
                    "the regex matches the empty string; a separator must take at least one character",
                ));
            }
            Ok(Splitter::Pattern(re))
        }
        None => {
            if chars.is_empty() {
                return Err(c.option_error(chars_key, "must name at least one character"));
            }
            char_class(c, chars_key, chars).map(Splitter::Chars)
        }
    }
}

fn char_class(c: &ComponentConfig, key: &str, chars: &str) -> Result<CharClass, ConfigError> {
    CharClass::new(chars).map_err(|e| {
        c.option_error(
            key,
            format!("invalid character set `{chars}` (the inside of a regex class; escape `[` and `]`): {e}"),
        )
    })
}

/// Keeps the value, or records the error.
fn ok<T>(errors: &mut ConfigErrors, r: Result<T, ConfigError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

fn keys(c: &ComponentConfig, key: &str, list: &StringList) -> Result<Keys, ConfigError> {
    if list.0.iter().all(|k| !k.contains("%{")) {
        return Ok(Keys::Fixed(list.0.iter().cloned().collect()));
    }
    list.0
        .iter()
        .map(|k| {
            Template::parse(k)
                .map_err(|e| c.option_error(key, format!("invalid sprintf template `{k}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Keys::Dynamic)
}

fn optional_class(
    c: &ComponentConfig,
    key: &str,
    chars: &Option<String>,
) -> Result<Option<CharClass>, ConfigError> {
    chars.as_deref().map(|s| char_class(c, key, s)).transpose()
}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
    let config: KvConfig = c.parse_options()?;
    let e = &mut ConfigErrors::default();
    let source = ok(e, super::field_option(c, "source", &config.source));
    let target = ok(
        e,
        config
            .target
            .as_deref()
            .map(|t| super::field_option(c, "target", t))
            .transpose(),
    );
    let field = ok(
        e,
        splitter(
            c,
            "field_split",
            &config.field_split,
            "field_split_pattern",
            config.field_split_pattern.as_deref(),
        ),
    );
    let value = ok(
        e,
        splitter(
            c,
            "value_split",
            &config.value_split,
            "value_split_pattern",
            config.value_split_pattern.as_deref(),
        ),
    );
    let trim_key = ok(e, optional_class(c, "trim_key", &config.trim_key));
    let trim_value = ok(e, optional_class(c, "trim_value", &config.trim_value));
    let remove_char_key = ok(
        e,
        optional_class(c, "remove_char_key", &config.remove_char_key),
    );
    let remove_char_value = ok(
        e,
        optional_class(c, "remove_char_value", &config.remove_char_value),
    );
    let include_keys = ok(e, keys(c, "include_keys", &config.include_keys));
    let exclude_keys = ok(e, keys(c, "exclude_keys", &config.exclude_keys));
    let prefix = ok(
        e,
        Template::parse(&config.prefix)
            .map_err(|err| c.option_error("prefix", format!("invalid sprintf template: {err}"))),
    );
    let (
        Some(source),
        Some(target),
        Some(field),
        Some(value),
        Some(trim_key),
        Some(trim_value),
        Some(remove_char_key),
        Some(remove_char_value),
        Some(include_keys),
        Some(exclude_keys),
        Some(prefix),
    ) = (
        source,
        target,
        field,
        value,
        trim_key,
        trim_value,
        remove_char_key,
        remove_char_value,
        include_keys,
        exclude_keys,
        prefix,
    )
    else {
        return Err(std::mem::take(e));
    };
    let defaults = config
        .default_keys
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.into())))
        .collect();
    Ok(Box::new(KvFilter {
        source,
        target,
        scanner: Scanner {
            field,
            value,
            lenient: config.whitespace == Whitespace::Lenient,
            brackets: config.include_brackets,
        },
        trim_key,
        trim_value,
        remove_char_key,
        remove_char_value,
        transform_key: config.transform_key,
        transform_value: config.transform_value,
        include_keys,
        exclude_keys,
        prefix,
        defaults,
        allow_duplicate_values: config.allow_duplicate_values,
        allow_empty_values: config.allow_empty_values,
        recursive: config.recursive,
        tag_on_failure: config.tag_on_failure.0,
    }))
}

/// Parses key=value text.
pub struct KvFilter {
    source: FieldPath,
    target: Option<FieldPath>,
    scanner: Scanner,
    trim_key: Option<CharClass>,
    trim_value: Option<CharClass>,
    remove_char_key: Option<CharClass>,
    remove_char_value: Option<CharClass>,
    transform_key: Option<Transform>,
    transform_value: Option<Transform>,
    include_keys: Keys,
    exclude_keys: Keys,
    prefix: Template,
    defaults: Map,
    allow_duplicate_values: bool,
    allow_empty_values: bool,
    recursive: bool,
    tag_on_failure: Vec<String>,
}

/// What key filtering and naming need for one event.
struct PerEvent<'a> {
    include: &'a HashSet<String>,
    exclude: &'a HashSet<String>,
    prefix: &'a str,
}

/// Applies `trim`, `remove` and `transform` to a key or a value.
fn clean(
    s: &str,
    trim: Option<&CharClass>,
    remove: Option<&CharClass>,
    transform: Option<Transform>,
) -> String {
    let mut s = match trim {
        Some(t) => s.trim_matches(|c| t.contains(c)),
        None => s,
    };
    let removed;
    if let Some(r) = remove {
        removed = s.chars().filter(|&c| !r.contains(c)).collect::<String>();
        s = &removed;
    }
    match transform {
        Some(t) => t.apply(s),
        None => s.to_owned(),
    }
}

impl KvFilter {
    /// Adds the pairs of `text` to `kv`.
    fn parse(&self, text: &str, ctx: &PerEvent, kv: &mut Map) {
        for ((ka, kb), value) in self.scanner.pairs(text) {
            let raw_value = value.map_or("", |(a, b)| &text[a..b]);
            if raw_value.is_empty() && !self.allow_empty_values {
                continue;
            }
            let key = clean(
                &text[ka..kb],
                self.trim_key.as_ref(),
                self.remove_char_key.as_ref(),
                self.transform_key,
            );
            if !ctx.include.is_empty() && !ctx.include.contains(&key) {
                continue;
            }
            if ctx.exclude.contains(&key) {
                continue;
            }
            let key = if ctx.prefix.is_empty() {
                key
            } else {
                format!("{}{key}", ctx.prefix)
            };
            let text_value = clean(
                raw_value,
                self.trim_value.as_ref(),
                self.remove_char_value.as_ref(),
                self.transform_value,
            );
            let mut value = Value::String(text_value.into());
            if !self.allow_duplicate_values {
                let seen = match kv.get(&key) {
                    Some(Value::Array(items)) => items.contains(&value),
                    Some(v) => *v == value,
                    None => false,
                };
                if seen {
                    continue;
                }
            }
            if self.recursive
                && let Value::String(s) = &value
            {
                let mut inner = Map::new();
                self.parse(s, ctx, &mut inner);
                if !inner.is_empty() {
                    value = Value::Object(inner);
                }
            }
            match kv.get_mut(&key) {
                Some(Value::Array(items)) => items.push(value),
                Some(existing) => {
                    let old = std::mem::take(existing);
                    *existing = Value::Array(vec![old, value]);
                }
                None => {
                    kv.insert(key, value);
                }
            }
        }
    }
}

impl Filter for KvFilter {
    fn process(&self, event: &mut Event) -> Verdict {
        let include_dynamic = self.include_keys.resolve(event);
        let exclude_dynamic = self.exclude_keys.resolve(event);
        let prefix = if self.prefix.is_constant() {
            None
        } else {
            Some(self.prefix.render_string(event))
        };
        let empty = HashSet::new();
        let ctx = PerEvent {
            include: include_dynamic
                .as_ref()
                .or(self.include_keys.fixed())
                .unwrap_or(&empty),
            exclude: exclude_dynamic
                .as_ref()
                .or(self.exclude_keys.fixed())
                .unwrap_or(&empty),
            prefix: prefix.as_deref().unwrap_or(self.prefix.source()),
        };
        let mut kv = Map::new();
        let mut failed = false;
        match event.get(&self.source) {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => self.parse(text, &ctx, &mut kv),
            Some(Value::Array(items)) => {
                for item in items {
                    if let Value::String(text) = item {
                        self.parse(text, &ctx, &mut kv);
                    }
                }
            }
            Some(_) => failed = true,
        }
        let kv = if self.defaults.is_empty() {
            kv
        } else {
            let mut merged = self.defaults.clone();
            merged.extend(kv);
            merged
        };
        let wrote = !kv.is_empty();
        if wrote {
            match &self.target {
                Some(target) => event.set(target, Value::Object(kv)),
                None => {
                    for (k, v) in kv {
                        // Never replace the event time or its metadata
                        // with parsed text.
                        if k == crate::event::TIMESTAMP || k == "@metadata" {
                            failed = true;
                            continue;
                        }
                        event.set(&FieldPath::key(&k), v);
                    }
                }
            }
        }
        if failed {
            for t in &self.tag_on_failure {
                event.add_tag(t);
            }
            return Verdict::Skipped;
        }
        if wrote {
            Verdict::Applied
        } else {
            Verdict::Skipped
        }
    }
}

#[cfg(test)]
mod tests;
