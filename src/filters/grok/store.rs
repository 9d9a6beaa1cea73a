//! Storing the captures of one match into an event.
//!
//! The rule is applied capture by capture, in group order (see the module
//! docs of `grok`): without `overwrite`, a new field is set, a string turns
//! into an array of both, an array is appended to, anything else is kept;
//! with `overwrite`, the field is replaced. Done literally, that walks the
//! path from the root for every capture, twice (look up, then set), and an
//! ECS expression puts five or six captures under `http` alone.
//!
//! The paths of an expression are therefore arranged once, at compile
//! time, into a tree, and the captures of a match are stored in one walk:
//! each object on the way is looked up once, and an object that does not
//! exist yet is built whole, with room for every field the expression can
//! put in it, with one insert per key. The result is the same as capture by capture, because every map receives
//! its keys in the order in which the captures first reach it, the values
//! of one field are merged in capture order, and captures into different
//! keys of a map never interact. Where a value that is not an object sits
//! on the way (a string, or an array that a numeric segment indexes), the
//! captures below it are left to the capture-by-capture rule afterwards:
//! they only change that value in place.

use super::compile::CaptureSpec;
use crate::event::Key;
use crate::event::map::{push_entry_taken, write_entry_made, write_entry_taken};
use crate::event::{FieldPath, Map, Root, Value};
use std::mem::MaybeUninit;

/// The capture paths of an expression as a tree.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    fields: Vec<Node>,
    metadata: Vec<Node>,
}

#[derive(Debug, Clone)]
struct Node {
    key: crate::event::Key,
    /// Captures into exactly this path, in group order.
    leaf: Vec<usize>,
    children: Vec<Node>,
    /// Every capture at or below this node, in group order.
    under: Vec<usize>,
    /// `under` as a set of bits, when every index is below 64 (see
    /// [`Present`]).
    under_bits: Option<u64>,
}

/// Which captures hold a value: a bit set when an expression has at most
/// 64 captures (nearly all), so that asking whether a subtree has anything
/// to store is one AND instead of a walk over its captures.
#[derive(Clone, Copy)]
struct Present(Option<u64>);

impl Present {
    fn of(values: &[Option<Value>]) -> Present {
        if values.len() > 64 {
            return Present(None);
        }
        let bits = values
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, v)| acc | (u64::from(v.is_some()) << i));
        Present(Some(bits))
    }
}

impl Node {
    #[inline]
    fn has_value(&self, present: Present, values: &[Option<Value>]) -> bool {
        match (present.0, self.under_bits) {
            (Some(bits), Some(under)) => bits & under != 0,
            _ => self.under.iter().any(|&i| values[i].is_some()),
        }
    }
}

impl Tree {
    /// `None` when a path is also the parent of another (the order of the
    /// two would matter) or names `[@metadata]` as a whole.
    pub(crate) fn build(specs: &[CaptureSpec]) -> Option<Tree> {
        let mut tree = Tree {
            fields: Vec::new(),
            metadata: Vec::new(),
        };
        for (i, spec) in specs.iter().enumerate() {
            let segments = spec.path.segments();
            if segments.is_empty() {
                return None;
            }
            let mut level = match spec.path.root() {
                Root::Fields => &mut tree.fields,
                Root::Metadata => &mut tree.metadata,
            };
            for (depth, seg) in segments.iter().enumerate() {
                let at = match level.iter().position(|n| n.key == *seg) {
                    Some(p) => p,
                    None => {
                        level.push(Node {
                            key: seg.clone(),
                            leaf: Vec::new(),
                            children: Vec::new(),
                            under: Vec::new(),
                            under_bits: Some(0),
                        });
                        level.len() - 1
                    }
                };
                let node = &mut level[at];
                node.under.push(i);
                node.under_bits = node
                    .under_bits
                    .and_then(|bits| (i < 64).then(|| bits | 1 << i));
                if depth + 1 == segments.len() {
                    node.leaf.push(i);
                }
                level = &mut node.children;
            }
        }
        fn distinct(nodes: &[Node]) -> bool {
            nodes
                .iter()
                .all(|n| (n.leaf.is_empty() || n.children.is_empty()) && distinct(&n.children))
        }
        (distinct(&tree.fields) && distinct(&tree.metadata)).then_some(tree)
    }

    /// Whether any capture goes under `[@metadata]`.
    pub(crate) fn has_metadata(&self) -> bool {
        !self.metadata.is_empty()
    }

    /// Stores `values` (one per capture, `None` where nothing is stored)
    /// that go under `root`, whose map is `map`. Captures that meet a value
    /// other than an object on the way are left in `values` and their
    /// indexes pushed to `deferred`, for the capture-by-capture rule.
    pub(crate) fn apply(
        &self,
        root: Root,
        map: &mut Map,
        values: &mut [Option<Value>],
        overwrite: &dyn Fn(usize) -> bool,
        deferred: &mut Vec<usize>,
    ) {
        let nodes = match root {
            Root::Fields => &self.fields,
            Root::Metadata => &self.metadata,
        };
        let present = Present::of(values);
        apply_nodes(map, nodes, present, values, overwrite, deferred);
    }
}

fn apply_nodes(
    map: &mut Map,
    nodes: &[Node],
    present: Present,
    values: &mut [Option<Value>],
    overwrite: &dyn Fn(usize) -> bool,
    deferred: &mut Vec<usize>,
) {
    // Keys this walk appends to `map` are those of other nodes of this
    // level, which are all distinct: a node's key can only be among the
    // entries that were there before.
    let known = map.len();
    let appending = nodes
        .iter()
        .filter(|n| n.has_value(present, values))
        .count();
    // One growth for all of them (an input's top level has just its own
    // keys, and a legacy expression adds a dozen).
    map.reserve(appending);
    for node in nodes {
        // `present` is taken before the walk, which is still true here:
        // each capture sits under one node of a level, and no node is
        // visited twice, so nothing under this one has been taken yet.
        if !node.has_value(present, values) {
            continue;
        }
        // Keys are looked up as they are and copied only into the map:
        // a copy made first and then searched with would be read back
        // right after being written, in pieces of other widths, and stall.
        if node.children.is_empty() {
            // After its first capture, a field this walk added is found
            // among the entries it appended.
            let mut added = false;
            for &i in &node.leaf {
                if values[i].is_none() {
                    continue;
                }
                let found = if added {
                    map.get_mut(&node.key)
                } else {
                    map.get_mut_before(&node.key, known)
                };
                match found {
                    Some(slot) => {
                        if let Some(value) = values[i].take() {
                            if overwrite(i) {
                                *slot = value;
                            } else {
                                merge(slot, value);
                            }
                        }
                    }
                    None => {
                        map.push_distinct_with(|entries| {
                            push_entry_taken(entries, &node.key, &mut values[i]);
                        });
                        added = true;
                    }
                }
            }
            continue;
        }
        match map.get_mut_before(&node.key, known) {
            Some(Value::Object(inner)) => {
                apply_nodes(inner, &node.children, present, values, overwrite, deferred)
            }
            Some(_) => deferred.extend(node.under.iter().filter(|&&i| values[i].is_some())),
            None => map.push_distinct_with(|entries| {
                entries.reserve(1);
                let len = entries.len();
                build_into(
                    &mut entries.spare_capacity_mut()[0],
                    node,
                    present,
                    values,
                    overwrite,
                );
                // SAFETY: `build_into` wrote the element at `len`.
                unsafe { entries.set_len(len + 1) };
            }),
        }
    }
}

/// Writes into `slot` the entry of `node`: its new object, holding the
/// captures below it, with room for all its children. The object's entries are written
/// straight into its vector's room, and the map made from the vector's
/// parts in place, so that neither the vector nor the object passes
/// through a temporary on the stack (see `event::map::push_entry`).
fn build_into(
    slot: &mut MaybeUninit<(Key, Value)>,
    node: &Node,
    present: Present,
    values: &mut [Option<Value>],
    overwrite: &dyn Fn(usize) -> bool,
) {
    // Room for every child: counting those with a value first would cost
    // a pass over them for every object, and nearly all have one.
    let count = node.children.len();
    // The vector is held as its parts, in registers, until the end: as a
    // vector in memory, its length would be written alone and then read
    // back with the pointer, in one wider load that the pending store
    // cannot serve, a stall for every object (most hold one field).
    let mut entries = std::mem::ManuallyDrop::new(Vec::<(Key, Value)>::with_capacity(count));
    let (ptr, capacity) = (entries.as_mut_ptr(), entries.capacity());
    // SAFETY: the vector's room: `capacity` elements from `ptr`, which
    // nothing else refers to until the vector is made again below.
    let room = unsafe {
        std::slice::from_raw_parts_mut(ptr.cast::<MaybeUninit<(Key, Value)>>(), capacity)
    };
    let mut written = 0;
    for child in &node.children {
        if written == room.len() {
            break;
        }
        if !child.has_value(present, values) {
            continue;
        }
        let slot = &mut room[written];
        if let [i] = child.leaf[..] {
            // One capture into this field, the usual case: its value as is.
            written += usize::from(write_entry_taken(slot, &child.key, &mut values[i]));
        } else if child.children.is_empty() {
            // What the rule leaves in a field that did not exist: the first
            // value, then each later one merged in (or replacing it).
            let mut acc: Option<Value> = None;
            for &i in &child.leaf {
                if let Some(value) = values[i].take() {
                    acc = Some(match acc {
                        Some(_) if overwrite(i) => value,
                        Some(mut old) => {
                            merge(&mut old, value);
                            old
                        }
                        None => value,
                    });
                }
            }
            written += usize::from(write_entry_taken(slot, &child.key, &mut acc));
        } else {
            build_into(slot, child, present, values, overwrite);
            written += 1;
        }
    }
    write_entry_made(slot, &node.key, || {
        // SAFETY: the parts of the vector made above, not used since but
        // through `room`, whose first `written` elements were written
        // above, each once; `written` is at most `capacity`.
        let entries = unsafe { Vec::from_raw_parts(ptr, written, capacity) };
        Value::Object(Map::from_distinct(entries))
    });
}

/// The grok rule for a field that already holds something: a string turns
/// into an array of both, an array is appended to, anything else is kept.
pub(crate) fn merge(slot: &mut Value, value: Value) {
    match slot {
        Value::Array(items) => items.push(value),
        Value::String(_) => {
            let old = std::mem::take(slot);
            *slot = Value::Array(vec![old, value]);
        }
        _ => {}
    }
}

/// Whether `path` is in `list` (usually empty).
pub(crate) fn listed(list: &[FieldPath], path: &FieldPath) -> bool {
    !list.is_empty() && list.contains(path)
}
