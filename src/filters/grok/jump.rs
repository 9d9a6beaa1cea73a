//! Capture groups crossed by a DFA in one go.
//!
//! Most of a grok expression's NFA lies inside its capture groups, and most
//! of those groups hold no further capture: `%{IPORHOST:[source][address]}`,
//! `%{HTTPDATE:timestamp}`, `%{NUMBER:[http][version]}`. Stepping through
//! such a group state by state is where the capture engine spends most of
//! its dispatches (an IPv4 address alone takes about 30). A group without
//! inner captures is a plain regular expression with one way in (its
//! opening capture state) and one way out (its closing one), so a DFA of
//! its inner NFA crosses it at a few cycles per byte.
//!
//! Why the result does not change: the backtracker explores the paths
//! through the group in priority order and continues after the group with
//! the first path that reaches its closing state. That path's end is what
//! an anchored leftmost-first DFA of the group reports. If the rest of the
//! expression fails from there, the engine explores the group again with
//! the NFA, exactly as without the DFA (see `Engine::step`); the first path
//! fails again at once, since what follows a group does not depend on how
//! the group was crossed, and the lower-priority paths follow in order.
//! A group the DFA cannot cross at all has no path through it either.
//!
//! Assertions at the group's edges see the real bytes around it: the DFA
//! starts from the state for the byte before the group and reads past the
//! group's end, as any regex DFA does.

use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson::{self, NFA, State, Transition};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{Anchored, MatchKind};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

/// A group's DFA as the engine steps it: regex-automata builds and
/// minimises it, and its states are then laid out again here, reachable
/// ones only, in a table of our own.
///
/// Why not step regex-automata's DFA directly: crossing a group is a chain
/// of dependent loads, one per byte, so each byte costs the latency of
/// that load plus whatever sits between one load and the next. Here a
/// state is the (premultiplied) offset of its row, so a step is one add
/// and one load, with no widening in between; rows are as wide as the
/// DFA's byte classes, not that number rounded up to a power of two, so
/// the rows of a walk share fewer cache lines; and the special states, the
/// dead one and the match ones, sit first, so one compare tells a plain
/// state from them.
#[derive(Debug)]
struct Dfa {
    /// Row by row, for each byte class, the offset of the next state's row.
    table: Box<[u32]>,
    /// Each byte's class: its column in a row.
    classes: Box<[u8; 256]>,
    /// Rows below this offset are special: the dead state's (0), then the
    /// match states'. A match state means that the text up to the byte
    /// before the one that led to it matches (regex-automata reports
    /// matches one byte late).
    first_plain: u32,
    /// Row width: the number of byte classes.
    stride: u32,
    /// Per state (offset / stride): whether the end of the text, read in
    /// that state, completes a match.
    matches_at_end: Box<[bool]>,
    /// The start state after each byte (assertions such as `\b` at the
    /// group's start depend on it), and at the start of the text: looked up
    /// here rather than worked out from an `Input` on every crossing.
    after_byte: Box<[u32; 256]>,
    at_text_start: u32,
}

impl Dfa {
    fn new(dfa: &dense::DFA<Vec<u32>>) -> Option<Dfa> {
        let start = |behind: Option<u8>| {
            let config = start::Config::new()
                .anchored(Anchored::Yes)
                .look_behind(behind);
            dfa.start_state(&config).ok()
        };
        let mut starts = Vec::with_capacity(257);
        for b in 0..=255u8 {
            starts.push(start(Some(b))?);
        }
        starts.push(start(None)?);

        // Columns: one per class of bytes (the end-of-text class is read
        // through `next_eoi_state`, not a column).
        let classes = dfa.byte_classes();
        let mut column = Box::new([0u8; 256]);
        let mut representative = Vec::new();
        for b in 0..=255u8 {
            let c = classes.get(b);
            column[usize::from(b)] = c;
            if usize::from(c) == representative.len() {
                representative.push(b);
            }
        }
        let stride = representative.len();

        // Every state reachable from a start state, numbered with the dead
        // state first, then the match states, then the rest.
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        for &sid in &starts {
            if seen.insert(sid) {
                found.push(sid);
            }
        }
        let mut i = 0;
        while let Some(&sid) = found.get(i) {
            i += 1;
            for &b in &representative {
                let to = dfa.next_state(sid, b);
                if seen.insert(to) {
                    found.push(to);
                }
            }
        }
        let dead = found.iter().copied().find(|&sid| dfa.is_dead_state(sid));
        // `None`: a dead row of our own, when no path ever dies (row 0 must
        // be dead all the same: all its entries lead back to it).
        let mut order: Vec<Option<StateID>> = vec![dead];
        order.extend(
            (found.iter().copied())
                .filter(|&sid| dfa.is_match_state(sid))
                .map(Some),
        );
        let first_plain = order.len();
        order.extend(
            (found.iter().copied())
                .filter(|&sid| !dfa.is_dead_state(sid) && !dfa.is_match_state(sid))
                .map(Some),
        );
        u32::try_from(order.len() * stride).ok()?;
        let row_of: HashMap<StateID, u32> = (order.iter().enumerate())
            .filter_map(|(n, sid)| Some(((*sid)?, (n * stride) as u32)))
            .collect();
        let mut table = Vec::with_capacity(order.len() * stride);
        let mut matches_at_end = Vec::with_capacity(order.len());
        for sid in &order {
            let Some(sid) = *sid else {
                table.extend(std::iter::repeat_n(Self::DEAD, stride));
                matches_at_end.push(false);
                continue;
            };
            for &b in &representative {
                table.push(row_of[&dfa.next_state(sid, b)]);
            }
            matches_at_end.push(dfa.is_match_state(dfa.next_eoi_state(sid)));
        }
        let mut after_byte = Box::new([0u32; 256]);
        for (slot, sid) in after_byte.iter_mut().zip(&starts) {
            *slot = row_of[sid];
        }
        Some(Dfa {
            table: table.into_boxed_slice(),
            classes: column,
            first_plain: u32::try_from(first_plain * stride).ok()?,
            stride: u32::try_from(stride).ok()?,
            matches_at_end: matches_at_end.into_boxed_slice(),
            after_byte,
            at_text_start: row_of[&starts[256]],
        })
    }

    /// The row offset of the dead state.
    const DEAD: u32 = 0;
}

/// Groups with fewer states than this outside single-character loops stay
/// with the NFA: a DFA's set-up costs about as much as a handful of
/// dispatches, and the engine's loops (`\S+`, `\w+`, `[^"]*`) pass
/// several bytes per cycle where a DFA takes one byte per table lookup.
const MIN_STATES: usize = 6;
/// A group whose DFA would grow past this many bytes (of transition table,
/// or while being built) stays with the NFA.
const DFA_SIZE_LIMIT: usize = 512 << 10;

/// A capture group the engine crosses with a DFA.
#[derive(Debug, Clone)]
pub(super) struct Jump {
    dfa: Arc<Dfa>,
    /// The group's capture slots: where it starts and where it ends.
    pub(super) open_slot: u32,
    pub(super) close_slot: u32,
    /// The first state inside the group (the NFA way through it).
    pub(super) inner: u32,
    /// The state after the group's closing capture state.
    pub(super) after: u32,
}

impl Jump {
    /// The group of the capture state `open` (the opening one), if a DFA
    /// can cross it and is worth it: no capture inside, no empty way
    /// through, enough states outside single-character loops (`in_loop`
    /// says which states belong to one) and a DFA of reasonable size.
    pub(super) fn for_group(nfa: &NFA, open: StateID, in_loop: &[bool]) -> Option<Jump> {
        let State::Capture {
            next: inner,
            group_index,
            slot,
            ..
        } = *nfa.state(open)
        else {
            return None;
        };
        if group_index.as_usize() == 0 || slot.as_usize() % 2 != 0 {
            return None;
        }
        let (close, after) = closing_state(nfa, slot.as_u32() + 1)?;
        let inner_states = states_inside(nfa, inner, close)?;
        let outside_loops = (inner_states.iter())
            .filter(|s| !in_loop[s.as_usize()])
            .count();
        if outside_loops < MIN_STATES || crosses_empty(nfa, inner, close) {
            return None;
        }
        let sub = sub_nfa(nfa, inner, close, &inner_states)?;
        let dfa = shared_dfa(&sub)?;
        Some(Jump {
            dfa,
            open_slot: slot.as_u32(),
            close_slot: slot.as_u32() + 1,
            inner: inner.as_u32(),
            after: after.as_u32(),
        })
    }

    /// Where the group's first path ends when it starts at `at` (`None`
    /// if no path crosses it), and how many bytes the DFA read (`work`).
    #[inline]
    pub(super) fn cross(&self, hay: &[u8], at: usize, work: &mut usize) -> Option<usize> {
        let dfa = &*self.dfa;
        let table = &dfa.table[..];
        let first_plain = dfa.first_plain as usize;
        let mut row = match at.checked_sub(1) {
            Some(before) => dfa.after_byte[usize::from(hay[before])],
            None => dfa.at_text_start,
        } as usize;
        // `NONE` until a match is seen; kept as a plain number so that a
        // match is recorded without a branch (in some groups, such as an
        // IPv6 address read by IPORHOST, match and other states alternate
        // from byte to byte, which a branch would mispredict).
        const NONE: usize = usize::MAX;
        let mut end = NONE;
        let mut p = at;
        let base = table.as_ptr();
        while p < hay.len() {
            let class = usize::from(dfa.classes[usize::from(hay[p])]);
            // SAFETY: `row` is the offset of a row (every entry of the
            // table is one, as are the start states) and `class` is less
            // than the row width, so `row + class` is within the table. The
            // column's address comes first and does not depend on `row`:
            // from one byte to the next, only the load itself waits.
            row = unsafe { *base.add(class).add(row) } as usize;
            if row == Dfa::DEAD as usize {
                *work += p + 1 - at;
                return (end != NONE).then_some(end);
            }
            // Matches are reported one byte late.
            end = if row < first_plain { p } else { end };
            p += 1;
        }
        *work += p - at;
        if dfa.matches_at_end[row / dfa.stride as usize] {
            end = hay.len();
        }
        (end != NONE).then_some(end)
    }
}

/// The DFA of a group's NFA, shared by every group with the same NFA in
/// the process: the same patterns (IPORHOST, HTTPDUSER, NUMBER) recur in
/// most expressions, sometimes twice in one, and a DFA is built once.
fn shared_dfa(sub: &NFA) -> Option<Arc<Dfa>> {
    /// Built DFAs, and `None` for NFAs whose DFA outgrew the limit.
    static BUILT: Mutex<Vec<(String, Option<Weak<Dfa>>)>> = Mutex::new(Vec::new());
    // The NFA's listing names every state and transition; the look-around
    // settings are the same for every expression (see `compile.rs`).
    let key = format!("{}{sub:?}", sub.is_utf8());
    match BUILT.lock().ok()?.iter().find(|(k, _)| *k == key) {
        Some((_, None)) => return None,
        Some((_, Some(dfa))) => {
            if let Some(dfa) = dfa.upgrade() {
                return Some(dfa);
            }
        }
        None => {}
    }
    let built = dense::Builder::new()
        .configure(
            dense::DFA::config()
                .match_kind(MatchKind::LeftmostFirst)
                .start_kind(StartKind::Anchored)
                .accelerate(false)
                // Fewer states, fewer cache lines touched per byte.
                .minimize(true)
                .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
        )
        .build_from_nfa(sub)
        .ok()
        .and_then(|dfa| Dfa::new(&dfa))
        .map(Arc::new);
    let mut known = BUILT.lock().ok()?;
    known.retain(|(k, dfa)| *k != key && dfa.as_ref().is_none_or(|d| d.strong_count() > 0));
    known.push((key, built.as_ref().map(Arc::downgrade)));
    built
}

/// The closing capture state with slot `slot`, and the state after it.
fn closing_state(nfa: &NFA, slot: u32) -> Option<(StateID, StateID)> {
    nfa.states().iter().enumerate().find_map(|(i, s)| match *s {
        State::Capture { next, slot: s, .. } if s.as_u32() == slot => {
            Some((StateID::new(i).ok()?, next))
        }
        _ => None,
    })
}

/// The states reachable from `inner` without passing `close`, in the order
/// found; `None` if one of them is a capture or the whole NFA's match.
fn states_inside(nfa: &NFA, inner: StateID, close: StateID) -> Option<Vec<StateID>> {
    let mut found = vec![inner];
    let mut seen = HashSet::from([inner]);
    let mut i = 0;
    while let Some(&sid) = found.get(i) {
        i += 1;
        let state = nfa.state(sid);
        if matches!(state, State::Capture { .. } | State::Match { .. }) {
            return None;
        }
        for next in super::engine::successors(state) {
            if next != close && seen.insert(next) {
                found.push(next);
            }
        }
    }
    Some(found)
}

/// Whether `close` can be reached from `inner` without consuming a byte
/// (assertions taken as passing).
fn crosses_empty(nfa: &NFA, inner: StateID, close: StateID) -> bool {
    let mut todo = vec![inner];
    let mut seen = HashSet::new();
    while let Some(sid) = todo.pop() {
        if sid == close {
            return true;
        }
        if !seen.insert(sid) {
            continue;
        }
        match nfa.state(sid) {
            State::Look { next, .. } => todo.push(*next),
            State::Union { alternates } => todo.extend(alternates.iter().copied()),
            State::BinaryUnion { alt1, alt2 } => todo.extend([*alt1, *alt2]),
            _ => {}
        }
    }
    false
}

/// The group's inner NFA on its own, `close` turned into its match state.
fn sub_nfa(nfa: &NFA, inner: StateID, close: StateID, states: &[StateID]) -> Option<NFA> {
    // New ids follow `states`' order, then the match state: the builder
    // numbers states in the order they are added.
    let mut ids: HashMap<StateID, StateID> = HashMap::new();
    for (i, &sid) in states.iter().enumerate() {
        ids.insert(sid, StateID::new(i).ok()?);
    }
    ids.insert(close, StateID::new(states.len()).ok()?);
    let map = |sid: StateID| ids.get(&sid).copied();
    let mut b = thompson::Builder::new();
    b.set_utf8(nfa.is_utf8());
    b.set_look_matcher(nfa.look_matcher().clone());
    b.start_pattern().ok()?;
    for &sid in states {
        let transition = |t: &Transition| -> Option<Transition> {
            Some(Transition {
                start: t.start,
                end: t.end,
                next: map(t.next)?,
            })
        };
        let added = match nfa.state(sid) {
            State::ByteRange { trans } => b.add_range(transition(trans)?),
            State::Sparse(s) => b.add_sparse(
                s.transitions
                    .iter()
                    .map(transition)
                    .collect::<Option<Vec<_>>>()?,
            ),
            State::Dense(d) => b.add_sparse(
                super::engine::dense_runs(&d.transitions)
                    .map(|t| transition(&t))
                    .collect::<Option<Vec<_>>>()?,
            ),
            State::Look { look, next } => b.add_look(map(*next)?, *look),
            State::Union { alternates } => b.add_union(
                alternates
                    .iter()
                    .map(|&a| map(a))
                    .collect::<Option<Vec<_>>>()?,
            ),
            State::BinaryUnion { alt1, alt2 } => b.add_union(vec![map(*alt1)?, map(*alt2)?]),
            State::Fail => b.add_fail(),
            State::Capture { .. } | State::Match { .. } => return None,
        }
        .ok()?;
        debug_assert_eq!(Some(added), map(sid));
    }
    b.add_match().ok()?;
    let start = map(inner)?;
    b.finish_pattern(start).ok()?;
    b.build(start, start).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::Input;

    /// Patterns read over bytes, without Unicode classes.
    fn bytes() -> regex_automata::util::syntax::Config {
        regex_automata::util::syntax::Config::new()
            .unicode(false)
            .utf8(false)
    }

    /// A jump over a DFA built from `pattern` as `shared_dfa` builds one.
    fn jump(pattern: &str) -> Jump {
        let dfa = dense::Builder::new()
            .configure(
                dense::DFA::config()
                    .match_kind(MatchKind::LeftmostFirst)
                    .start_kind(StartKind::Anchored)
                    .minimize(true),
            )
            .syntax(bytes())
            .build(pattern)
            .unwrap();
        Jump {
            dfa: Arc::new(Dfa::new(&dfa).unwrap()),
            open_slot: 0,
            close_slot: 1,
            inner: 0,
            after: 0,
        }
    }

    /// Where regex-automata's own DFA ends an anchored match from `at`.
    fn expected(pattern: &str, hay: &[u8], at: usize) -> Option<usize> {
        let dfa = dense::Builder::new()
            .configure(dense::DFA::config().match_kind(MatchKind::LeftmostFirst))
            .syntax(bytes())
            .build(pattern)
            .unwrap();
        let input = Input::new(hay).range(at..).anchored(Anchored::Yes);
        dfa.try_search_fwd(&input).unwrap().map(|m| m.offset())
    }

    #[test]
    fn our_table_ends_where_the_dfa_it_was_made_from_ends() {
        let cases: &[(&str, &[&str])] = &[
            (
                r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}",
                &["10.0.0.1 -", "192.168.100.200", "1.2.3", "256.1.1.1x", ""],
            ),
            (
                r"[0-9]{2}/(?:Jan|Feb|Oct)/[0-9]{4}:[0-9]{2}",
                &["10/Oct/2000:13:55", "10/Oct/2000:1", "01/Feb/1999:00]"],
            ),
            // Assertions at both edges: the start depends on the byte
            // before, the end on the byte after or the end of the text.
            (r"\bab+\b", &["ab", "xab", " abbb ", "abbbc", "a"]),
            (r"[a-z]+$", &["abc", "abc ", "a\n", "x"]),
            // No dead state is ever reached: every byte keeps it going.
            (r"x[\x00-\xFF]*", &["x", "xyz\n\x00\u{7f}", "y"]),
            // Leftmost-first: the first alternative wins, even if shorter.
            (r"(?:a|ab)(?:c|bcd)", &["abcd", "abc", "acd"]),
        ];
        for (pattern, hays) in cases {
            let j = jump(pattern);
            for hay in *hays {
                let hay = hay.as_bytes();
                for at in 0..=hay.len() {
                    let mut work = 0;
                    assert_eq!(
                        j.cross(hay, at, &mut work),
                        expected(pattern, hay, at),
                        "{pattern} on {:?} from {at}",
                        String::from_utf8_lossy(hay)
                    );
                    assert!(work <= hay.len() - at, "read past the text");
                }
            }
        }
        let dfa = &jump(r"x[\x00-\xFF]*").dfa;
        assert!(
            dfa.table[..dfa.stride as usize]
                .iter()
                .all(|&r| r == Dfa::DEAD),
            "row 0 is dead even when no path dies"
        );
    }
}
