//! `grok`: parses text fields with named patterns, as Logstash's grok does.
//!
//! ```yaml
//! filters:
//!   - grok:
//!       match:
//!         message: '%{TIMESTAMP_ISO8601:timestamp} %{LOGLEVEL:level} %{GREEDYDATA:message}'
//!         # or several patterns, tried in order: message: ['%{A}', '%{B}']
//!       overwrite: [message]
//!       pattern_definitions: { MYNUM: '\d+' }
//!       patterns_dir: [./patterns]       # files of `NAME regex` lines
//!       patterns_files_glob: '*'         # which files of patterns_dir to read
//!       ecs_compatibility: v1            # or disabled (legacy field names)
//!       break_on_match: true
//!       keep_empty_captures: false
//!       named_captures_only: true
//!       tag_on_failure: [_grokparsefailure]
//! ```
//!
//! Syntax: `%{NAME}`, `%{NAME:field}`, `%{NAME:[nested][field]}`,
//! `%{NAME:field:int}` / `:float`, and raw named groups `(?<field>…)`.
//! The search is unanchored, as in Logstash; `^` and `$` match at line
//! boundaries.
//!
//! Engine: each expression is compiled once into a single regular
//! expression, run in time linear in the input: a bounded backtracker over
//! its NFA that never explores the same state at the same position twice
//! (`engine.rs`), started where a match can begin (the line's first byte,
//! else where the lazy DFAs of `regex` find the leftmost match). Its
//! results are those of `regex` (tests compare the two over the whole
//! library); inputs too long for its memory budget are searched by `regex`
//! alone. There is no catastrophic backtracking, so `timeout_millis` (and
//! `timeout_scope`, `tag_on_timeout`) are accepted for compatibility and
//! have no effect.
//! The price is that lookaround, atomic groups, possessive repetition and
//! backreferences cannot be used: an expression that needs them fails to
//! build with an error naming the construct and its column. The library's
//! own definitions that use them in Logstash are rewritten (see
//! `patterns/common/grok-patterns.txt` for each rewrite and its effect).
//!
//! Captures are applied as in Logstash: an empty capture is skipped unless
//! `keep_empty_captures` (which also stores unmatched groups as `null`); a
//! field listed in `overwrite` is replaced; otherwise a capture into a
//! field that already holds a string turns it into an array of both, one
//! holding an array is appended to, and one holding anything else is left
//! alone. A field named twice in one expression follows the same rule, in
//! the order of the groups: two non-empty captures make an array (only the
//! one that took part counts when the two sit in different alternatives).

mod compile;
mod engine;
mod library;
mod store;

#[cfg(test)]
mod tests;

pub use compile::{
    CompileOptions, CompiledGrok, Conversion, GrokError, Location, UNSET_SLOT, compile_expression,
};
pub use library::{EcsMode, families, pattern_names};

use crate::config::{ComponentConfig, ConfigError, ConfigErrors, Mark, NodeKind};
use crate::event::{Event, FieldPath, Map, Root, Value};
use crate::topology::{BuildContext, Filter, Verdict};
use compile::CaptureSpec;
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One pattern or a list of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a pattern or a list of patterns")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_owned()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Options of the `grok` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrokConfig {
    /// Field → pattern(s).
    #[serde(rename = "match")]
    pub matches: IndexMap<String, OneOrMany>,
    #[serde(default)]
    pub overwrite: OneOrMany,
    #[serde(default)]
    pub pattern_definitions: IndexMap<String, String>,
    #[serde(default)]
    pub patterns_dir: OneOrMany,
    #[serde(default = "default_glob")]
    pub patterns_files_glob: String,
    #[serde(default)]
    pub ecs_compatibility: EcsMode,
    #[serde(default = "yes")]
    pub break_on_match: bool,
    #[serde(default)]
    pub keep_empty_captures: bool,
    #[serde(default = "yes")]
    pub named_captures_only: bool,
    #[serde(default = "default_tags")]
    pub tag_on_failure: OneOrMany,
    /// Accepted for compatibility; matching is linear and never times out.
    #[serde(default)]
    pub timeout_millis: Option<u64>,
    #[serde(default)]
    pub timeout_scope: Option<String>,
    #[serde(default)]
    pub tag_on_timeout: Option<String>,
}

fn yes() -> bool {
    true
}

fn default_glob() -> String {
    "*".to_owned()
}

fn default_tags() -> OneOrMany {
    OneOrMany(vec!["_grokparsefailure".to_owned()])
}

/// Builds the filter from its options.
pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
    let config: GrokConfig = c.parse_options()?;
    let mut errors = ConfigErrors::default();
    if config.matches.is_empty() {
        errors.push(c.option_error("match", "`match` needs at least one field: pattern"));
    }
    if let Some(scope) = &config.timeout_scope
        && scope != "pattern"
        && scope != "event"
    {
        errors.push(c.option_error(
            "timeout_scope",
            format!("unknown value `{scope}`; expected `pattern` or `event`"),
        ));
    }

    // Definitions from files first, then inline ones (which win).
    let mut defs: Vec<(String, String)> = Vec::new();
    for dir in &config.patterns_dir.0 {
        match read_patterns_dir(Path::new(dir), &config.patterns_files_glob) {
            Ok(found) => defs.extend(found),
            Err(msg) => errors.push(c.option_error("patterns_dir", msg)),
        }
    }
    for (k, v) in &config.pattern_definitions {
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            errors.push(c.option_error(
                "pattern_definitions",
                format!("invalid pattern name `{k}`: use letters, digits, `_` and `-`"),
            ));
        }
        defs.push((k.clone(), v.clone()));
    }
    let extra: HashMap<&str, &str> = defs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let options = CompileOptions {
        named_captures_only: config.named_captures_only,
    };
    let mut matches = Vec::new();
    for (field, patterns) in &config.matches {
        let path = match super::field_option(c, "match", field) {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if patterns.0.is_empty() {
            errors.push(pattern_error(c, field, None, "no pattern given"));
        }
        let mut groks = Vec::new();
        for (i, expr) in patterns.0.iter().enumerate() {
            let index = (patterns.0.len() > 1).then_some(i);
            match compile::compile_with(expr, config.ecs_compatibility, &extra, options) {
                Ok(g) => groks.push(g),
                Err(e) => errors.push(pattern_error(c, field, index, &e.to_string())),
            }
        }
        matches.push((path, groks));
    }
    let mut overwrite = Vec::new();
    for f in &config.overwrite.0 {
        match super::field_option(c, "overwrite", f) {
            Ok(p) => overwrite.push(p),
            Err(e) => errors.push(e),
        }
    }
    let filter = GrokFilter {
        matches,
        overwrite,
        break_on_match: config.break_on_match,
        keep_empty_captures: config.keep_empty_captures,
        tag_on_failure: config.tag_on_failure.0,
    };
    errors.into_result(Box::new(filter) as Box<dyn Filter>)
}

/// An error about one pattern of `match`, at that pattern's position.
fn pattern_error(
    c: &ComponentConfig,
    field: &str,
    index: Option<usize>,
    message: &str,
) -> ConfigError {
    let field_node = c
        .options
        .get("match")
        .and_then(|m| m.as_map())
        .and_then(|pairs| pairs.iter().find(|(k, _)| k.as_str() == Some(field)))
        .map(|(_, v)| v);
    let mark: Option<Mark> = match (field_node, index) {
        (Some(n), Some(i)) => match &n.kind {
            NodeKind::Seq(items) => items.get(i).map(|x| x.mark),
            _ => Some(n.mark),
        },
        (Some(n), None) => Some(n.mark),
        (None, _) => None,
    };
    let mut key = format!("match.{field}");
    if let Some(i) = index {
        key.push_str(&format!("[{i}]"));
    }
    let mut e = ConfigError::new(message.to_owned());
    if let Some(m) = mark.or_else(|| c.options.get("match").map(|n| n.mark)) {
        e = e.at(m);
    }
    e.under(&key).under(&c.key_path)
}

/// Reads every file of `dir` whose name matches `glob` (a path to a file
/// is read as is), in name order.
fn read_patterns_dir(dir: &Path, glob: &str) -> Result<Vec<(String, String)>, String> {
    let files: Vec<PathBuf> = if dir.is_file() {
        vec![dir.to_owned()]
    } else {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read patterns folder `{}`: {e}", dir.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| glob_match(glob, n))
            })
            .collect();
        files.sort();
        files
    };
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)
            .map_err(|e| format!("cannot read patterns file `{}`: {e}", f.display()))?;
        out.extend(
            library::definitions(&text).map(|(name, def)| (name.to_owned(), def.to_owned())),
        );
    }
    Ok(out)
}

/// A file-name glob with `*` and `?`.
fn glob_match(glob: &str, name: &str) -> bool {
    fn go(g: &[u8], n: &[u8]) -> bool {
        match (g.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&g[1..], n) || (!n.is_empty() && go(g, &n[1..])),
            (Some(b'?'), Some(_)) => go(&g[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&g[1..], &n[1..]),
            _ => false,
        }
    }
    go(glob.as_bytes(), name.as_bytes())
}

/// The compiled filter.
pub struct GrokFilter {
    matches: Vec<(FieldPath, Vec<CompiledGrok>)>,
    overwrite: Vec<FieldPath>,
    break_on_match: bool,
    keep_empty_captures: bool,
    tag_on_failure: Vec<String>,
}

/// The captures of one match, one slot per capture of its expression
/// (`None`: nothing to store), waiting until the text is no longer
/// borrowed.
type Pending<'g> = (&'g CompiledGrok, Vec<Option<Value>>);

/// Capture slots kept on the stack for expressions with up to this many.
const STACK_SLOTS: usize = 64;

impl GrokFilter {
    /// Tries `groks` on one text and queues the captures of each match.
    fn collect<'g>(
        &self,
        groks: &'g [CompiledGrok],
        text: &str,
        out: &mut Vec<Pending<'g>>,
    ) -> bool {
        let mut matched = false;
        let mut on_stack = [engine::UNSET; STACK_SLOTS];
        let mut on_heap = Vec::new();
        for grok in groks {
            let n = grok.slot_count();
            let slots: &mut [usize] = if n <= STACK_SLOTS {
                &mut on_stack[..n]
            } else {
                on_heap.clear();
                on_heap.resize(n, engine::UNSET);
                &mut on_heap
            };
            if !grok.search(text, slots) {
                continue;
            }
            matched = true;
            let values = grok
                .specs()
                .iter()
                .map(|spec| {
                    let (s, e) = (slots[2 * spec.group], slots[2 * spec.group + 1]);
                    if s != engine::UNSET {
                        (s < e || self.keep_empty_captures)
                            .then(|| compile::convert(&text[s..e], spec.conversion))
                    } else {
                        self.keep_empty_captures.then_some(Value::Null)
                    }
                })
                .collect();
            out.push((grok, values));
            if self.break_on_match {
                break;
            }
        }
        matched
    }

    /// Stores the captures of one match, in one walk where the expression
    /// allows it (see `store.rs`), else one by one.
    fn store(&self, event: &mut Event, grok: &CompiledGrok, values: &mut [Option<Value>]) {
        let specs = grok.specs();
        #[cfg(test)]
        let tree = grok.tree().filter(|_| !tests::ONE_BY_ONE.with(|c| c.get()));
        #[cfg(not(test))]
        let tree = grok.tree();
        if let Some(tree) = tree {
            let overwrite = |i: usize| store::listed(&self.overwrite, &specs[i].path);
            let mut deferred = Vec::new();
            tree.apply(
                Root::Fields,
                event.fields_mut(),
                values,
                &overwrite,
                &mut deferred,
            );
            if tree.has_metadata() {
                tree.apply(
                    Root::Metadata,
                    event.metadata_mut(),
                    values,
                    &overwrite,
                    &mut deferred,
                );
            }
            deferred.sort_unstable();
            for i in deferred {
                if let Some(value) = values[i].take() {
                    self.apply(event, &specs[i], value);
                }
            }
            return;
        }
        for (spec, value) in specs.iter().zip(values.iter_mut()) {
            if let Some(value) = value.take() {
                self.apply(event, spec, value);
            }
        }
    }

    /// Stores one capture (Logstash's rule; see the module docs).
    fn apply(&self, event: &mut Event, spec: &CaptureSpec, value: Value) {
        let overwrite = store::listed(&self.overwrite, &spec.path);
        // One walk down the path; anything but objects on the way (an
        // array a numeric segment would index, a scalar `set` would
        // replace) takes the general route below.
        let value = match spec.path.segments().split_last() {
            Some((last, parents)) => {
                let root = match spec.path.root() {
                    Root::Fields => event.fields_mut(),
                    Root::Metadata => event.metadata_mut(),
                };
                match store_one(root, parents, last, value, overwrite) {
                    Ok(()) => return,
                    Err(value) => value,
                }
            }
            None => value,
        };
        if overwrite {
            event.set(&spec.path, value);
            return;
        }
        match event.get_mut(&spec.path) {
            None => event.set(&spec.path, value),
            Some(slot) => store::merge(slot, value),
        }
    }
}

/// Stores `value` at `parents.last` under `map`, as `Event::get_mut`
/// followed by `Event::set` (or `set` alone when `overwrite`) would, when
/// every parent on the way is an object or missing; otherwise hands the
/// value back untouched.
fn store_one(
    map: &mut Map,
    parents: &[crate::event::Key],
    last: &crate::event::Key,
    value: Value,
    overwrite: bool,
) -> Result<(), Value> {
    match parents.split_first() {
        Some((seg, rest)) => match map.get_mut(seg.as_str()) {
            Some(Value::Object(inner)) => store_one(inner, rest, last, value, overwrite),
            Some(_) => Err(value),
            None => {
                let mut leaf = Map::new();
                leaf.insert(last.clone(), value);
                let nested = rest.iter().rev().fold(leaf, |child, seg| {
                    let mut m = Map::new();
                    m.insert(seg.clone(), Value::Object(child));
                    m
                });
                map.insert(seg.clone(), Value::Object(nested));
                Ok(())
            }
        },
        None => {
            match map.get_mut(last.as_str()) {
                Some(slot) if overwrite => *slot = value,
                Some(slot) => store::merge(slot, value),
                None => {
                    map.insert(last.clone(), value);
                }
            }
            Ok(())
        }
    }
}

impl Filter for GrokFilter {
    fn process(&self, event: &mut Event) -> Verdict {
        let mut matched = false;
        let mut pending: Vec<Pending> = Vec::with_capacity(1);
        for (field, groks) in &self.matches {
            // Logstash matches each element of an array, and the text form
            // of any other value (a missing field is the empty text).
            // Captures are queued while the text is borrowed, then stored.
            let ok = match event.get(field) {
                Some(Value::String(s)) => self.collect(groks, s, &mut pending),
                Some(Value::Array(items)) => {
                    let mut any = false;
                    for item in items {
                        any |= match item {
                            Value::String(s) => self.collect(groks, s, &mut pending),
                            other => self.collect(groks, &other.to_text(), &mut pending),
                        };
                    }
                    any
                }
                Some(other) => self.collect(groks, &other.to_text(), &mut pending),
                None => self.collect(groks, "", &mut pending),
            };
            for (grok, mut values) in pending.drain(..) {
                self.store(event, grok, &mut values);
            }
            if ok {
                matched = true;
                if self.break_on_match {
                    break;
                }
            }
        }
        if matched {
            Verdict::Applied
        } else {
            for t in &self.tag_on_failure {
                event.add_tag(t);
            }
            Verdict::Skipped
        }
    }
}
