//! The opt-in backtracking engine (`regex_engine: backtracking`): runs
//! the expressions that need lookaround, atomic groups, possessive
//! repetition or backreferences, which no finite automaton can run.
//!
//! It is `fancy-regex`: pure Rust, so the build stays free of C, and its
//! backtracking VM counts its steps, which gives every search a
//! deterministic bound. A search that reaches the bound (or the VM's stack
//! limit) ends with [`BoundHit`] instead of a match or a non-match, and the
//! filter tags the event `_groktimeout`.

use super::engine::UNSET;
use fancy_regex::{Error, RegexBuilder};

/// A backtracking search stopped at its bound before it could tell whether
/// the text matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundHit;

/// One expression compiled for the backtracking engine.
#[derive(Debug, Clone)]
pub(crate) struct Backtracker {
    regex: fancy_regex::Regex,
    limit: usize,
}

impl Backtracker {
    /// Builds `text` (the translated expression) with the options that
    /// the linear engine's `regex` gets: multi-line, Unicode, the same
    /// size limits. `limit` is the number of backtracking steps after
    /// which a search gives up.
    pub(crate) fn new(
        text: &str,
        limit: usize,
        size_limit: usize,
        dfa_size_limit: usize,
    ) -> Result<Self, Error> {
        let regex = RegexBuilder::new(text)
            .multi_line(true)
            .backtrack_limit(limit)
            .delegate_size_limit(size_limit)
            .delegate_dfa_size_limit(dfa_size_limit)
            .build()?;
        Ok(Backtracker { regex, limit })
    }

    /// The translated expression.
    pub(crate) fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    /// The step bound of one search.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Names of the groups, in group order (`None` for unnamed ones and
    /// the whole match).
    pub(crate) fn capture_names(&self) -> impl Iterator<Item = Option<&str>> {
        self.regex.capture_names()
    }

    /// Length of the slot buffer that [`Backtracker::search`] fills.
    pub(crate) fn slot_count(&self) -> usize {
        2 * self.regex.captures_len()
    }

    /// Unanchored, leftmost-first search, filling `slots` as the linear
    /// engine does (`UNSET` for groups that took no part).
    pub(crate) fn search(&self, text: &str, slots: &mut [usize]) -> Result<bool, BoundHit> {
        let caps = match self.regex.captures(text) {
            Ok(Some(caps)) => caps,
            Ok(None) => return Ok(false),
            // The step limit or the VM's stack limit; the other errors
            // belong to building, and would mean the same here: the search
            // could not finish.
            Err(_) => return Err(BoundHit),
        };
        for (g, pair) in slots.chunks_exact_mut(2).enumerate() {
            let (s, e) = caps.get(g).map_or((UNSET, UNSET), |m| (m.start(), m.end()));
            pair[0] = s;
            pair[1] = e;
        }
        Ok(true)
    }
}
