//! Turns a grok expression into one regular expression: a `regex::Regex`
//! (its DFAs find where a match starts when it is not at the beginning)
//! plus the NFA that the capture engine in `engine.rs` runs; or, for an
//! expression that needs backtracking and a filter that allows it, a
//! program of the backtracking engine (`backtrack.rs`).
//!
//! Expansion is textual, as in Logstash: every `%{NAME}` is replaced by the
//! definition of `NAME` (recursively), `%{NAME:field}` and `(?<field>…)`
//! become capture groups with generated names (`g0`, `g1`, …) and a side
//! table maps each group to its field path and type conversion.
//!
//! Logstash's regex dialect (Oniguruma, Ruby syntax) is translated on the
//! way so that expressions mean what they mean in Logstash:
//!
//! * `^` and `$` always match at line boundaries (the regex is built in
//!   multi-line mode); Ruby's `(?m)` flag ("dot matches newline") becomes
//!   `(?s)`.
//! * `\d`, `\w`, `\s`, `\h` and their negations are ASCII classes, and `\b`,
//!   `\B` are ASCII word boundaries, as in Ruby. Besides matching Logstash,
//!   ASCII boundaries keep the fast DFA engines usable on any input.
//! * `\Z` becomes `\n?\z`; `\<` and `\>` are literal characters; `\e` is
//!   ESC; `{,n}` is `{0,n}`; a `{` or `}` that is not part of a repetition
//!   is a literal brace.
//!
//! Constructs that a finite automaton cannot run — lookahead, lookbehind,
//! atomic groups, possessive repetition, backreferences, conditionals,
//! `\G`, `\K`, the absence operator — are rejected with an error that names
//! the construct, the pattern it is in and the column, unless the
//! backtracking engine is allowed ([`CompileOptions::backtrack_limit`]):
//! then the expression is compiled for that engine instead, group
//! references renumbered (below). An expression without such constructs
//! always runs on the linear engine. The pattern library ships linear
//! rewrites of the definitions that use them in Logstash (see the comments
//! in `patterns/common/grok-patterns.txt`), so it never needs backtracking.
//! Subexpression calls (`\g<name>`) are refused by both engines.
//!
//! Group references: `\k<name>` and `(?(<name>)…)` name a group written
//! `(?<name>…)` or a capture `%{NAME:name}`, the last one opened before;
//! `\N`, `\k<N>` and `(?(N)…)` count the capturing groups — `(…)`,
//! `(?<name>…)` and `%{NAME:field}` — of the text they are written in (the
//! expression or one pattern definition), so that a definition means the
//! same wherever it is used; `\k<-N>` counts back from the reference.

use super::backtrack::{Backtracker, BoundHit};
use super::engine::{Engine, UNSET};
use super::library::{self, EcsMode};
use super::store::Tree;
use crate::event::{FieldPath, Map, Value};
use regex::{Regex, RegexBuilder};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use std::collections::HashMap;
use std::fmt;

/// Maximum compiled program size. Large ECS patterns (HAProxy, Cisco ASA)
/// expand IPORHOST several times; IPv6 alone is a big alternation.
const SIZE_LIMIT: usize = 256 << 20;
/// Per-thread lazy DFA cache budget.
const DFA_SIZE_LIMIT: usize = 16 << 20;
/// How deep `%{…}` references may nest before expansion gives up.
const MAX_DEPTH: usize = 64;

/// Why an expression could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrokError {
    /// `%{NAME}` names no known pattern.
    UnknownPattern {
        name: String,
        location: Location,
        suggestion: Option<String>,
    },
    /// A pattern refers to itself, directly or through others.
    Recursion { chain: Vec<String> },
    /// A construct that needs the backtracking engine, which the filter
    /// does not allow.
    NeedsBacktracking {
        construct: &'static str,
        location: Location,
    },
    /// A construct that neither engine runs.
    Unsupported {
        construct: &'static str,
        location: Location,
    },
    /// `%{NAME:field:type}` with a type other than `int` or `float`.
    BadType { ty: String, location: Location },
    /// A capture name that is not a valid field reference.
    BadField {
        field: String,
        reason: String,
        location: Location,
    },
    /// The regex engine rejected the translated text.
    Regex { message: String, location: Location },
}

/// Where in which text a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `None` for the expression itself, else the pattern's name.
    pub pattern: Option<String>,
    /// 1-based column (in characters) in that text; 0 if unknown.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.pattern, self.column) {
            (None, 0) => f.write_str("in the expression"),
            (None, c) => write!(f, "at column {c} of the expression"),
            (Some(p), 0) => write!(f, "in pattern `{p}`"),
            (Some(p), c) => write!(f, "at column {c} of pattern `{p}`"),
        }
    }
}

impl fmt::Display for GrokError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrokError::UnknownPattern {
                name,
                location,
                suggestion,
            } => {
                write!(f, "unknown grok pattern `{name}` {location}")?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean `{s}`?)")?;
                }
                Ok(())
            }
            GrokError::Recursion { chain } => write!(
                f,
                "grok pattern `{}` refers to itself: {}",
                chain.last().map(String::as_str).unwrap_or_default(),
                chain.join(" -> ")
            ),
            GrokError::NeedsBacktracking {
                construct,
                location,
            } => write!(
                f,
                "{construct} {location} needs the backtracking regex engine: set `regex_engine: backtracking` on the grok filter (each search is then bounded by `timeout_millis` and a search that reaches the bound tags the event `_groktimeout`), or rewrite the expression without that construct"
            ),
            GrokError::Unsupported {
                construct,
                location,
            } => write!(
                f,
                "{construct} {location} is not supported by either regex engine; rewrite the expression without it"
            ),
            GrokError::BadType { ty, location } => write!(
                f,
                "unknown capture type `{ty}` {location}; use `int` or `float`"
            ),
            GrokError::BadField {
                field,
                reason,
                location,
            } => write!(f, "invalid capture field `{field}` {location}: {reason}"),
            GrokError::Regex { message, location } => {
                write!(f, "invalid regular expression {location}: {message}")
            }
        }
    }
}

impl std::error::Error for GrokError {}

/// An unset slot of [`CompiledGrok::search_groups`].
pub const UNSET_SLOT: usize = UNSET;

/// How a captured text is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    Text,
    Int,
    Float,
}

/// One capture group and the field it fills.
#[derive(Debug, Clone)]
pub(crate) struct CaptureSpec {
    /// Index of the group in the compiled regex (its slots are `2 * group`
    /// and `2 * group + 1`).
    pub group: usize,
    pub path: FieldPath,
    pub conversion: Conversion,
}

/// Options that change what a compiled expression captures and which
/// engine may run it.
#[derive(Debug, Clone, Copy)]
pub struct CompileOptions {
    /// Only `%{NAME:field}` and `(?<field>…)` capture; with `false`, a bare
    /// `%{NAME}` captures into a field called `NAME` too.
    pub named_captures_only: bool,
    /// `Some(steps)`: an expression that needs backtracking runs on the
    /// backtracking engine, each search stopped after that many
    /// backtracking steps. `None`: such an expression is an error.
    pub backtrack_limit: Option<usize>,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            named_captures_only: true,
            backtrack_limit: None,
        }
    }
}

/// A grok expression compiled to one regex plus its capture table.
#[derive(Debug, Clone)]
pub struct CompiledGrok {
    expression: String,
    program: Program,
    captures: Vec<CaptureSpec>,
    /// The capture paths arranged for storing (see `store.rs`).
    tree: Option<Tree>,
}

/// The program that searches, by engine. One per compiled expression, so
/// the size of the larger variant costs nothing worth an indirection on
/// every search.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
enum Program {
    Linear {
        regex: Regex,
        engine: Engine,
    },
    Backtracking {
        backtracker: Box<Backtracker>,
        /// The first construct that needed it.
        construct: &'static str,
        location: Location,
    },
}

impl CompiledGrok {
    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The translated regex program (for debugging tools).
    pub fn translated(&self) -> &str {
        match &self.program {
            Program::Linear { regex, .. } => regex.as_str(),
            Program::Backtracking { backtracker, .. } => backtracker.as_str(),
        }
    }

    pub(crate) fn is_backtracking(&self) -> bool {
        matches!(self.program, Program::Backtracking { .. })
    }

    /// For an expression that runs on the backtracking engine: why (the
    /// first construct that needs it and where) and the step bound of one
    /// search. `None` for the linear engine.
    pub fn backtracking(&self) -> Option<(String, usize)> {
        match &self.program {
            Program::Linear { .. } => None,
            Program::Backtracking {
                backtracker,
                construct,
                location,
            } => Some((format!("{construct} {location}"), backtracker.limit())),
        }
    }

    /// Field paths that this expression may fill, in group order.
    pub fn fields(&self) -> impl Iterator<Item = &FieldPath> {
        self.captures.iter().map(|c| &c.path)
    }

    pub(crate) fn specs(&self) -> &[CaptureSpec] {
        &self.captures
    }

    pub(crate) fn tree(&self) -> Option<&Tree> {
        self.tree.as_ref()
    }

    /// Searches `text` (unanchored, like Logstash) and fills `slots` (length
    /// [`CompiledGrok::slot_count`]): group `g` spans
    /// `slots[2g]..slots[2g + 1]`, `UNSET` where it took no part.
    ///
    /// The leftmost-first match is the highest-priority anchored match at
    /// the leftmost position where any match starts. Lines usually match
    /// from their first byte, so the capture engine first tries there; if
    /// that fails, the lazy DFAs of `regex` find the leftmost start (or
    /// that there is none) and the capture engine runs from it. Inputs too
    /// long for the capture engine's budget use `regex` alone.
    ///
    /// An expression on the backtracking engine is searched by that engine
    /// alone, and only such a search can end in [`BoundHit`].
    pub(crate) fn search(&self, text: &str, slots: &mut [usize]) -> Result<bool, BoundHit> {
        let (regex, engine) = match &self.program {
            Program::Linear { regex, engine } => (regex, engine),
            Program::Backtracking { backtracker, .. } => return backtracker.search(text, slots),
        };
        if engine.fits(text, 0) {
            if engine.search_at(text, 0, slots) {
                return Ok(true);
            }
            let Some(m) = regex.find(text) else {
                return Ok(false);
            };
            if m.start() > 0
                && engine.fits(text, m.start())
                && engine.search_at(text, m.start(), slots)
            {
                return Ok(true);
            }
        }
        Ok(search_with_regex(regex, text, slots))
    }

    /// [`CompiledGrok::search`] with `regex` alone (linear engine only).
    #[cfg(test)]
    pub(crate) fn search_with_regex(&self, text: &str, slots: &mut [usize]) -> bool {
        match &self.program {
            Program::Linear { regex, .. } => search_with_regex(regex, text, slots),
            Program::Backtracking { .. } => unreachable!("only linear programs have a `regex`"),
        }
    }

    /// The capture engine alone, anchored at `at` (tests compare it with
    /// `regex` without the fallbacks of [`CompiledGrok::search`]).
    #[cfg(test)]
    pub(crate) fn engine_search_at(&self, text: &str, at: usize, slots: &mut [usize]) -> bool {
        match &self.program {
            Program::Linear { engine, .. } => {
                engine.fits(text, at) && engine.search_at(text, at, slots)
            }
            Program::Backtracking { .. } => unreachable!("only linear programs have an NFA"),
        }
    }

    /// Length of the slot buffer that [`CompiledGrok::search`] fills.
    pub(crate) fn slot_count(&self) -> usize {
        match &self.program {
            Program::Linear { engine, .. } => engine.slot_count(),
            Program::Backtracking { backtracker, .. } => backtracker.slot_count(),
        }
    }

    /// The search that the filter runs, without storing anything: whether
    /// `text` matches, and in `slots` (resized as needed) the byte offsets
    /// of every group of [`CompiledGrok::translated`], group `g` spanning
    /// `slots[2g]..slots[2g + 1]` and both [`UNSET_SLOT`] where the group
    /// took no part. For tools and benchmarks; a backtracking search that
    /// reaches its bound counts as no match.
    pub fn search_groups(&self, text: &str, slots: &mut Vec<usize>) -> bool {
        slots.clear();
        slots.resize(self.slot_count(), UNSET);
        self.search(text, slots).unwrap_or(false)
    }

    /// Matches `text` and returns the captured fields as an object:
    /// `[a][b]` and dotted names become nested objects, `:int` and
    /// `:float` captures numbers, and a field captured twice becomes an
    /// array. Empty captures are left out. `None` if the text does not
    /// match, or if a backtracking search reaches its bound.
    pub fn capture(&self, text: &str) -> Option<Map> {
        self.try_capture(text).unwrap_or(None)
    }

    /// [`CompiledGrok::capture`], telling a backtracking search that
    /// reached its bound from a text that does not match.
    pub fn try_capture(&self, text: &str) -> Result<Option<Map>, BoundHit> {
        let mut slots = vec![UNSET; self.slot_count()];
        if !self.search(text, &mut slots)? {
            return Ok(None);
        }
        let mut out = Map::new();
        for spec in &self.captures {
            let (s, e) = (slots[2 * spec.group], slots[2 * spec.group + 1]);
            if s == UNSET || s == e {
                continue;
            }
            let value = convert(&text[s..e], spec.conversion);
            merge_into_map(&mut out, &spec.path, value);
        }
        Ok(Some(out))
    }
}

/// Adds `value` at `path` in a plain map: a new field is set, a string
/// becomes an array of both, an array is appended to (the grok rule
/// without `overwrite`).
fn merge_into_map(map: &mut Map, path: &FieldPath, value: Value) {
    let mut cur = map;
    if path.root() == crate::event::Root::Metadata {
        cur = object_slot(cur, "@metadata");
    }
    let segments = path.segments();
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    for seg in parents {
        cur = object_slot(cur, seg);
    }
    match cur.get_mut(last.as_str()) {
        None => {
            cur.insert(last.clone(), value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(slot @ Value::String(_)) => {
            let old = std::mem::take(slot);
            *slot = Value::Array(vec![old, value]);
        }
        Some(_) => {}
    }
}

fn object_slot<'a>(map: &'a mut Map, key: &str) -> &'a mut Map {
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !matches!(slot, Value::Object(_)) {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("slot was just made an object"),
    }
}

/// Converts captured text the way Logstash's grok does: `int` reads a
/// leading integer (`"12ms"` is 12, text without one is 0), `float` a
/// leading decimal number.
pub(crate) fn convert(text: &str, conversion: Conversion) -> Value {
    match conversion {
        Conversion::Text => Value::String(crate::event::key_from(text)),
        Conversion::Int => {
            let t = text.trim_start();
            let b = t.as_bytes();
            let negative = b.first() == Some(&b'-');
            let mut end = usize::from(matches!(b.first(), Some(b'+' | b'-')));
            let digits_start = end;
            // Summed in the one pass that finds the digits, negatively so
            // that `i64::MIN` fits; `None` once it overflows.
            let mut sum = Some(0i64);
            while let Some(&d) = b.get(end).filter(|d| d.is_ascii_digit()) {
                sum = sum
                    .and_then(|s| s.checked_mul(10))
                    .and_then(|s| s.checked_sub(i64::from(d - b'0')));
                end += 1;
            }
            if end == digits_start {
                return Value::Integer(0);
            }
            match sum.and_then(|s| if negative { Some(s) } else { s.checked_neg() }) {
                Some(i) => Value::Integer(i),
                // Past the range of a long, as Logstash: the nearest float.
                None => Value::Float(t[..end].parse::<f64>().unwrap_or(0.0)),
            }
        }
        Conversion::Float => {
            let t = text.trim_start();
            let b = t.as_bytes();
            let mut end = usize::from(matches!(b.first(), Some(b'+' | b'-')));
            let int_start = end;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            let mut had_digits = end > int_start;
            if end < b.len() && b[end] == b'.' {
                let frac_start = end + 1;
                let mut e = frac_start;
                while e < b.len() && b[e].is_ascii_digit() {
                    e += 1;
                }
                if e > frac_start {
                    had_digits = true;
                    end = e;
                }
            }
            if !had_digits {
                return Value::Float(0.0);
            }
            if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
                let mut e = end + 1;
                if e < b.len() && (b[e] == b'+' || b[e] == b'-') {
                    e += 1;
                }
                let exp_start = e;
                while e < b.len() && b[e].is_ascii_digit() {
                    e += 1;
                }
                if e > exp_start {
                    end = e;
                }
            }
            Value::Float(t[..end].parse::<f64>().unwrap_or(0.0))
        }
    }
}

/// Compiles a grok expression against the library of `ecs` plus `extra`
/// definitions (which take precedence, as `pattern_definitions` do in
/// Logstash).
pub fn compile_expression(
    expr: &str,
    ecs: EcsMode,
    extra: &[(String, String)],
) -> Result<CompiledGrok, GrokError> {
    compile_expression_with(expr, ecs, extra, CompileOptions::default())
}

/// [`compile_expression`] with options (e.g. allowing the backtracking
/// engine).
pub fn compile_expression_with(
    expr: &str,
    ecs: EcsMode,
    extra: &[(String, String)],
    options: CompileOptions,
) -> Result<CompiledGrok, GrokError> {
    let extra: HashMap<&str, &str> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    compile_with(expr, ecs, &extra, options)
}

/// [`compile_expression`] with options and a prepared definitions map.
pub(crate) fn compile_with(
    expr: &str,
    ecs: EcsMode,
    extra: &HashMap<&str, &str>,
    options: CompileOptions,
) -> Result<CompiledGrok, GrokError> {
    match (
        compile_linear(expr, ecs, extra, options),
        options.backtrack_limit,
    ) {
        (
            Err(GrokError::NeedsBacktracking {
                construct,
                location,
            }),
            Some(limit),
        ) => compile_backtracking(expr, ecs, extra, options, limit, construct, location),
        (result, _) => result,
    }
}

/// Compiles for the linear engine, refusing what needs backtracking.
fn compile_linear(
    expr: &str,
    ecs: EcsMode,
    extra: &HashMap<&str, &str>,
    options: CompileOptions,
) -> Result<CompiledGrok, GrokError> {
    let mut c = Compiler::new(ecs, extra, options, false, false);
    c.out.reserve(expr.len() * 4);
    c.expand(expr, None)?;
    let regex = build_regex(&c.out)
        .map_err(|e| locate_error(expr, ecs, extra, options, false, describe_regex_error(&e).0))?;
    let engine = build_nfa(&c.out)
        .map(Engine::new)
        .map_err(|message| GrokError::Regex {
            message,
            location: Location {
                pattern: None,
                column: 0,
            },
        })?;
    // Both programs come from the same text, so their groups agree.
    debug_assert!(
        regex
            .capture_names()
            .enumerate()
            .all(|(i, n)| n.is_none_or(|n| engine.group_index(n) == Some(i)))
    );
    debug_assert_eq!(engine.slot_count(), 2 * regex.captures_len());
    debug_assert_eq!(regex.captures_len(), c.groups + 1);
    let captures = capture_specs(c.specs, regex.capture_names());
    Ok(CompiledGrok {
        expression: expr.to_owned(),
        program: Program::Linear { regex, engine },
        tree: Tree::build(&captures),
        captures,
    })
}

/// Compiles for the backtracking engine, each search bounded by `limit`
/// steps; `construct` at `location` is why it is needed.
pub(crate) fn compile_backtracking(
    expr: &str,
    ecs: EcsMode,
    extra: &HashMap<&str, &str>,
    options: CompileOptions,
    limit: usize,
    construct: &'static str,
    location: Location,
) -> Result<CompiledGrok, GrokError> {
    let mut c = Compiler::new(ecs, extra, options, true, false);
    c.out.reserve(expr.len() * 4);
    c.expand(expr, None)?;
    let backtracker = Backtracker::new(&c.out, limit, SIZE_LIMIT, DFA_SIZE_LIMIT)
        .map_err(|e| locate_error(expr, ecs, extra, options, true, describe_fancy_error(&e).0))?;
    debug_assert_eq!(backtracker.slot_count(), 2 * (c.groups + 1));
    let captures = capture_specs(c.specs, backtracker.capture_names());
    Ok(CompiledGrok {
        expression: expr.to_owned(),
        program: Program::Backtracking {
            backtracker: Box::new(backtracker),
            construct,
            location,
        },
        tree: Tree::build(&captures),
        captures,
    })
}

/// The capture table: group `g{i}` of the program (found among `names`,
/// the program's group names in order) fills `specs[i]`.
fn capture_specs<'n>(
    specs: Vec<(FieldPath, Conversion)>,
    names: impl Iterator<Item = Option<&'n str>>,
) -> Vec<CaptureSpec> {
    let index: HashMap<&str, usize> = names
        .enumerate()
        .filter_map(|(i, n)| n.map(|n| (n, i)))
        .collect();
    specs
        .into_iter()
        .enumerate()
        .map(|(i, (path, conversion))| CaptureSpec {
            group: index[format!("g{i}").as_str()],
            path,
            conversion,
        })
        .collect()
}

fn search_with_regex(regex: &Regex, text: &str, slots: &mut [usize]) -> bool {
    let mut locs = regex.capture_locations();
    if regex.captures_read(&mut locs, text).is_none() {
        return false;
    }
    for (g, pair) in slots.chunks_exact_mut(2).enumerate() {
        let (s, e) = locs.get(g).unwrap_or((UNSET, UNSET));
        pair[0] = s;
        pair[1] = e;
    }
    true
}

/// The NFA of the same program, for the capture engine: the syntax options
/// that `build_regex` gives `regex` (multi-line, Unicode, UTF-8).
fn build_nfa(text: &str) -> Result<thompson::NFA, String> {
    thompson::Compiler::new()
        .syntax(syntax::Config::new().multi_line(true))
        .configure(thompson::Config::new().nfa_size_limit(Some(SIZE_LIMIT)))
        .build(text)
        .map_err(|e| e.to_string())
}

fn build_regex(text: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(text)
        .multi_line(true)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
}

/// The full program failed to build: find the text to blame by checking
/// each piece on its own (references replaced by empty groups) with the
/// same engine. `message` describes the failure of the whole.
fn locate_error(
    expr: &str,
    ecs: EcsMode,
    extra: &HashMap<&str, &str>,
    options: CompileOptions,
    backtracking: bool,
    message: String,
) -> GrokError {
    let mut seen: Vec<String> = Vec::new();
    let mut todo: Vec<(Option<String>, String)> = vec![(None, expr.to_owned())];
    while let Some((name, text)) = todo.pop() {
        for r in references(&text) {
            if !seen.contains(&r) {
                if let Some(def) = lookup(ecs, extra, &r) {
                    todo.push((Some(r.clone()), def.to_owned()));
                }
                seen.push(r);
            }
        }
        let mut c = Compiler::new(ecs, extra, options, backtracking, true);
        if c.expand(&text, name.as_deref()).is_err() {
            continue;
        }
        let failure = if backtracking {
            Backtracker::new(&c.out, 1, SIZE_LIMIT, DFA_SIZE_LIMIT)
                .err()
                .map(|e| describe_fancy_error(&e))
        } else {
            build_regex(&c.out).err().map(|e| describe_regex_error(&e))
        };
        if let Some((message, out_col)) = failure {
            let map = c.map.unwrap_or_default();
            let column = out_col
                .and_then(|oc| {
                    map.iter()
                        .take_while(|(o, _)| *o <= oc)
                        .last()
                        .map(|(_, s)| *s)
                })
                .unwrap_or(0);
            return GrokError::Regex {
                message,
                location: Location {
                    pattern: name,
                    column,
                },
            };
        }
    }
    GrokError::Regex {
        message,
        location: Location {
            pattern: None,
            column: 0,
        },
    }
}

/// The one-line reason of an error of the backtracking engine and the
/// byte offset in its program that it points at.
fn describe_fancy_error(e: &fancy_regex::Error) -> (String, Option<usize>) {
    match e {
        fancy_regex::Error::ParseError(at, kind) => (kind.to_string(), Some(*at)),
        other => (other.to_string(), None),
    }
}

/// The one-line reason of a regex error and the 0-based character column
/// its caret points at.
fn describe_regex_error(e: &regex::Error) -> (String, Option<usize>) {
    match e {
        regex::Error::Syntax(s) => {
            let lines: Vec<&str> = s.lines().collect();
            let message = lines
                .iter()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(s.as_str())
                .to_owned();
            let col = lines
                .iter()
                .skip(2)
                .find(|l| l.trim_start().starts_with('^'))
                .map(|l| {
                    l.chars()
                        .take_while(|c| *c == ' ')
                        .count()
                        .saturating_sub(4)
                });
            (message, col)
        }
        regex::Error::CompiledTooBig(limit) => (
            format!("the compiled program exceeds the size limit of {limit} bytes"),
            None,
        ),
        other => (other.to_string(), None),
    }
}

/// Names referenced by `%{…}` in a text.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("%{") {
        rest = &rest[i + 2..];
        if let Some(r) = parse_reference(rest) {
            out.push(r.name.to_owned());
        }
    }
    out
}

fn lookup<'a>(ecs: EcsMode, extra: &HashMap<&str, &'a str>, name: &str) -> Option<&'a str> {
    extra
        .get(name)
        .copied()
        .or_else(|| library::definition(ecs, name))
}

/// A parsed `%{NAME:field:type}` (text after `%{`).
struct Reference<'a> {
    name: &'a str,
    field: Option<&'a str>,
    ty: Option<&'a str>,
    /// Bytes consumed after `%{`, including the closing `}`.
    len: usize,
}

fn parse_reference(after: &str) -> Option<Reference<'_>> {
    let close = after.find('}')?;
    let inner = &after[..close];
    let mut parts = inner.splitn(3, ':');
    let name = parts.next()?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return None;
    }
    let field = parts.next();
    let ty = parts.next();
    if field.is_some_and(|f| f.is_empty() || f.contains('{')) {
        return None;
    }
    Some(Reference {
        name,
        field,
        ty,
        len: close + 1,
    })
}

struct Compiler<'a> {
    ecs: EcsMode,
    extra: &'a HashMap<&'a str, &'a str>,
    options: CompileOptions,
    out: String,
    /// Field and conversion of group `g{i}`.
    specs: Vec<(FieldPath, Conversion)>,
    /// Names being expanded, outermost first.
    stack: Vec<String>,
    /// When set (error location mode): (output byte offset, 1-based source
    /// column) at each token, references become empty groups and named
    /// groups plain ones.
    map: Option<Vec<(usize, usize)>>,
    /// Writing for the backtracking engine: its constructs are translated
    /// instead of refused.
    backtracking: bool,
    /// Capturing groups written to `out` so far.
    groups: usize,
    /// Each capture's name as written (`(?<name>`, `%{NAME:name}`) and its
    /// group, in the order they open.
    named: Vec<(String, usize)>,
    /// The groups opened by each text being expanded, innermost last.
    frames: Vec<Vec<usize>>,
}

/// An ASCII word character, as `\w` is translated.
const WORD: &str = "[0-9A-Za-z_]";

impl<'a> Compiler<'a> {
    fn new(
        ecs: EcsMode,
        extra: &'a HashMap<&'a str, &'a str>,
        options: CompileOptions,
        backtracking: bool,
        locating: bool,
    ) -> Self {
        Compiler {
            ecs,
            extra,
            options,
            out: String::new(),
            specs: Vec::new(),
            stack: Vec::new(),
            map: locating.then(Vec::new),
            backtracking,
            groups: 0,
            named: Vec::new(),
            frames: Vec::new(),
        }
    }
}

impl Compiler<'_> {
    /// A construct that only the backtracking engine runs: fine when
    /// writing for it, else the error that says so.
    fn needs_backtracking(
        &self,
        construct: &'static str,
        location: Location,
    ) -> Result<(), GrokError> {
        if self.backtracking {
            Ok(())
        } else {
            Err(GrokError::NeedsBacktracking {
                construct,
                location,
            })
        }
    }

    /// Books a capturing group about to be written.
    fn open_group(&mut self, name: Option<&str>) {
        self.groups += 1;
        let n = self.groups;
        if let Some(frame) = self.frames.last_mut() {
            frame.push(n);
        }
        if let Some(name) = name {
            self.named.push((name.to_owned(), n));
        }
    }

    /// The group that a reference written in the current text means: a
    /// name, `N` (the text's Nth group) or `-N` (the Nth back).
    fn group_of(&self, reference: &str, location: &Location) -> Result<usize, GrokError> {
        let frame = self.frames.last().map(Vec::as_slice).unwrap_or_default();
        let numbered = |r: &str| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit());
        let found = if let Some(back) = reference.strip_prefix('-').filter(|b| numbered(b)) {
            back.parse::<usize>()
                .ok()
                .filter(|&k| k > 0)
                .and_then(|k| frame.len().checked_sub(k))
                .map(|i| frame[i])
        } else if numbered(reference) {
            reference
                .parse::<usize>()
                .ok()
                .filter(|&k| k > 0)
                .and_then(|k| frame.get(k - 1).copied())
        } else {
            self.named
                .iter()
                .rev()
                .find(|(n, _)| n == reference)
                .map(|&(_, g)| g)
        };
        let message = if numbered(reference.trim_start_matches('-')) {
            format!(
                "group reference `{reference}` counts the capturing groups of the text it is written in, and only {} open before it",
                frame.len()
            )
        } else {
            format!("no capturing group named `{reference}` opens before this reference")
        };
        found.ok_or_else(|| GrokError::Regex {
            message,
            location: location.clone(),
        })
    }

    fn expand(&mut self, src: &str, pattern: Option<&str>) -> Result<(), GrokError> {
        self.frames.push(Vec::new());
        let result = self.expand_text(src, pattern);
        self.frames.pop();
        result
    }

    fn expand_text(&mut self, src: &str, pattern: Option<&str>) -> Result<(), GrokError> {
        let loc = |column: usize| Location {
            pattern: pattern.map(str::to_owned),
            column,
        };
        let chars: Vec<(usize, char)> = src.char_indices().collect();
        let mut i = 0;
        // Whether the previous token can be followed by a possessive `+`.
        let mut after_quantifier = false;
        while i < chars.len() {
            let (at, ch) = chars[i];
            let column = i + 1;
            if let Some(m) = self.map.as_mut() {
                m.push((self.out.len(), column));
            }
            let next = chars.get(i + 1).map(|c| c.1);
            match ch {
                '%' if next == Some('{') => {
                    if let Some(r) = parse_reference(&src[at + 2..]) {
                        self.reference(&r, loc(column))?;
                        let end = at + 2 + r.len;
                        while i < chars.len() && chars[i].0 < end {
                            i += 1;
                        }
                        after_quantifier = false;
                        continue;
                    }
                    self.out.push('%');
                    after_quantifier = false;
                }
                '\\' => {
                    let Some(n) = next else {
                        return Err(GrokError::Regex {
                            message: "trailing backslash".into(),
                            location: loc(column),
                        });
                    };
                    i += 1;
                    self.escape_outside(n, &chars, &mut i, &loc, column)?;
                    after_quantifier = false;
                }
                '[' => {
                    i = self.class(src, &chars, i, &loc)?;
                    after_quantifier = false;
                    continue;
                }
                '(' => {
                    i = self.group_open(src, &chars, i, &loc)?;
                    after_quantifier = false;
                    continue;
                }
                '*' | '?' => {
                    if after_quantifier && ch == '?' {
                        // lazy modifier
                        self.out.push('?');
                        after_quantifier = false;
                    } else {
                        self.out.push(ch);
                        after_quantifier = true;
                    }
                }
                '+' => {
                    if after_quantifier {
                        self.needs_backtracking("possessive repetition `+`", loc(column))?;
                        self.out.push('+');
                        after_quantifier = false;
                    } else {
                        self.out.push('+');
                        after_quantifier = true;
                    }
                }
                '{' => {
                    if let Some((text, len)) = repetition(&chars[i..]) {
                        self.out.push_str(&text);
                        i += len;
                        after_quantifier = true;
                        continue;
                    }
                    self.out.push_str("\\{");
                    after_quantifier = false;
                }
                '}' => {
                    self.out.push_str("\\}");
                    after_quantifier = false;
                }
                _ => {
                    self.out.push(ch);
                    after_quantifier = false;
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// `%{NAME}`, `%{NAME:field}`, `%{NAME:field:type}`.
    fn reference(&mut self, r: &Reference<'_>, location: Location) -> Result<(), GrokError> {
        let Some(def) = lookup(self.ecs, self.extra, r.name) else {
            let suggestion = crate::config::nearest(
                r.name,
                library::pattern_names(self.ecs)
                    .into_iter()
                    .chain(self.extra.keys().copied()),
            );
            return Err(GrokError::UnknownPattern {
                name: r.name.to_owned(),
                location,
                suggestion,
            });
        };
        if self.stack.iter().any(|s| s == r.name) || self.stack.len() >= MAX_DEPTH {
            let mut chain = self.stack.clone();
            chain.push(r.name.to_owned());
            return Err(GrokError::Recursion { chain });
        }
        let conversion = match r.ty {
            None => Conversion::Text,
            Some("int" | "integer") => Conversion::Int,
            Some("float") => Conversion::Float,
            Some(other) => {
                return Err(GrokError::BadType {
                    ty: other.to_owned(),
                    location,
                });
            }
        };
        let field = match r.field {
            Some(f) => Some(f),
            None if !self.options.named_captures_only => Some(r.name),
            None => None,
        };
        if self.map.is_some() {
            // Location mode: the reference stands for an empty group, one
            // that captures if it does, so that groups keep their numbers.
            if field.is_some() {
                self.open_group(field);
                self.out.push_str("()");
            } else {
                self.out.push_str("(?:)");
            }
            return Ok(());
        }
        match field {
            Some(f) => {
                let path = FieldPath::parse(f).map_err(|e| GrokError::BadField {
                    field: f.to_owned(),
                    reason: e.to_string(),
                    location: location.clone(),
                })?;
                self.open_capture(f, path, conversion);
            }
            None => self.out.push_str("(?:"),
        }
        self.stack.push(r.name.to_owned());
        self.expand(def, Some(r.name))?;
        self.stack.pop();
        self.out.push(')');
        Ok(())
    }

    fn open_capture(&mut self, name: &str, path: FieldPath, conversion: Conversion) {
        self.open_group(Some(name));
        let n = self.specs.len();
        self.specs.push((path, conversion));
        self.out.push_str("(?P<g");
        self.out.push_str(&n.to_string());
        self.out.push('>');
    }

    /// An escape outside a character class; `i` is at the escaped char.
    fn escape_outside(
        &mut self,
        n: char,
        chars: &[(usize, char)],
        i: &mut usize,
        loc: &dyn Fn(usize) -> Location,
        column: usize,
    ) -> Result<(), GrokError> {
        match n {
            'd' => self.out.push_str("[0-9]"),
            'D' => self.out.push_str("[^0-9]"),
            'w' => self.out.push_str("[0-9A-Za-z_]"),
            'W' => self.out.push_str("[^0-9A-Za-z_]"),
            's' => self.out.push_str("[\\t\\n\\x0B\\x0C\\r ]"),
            'S' => self.out.push_str("[^\\t\\n\\x0B\\x0C\\r ]"),
            'h' => self.out.push_str("[0-9A-Fa-f]"),
            'H' => self.out.push_str("[^0-9A-Fa-f]"),
            // The backtracking engine has no inline switch to ASCII, so its
            // boundaries are spelt out with lookaround.
            'b' if self.backtracking => {
                self.out
                    .push_str(&format!("(?:(?<={WORD})(?!{WORD})|(?<!{WORD})(?={WORD}))"));
            }
            'B' if self.backtracking => {
                self.out
                    .push_str(&format!("(?:(?<={WORD})(?={WORD})|(?<!{WORD})(?!{WORD}))"));
            }
            'b' => self.out.push_str("(?-u:\\b)"),
            'B' => self.out.push_str("(?-u:\\B)"),
            'Z' => self.out.push_str("(?:\\n?\\z)"),
            'e' => self.out.push_str("\\x1B"),
            '0' => self.out.push_str("\\x00"),
            '1'..='9' => {
                self.needs_backtracking("backreference", loc(column))?;
                let group = self.group_of(n.encode_utf8(&mut [0; 4]), &loc(column))?;
                self.backreference(group);
            }
            'k' if chars.get(*i + 1).is_some_and(|c| matches!(c.1, '<' | '\'')) => {
                self.needs_backtracking("named backreference `\\k`", loc(column))?;
                let close = if chars[*i + 1].1 == '<' { '>' } else { '\'' };
                let Some(end) = (*i + 2..chars.len()).find(|&j| chars[j].1 == close) else {
                    return Err(GrokError::Regex {
                        message: "unclosed group name".into(),
                        location: loc(column),
                    });
                };
                let name: String = chars[*i + 2..end].iter().map(|c| c.1).collect();
                if name.contains('+') || name.get(1..).is_some_and(|rest| rest.contains('-')) {
                    return Err(GrokError::Unsupported {
                        construct: "backreference with a recursion level",
                        location: loc(column),
                    });
                }
                let group = self.group_of(&name, &loc(column))?;
                self.backreference(group);
                *i = end;
            }
            'g' if chars.get(*i + 1).is_some_and(|c| matches!(c.1, '<' | '\'')) => {
                return Err(GrokError::Unsupported {
                    construct: "subexpression call `\\g`",
                    location: loc(column),
                });
            }
            'G' => {
                self.needs_backtracking("search-start anchor `\\G`", loc(column))?;
                self.out.push_str("\\G");
            }
            'K' => {
                self.needs_backtracking("match-reset `\\K`", loc(column))?;
                self.out.push_str("\\K");
            }
            'x' | 'u' | 'U' | 'p' | 'P' => {
                self.out.push('\\');
                self.out.push(n);
                // Braced forms `\x{41}`, `\p{L}` are copied whole.
                if chars.get(*i + 1).is_some_and(|c| c.1 == '{') {
                    while let Some(&(_, c)) = chars.get(*i + 1) {
                        self.out.push(c);
                        *i += 1;
                        if c == '}' {
                            break;
                        }
                    }
                }
            }
            c if c.is_ascii_alphanumeric() => {
                self.out.push('\\');
                self.out.push(c);
            }
            c => self
                .out
                .push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
        Ok(())
    }

    /// A backreference to `group` of the program; the group keeps a digit
    /// that follows from reading as part of the number.
    fn backreference(&mut self, group: usize) {
        self.out.push_str("(?:\\");
        self.out.push_str(&group.to_string());
        self.out.push(')');
    }

    /// A character class starting at `chars[i] == '['`; returns the index
    /// after its closing `]`.
    fn class(
        &mut self,
        src: &str,
        chars: &[(usize, char)],
        mut i: usize,
        loc: &dyn Fn(usize) -> Location,
    ) -> Result<usize, GrokError> {
        let start_col = i + 1;
        let mut depth = 0usize;
        loop {
            let Some(&(at, ch)) = chars.get(i) else {
                return Err(GrokError::Regex {
                    message: "unclosed character class".into(),
                    location: loc(start_col),
                });
            };
            match ch {
                '[' if depth > 0 && posix_end(&src[at..]).is_some() => {
                    let len = posix_end(&src[at..]).unwrap_or(0);
                    self.out.push_str(&src[at..at + len]);
                    while i < chars.len() && chars[i].0 < at + len {
                        i += 1;
                    }
                    continue;
                }
                '[' => {
                    depth += 1;
                    self.out.push('[');
                    i += 1;
                    if chars.get(i).is_some_and(|c| c.1 == '^') {
                        self.out.push('^');
                        i += 1;
                    }
                    if chars.get(i).is_some_and(|c| c.1 == ']') {
                        self.out.push_str("\\]");
                        i += 1;
                    }
                    continue;
                }
                ']' => {
                    self.out.push(']');
                    depth -= 1;
                    i += 1;
                    if depth == 0 {
                        return Ok(i);
                    }
                    continue;
                }
                '\\' => {
                    let Some(&(_, n)) = chars.get(i + 1) else {
                        return Err(GrokError::Regex {
                            message: "trailing backslash".into(),
                            location: loc(i + 1),
                        });
                    };
                    match n {
                        'd' => self.out.push_str("0-9"),
                        'D' => self.out.push_str("[:^digit:]"),
                        'w' => self.out.push_str("0-9A-Za-z_"),
                        'W' => self.out.push_str("[:^word:]"),
                        's' => self.out.push_str("\\t\\n\\x0B\\x0C\\r "),
                        'S' => self.out.push_str("[:^space:]"),
                        'h' => self.out.push_str("0-9A-Fa-f"),
                        'H' => self.out.push_str("[:^xdigit:]"),
                        'e' => self.out.push_str("\\x1B"),
                        '0' => self.out.push_str("\\x00"),
                        c if c.is_ascii_alphanumeric() => {
                            self.out.push('\\');
                            self.out.push(c);
                        }
                        c => self
                            .out
                            .push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
                    }
                    i += 2;
                    continue;
                }
                '~' if chars.get(i + 1).is_some_and(|c| c.1 == '~') => {
                    // `~~` is a set operator in this engine, literal in Ruby.
                    self.out.push_str("\\~");
                }
                '-' if chars.get(i + 1).is_some_and(|c| c.1 == '-') => {
                    // `--` is a set operator in this engine.
                    self.out.push_str("\\-");
                }
                _ => self.out.push(ch),
            }
            i += 1;
        }
    }

    /// A group opener at `chars[i] == '('`; returns the index of the first
    /// character of the group's body.
    fn group_open(
        &mut self,
        src: &str,
        chars: &[(usize, char)],
        i: usize,
        loc: &dyn Fn(usize) -> Location,
    ) -> Result<usize, GrokError> {
        let column = i + 1;
        let at = chars[i].0;
        let rest = &src[at..];
        let skip = |bytes: usize| {
            let end = at + bytes;
            let mut j = i;
            while j < chars.len() && chars[j].0 < end {
                j += 1;
            }
            j
        };
        if !rest.starts_with("(?") {
            self.open_group(None);
            self.out.push('(');
            return Ok(i + 1);
        }
        // Openers that the backtracking engine reads as Ruby does.
        for (opener, construct) in [
            ("(?=", "lookahead `(?=`"),
            ("(?!", "negative lookahead `(?!`"),
            ("(?<=", "lookbehind `(?<=`"),
            ("(?<!", "negative lookbehind `(?<!`"),
            ("(?>", "atomic group `(?>`"),
            ("(?~", "absence operator `(?~`"),
        ] {
            if rest.starts_with(opener) {
                self.needs_backtracking(construct, loc(column))?;
                self.out.push_str(opener);
                return Ok(skip(opener.len()));
            }
        }
        if let Some(cond) = rest.strip_prefix("(?(") {
            self.needs_backtracking("conditional group `(?(`", loc(column))?;
            // Only a group as the condition: `(?(N)`, `(?(<name>)`, `(?('name')`.
            let end = cond.find(')').unwrap_or(cond.len());
            let reference = &cond[..end];
            let reference = reference
                .strip_prefix('<')
                .and_then(|r| r.strip_suffix('>'))
                .or_else(|| {
                    reference
                        .strip_prefix('\'')
                        .and_then(|r| r.strip_suffix('\''))
                })
                .unwrap_or(reference);
            if end == cond.len() || reference.is_empty() || reference.contains(['(', '+']) {
                return Err(GrokError::Unsupported {
                    construct: "conditional group without a group as its condition",
                    location: loc(column),
                });
            }
            let group = self.group_of(reference, &loc(column))?;
            self.out.push_str(&format!("(?({group})"));
            return Ok(skip(3 + end + 1));
        }
        if rest.starts_with("(?#") {
            let end = rest.find(')').map(|p| p + 1).unwrap_or(rest.len());
            return Ok(skip(end));
        }
        let named = if let Some(r) = rest.strip_prefix("(?P<") {
            Some((r, '>', 4))
        } else if let Some(r) = rest.strip_prefix("(?<") {
            Some((r, '>', 3))
        } else {
            rest.strip_prefix("(?'").map(|r| (r, '\'', 3))
        };
        if let Some((after, close, prefix)) = named {
            let Some(end) = after.find(close) else {
                return Err(GrokError::Regex {
                    message: "unclosed group name".into(),
                    location: loc(column),
                });
            };
            let name = &after[..end];
            if self.map.is_some() {
                self.open_group(Some(name));
                self.out.push('(');
            } else {
                let path = FieldPath::parse(name).map_err(|e| GrokError::BadField {
                    field: name.to_owned(),
                    reason: e.to_string(),
                    location: loc(column),
                })?;
                self.open_capture(name, path, Conversion::Text);
            }
            return Ok(skip(prefix + end + 1));
        }
        // Flags: `(?imx-imx)` or `(?imx-imx:`. Ruby's `m` is dot-all.
        let flags_end = rest[2..]
            .find([')', ':'])
            .map(|p| p + 2)
            .filter(|&p| rest[2..p].chars().all(|c| "imx-".contains(c)));
        if let Some(p) = flags_end {
            self.out.push_str("(?");
            for c in rest[2..p].chars() {
                self.out.push(if c == 'm' { 's' } else { c });
            }
            let term = &rest[p..=p];
            if term == ")" && rest[2..p].is_empty() {
                // `(?)` is an empty group in Ruby.
                self.out.push(':');
            }
            self.out.push_str(term);
            return Ok(skip(p + 1));
        }
        // Anything else (`(?:`, `(?i:`…) is copied as written.
        self.out.push('(');
        Ok(i + 1)
    }
}

/// Length in bytes of a POSIX class `[:name:]` at the start of `s`.
fn posix_end(s: &str) -> Option<usize> {
    let inner = s.strip_prefix("[:")?;
    let end = inner.find(":]")?;
    let name = inner[..end].strip_prefix('^').unwrap_or(&inner[..end]);
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase())).then_some(end + 4)
}

/// A `{n}`, `{n,}`, `{n,m}` or `{,m}` repetition at the start of `chars`:
/// its translation and its length in chars.
fn repetition(chars: &[(usize, char)]) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut j = 1;
    let mut lo = String::new();
    while let Some(&(_, c)) = chars.get(j) {
        if c.is_ascii_digit() {
            lo.push(c);
            j += 1;
        } else {
            break;
        }
    }
    let mut hi: Option<String> = None;
    if chars.get(j).is_some_and(|c| c.1 == ',') {
        j += 1;
        let mut h = String::new();
        while let Some(&(_, c)) = chars.get(j) {
            if c.is_ascii_digit() {
                h.push(c);
                j += 1;
            } else {
                break;
            }
        }
        hi = Some(h);
    }
    if chars.get(j).is_none_or(|c| c.1 != '}') {
        return None;
    }
    if lo.is_empty() && hi.as_ref().is_none_or(|h| h.is_empty()) {
        return None;
    }
    text.push('{');
    text.push_str(if lo.is_empty() { "0" } else { &lo });
    if let Some(h) = hi {
        text.push(',');
        text.push_str(&h);
    }
    text.push('}');
    Some((text, j + 1))
}
