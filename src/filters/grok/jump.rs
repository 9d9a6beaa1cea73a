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

/// A group's DFA and its anchored start states.
#[derive(Debug)]
struct Dfa {
    dfa: dense::DFA<Vec<u32>>,
    /// The start state after each byte (assertions such as `\b` at the
    /// group's start depend on it), and at the start of the text: looked up
    /// here rather than worked out from an `Input` on every crossing.
    after_byte: Box<[StateID; 256]>,
    at_text_start: StateID,
}

impl Dfa {
    fn new(dfa: dense::DFA<Vec<u32>>) -> Option<Dfa> {
        let start = |behind: Option<u8>| {
            let config = start::Config::new()
                .anchored(Anchored::Yes)
                .look_behind(behind);
            dfa.start_state(&config).ok()
        };
        let mut after_byte = Box::new([StateID::ZERO; 256]);
        for (b, sid) in after_byte.iter_mut().enumerate() {
            *sid = start(Some(b as u8))?;
        }
        Some(Dfa {
            at_text_start: start(None)?,
            after_byte,
            dfa,
        })
    }
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
        let Dfa {
            dfa,
            after_byte,
            at_text_start,
        } = &*self.dfa;
        // No quit bytes are configured (an ASCII-only DFA has none; one that
        // needed Unicode word boundaries failed to build), so no step can
        // give up.
        let mut sid = match at.checked_sub(1) {
            Some(before) => after_byte[usize::from(hay[before])],
            None => *at_text_start,
        };
        let mut end = None;
        let mut p = at;
        while p < hay.len() {
            sid = dfa.next_state(sid, hay[p]);
            if dfa.is_special_state(sid) {
                if dfa.is_match_state(sid) {
                    // Matches are reported one byte late.
                    end = Some(p);
                } else if dfa.is_dead_state(sid) {
                    *work += p + 1 - at;
                    return end;
                }
                debug_assert!(!dfa.is_quit_state(sid));
            }
            p += 1;
        }
        *work += p - at;
        if dfa.is_match_state(dfa.next_eoi_state(sid)) {
            end = Some(hay.len());
        }
        end
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
        .and_then(Dfa::new)
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
