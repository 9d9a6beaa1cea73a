//! The capture engine: a bounded backtracker over the Thompson NFA of a
//! compiled expression, run first optimistically (see `Engine::run`).
//!
//! It computes exactly what `regex`'s own capture engines compute for an
//! anchored search (leftmost-first priority: alternatives in order, greedy
//! repetition longest first, lazy shortest first). A search first runs
//! without any bookkeeping, within a budget of work linear in the input;
//! most lines match long before it runs out. If it does, the search starts
//! again and, like `regex`'s bounded backtracker, never expands the same
//! (state, position) pair twice, so a search costs at most O(states ×
//! input length): there is no catastrophic case and no timeout. What makes
//! it faster on grok expressions, whose NFAs run to thousands of states:
//!
//! * The NFA is flattened into one array of small instructions, so a step
//!   reads one cache line instead of chasing boxed transition lists.
//! * Only states that can be reached in more than one way (two or more
//!   incoming edges, and the start) are remembered. Any other state has a
//!   single predecessor, so it is expanded at most as often as that
//!   predecessor, which keeps the bound while the visited set shrinks to a
//!   fraction of the NFA.
//! * Each remembered state owns a row of bits over the input, cleared the
//!   first time the row is touched in a search (an epoch per row) instead
//!   of clearing the whole set before every search.
//! * A branch is only entered if the next byte can start it (a 256-bit set
//!   per branch, computed once); a branch that cannot would fail at once.
//! * Single-character loops (`.*?`, `\S+`, `[^"]*`, `\w+`…) go over ASCII
//!   text with a byte table: a lazy loop skips the positions where its exit
//!   cannot start, a greedy loop records a way back only at positions where
//!   its exit can start, and the positions passed are marked in bulk.
//! * A capture group with no capture inside (`%{IPORHOST:…}`,
//!   `%{HTTPDATE:…}`) is crossed by a DFA of the group in one go, in the
//!   optimistic run (see `jump.rs`): an IPv4 address then costs one step
//!   instead of about thirty.
//!
//! Every shortcut only leaves out work the plain backtracker would have
//! done and abandoned without effect (or, for a DFA's crossing, does it
//! again if what follows fails), so the result does not change. The
//! tests compare it with `regex` on the whole pattern library.
//!
//! The caller picks the start (see `CompiledGrok::search`): leftmost-first
//! semantics make the anchored match at the leftmost matching position the
//! answer of the unanchored search.

use super::jump::Jump;
use regex_automata::PatternID;
use regex_automata::nfa::thompson::{NFA, State, Transition};
use regex_automata::util::look::{Look, LookMatcher};
use regex_automata::util::primitives::StateID;
use std::cell::RefCell;
use std::collections::HashMap;

/// Visited-set budget per search, in bytes. Longer inputs fall back to the
/// `regex` engines (still linear).
const VISITED_LIMIT_BYTES: usize = 8 << 20;

/// Work allowed to the optimistic run (see `Engine::run`): steps, plus
/// bytes passed by single-character loops, per byte of input and fixed.
/// A 200-byte Apache line through `%{COMBINEDAPACHELOG}` takes about 300.
const OPTIMISTIC_BUDGET_PER_BYTE: usize = 4;
const OPTIMISTIC_BUDGET_BASE: usize = 256;
/// At most this much, whatever the length, which bounds the backtracking
/// stack the optimistic run can build (16 bytes a frame) to 16 MiB.
const OPTIMISTIC_BUDGET_MAX: usize = 1 << 20;

#[cfg(test)]
thread_local! {
    /// Tests set this to check the run with the visited set on its own.
    static FORCE_VISITED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether searches on this thread skip the optimistic run (tests only).
#[inline(always)]
fn force_visited() -> bool {
    #[cfg(test)]
    {
        FORCE_VISITED.get()
    }
    #[cfg(not(test))]
    {
        false
    }
}

/// No row: a state with a single way in.
const NO_ROW: u32 = u32::MAX;

/// An unset capture slot.
pub(crate) const UNSET: usize = usize::MAX;

/// A set of bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn add_range(&mut self, lo: u8, hi: u8) {
        for b in lo..=hi {
            self.0[usize::from(b >> 6)] |= 1 << (b & 63);
        }
    }

    #[inline(always)]
    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }
}

/// Where a branch can start: the bytes its first step can consume, and
/// whether it can succeed without consuming any.
#[derive(Debug, Clone, Copy)]
struct Start {
    bytes: ByteSet,
    nullable: bool,
}

/// One flattened NFA state. Targets are state indexes.
#[derive(Debug, Clone, Copy)]
enum Inst {
    /// Consume one byte in `lo..=hi`.
    Byte {
        lo: u8,
        hi: u8,
        next: u32,
    },
    /// Consume one byte through `ranges[from..to]`.
    Ranges {
        from: u32,
        to: u32,
    },
    /// Consume `len` bytes, each in its range of `seq[from..from + len]`:
    /// a chain of `Byte` states that can only be entered at its head.
    Seq {
        from: u32,
        len: u32,
        next: u32,
    },
    Look {
        look: Look,
        next: u32,
    },
    /// Two branches, `alt1` preferred; `start1`/`start2` index `Engine::start_bytes`.
    Split {
        alt1: u32,
        alt2: u32,
        start1: u32,
        start2: u32,
    },
    /// A single-character loop, `loops[idx]`.
    Loop {
        idx: u32,
    },
    /// Branches `alts[from..to]` in order of preference.
    Union {
        from: u32,
        to: u32,
    },
    /// Open capture group `jumps[idx]`, crossed by its DFA (see `jump.rs`).
    Jump {
        idx: u32,
    },
    /// Record the position in a capture slot.
    Save {
        slot: u32,
        next: u32,
    },
    Match,
    Fail,
}

/// One transition of an `Inst::Ranges`.
#[derive(Debug, Clone, Copy)]
struct Range {
    lo: u8,
    hi: u8,
    next: u32,
}

/// What a loop does with one byte.
const STOP: u8 = 0;
/// The body takes it and the exit cannot start on it.
const TAKE: u8 = 1;
/// The body takes it and the exit may start on it too.
const BOTH: u8 = 2;

/// A single-character loop `U -> body -> U` (see the module docs).
#[derive(Debug, Clone)]
struct Loop {
    /// `true` when the body is the preferred branch (`*`, `+`), `false`
    /// for lazy repetition (`*?`, `+?`).
    greedy: bool,
    /// The row that marks the positions the loop passes: the loop state's
    /// own, or, when only the body has one (`x+`, entered at the body),
    /// the body's.
    row: u32,
    on_body: bool,
    /// The two branches as in the NFA (`alt1` preferred), and their
    /// starts (indexes into `Engine::start_bytes`).
    alt1: u32,
    alt2: u32,
    start1: u32,
    start2: u32,
    /// The exit branch.
    exit: u32,
    /// Per byte: `STOP`, `TAKE` or `BOTH`. Only ASCII bytes that the body
    /// consumes straight back to the loop state are taken.
    class: [u8; 256],
    /// The bytes not taken, for passing 16 bytes at a time, when they
    /// are few enough (`DATA`'s `.*?"` stops on `"` and `\n`, `NOTSPACE`
    /// on white space).
    stops: Option<StopRanges>,
}

/// The bytes a loop does not take: every byte from 128 up, and the ASCII
/// bytes in at most three ranges `lo..=lo + width`.
#[derive(Debug, Clone, Copy)]
struct StopRanges {
    lo: [u8; 3],
    width: [u8; 3],
    count: usize,
    /// `lo` and `width`, each byte repeated 16 times: the vectors `skip`
    /// compares with, made once rather than on every run of 16 bytes.
    lo_lanes: [[u8; 16]; 3],
    width_lanes: [[u8; 16]; 3],
}

impl StopRanges {
    fn of(class: &[u8; 256]) -> Option<StopRanges> {
        debug_assert!(class[128..].iter().all(|&c| c == STOP));
        let mut stops = StopRanges {
            lo: [0; 3],
            width: [0; 3],
            count: 0,
            lo_lanes: [[0; 16]; 3],
            width_lanes: [[0; 16]; 3],
        };
        let mut b = 0;
        while b < 128 {
            if class[b] == TAKE {
                b += 1;
                continue;
            }
            let lo = b;
            while b < 128 && class[b] != TAKE {
                b += 1;
            }
            if stops.count == 3 {
                return None;
            }
            stops.lo[stops.count] = lo as u8;
            stops.width[stops.count] = (b - 1 - lo) as u8;
            stops.count += 1;
        }
        for i in 0..3 {
            // An unused range holds 128 alone, which stops a loop anyway.
            let (lo, width) = if i < stops.count {
                (stops.lo[i], stops.width[i])
            } else {
                (128, 0)
            };
            stops.lo_lanes[i] = [lo; 16];
            stops.width_lanes[i] = [width; 16];
        }
        Some(stops)
    }

    /// The first position from `p` whose byte is not taken, or where
    /// fewer than 16 bytes are left when the whole text is shorter than 16.
    /// Bytes go 16 at a time; the last few, in the last 16 bytes of the
    /// text, with those before `p` left out.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn skip(&self, hay: &[u8], mut p: usize) -> usize {
        while let Some(chunk) = hay.get(p..p + 16) {
            let found = self.not_taken(chunk);
            if found != 0 {
                return p + found.trailing_zeros() as usize;
            }
            p += 16;
        }
        if p < hay.len() && hay.len() >= 16 {
            let from = hay.len() - 16;
            let found = self.not_taken(&hay[from..]) >> (p - from);
            return if found != 0 {
                p + found.trailing_zeros() as usize
            } else {
                hay.len()
            };
        }
        p
    }

    /// One bit per byte of `chunk` (16 bytes): set where the byte is not
    /// taken.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn not_taken(&self, chunk: &[u8]) -> u32 {
        use std::arch::x86_64::*;
        debug_assert_eq!(chunk.len(), 16);
        // SAFETY: SSE2 is part of every x86_64 processor; each load reads
        // 16 bytes, of `chunk` (16 long) or of a 16-byte array, unaligned.
        unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            let mut hit = _mm_setzero_si128();
            for i in 0..3 {
                // `v - lo <= width` as unsigned bytes: in the range.
                let lo = _mm_loadu_si128(self.lo_lanes[i].as_ptr().cast());
                let width = _mm_loadu_si128(self.width_lanes[i].as_ptr().cast());
                let t = _mm_sub_epi8(v, lo);
                hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_min_epu8(t, width), t));
            }
            // The top bit of each byte: 128 and up.
            (_mm_movemask_epi8(hit) | _mm_movemask_epi8(v)) as u32
        }
    }
}

impl Loop {
    /// The loop's run over `p..limit`, greedy or lazy, without marking:
    /// where it stops.
    #[inline(always)]
    fn run(&self, c: &mut Scratch, hay: &[u8], p: usize, limit: usize) -> usize {
        let q = if self.greedy {
            self.run_greedy(c, hay, p, limit)
        } else {
            // The exit is tried first at each position: skip those where
            // it cannot start.
            self.skip_taken(hay, p, limit)
        };
        #[cfg(test)]
        {
            c.work += (q - p) as u64;
        }
        q
    }

    /// A greedy loop's run over `p..limit`: the exit is tried last, from
    /// the longest run back, so it is recorded at the positions where it
    /// can start. Returns where the run stops (a byte the body does not
    /// take, or `limit`).
    #[inline(always)]
    fn run_greedy(&self, c: &mut Scratch, hay: &[u8], p: usize, limit: usize) -> usize {
        let mut q = self.skip_taken(hay, p, limit);
        while q < limit {
            match self.class[usize::from(hay[q])] {
                STOP => break,
                BOTH => c.stack.push(Frame::Step {
                    sid: self.exit,
                    at: q,
                }),
                _ => {}
            }
            q += 1;
        }
        q
    }

    /// The first position in `p..limit` whose byte is not `TAKE` (or
    /// `limit`), eight bytes at a time while it can.
    #[inline(always)]
    fn skip_taken(&self, hay: &[u8], mut p: usize, limit: usize) -> usize {
        let hay = &hay[..limit];
        #[cfg(target_arch = "x86_64")]
        if let Some(stops) = &self.stops {
            p = stops.skip(hay, p);
        }
        while let Some(chunk) = hay.get(p..p + 8) {
            let mut all = true;
            for &b in chunk {
                all &= self.class[usize::from(b)] == TAKE;
            }
            if !all {
                break;
            }
            p += 8;
        }
        while p < hay.len() && self.class[usize::from(hay[p])] == TAKE {
            p += 1;
        }
        p
    }
}

/// A compiled expression's NFA, flattened, plus the tables the search
/// needs.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    nfa: NFA,
    insts: Vec<Inst>,
    /// Per state: its row in the visited set, or `NO_ROW`.
    rows: Vec<u32>,
    ranges: Vec<Range>,
    /// Byte ranges of `Inst::Seq`.
    seq: Vec<(u8, u8)>,
    /// Union branches: (target, index into `start_bytes`).
    alts: Vec<(u32, u32)>,
    /// Per entry of `Starts`: the bytes a branch can start on, all of
    /// them if it can match empty, so that a check is one bit test.
    start_bytes: Vec<ByteSet>,
    /// Per entry of `Starts`: whether the branch can start at the end of
    /// the input (it can match empty).
    start_at_end: Vec<bool>,
    loops: Vec<Loop>,
    jumps: Vec<Jump>,
    start: u32,
    row_count: usize,
    /// Number of capture slots (two per group, group 0 included).
    slot_count: usize,
}

/// A backtracking step: explore a state at a position, or restore a slot.
#[derive(Debug, Clone, Copy)]
enum Frame {
    Step { sid: u32, at: usize },
    Restore { slot: u32, offset: usize },
}

/// Per-thread scratch space, reused across searches and expressions. The
/// visited set keeps the size of the largest search the thread has run
/// (at most `VISITED_LIMIT_BYTES`).
#[derive(Default)]
struct Scratch {
    stack: Vec<Frame>,
    /// Steps (and bytes passed by loops) left to the optimistic run.
    budget: usize,
    /// The optimistic run ran out of budget.
    exhausted: bool,
    visited: Vec<u64>,
    row_epoch: Vec<u32>,
    epoch: u32,
    words: usize,
    base: usize,
    /// States expanded plus bytes stepped over in loops, in the last
    /// search (tests check that it grows linearly with the input).
    #[cfg(test)]
    work: u64,
    /// Groups crossed by their DFA in the last search.
    #[cfg(test)]
    jumps: u64,
}

impl Scratch {
    fn setup(&mut self, rows: usize, span: usize, base: usize) {
        self.stack.clear();
        self.words = (span + 1).div_ceil(64);
        self.base = base;
        let need = rows * self.words;
        if self.visited.len() < need {
            self.visited.resize(need, 0);
        }
        if self.row_epoch.len() < rows {
            self.row_epoch.resize(rows, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.row_epoch.iter_mut().for_each(|e| *e = 0);
            self.epoch = 1;
        }
    }

    /// Records `at` in capture slot `slot` (if the caller asked for it),
    /// with the way back to its old value.
    #[inline(always)]
    fn save(&mut self, slots: &mut [usize], slot: u32, at: usize) {
        if let Some(s) = slots.get_mut(slot as usize) {
            self.stack.push(Frame::Restore { slot, offset: *s });
            *s = at;
        }
    }

    /// The words of `row`, cleared if this search has not used it yet.
    #[inline(always)]
    fn row(&mut self, row: u32) -> &mut [u64] {
        let row = row as usize;
        let start = row * self.words;
        let words = &mut self.visited[start..start + self.words];
        if self.row_epoch[row] != self.epoch {
            self.row_epoch[row] = self.epoch;
            clear(words);
        }
        words
    }

    /// Marks (row, at); false if it was already marked in this search.
    #[inline(always)]
    fn insert(&mut self, row: u32, at: usize) -> bool {
        let i = at - self.base;
        let bit = 1u64 << (i % 64);
        let r = row as usize;
        let start = r * self.words;
        let words = &mut self.visited[start..start + self.words];
        if self.row_epoch[r] != self.epoch {
            // First use of the row in this search: nothing to read.
            self.row_epoch[r] = self.epoch;
            clear(words);
            words[i / 64] = bit;
            return true;
        }
        let word = &mut words[i / 64];
        if *word & bit != 0 {
            return false;
        }
        *word |= bit;
        true
    }

    /// Marks (row, p) for p in `from..=to` in order, stopping before the
    /// first one already marked, which it returns.
    fn insert_range(&mut self, row: u32, from: usize, to: usize) -> Option<usize> {
        let base = self.base;
        let words = self.row(row);
        let (mut i, last) = (from - base, to - base);
        while i <= last {
            let w = i / 64;
            let lo = i % 64;
            let hi = if last / 64 == w { last % 64 } else { 63 };
            let width = hi - lo + 1;
            let mask = if width == 64 {
                u64::MAX
            } else {
                ((1u64 << width) - 1) << lo
            };
            let hit = words[w] & mask;
            if hit != 0 {
                let first = hit.trailing_zeros() as usize;
                words[w] |= mask & ((1u64 << first) - 1);
                return Some(base + w * 64 + first);
            }
            words[w] |= mask;
            i += width;
        }
        None
    }
}

/// Zeroes a row. Rows are a few words long: plain stores, where `fill(0)`
/// would become a call to `memset` for each row.
#[inline(always)]
fn clear(words: &mut [u64]) {
    let zero = std::hint::black_box(0u64);
    for w in words {
        *w = zero;
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Engine {
    pub(crate) fn new(nfa: NFA) -> Engine {
        let n = nfa.states().len();
        let id = |s: StateID| s.as_u32();
        // Incoming edges per state; a byte-consuming state counts once per
        // target (one step takes one of its transitions), branches of a
        // union each count.
        let mut incoming = vec![0u32; n];
        for state in nfa.states() {
            for t in successors(state) {
                incoming[t.as_usize()] += 1;
            }
        }
        let start = nfa.start_anchored();
        incoming[start.as_usize()] += 2;
        let mut rows = vec![NO_ROW; n];
        let mut row_count = 0u32;
        for (i, &count) in incoming.iter().enumerate() {
            if count != 1 {
                rows[i] = row_count;
                row_count += 1;
            }
        }

        let mut starts = Starts::new(&nfa);
        let mut insts = Vec::with_capacity(n);
        let mut ranges = Vec::new();
        let mut alts = Vec::new();
        let mut loops = Vec::new();
        let push_ranges = |ranges: &mut Vec<Range>, it: &mut dyn Iterator<Item = Range>| {
            let from = ranges.len() as u32;
            ranges.extend(it);
            Inst::Ranges {
                from,
                to: ranges.len() as u32,
            }
        };
        for (i, state) in nfa.states().iter().enumerate() {
            let inst = match state {
                State::ByteRange { trans } => Inst::Byte {
                    lo: trans.start,
                    hi: trans.end,
                    next: id(trans.next),
                },
                State::Sparse(s) => push_ranges(
                    &mut ranges,
                    &mut s.transitions.iter().map(|t| Range {
                        lo: t.start,
                        hi: t.end,
                        next: id(t.next),
                    }),
                ),
                State::Dense(d) => push_ranges(
                    &mut ranges,
                    &mut dense_runs(&d.transitions).map(|t| Range {
                        lo: t.start,
                        hi: t.end,
                        next: id(t.next),
                    }),
                ),
                State::Look { look, next } => Inst::Look {
                    look: *look,
                    next: id(*next),
                },
                State::Union { alternates } => {
                    let from = alts.len() as u32;
                    for &a in alternates.iter() {
                        alts.push((id(a), starts.index_of(a)));
                    }
                    Inst::Union {
                        from,
                        to: alts.len() as u32,
                    }
                }
                State::BinaryUnion { alt1, alt2 } => {
                    let me = StateID::new(i).expect("state ids fit");
                    let body = |alt| body_mask(&nfa, alt, me);
                    let found = match (body(*alt1), body(*alt2)) {
                        (Some(mask), None) => Some((true, mask, *alt1, *alt2)),
                        (None, Some(mask)) => Some((false, mask, *alt2, *alt1)),
                        _ => None,
                    };
                    let lp = found.and_then(|(greedy, mask, body, exit)| {
                        let (row, on_body) = if rows[i] != NO_ROW {
                            (rows[i], false)
                        } else if rows[body.as_usize()] != NO_ROW {
                            (rows[body.as_usize()], true)
                        } else {
                            return None;
                        };
                        let exit_start = starts.of(exit);
                        if !greedy && exit_start.nullable {
                            // A lazy loop whose exit may match empty
                            // never skips anything.
                            return None;
                        }
                        let mut class = [STOP; 256];
                        for (b, c) in class.iter_mut().enumerate().take(128) {
                            if mask & (1u128 << b) != 0 {
                                *c = if exit_start.nullable || exit_start.bytes.contains(b as u8) {
                                    BOTH
                                } else {
                                    TAKE
                                };
                            }
                        }
                        Some(Loop {
                            greedy,
                            row,
                            on_body,
                            alt1: id(*alt1),
                            alt2: id(*alt2),
                            start1: starts.index_of(*alt1),
                            start2: starts.index_of(*alt2),
                            exit: id(exit),
                            stops: StopRanges::of(&class),
                            class,
                        })
                    });
                    match lp {
                        Some(lp) => {
                            loops.push(lp);
                            Inst::Loop {
                                idx: loops.len() as u32 - 1,
                            }
                        }
                        None => Inst::Split {
                            alt1: id(*alt1),
                            alt2: id(*alt2),
                            start1: starts.index_of(*alt1),
                            start2: starts.index_of(*alt2),
                        },
                    }
                }
                State::Capture { next, slot, .. } => Inst::Save {
                    slot: slot.as_u32(),
                    next: id(*next),
                },
                State::Fail => Inst::Fail,
                State::Match { .. } => Inst::Match,
            };
            insts.push(inst);
        }
        // Chains of single-byte steps whose inner states have one way in
        // run as one instruction.
        let mut seq = Vec::new();
        for i in 0..insts.len() {
            let Inst::Byte { lo, hi, mut next } = insts[i] else {
                continue;
            };
            let from = seq.len();
            seq.push((lo, hi));
            while rows[next as usize] == NO_ROW
                && let Inst::Byte {
                    lo,
                    hi,
                    next: after,
                } = insts[next as usize]
                && next as usize != i
            {
                seq.push((lo, hi));
                next = after;
            }
            let len = seq.len() - from;
            if len < 2 {
                seq.truncate(from);
                continue;
            }
            insts[i] = Inst::Seq {
                from: from as u32,
                len: len as u32,
                next,
            };
        }
        let in_loop = loop_states(&nfa, &insts, &loops);
        let mut jumps = Vec::new();
        for (i, inst) in insts.iter_mut().enumerate() {
            if let Inst::Save { .. } = inst
                && let Some(jump) =
                    Jump::for_group(&nfa, StateID::new(i).expect("state ids fit"), &in_loop)
            {
                jumps.push(jump);
                *inst = Inst::Jump {
                    idx: jumps.len() as u32 - 1,
                };
            }
        }
        let start_bytes = (starts.list.iter())
            .map(|s| {
                let mut bytes = s.bytes;
                if s.nullable {
                    bytes.add_range(0, 255);
                }
                bytes
            })
            .collect();
        let start_at_end = starts.list.iter().map(|s| s.nullable).collect();
        let slot_count = nfa.group_info().slot_len();
        Engine {
            nfa,
            insts,
            rows,
            ranges,
            seq,
            alts,
            start_bytes,
            start_at_end,
            loops,
            jumps,
            start: id(start),
            row_count: row_count as usize,
            slot_count,
        }
    }

    /// The NFA's capture group index of a named group.
    pub(crate) fn group_index(&self, name: &str) -> Option<usize> {
        self.nfa.group_info().to_index(PatternID::ZERO, name)
    }

    /// Slots a search fills: two per group, group 0 (the whole match) first.
    pub(crate) fn slot_count(&self) -> usize {
        self.slot_count
    }

    /// Whether a search starting at `at` fits the visited-set budget.
    pub(crate) fn fits(&self, text: &str, at: usize) -> bool {
        let words = (text.len() - at + 1).div_ceil(64);
        self.row_count.saturating_mul(words).saturating_mul(8) <= VISITED_LIMIT_BYTES
    }

    /// Makes searches on this thread use the visited set from the start
    /// (`true`) or run optimistically first (`false`, the default).
    #[cfg(test)]
    pub(crate) fn force_visited(on: bool) {
        FORCE_VISITED.set(on);
    }

    /// Whether the last search on this thread ran out of its optimistic
    /// budget and started again with the visited set.
    #[cfg(test)]
    pub(crate) fn last_run_gave_way() -> bool {
        SCRATCH.with(|c| c.borrow().exhausted)
    }

    /// How many groups the last search on this thread crossed with a DFA.
    #[cfg(test)]
    pub(crate) fn last_jumps() -> u64 {
        SCRATCH.with(|c| c.borrow().jumps)
    }

    /// The work of the last search on this thread (see `Scratch::work`).
    #[cfg(test)]
    pub(crate) fn last_work() -> u64 {
        SCRATCH.with(|c| c.borrow().work)
    }

    /// Anchored search at `at` over the rest of `text`: the highest-priority
    /// match starting there, its group offsets written to `slots` (length
    /// [`Engine::slot_count`]; unset groups get `UNSET`). The caller checks
    /// [`Engine::fits`] first.
    pub(crate) fn search_at(&self, text: &str, at: usize, slots: &mut [usize]) -> bool {
        slots.iter_mut().for_each(|s| *s = UNSET);
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.run(&mut scratch, text.as_bytes(), at, slots),
            // Only reachable if a search ever ran inside another one.
            Err(_) => self.run(&mut Scratch::default(), text.as_bytes(), at, slots),
        })
    }

    /// First the optimistic run: the same backtracker without the visited
    /// set, with a budget of work linear in the input. Lines that match
    /// with little backtracking (nearly all) finish there, skipping the
    /// bookkeeping that only bounds the worst case. A run that uses up its
    /// budget is abandoned and the search starts again with the visited
    /// set, so the total stays linear. Both explore paths in the same
    /// order, and a (state, position) pair that the visited set prunes
    /// has already failed once and would fail again, so both find the
    /// same match.
    fn run(&self, c: &mut Scratch, hay: &[u8], at: usize, slots: &mut [usize]) -> bool {
        #[cfg(test)]
        {
            c.work = 0;
            c.jumps = 0;
        }
        let span = hay.len() - at;
        c.exhausted = false;
        if !force_visited() {
            c.stack.clear();
            c.budget = (OPTIMISTIC_BUDGET_BASE + OPTIMISTIC_BUDGET_PER_BYTE * span)
                .min(OPTIMISTIC_BUDGET_MAX);
            let found = self.run_with::<false>(c, hay, at, slots);
            if !c.exhausted {
                return found;
            }
            slots.iter_mut().for_each(|s| *s = UNSET);
        }
        c.setup(self.row_count, span, at);
        self.run_with::<true>(c, hay, at, slots)
    }

    fn run_with<const VISITED: bool>(
        &self,
        c: &mut Scratch,
        hay: &[u8],
        at: usize,
        slots: &mut [usize],
    ) -> bool {
        let look = self.nfa.look_matcher();
        c.stack.push(Frame::Step {
            sid: self.start,
            at,
        });
        while let Some(frame) = c.stack.pop() {
            match frame {
                Frame::Step { sid, at } => {
                    if self.step::<VISITED>(c, look, hay, sid, at, slots) {
                        return true;
                    }
                    if !VISITED && c.exhausted {
                        return false;
                    }
                }
                Frame::Restore { slot, offset } => slots[slot as usize] = offset,
            }
        }
        false
    }

    /// Whether branch start `start` (see `Starts`) can begin at `at`.
    #[inline(always)]
    fn can_start(&self, start: u32, hay: &[u8], at: usize) -> bool {
        match hay.get(at) {
            Some(&b) => self.start_bytes[start as usize].contains(b),
            None => self.start_at_end[start as usize],
        }
    }

    /// Follows one path from (sid, at), pushing the branches it passes;
    /// with `VISITED`, marking the positions it passes, else spending the
    /// budget (running out sets `exhausted` and ends the path).
    #[inline(always)]
    fn step<const VISITED: bool>(
        &self,
        c: &mut Scratch,
        look: &LookMatcher,
        hay: &[u8],
        mut sid: u32,
        mut at: usize,
        slots: &mut [usize],
    ) -> bool {
        let end = hay.len();
        loop {
            #[cfg(test)]
            {
                c.work += 1;
            }
            if VISITED {
                let row = self.rows[sid as usize];
                if row != NO_ROW && !c.insert(row, at) {
                    return false;
                }
            } else {
                if c.budget == 0 {
                    c.exhausted = true;
                    return false;
                }
                c.budget -= 1;
            }
            match self.insts[sid as usize] {
                Inst::Byte { lo, hi, next } => {
                    if at >= end || hay[at] < lo || hay[at] > hi {
                        return false;
                    }
                    sid = next;
                    at += 1;
                }
                Inst::Ranges { from, to } => {
                    if at >= end {
                        return false;
                    }
                    let b = hay[at];
                    let mut found = None;
                    for r in &self.ranges[from as usize..to as usize] {
                        if b < r.lo {
                            break;
                        }
                        if b <= r.hi {
                            found = Some(r.next);
                            break;
                        }
                    }
                    match found {
                        Some(next) => sid = next,
                        None => return false,
                    }
                    at += 1;
                }
                Inst::Seq { from, len, next } => {
                    let len = len as usize;
                    if end - at < len {
                        return false;
                    }
                    let want = &self.seq[from as usize..from as usize + len];
                    for (&b, &(lo, hi)) in hay[at..at + len].iter().zip(want) {
                        if b < lo || b > hi {
                            return false;
                        }
                    }
                    sid = next;
                    at += len;
                }
                Inst::Look { look: l, next } => {
                    if !look.matches(l, hay, at) {
                        return false;
                    }
                    sid = next;
                }
                Inst::Split {
                    alt1,
                    alt2,
                    start1,
                    start2,
                } => {
                    let ok1 = self.can_start(start1, hay, at);
                    if self.can_start(start2, hay, at) {
                        if !ok1 {
                            sid = alt2;
                            continue;
                        }
                        c.stack.push(Frame::Step { sid: alt2, at });
                    } else if !ok1 {
                        return false;
                    }
                    sid = alt1;
                }
                Inst::Loop { idx } => match if VISITED {
                    self.run_loop(c, hay, idx, at)
                } else {
                    self.run_loop_optimistic(c, hay, idx, at)
                } {
                    Some((next, pos)) => {
                        sid = next;
                        at = pos;
                    }
                    None => return false,
                },
                Inst::Union { from, to } => {
                    let branches = &self.alts[from as usize..to as usize];
                    let Some(first) = branches
                        .iter()
                        .position(|&(_, start)| self.can_start(start, hay, at))
                    else {
                        return false;
                    };
                    for &(target, start) in branches[first + 1..].iter().rev() {
                        if self.can_start(start, hay, at) {
                            c.stack.push(Frame::Step { sid: target, at });
                        }
                    }
                    sid = branches[first].0;
                }
                Inst::Jump { idx } => {
                    let jump = &self.jumps[idx as usize];
                    if !VISITED {
                        let mut work = 0;
                        let end = jump.cross(hay, at, &mut work);
                        #[cfg(test)]
                        {
                            c.work += work as u64;
                            c.jumps += 1;
                        }
                        if work > c.budget {
                            c.exhausted = true;
                            return false;
                        }
                        c.budget -= work;
                        let Some(end) = end else {
                            return false;
                        };
                        // Taken back in reverse: the group's end, then the
                        // NFA way through the group (`jump.rs` says why),
                        // then its start.
                        c.save(slots, jump.open_slot, at);
                        c.stack.push(Frame::Step {
                            sid: jump.inner,
                            at,
                        });
                        c.save(slots, jump.close_slot, end);
                        sid = jump.after;
                        at = end;
                        continue;
                    }
                    // With the visited set, the plain way, which keeps its
                    // bound: a DFA run is not limited by what was visited.
                    c.save(slots, jump.open_slot, at);
                    sid = jump.inner;
                }
                Inst::Save { slot, next } => {
                    c.save(slots, slot, at);
                    sid = next;
                }
                Inst::Fail => return false,
                Inst::Match => return true,
            }
        }
    }

    /// [`Engine::run_loop`] for the optimistic run: the same choices,
    /// nothing marked, the bytes passed taken from the budget.
    #[inline(always)]
    fn run_loop_optimistic(
        &self,
        c: &mut Scratch,
        hay: &[u8],
        idx: u32,
        at: usize,
    ) -> Option<(u32, usize)> {
        let lp = &self.loops[idx as usize];
        let q = lp.run(c, hay, at, hay.len());
        if q - at > c.budget {
            c.exhausted = true;
            return None;
        }
        c.budget -= q - at;
        // Where the run stops, the loop state's own split, with the
        // branches that cannot start there left out as `Inst::Split`
        // leaves them: a greedy loop usually stops on a byte its body does
        // not take, and trying the body there would cost a dispatch, a
        // failure and a way back, for nothing.
        let ok1 = self.can_start(lp.start1, hay, q);
        if !self.can_start(lp.start2, hay, q) {
            return ok1.then_some((lp.alt1, q));
        }
        if !ok1 {
            return Some((lp.alt2, q));
        }
        c.stack.push(Frame::Step {
            sid: lp.alt2,
            at: q,
        });
        Some((lp.alt1, q))
    }

    /// Runs loop `idx` entered at `at` (its own position already marked):
    /// goes over the bytes the plain backtracker would step through one by
    /// one, then continues as the plain split would at the first byte that
    /// needs a real choice. Returns the state and position to continue
    /// with, or `None` if this path ends (a position already explored).
    #[inline(always)]
    fn run_loop(&self, c: &mut Scratch, hay: &[u8], idx: u32, at: usize) -> Option<(u32, usize)> {
        let lp = &self.loops[idx as usize];
        let end = hay.len();
        // The positions marked when the run goes from `p` to `q`: the loop
        // state's (p, q] (its own position is marked on entry), or the
        // body's [p, q) (the plain split below marks it at the stop).
        let marked = |p: usize, q: usize| {
            if lp.on_body { (p, q - 1) } else { (p + 1, q) }
        };
        let mark = c.stack.len();
        let mut p = at;
        // Stretches of at most 64 bytes, each marked before the next is
        // read, so that a run into positions explored before stops within
        // one stretch of them: every position is passed once per search.
        loop {
            let limit = (p + 64).min(end);
            let q = lp.run(c, hay, p, limit);
            if q > p {
                let (from, to) = marked(p, q);
                if let Some(seen) = c.insert_range(lp.row, from, to) {
                    // Arrived at an explored position: the path ends there,
                    // with the ways back recorded before it (at the loop
                    // state, the exit is recorded before the body is
                    // entered).
                    let keep = c.stack[mark..]
                        .iter()
                        .take_while(|f| match f {
                            Frame::Step { at, .. } => *at < seen || (lp.on_body && *at == seen),
                            Frame::Restore { .. } => false,
                        })
                        .count();
                    c.stack.truncate(mark + keep);
                    return None;
                }
            }
            p = q;
            if q < limit || q == end {
                break;
            }
        }
        // The plain split at `p`.
        c.stack.push(Frame::Step {
            sid: lp.alt2,
            at: p,
        });
        Some((lp.alt1, p))
    }
}

/// A dense state's transitions as runs of bytes with the same target.
pub(super) fn dense_runs(transitions: &[StateID]) -> impl Iterator<Item = Transition> + '_ {
    let mut b = 0;
    std::iter::from_fn(move || {
        while transitions.get(b) == Some(&StateID::ZERO) {
            b += 1;
        }
        let next = *transitions.get(b)?;
        let start = b;
        while transitions.get(b + 1) == Some(&next) {
            b += 1;
        }
        let run = Transition {
            start: start as u8,
            end: b as u8,
            next,
        };
        b += 1;
        Some(run)
    })
}

/// Per state: whether it belongs to a single-character loop (`Inst::Loop`):
/// the loop state and the body states it steps through.
fn loop_states(nfa: &NFA, insts: &[Inst], loops: &[Loop]) -> Vec<bool> {
    let mut in_loop = vec![false; insts.len()];
    for (i, inst) in insts.iter().enumerate() {
        let Inst::Loop { idx } = *inst else {
            continue;
        };
        let lp = &loops[idx as usize];
        let body = if lp.exit == lp.alt1 { lp.alt2 } else { lp.alt1 };
        in_loop[i] = true;
        let mut todo = vec![StateID::new(body as usize).expect("state ids fit")];
        while let Some(sid) = todo.pop() {
            if std::mem::replace(&mut in_loop[sid.as_usize()], true) {
                continue;
            }
            todo.extend(successors(nfa.state(sid)));
        }
    }
    in_loop
}

/// The states a state leads to (a target reached by several byte ranges
/// counts once).
pub(super) fn successors(state: &State) -> Vec<StateID> {
    let mut out: Vec<StateID> = Vec::new();
    match state {
        State::ByteRange { trans } => out.push(trans.next),
        State::Sparse(s) => {
            for t in s.transitions.iter() {
                if !out.contains(&t.next) {
                    out.push(t.next);
                }
            }
        }
        State::Dense(d) => {
            for &t in d.transitions.iter() {
                if t != StateID::ZERO && !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        State::Look { next, .. } | State::Capture { next, .. } => out.push(*next),
        State::Union { alternates } => out.extend(alternates.iter().copied()),
        State::BinaryUnion { alt1, alt2 } => {
            out.push(*alt1);
            out.push(*alt2);
        }
        State::Fail | State::Match { .. } => {}
    }
    out
}

/// The ASCII bytes on which the loop body starting at `body` takes one
/// byte straight back to the loop state `to`, with no other way to go:
/// the body's first steps (through branches only) reach exactly one
/// transition on that byte, and it leads to `to`. `None` if there is no
/// such byte, or if the body's first steps pass a capture or an assertion
/// or can reach a match.
fn body_mask(nfa: &NFA, body: StateID, to: StateID) -> Option<u128> {
    let mut consumers: Vec<StateID> = Vec::new();
    let mut seen: Vec<StateID> = Vec::new();
    let mut todo = vec![body];
    while let Some(sid) = todo.pop() {
        if seen.contains(&sid) {
            continue;
        }
        seen.push(sid);
        match nfa.state(sid) {
            State::ByteRange { .. } | State::Sparse(_) | State::Dense(_) => consumers.push(sid),
            State::Union { alternates } => todo.extend(alternates.iter().copied()),
            State::BinaryUnion { alt1, alt2 } => {
                todo.push(*alt1);
                todo.push(*alt2);
            }
            State::Fail => {}
            State::Look { .. } | State::Capture { .. } | State::Match { .. } => return None,
        }
        if seen.len() > 64 {
            return None;
        }
    }
    let step = |sid: StateID, b: u8| -> Option<StateID> {
        match nfa.state(sid) {
            State::ByteRange { trans } => trans.matches_byte(b).then_some(trans.next),
            State::Sparse(s) => s.matches_byte(b),
            State::Dense(d) => d.matches_byte(b),
            _ => None,
        }
    };
    let mut mask = 0u128;
    for b in 0..128u8 {
        let mut targets = consumers.iter().filter_map(|&c| step(c, b));
        if let (Some(next), None) = (targets.next(), targets.next())
            && next == to
        {
            mask |= 1 << b;
        }
    }
    (mask != 0).then_some(mask)
}

/// Computes where branches can start (see [`Start`]), reusing its
/// scratch space across calls.
struct Starts<'a> {
    nfa: &'a NFA,
    seen: Vec<u32>,
    stamp: u32,
    todo: Vec<StateID>,
    index: HashMap<([u64; 4], bool), u32>,
    list: Vec<Start>,
}

impl<'a> Starts<'a> {
    fn new(nfa: &'a NFA) -> Self {
        Starts {
            nfa,
            seen: vec![0; nfa.states().len()],
            stamp: 0,
            todo: Vec::new(),
            index: HashMap::new(),
            list: Vec::new(),
        }
    }

    /// The bytes that can be consumed first from `from` (following
    /// non-consuming states, assertions taken as passing), and whether a
    /// match can be reached without consuming anything.
    fn of(&mut self, from: StateID) -> Start {
        let mut bytes = ByteSet::default();
        let mut nullable = false;
        self.stamp += 1;
        self.todo.clear();
        self.todo.push(from);
        while let Some(sid) = self.todo.pop() {
            if std::mem::replace(&mut self.seen[sid.as_usize()], self.stamp) == self.stamp {
                continue;
            }
            match self.nfa.state(sid) {
                State::ByteRange { trans } => bytes.add_range(trans.start, trans.end),
                State::Sparse(s) => s
                    .transitions
                    .iter()
                    .for_each(|t| bytes.add_range(t.start, t.end)),
                State::Dense(d) => {
                    for (b, &next) in d.transitions.iter().enumerate() {
                        if next != StateID::ZERO {
                            bytes.add_range(b as u8, b as u8);
                        }
                    }
                }
                State::Look { next, .. } | State::Capture { next, .. } => self.todo.push(*next),
                State::Union { alternates } => self.todo.extend(alternates.iter().copied()),
                State::BinaryUnion { alt1, alt2 } => {
                    self.todo.push(*alt1);
                    self.todo.push(*alt2);
                }
                State::Fail => {}
                State::Match { .. } => nullable = true,
            }
        }
        Start { bytes, nullable }
    }

    /// [`Starts::of`], stored once: its index in the table.
    fn index_of(&mut self, from: StateID) -> u32 {
        let s = self.of(from);
        let list = &mut self.list;
        *self
            .index
            .entry((s.bytes.0, s.nullable))
            .or_insert_with(|| {
                list.push(s);
                list.len() as u32 - 1
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loop class taking every ASCII byte but `not_taken`.
    fn class_without(not_taken: &[u8]) -> [u8; 256] {
        let mut class = [STOP; 256];
        for (b, c) in class.iter_mut().enumerate().take(128) {
            if !not_taken.contains(&(b as u8)) {
                *c = TAKE;
            }
        }
        class
    }

    #[test]
    fn stop_ranges_pass_16_bytes_at_a_time_exactly_as_byte_by_byte() {
        let classes = [
            class_without(b"\"\n"),
            class_without(b"\t\n\x0b\x0c\r "),
            class_without(b""),
            class_without(&[0, 127]),
        ];
        for class in &classes {
            let stops = StopRanges::of(class).expect("three ranges or fewer");
            let mut rng = super::super::tests::apache_lines::Rng::new(5);
            for _ in 0..2000 {
                let len = rng.below(80) as usize;
                let hay: Vec<u8> = (0..len)
                    .map(|_| match rng.below(10) {
                        0 => rng.below(256) as u8,
                        1 => *rng.pick(b"\"\n\t \r\x7f\x00".as_slice()),
                        _ => b'a' + rng.below(26) as u8,
                    })
                    .collect();
                let from = rng.below(len as u64 + 1) as usize;
                let first_not_taken = (from..len)
                    .find(|&i| class[usize::from(hay[i])] != TAKE)
                    .unwrap_or(len);
                #[cfg(target_arch = "x86_64")]
                {
                    let p = stops.skip(&hay, from);
                    assert!(p <= first_not_taken, "passed a byte not taken");
                    assert!(
                        p == first_not_taken || len < 16,
                        "stopped early at {p} of {len}"
                    );
                }
                let lp = Loop {
                    greedy: false,
                    row: 0,
                    on_body: false,
                    alt1: 0,
                    alt2: 0,
                    start1: 0,
                    start2: 0,
                    exit: 0,
                    class: *class,
                    stops: Some(stops),
                };
                assert_eq!(lp.skip_taken(&hay, from, len), first_not_taken);
            }
        }
        // Four ranges of bytes not taken are too many.
        assert!(StopRanges::of(&class_without(b"\"\n ~")).is_none());
    }
}
