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
//!       regex_engine: linear             # or backtracking (see below)
//!       timeout_millis: 30000            # bound of one backtracking search
//!       timeout_scope: pattern           # or event
//!       tag_on_timeout: _groktimeout
//! ```
//!
//! Syntax: `%{NAME}`, `%{NAME:field}`, `%{NAME:[nested][field]}`,
//! `%{NAME:field:int}` / `:float`, and raw named groups `(?<field>…)`.
//! The search is unanchored, as in Logstash; `^` and `$` match at line
//! boundaries.
//!
//! Engine: each expression is compiled once into a single regular
//! expression, run in time linear in the input: a backtracker over its
//! NFA that first runs with a work budget linear in the input and, if the
//! budget runs out, starts again never exploring the same state at the
//! same position twice (`engine.rs`), started where a match can begin (the line's first byte,
//! else where the lazy DFAs of `regex` find the leftmost match). Its
//! results are those of `regex` (tests compare the two over the whole
//! library); inputs too long for its memory budget are searched by `regex`
//! alone. No input can make such a search hang.
//!
//! Lookaround, atomic groups, possessive repetition, backreferences,
//! conditionals, `\G`, `\K` and the absence operator cannot run that way.
//! By default (`regex_engine: linear`) an expression that needs them fails
//! to build with an error naming the construct, its column and the option
//! that allows it. The library's own definitions that use them in Logstash
//! are rewritten (see `patterns/common/grok-patterns.txt` for each rewrite
//! and its effect), so the library never needs backtracking.
//!
//! With `regex_engine: backtracking`, such an expression runs on the
//! backtracking engine (`backtrack.rs`, fancy-regex); the filter's other
//! expressions stay on the linear engine. Its captures go through the same
//! capture table and storing code, so they land exactly as linear ones do
//! (tests compare both engines over the library). Each search is bounded
//! by a step count derived from `timeout_millis` ([`STEPS_PER_MILLI`] per
//! millisecond; `0`, Logstash's "no timeout", is refused): a step count
//! rather than a clock keeps the outcome the same on every machine and
//! under any load. A search that reaches it ends the filter for the event
//! as a Logstash timeout does: the event is tagged `tag_on_timeout` (not
//! `tag_on_failure`), the remaining expressions are not tried, nothing of
//! that field is stored, and the event goes on; the counter
//! `ganymede_grok_timeouts_total` counts it and a warning says so, at most
//! once a minute. `timeout_scope: event` also makes the backtracking
//! searches of one event share `timeout_millis` of wall time.
//! [`Filter::notices`] names each such expression for `ganymede check`.
//!
//! Captures are applied as in Logstash: an empty capture is skipped unless
//! `keep_empty_captures` (which also stores unmatched groups as `null`); a
//! field listed in `overwrite` is replaced; otherwise a capture into a
//! field that already holds a string turns it into an array of both, one
//! holding an array is appended to, and one holding anything else is left
//! alone. A field named twice in one expression follows the same rule, in
//! the order of the groups: two non-empty captures make an array (only the
//! one that took part counts when the two sit in different alternatives).

mod backtrack;
mod compile;
mod engine;
mod jump;
mod library;
mod store;

#[cfg(test)]
mod tests;

pub use backtrack::BoundHit;
pub use compile::{
    CompileOptions, CompiledGrok, Conversion, GrokError, Location, UNSET_SLOT, compile_expression,
    compile_expression_with,
};
pub use library::{EcsMode, families, pattern_names};

use crate::config::{ComponentConfig, ConfigError, ConfigErrors, Mark, NodeKind};
use crate::event::{Event, FieldPath, Map, Root, Value};
use crate::topology::{BuildContext, Filter, Notice, Verdict};
use compile::CaptureSpec;
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// Which engine may run an expression that needs backtracking.
    #[serde(default)]
    pub regex_engine: RegexEngine,
    /// The bound of one backtracking search, as Logstash's timeout:
    /// [`STEPS_PER_MILLI`] steps per millisecond.
    #[serde(default)]
    pub timeout_millis: Option<u64>,
    /// `pattern` (each search has the whole bound) or `event` (the
    /// searches of one event also share `timeout_millis` of wall time).
    #[serde(default)]
    pub timeout_scope: Option<String>,
    #[serde(default)]
    pub tag_on_timeout: Option<String>,
}

/// The `regex_engine` option.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegexEngine {
    /// Every expression runs in linear time; one that needs lookaround,
    /// atomic groups, possessive repetition or backreferences is an error.
    #[default]
    Linear,
    /// Such expressions run on the backtracking engine, each search
    /// bounded; all others still run on the linear engine.
    Backtracking,
}

/// Logstash's default `timeout_millis`.
pub const DEFAULT_TIMEOUT_MILLIS: u64 = 30_000;

/// Backtracking steps that one millisecond of `timeout_millis` allows.
/// A step count keeps the bound the same on every machine and under any
/// load. The engine takes far more steps than this per millisecond, so a
/// search reaches its bound well before `timeout_millis` of wall time on
/// ordinary inputs; a step that has to scan a very long text takes
/// longer, so the relation is approximate.
pub const STEPS_PER_MILLI: u64 = 1_000;

/// The step bound of one backtracking search for a `timeout_millis`.
pub fn backtrack_steps(timeout_millis: u64) -> usize {
    usize::try_from(timeout_millis.saturating_mul(STEPS_PER_MILLI)).unwrap_or(usize::MAX)
}

/// The tag that Logstash gives an event whose grok timed out.
const DEFAULT_TIMEOUT_TAG: &str = "_groktimeout";

/// How long the log stays quiet after saying that searches reach their
/// bound.
const TIMEOUT_LOG_EVERY: Duration = Duration::from_secs(60);

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
pub fn build(c: &ComponentConfig, ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
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
    let timeout_millis = config.timeout_millis.unwrap_or(DEFAULT_TIMEOUT_MILLIS);
    let backtrack_limit = match config.regex_engine {
        RegexEngine::Linear => None,
        RegexEngine::Backtracking => {
            if timeout_millis == 0 {
                // Logstash reads 0 as "no timeout"; here every backtracking
                // search must have a bound.
                errors.push(c.option_error(
                    "timeout_millis",
                    "0 would leave backtracking searches unbounded; with `regex_engine: backtracking` give a positive bound",
                ));
            }
            Some(backtrack_steps(timeout_millis.max(1)))
        }
    };
    let tag_on_timeout = config
        .tag_on_timeout
        .clone()
        .unwrap_or_else(|| DEFAULT_TIMEOUT_TAG.to_owned());

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
        backtrack_limit,
    };
    let mut notices = Vec::new();
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
                Ok(g) => {
                    if let Some((why, steps)) = g.backtracking() {
                        notices.push(Notice {
                            mark: pattern_mark(c, field, index),
                            message: format!(
                                "`{}` (id `{}`): `{expr}` runs on the backtracking engine ({why}); each search stops after {steps} steps (`timeout_millis: {timeout_millis}`) and then tags the event `{tag_on_timeout}`",
                                pattern_key(c, field, index),
                                c.id,
                            ),
                        });
                    }
                    groks.push(g);
                }
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
    let on_timeout = (!notices.is_empty()).then(|| OnTimeout {
        tag: tag_on_timeout,
        event_budget: (config.timeout_scope.as_deref() == Some("event"))
            .then(|| Duration::from_millis(timeout_millis)),
        count: ctx.metrics.counter(
            "ganymede_grok_timeouts_total",
            "Events whose backtracking grok search reached its bound (tagged `tag_on_timeout`).",
            &[
                ("pipeline", ctx.pipeline.as_str()),
                ("component", c.id.as_str()),
            ],
        ),
        log: TimeoutLog {
            pipeline: ctx.pipeline.clone(),
            component: c.id.clone(),
            started: Instant::now(),
            quiet_until_ms: AtomicU64::new(0),
            unreported: AtomicU64::new(0),
        },
    });
    let filter = GrokFilter {
        matches,
        overwrite,
        break_on_match: config.break_on_match,
        keep_empty_captures: config.keep_empty_captures,
        tag_on_failure: config.tag_on_failure.0,
        on_timeout,
        notices,
    };
    errors.into_result(Box::new(filter) as Box<dyn Filter>)
}

/// `match.FIELD` or `match.FIELD[i]` under the filter's key path.
fn pattern_key(c: &ComponentConfig, field: &str, index: Option<usize>) -> String {
    let mut key = format!("{}.match.{field}", c.key_path);
    if let Some(i) = index {
        key.push_str(&format!("[{i}]"));
    }
    key
}

/// Where one pattern of `match` is written.
fn pattern_mark(c: &ComponentConfig, field: &str, index: Option<usize>) -> Option<Mark> {
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
    mark.or_else(|| c.options.get("match").map(|n| n.mark))
}

/// An error about one pattern of `match`, at that pattern's position.
fn pattern_error(
    c: &ComponentConfig,
    field: &str,
    index: Option<usize>,
    message: &str,
) -> ConfigError {
    let mut key = format!("match.{field}");
    if let Some(i) = index {
        key.push_str(&format!("[{i}]"));
    }
    let mut e = ConfigError::new(message.to_owned());
    if let Some(m) = pattern_mark(c, field, index) {
        e = e.at(m);
    }
    e.under(&key).under(&c.key_path)
}

/// Reads every file of `dir` whose name matches `glob` (a path to a file
/// is read as is), in name order. Hidden files are skipped, as Ruby's
/// `Dir.glob` skips them for Logstash.
pub fn read_patterns_dir(dir: &Path, glob: &str) -> Result<Vec<(String, String)>, String> {
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
                    .is_some_and(|n| !n.starts_with('.') && glob_match(glob, n))
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
    /// Set when some expression runs on the backtracking engine.
    on_timeout: Option<OnTimeout>,
    /// One per expression on the backtracking engine, for `ganymede check`.
    notices: Vec<Notice>,
}

/// What happens when a backtracking search reaches its bound.
struct OnTimeout {
    tag: String,
    /// `timeout_scope: event`: the wall time that the backtracking
    /// searches of one event share.
    event_budget: Option<Duration>,
    count: Arc<AtomicU64>,
    log: TimeoutLog,
}

/// Says that searches reach their bound: the first time, then at most once
/// per [`TIMEOUT_LOG_EVERY`], with how many went unreported in between, so
/// that a flood of such events cannot flood the log.
struct TimeoutLog {
    pipeline: String,
    component: String,
    started: Instant,
    /// Milliseconds after `started` before which nothing is logged.
    quiet_until_ms: AtomicU64,
    unreported: AtomicU64,
}

impl TimeoutLog {
    fn record(&self, field: &FieldPath, expression: &str, tag: &str) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let until = self.quiet_until_ms.load(Ordering::Relaxed);
        let next = now.saturating_add(TIMEOUT_LOG_EVERY.as_millis() as u64);
        if now < until
            || self
                .quiet_until_ms
                .compare_exchange(until, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.unreported.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let unreported = self.unreported.swap(0, Ordering::Relaxed);
        tracing::warn!(
            pipeline = %self.pipeline,
            component = %self.component,
            field = %field,
            expression,
            unreported,
            "grok: a backtracking search reached its bound (`timeout_millis`); the event is tagged `{tag}` and passed on"
        );
    }
}

/// When the backtracking searches of one event started, for
/// `timeout_scope: event` (read from the clock only once one runs).
#[derive(Default)]
struct EventClock(Option<Instant>);

impl EventClock {
    fn spent(&mut self, budget: Duration) -> bool {
        self.0.get_or_insert_with(Instant::now).elapsed() > budget
    }
}

/// The captures of the matches on one field, waiting until the text is no
/// longer borrowed: one slot per capture of each matching expression
/// (`None`: nothing to store), and per match the expression's place in
/// its list and its slots in `values`. Kept per thread and reused, so that
/// matching allocates nothing but the values themselves.
#[derive(Default)]
struct Captured {
    values: Vec<Option<Value>>,
    pending: Vec<(usize, std::ops::Range<usize>)>,
    /// The capture slots of one search, as many as the largest expression
    /// needs; each search sets its own before it starts.
    slots: Vec<usize>,
}

impl Captured {
    fn clear(&mut self) {
        self.values.clear();
        self.pending.clear();
    }
}

thread_local! {
    static CAPTURED: std::cell::RefCell<Captured> = std::cell::RefCell::default();
}

impl GrokFilter {
    /// Tries `groks` on one text and queues the captures of each match.
    /// `Err` names the expression whose backtracking search reached its
    /// bound (or found the event's time spent): the event is done.
    fn collect<'g>(
        &self,
        groks: &'g [CompiledGrok],
        text: &str,
        out: &mut Captured,
        clock: &mut EventClock,
    ) -> Result<bool, &'g CompiledGrok> {
        let mut matched = false;
        for (index, grok) in groks.iter().enumerate() {
            let n = grok.slot_count();
            if out.slots.len() < n {
                out.slots.resize(n, engine::UNSET);
            }
            let slots = &mut out.slots[..n];
            if grok.is_backtracking()
                && let Some(budget) = self.on_timeout.as_ref().and_then(|t| t.event_budget)
                && clock.spent(budget)
            {
                return Err(grok);
            }
            match grok.search(text, slots) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(BoundHit) => return Err(grok),
            }
            matched = true;
            let from = out.values.len();
            out.values.extend(grok.specs().iter().map(|spec| {
                let (s, e) = (slots[2 * spec.group], slots[2 * spec.group + 1]);
                if s != engine::UNSET {
                    (s < e || self.keep_empty_captures)
                        .then(|| compile::convert(&text[s..e], spec.conversion))
                } else {
                    self.keep_empty_captures.then_some(Value::Null)
                }
            }));
            out.pending.push((index, from..out.values.len()));
            if self.break_on_match {
                break;
            }
        }
        Ok(matched)
    }

    /// [`Filter::process`] with the thread's room for captures.
    fn process_with(&self, event: &mut Event, captured: &mut Captured) -> Verdict {
        let mut matched = false;
        let mut clock = EventClock::default();
        for (field, groks) in &self.matches {
            // Logstash matches each element of an array, and the text form
            // of any other value (a missing field is the empty text).
            // Captures are queued while the text is borrowed, then stored.
            let outcome = match event.get(field) {
                Some(Value::String(s)) => self.collect(groks, s, captured, &mut clock),
                Some(Value::Array(items)) => {
                    let mut any = Ok(false);
                    for item in items {
                        let one = match item {
                            Value::String(s) => self.collect(groks, s, captured, &mut clock),
                            other => self.collect(groks, &other.to_text(), captured, &mut clock),
                        };
                        match one {
                            Ok(m) => any = any.map(|a| a | m),
                            Err(grok) => {
                                any = Err(grok);
                                break;
                            }
                        }
                    }
                    any
                }
                Some(other) => self.collect(groks, &other.to_text(), captured, &mut clock),
                None => self.collect(groks, "", captured, &mut clock),
            };
            let ok = match outcome {
                Ok(ok) => ok,
                Err(grok) => {
                    // As in Logstash, a timeout ends the filter for this
                    // event: no failure tag, no shared decorations, and
                    // nothing of this field stored (captures stored for
                    // earlier fields stay).
                    captured.clear();
                    self.timed_out(event, field, grok);
                    return Verdict::Skipped;
                }
            };
            for k in 0..captured.pending.len() {
                let (index, range) = captured.pending[k].clone();
                self.store(event, &groks[index], &mut captured.values[range]);
            }
            captured.clear();
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

    /// A backtracking search of `grok` on `field` reached its bound.
    fn timed_out(&self, event: &mut Event, field: &FieldPath, grok: &CompiledGrok) {
        let Some(t) = &self.on_timeout else {
            return;
        };
        event.add_tag(&t.tag);
        t.count.fetch_add(1, Ordering::Relaxed);
        t.log.record(field, grok.expression(), &t.tag);
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
        CAPTURED.with(|cell| match cell.try_borrow_mut() {
            Ok(mut captured) => {
                captured.clear();
                self.process_with(event, &mut captured)
            }
            // Only reachable if a grok ever ran inside another one.
            Err(_) => self.process_with(event, &mut Captured::default()),
        })
    }

    fn notices(&self) -> Vec<Notice> {
        self.notices.clone()
    }
}
