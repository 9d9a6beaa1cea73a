//! The object type of events: an insertion-ordered map from short keys to
//! values.
//!
//! Events are built and dropped millions of times a second, and most of
//! their objects are tiny (`log`, `file`, `host`, `input` hold one or two
//! keys; a top level rarely more than a dozen or two). A general hash map costs
//! two allocations per object (entries and table) plus hashing every key;
//! here an object is one vector of entries searched linearly, and a hash
//! index over it is built only once an object grows past
//! [`INDEXED_FROM`] keys, so a large decoded JSON object still finds its
//! keys in constant time. Keys are [`Key`]s, stored inline up to 24 bytes,
//! so field names cost no allocation at all.
//!
//! Iteration follows insertion order; replacing a value keeps its place;
//! removal keeps the order of the others. Equality ignores order, as two
//! JSON objects with the same members are the same object.

use super::value::Value;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

/// A field name: inline up to 24 bytes, a static string without copying
/// (`Key::const_new`), else on the heap.
pub type Key = compact_str::CompactString;

/// Objects with more keys than this get a hash index. A file event parsed
/// by grok with the legacy Apache patterns has 16 top-level keys: with the
/// index from 12 keys on, building it for every event took 15 % of grok
/// and date (legacy_grok_date, 1,496 -> 1,270 ns per event at 24).
pub const INDEXED_FROM: usize = 24;

/// Insertion-ordered object (see the module docs).
///
/// A map can also be *shared* ([`Map::share`]): its clones then point at
/// one copy instead of copying it, and the first change to a clone gives
/// that clone its own copy. Inputs use this for the parts that every event
/// of a batch has in common (a file's `log.file`), which then cost one
/// reference count instead of allocations per event. Parts fixed for the
/// whole run (a file input's `host` and `input`) are *leaked*
/// ([`Map::leak`]): their clones copy a pointer and count nothing, which
/// matters when a reference count would be changed on one thread per event
/// and again on another.
#[derive(Clone)]
pub struct Map(Repr);

#[derive(Clone)]
enum Repr {
    Owned(Entries),
    Shared(Arc<Apart>),
    /// Fixed for the whole run ([`Map::leak`]).
    Static(&'static Apart),
}

/// Shared entries on a cache line of their own. Clones of a shared map
/// are made on one thread (the input's) and dropped on another (a
/// worker's), so the reference count's line keeps moving between cores;
/// entries next to the count would move with it, and every read of the
/// map by the other thread would wait for that line.
///
/// Such a map never changes while shared, so its JSON is kept once
/// written: the parts every event of a file has in common are serialised
/// once, not per event.
#[derive(Clone)]
#[repr(align(64))]
struct Apart {
    entries: Entries,
    json: OnceLock<Box<[u8]>>,
}

impl Apart {
    fn new(entries: Entries) -> Self {
        Apart {
            entries,
            json: OnceLock::new(),
        }
    }
}

#[derive(Clone, Default)]
struct Entries {
    entries: Vec<(Key, Value)>,
    /// Positions in `entries`, by key hash; only for large objects.
    index: Option<Box<HashTable<u32>>>,
}

impl Default for Map {
    fn default() -> Self {
        Map::new()
    }
}

/// Where `key` is among `entries`, searched in order. Lengths are
/// compared first: most keys of an object differ in length, and a key's
/// length is read without working out where its text is.
#[inline(always)]
fn position_of(entries: &[(Key, Value)], key: &str) -> Option<usize> {
    let len = key.len();
    (entries.iter()).position(|(k, _)| k.len() == len && k.as_bytes() == key.as_bytes())
}

/// One hasher per process, seeded at random, so that keys chosen by a
/// sender cannot be made to collide on purpose.
fn hash_key(key: &str) -> u64 {
    static STATE: OnceLock<std::hash::RandomState> = OnceLock::new();
    STATE.get_or_init(std::hash::RandomState::new).hash_one(key)
}

impl Entries {
    #[inline(always)]
    fn get_index_of(&self, key: &str) -> Option<usize> {
        match &self.index {
            None => position_of(&self.entries, key),
            Some(table) => self.find_indexed(table, key),
        }
    }

    /// [`Entries::get_index_of`] in a large object, through its index:
    /// out of line, so that the search of a small one inlines.
    #[inline(never)]
    fn find_indexed(&self, table: &HashTable<u32>, key: &str) -> Option<usize> {
        table
            .find(hash_key(key), |&i| {
                self.entries[i as usize].0.as_str() == key
            })
            .map(|&i| i as usize)
    }

    /// Appends a key known to be absent; returns its position.
    #[inline(always)]
    fn push_new(&mut self, key: Key, value: Value) -> usize {
        let i = self.entries.len();
        let hash = self.index.as_ref().map(|_| hash_key(&key));
        push_entry(&mut self.entries, key, value);
        match (&mut self.index, hash) {
            (Some(table), Some(hash)) => {
                let entries = &self.entries;
                table.insert_unique(hash, i as u32, |&j| hash_key(&entries[j as usize].0));
            }
            _ if self.entries.len() > INDEXED_FROM => self.rebuild_index(),
            _ => {}
        }
        i
    }

    /// Lets `write` append entries whose keys the caller knows are absent,
    /// then indexes them when the map is large.
    #[inline(always)]
    fn push_new_with(&mut self, write: impl FnOnce(&mut Vec<(Key, Value)>)) {
        let from = self.entries.len();
        write(&mut self.entries);
        match &mut self.index {
            Some(table) => {
                let entries = &self.entries;
                for i in from..entries.len() {
                    table.insert_unique(hash_key(&entries[i].0), i as u32, |&j| {
                        hash_key(&entries[j as usize].0)
                    });
                }
            }
            None if self.entries.len() > INDEXED_FROM => self.rebuild_index(),
            None => {}
        }
    }

    fn rebuild_index(&mut self) {
        if self.entries.len() <= INDEXED_FROM {
            self.index = None;
            return;
        }
        let mut table = HashTable::with_capacity(self.entries.len());
        for (i, (k, _)) in self.entries.iter().enumerate() {
            let entries = &self.entries;
            table.insert_unique(hash_key(k), i as u32, |&j| hash_key(&entries[j as usize].0));
        }
        self.index = Some(Box::new(table));
    }
}

/// `entries.push((key, value))`, with the key and the value written
/// straight into the vector's room. Pushing the pair builds it on the
/// stack first, in pieces of different widths, and reading it back whole
/// stalls (the stores cannot be forwarded to the wider loads); maps of
/// new events take several entries each, so this shows.
#[inline(always)]
pub(crate) fn push_entry(entries: &mut Vec<(Key, Value)>, key: Key, value: Value) {
    entries.reserve(1);
    let len = entries.len();
    let slot = entries.spare_capacity_mut()[0].as_mut_ptr();
    // SAFETY: `slot` points at the first element of the room reserved
    // above, valid for writes and not yet initialised. Both fields are
    // written before `set_len` counts the element.
    unsafe {
        std::ptr::addr_of_mut!((*slot).0).write(key);
        std::ptr::addr_of_mut!((*slot).1).write(value);
        entries.set_len(len + 1);
    }
}

/// [`push_entry`] of a copy of `key` and of the value in `from`, which is
/// left `None` (nothing is pushed when it already is). The value's bytes
/// go straight from `from` to the vector's room: moved as a value, they
/// would pass through a temporary on the stack, written and read back in
/// pieces of other widths, which stalls as described above.
#[inline(always)]
pub(crate) fn push_entry_taken(
    entries: &mut Vec<(Key, Value)>,
    key: &Key,
    from: &mut Option<Value>,
) {
    if from.is_none() {
        return;
    }
    entries.reserve(1);
    let len = entries.len();
    if write_entry_taken(&mut entries.spare_capacity_mut()[0], key, from) {
        // SAFETY: the element at `len` was written just above.
        unsafe { entries.set_len(len + 1) };
    }
}

/// Writes a copy of `key` and the value in `from` into `slot`, as
/// [`push_entry_taken`] does; `false` (and nothing written) if `from` is
/// `None`. For a vector filled to a size known in advance, which then
/// needs no `reserve` per entry: a vector that could grow is passed to
/// the growing code by address, so it lives on the stack, and reading it
/// back whole after its length was written stalls once more.
#[inline(always)]
pub(crate) fn write_entry_taken(
    slot: &mut std::mem::MaybeUninit<(Key, Value)>,
    key: &Key,
    from: &mut Option<Value>,
) -> bool {
    let Some(value) = from.as_mut() else {
        return false;
    };
    let value: *const Value = value;
    let slot = slot.as_mut_ptr();
    // SAFETY: `slot` is valid for writes (it comes from a reference) and
    // its fields are written through raw pointers, never read. The value
    // is copied bitwise out of `from`, which is then overwritten with
    // `None` without dropping what it held: the value has one owner
    // throughout. Should the key's copy panic, nothing has been moved.
    unsafe {
        std::ptr::addr_of_mut!((*slot).0).write(key.clone());
        std::ptr::copy_nonoverlapping(value, std::ptr::addr_of_mut!((*slot).1), 1);
        std::ptr::write(from, None);
    }
    true
}

/// Writes a copy of `key` and `value()` into `slot`, field by field (see
/// [`push_entry`] and [`write_entry_taken`]).
#[inline(always)]
pub(crate) fn write_entry_made(
    slot: &mut std::mem::MaybeUninit<(Key, Value)>,
    key: &Key,
    value: impl FnOnce() -> Value,
) {
    let slot = slot.as_mut_ptr();
    // SAFETY: `slot` is valid for writes (it comes from a reference) and
    // its fields are written through raw pointers, never read.
    unsafe {
        std::ptr::addr_of_mut!((*slot).0).write(key.clone());
        std::ptr::addr_of_mut!((*slot).1).write(value());
    }
}

impl Map {
    pub const fn new() -> Self {
        Map(Repr::Owned(Entries {
            entries: Vec::new(),
            index: None,
        }))
    }

    pub fn with_capacity(n: usize) -> Self {
        Map(Repr::Owned(Entries {
            entries: Vec::with_capacity(n),
            index: None,
        }))
    }

    /// A map of `entries`, whose keys the caller knows are distinct (the
    /// fixed keys of an input's events): no search, no growth.
    #[inline]
    pub fn from_distinct(entries: Vec<(Key, Value)>) -> Self {
        debug_assert!(
            (1..entries.len()).all(|i| !entries[..i].iter().any(|(k, _)| *k == entries[i].0)),
            "duplicate keys"
        );
        if entries.len() > INDEXED_FROM {
            return Self::indexed(entries);
        }
        // Built from the vector's parts as they are, with no index to
        // fill: the map can go from registers straight to where it is
        // stored (grok's new objects), not through a temporary.
        Map(Repr::Owned(Entries {
            entries,
            index: None,
        }))
    }

    #[cold]
    fn indexed(entries: Vec<(Key, Value)>) -> Self {
        let mut e = Entries {
            entries,
            index: None,
        };
        e.rebuild_index();
        Map(Repr::Owned(e))
    }

    /// This map, made cheap to clone: clones share it until changed.
    pub fn share(self) -> Self {
        match self.0 {
            Repr::Owned(e) => Map(Repr::Shared(Arc::new(Apart::new(e)))),
            shared => Map(shared),
        }
    }

    /// This map, kept for the rest of the run: clones copy a pointer and
    /// nothing is ever freed. Only for a bounded number of maps built once
    /// (an input's fixed fields), never per event or per file.
    pub fn leak(self) -> Self {
        match self.0 {
            Repr::Static(e) => Map(Repr::Static(e)),
            other => Map(Repr::Static(Box::leak(Box::new(Apart::new(
                Map(other).into_inner(),
            ))))),
        }
    }

    #[inline]
    fn inner(&self) -> &Entries {
        match &self.0 {
            Repr::Owned(e) => e,
            Repr::Shared(e) => &e.entries,
            Repr::Static(e) => &e.entries,
        }
    }

    /// For a shared or leaked map, which cannot change, the place where
    /// its JSON is kept once written.
    #[inline]
    pub(crate) fn json_cache(&self) -> Option<&OnceLock<Box<[u8]>>> {
        match &self.0 {
            Repr::Owned(_) => None,
            Repr::Shared(e) => Some(&e.json),
            Repr::Static(e) => Some(&e.json),
        }
    }

    /// The entries, for changing: a shared or leaked map first gets its
    /// own copy.
    #[inline(always)]
    fn inner_mut(&mut self) -> &mut Entries {
        if !matches!(self.0, Repr::Owned(_)) {
            self.make_owned();
        }
        match &mut self.0 {
            Repr::Owned(e) => e,
            Repr::Shared(_) | Repr::Static(_) => unreachable!("made owned above"),
        }
    }

    /// Gives a shared or leaked map its own copy: rare, and kept out of
    /// line so that changing an owned map, the usual case, stays small.
    #[cold]
    #[inline(never)]
    fn make_owned(&mut self) {
        match &self.0 {
            Repr::Owned(_) => {}
            Repr::Static(e) => self.0 = Repr::Owned(e.entries.clone()),
            Repr::Shared(_) => {
                if let Repr::Shared(e) =
                    std::mem::replace(&mut self.0, Repr::Owned(Entries::default()))
                {
                    self.0 = Repr::Owned(Arc::unwrap_or_clone(e).entries);
                }
            }
        }
    }

    fn into_inner(self) -> Entries {
        match self.0 {
            Repr::Owned(e) => e,
            Repr::Shared(e) => Arc::unwrap_or_clone(e).entries,
            Repr::Static(e) => e.entries.clone(),
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.inner().entries.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inner().entries.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Map::new();
    }

    pub fn reserve(&mut self, additional: usize) {
        self.inner_mut().entries.reserve(additional);
    }

    /// The position of `key`.
    #[inline]
    pub fn get_index_of(&self, key: &str) -> Option<usize> {
        self.inner().get_index_of(key)
    }

    #[inline]
    pub fn get(&self, key: &str) -> Option<&Value> {
        let inner = self.inner();
        inner.get_index_of(key).map(|i| &inner.entries[i].1)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let i = self.get_index_of(key)?;
        Some(&mut self.inner_mut().entries[i].1)
    }

    /// [`Map::get_mut`] for a caller that knows `key` is not among the
    /// entries from position `known` on (it appended them itself, with
    /// other keys): only the first `known` are searched.
    #[inline]
    pub(crate) fn get_mut_before(&mut self, key: &str, known: usize) -> Option<&mut Value> {
        let inner = self.inner_mut();
        let i = match inner.index {
            Some(_) => inner.get_index_of(key)?,
            None => position_of(&inner.entries[..known], key)?,
        };
        debug_assert!(i < known, "{key} was appended by the caller");
        Some(&mut inner.entries[i].1)
    }

    pub fn get_key_value(&self, key: &str) -> Option<(&Key, &Value)> {
        let inner = self.inner();
        inner.get_index_of(key).map(|i| {
            let (k, v) = &inner.entries[i];
            (k, v)
        })
    }

    #[inline]
    pub fn contains_key(&self, key: &str) -> bool {
        self.get_index_of(key).is_some()
    }

    pub fn get_index(&self, i: usize) -> Option<(&Key, &Value)> {
        self.inner().entries.get(i).map(|(k, v)| (k, v))
    }

    pub fn first(&self) -> Option<(&Key, &Value)> {
        self.get_index(0)
    }

    pub fn last(&self) -> Option<(&Key, &Value)> {
        self.inner().entries.last().map(|(k, v)| (k, v))
    }

    /// Sets `key` to `value`: in place if present (returning the old
    /// value), else at the end.
    #[inline]
    pub fn insert(&mut self, key: impl Into<Key>, value: Value) -> Option<Value> {
        let key = key.into();
        let inner = self.inner_mut();
        match inner.get_index_of(&key) {
            Some(i) => Some(std::mem::replace(&mut inner.entries[i].1, value)),
            None => {
                inner.push_new(key, value);
                None
            }
        }
    }

    /// Appends `key`, which the caller knows is absent (e.g. the keys of a
    /// tree's children, distinct by construction): no search.
    #[inline(always)]
    pub fn push_distinct(&mut self, key: Key, value: Value) {
        debug_assert!(!self.contains_key(&key), "{key} is already present");
        self.inner_mut().push_new(key, value);
    }

    /// Lets `write` append entries (with [`push_entry_taken`] and its
    /// kin) whose keys the caller knows are absent and distinct: no search,
    /// and no temporary between the caller's values and the map.
    #[inline(always)]
    pub(crate) fn push_distinct_with(&mut self, write: impl FnOnce(&mut Vec<(Key, Value)>)) {
        let inner = self.inner_mut();
        #[cfg(debug_assertions)]
        let from = inner.entries.len();
        inner.push_new_with(write);
        #[cfg(debug_assertions)]
        for i in from..inner.entries.len() {
            let key = &inner.entries[i].0;
            debug_assert!(
                !inner.entries[..i].iter().any(|(k, _)| k == key),
                "{key} is already present"
            );
        }
    }

    /// Removes `key`, keeping the order of the other keys.
    pub fn shift_remove(&mut self, key: &str) -> Option<Value> {
        self.shift_remove_entry(key).map(|(_, v)| v)
    }

    pub fn shift_remove_entry(&mut self, key: &str) -> Option<(Key, Value)> {
        let i = self.get_index_of(key)?;
        let inner = self.inner_mut();
        let removed = inner.entries.remove(i);
        if inner.index.is_some() {
            inner.rebuild_index();
        }
        Some(removed)
    }

    /// The same as [`Map::shift_remove`]: order is always kept.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.shift_remove(key)
    }

    pub fn entry(&mut self, key: impl Into<Key>) -> Entry<'_> {
        let key = key.into();
        let inner = self.inner_mut();
        match inner.get_index_of(&key) {
            Some(index) => Entry::Occupied(OccupiedEntry { map: inner, index }),
            None => Entry::Vacant(VacantEntry { map: inner, key }),
        }
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&Key, &mut Value) -> bool) {
        let inner = self.inner_mut();
        let before = inner.entries.len();
        inner.entries.retain_mut(|(k, v)| keep(k, v));
        if inner.index.is_some() && inner.entries.len() != before {
            inner.rebuild_index();
        }
    }

    pub fn sort_keys(&mut self) {
        let inner = self.inner_mut();
        inner.entries.sort_by(|a, b| a.0.cmp(&b.0));
        if inner.index.is_some() {
            inner.rebuild_index();
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter(self.inner().entries.iter())
    }

    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut(self.inner_mut().entries.iter_mut())
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator {
        self.inner().entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.inner().entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.inner_mut().entries.iter_mut().map(|(_, v)| v)
    }
}

/// A place in a [`Map`] for one key, present or not.
pub enum Entry<'a> {
    Occupied(OccupiedEntry<'a>),
    Vacant(VacantEntry<'a>),
}

pub struct OccupiedEntry<'a> {
    map: &'a mut Entries,
    index: usize,
}

pub struct VacantEntry<'a> {
    map: &'a mut Entries,
    key: Key,
}

impl<'a> Entry<'a> {
    pub fn key(&self) -> &str {
        match self {
            Entry::Occupied(o) => o.key(),
            Entry::Vacant(v) => &v.key,
        }
    }

    pub fn or_insert(self, value: Value) -> &'a mut Value {
        self.or_insert_with(|| value)
    }

    pub fn or_insert_with(self, make: impl FnOnce() -> Value) -> &'a mut Value {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(make()),
        }
    }

    pub fn or_default(self) -> &'a mut Value {
        self.or_insert_with(Value::default)
    }
}

impl<'a> OccupiedEntry<'a> {
    pub fn key(&self) -> &str {
        &self.map.entries[self.index].0
    }

    pub fn get(&self) -> &Value {
        &self.map.entries[self.index].1
    }

    pub fn get_mut(&mut self) -> &mut Value {
        &mut self.map.entries[self.index].1
    }

    pub fn into_mut(self) -> &'a mut Value {
        &mut self.map.entries[self.index].1
    }

    /// Replaces the value, returning the old one.
    pub fn insert(&mut self, value: Value) -> Value {
        std::mem::replace(self.get_mut(), value)
    }
}

impl<'a> VacantEntry<'a> {
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn insert(self, value: Value) -> &'a mut Value {
        let i = self.map.push_new(self.key, value);
        &mut self.map.entries[i].1
    }
}

pub struct Iter<'a>(std::slice::Iter<'a, (Key, Value)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Key, &'a Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl ExactSizeIterator for Iter<'_> {}

pub struct IterMut<'a>(std::slice::IterMut<'a, (Key, Value)>);

impl<'a> Iterator for IterMut<'a> {
    type Item = (&'a Key, &'a mut Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (&*k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for IterMut<'_> {}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Key, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map {
    type Item = (&'a Key, &'a mut Value);
    type IntoIter = IterMut<'a>;
    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

impl IntoIterator for Map {
    type Item = (Key, Value);
    type IntoIter = std::vec::IntoIter<(Key, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_inner().entries.into_iter()
    }
}

impl<K: Into<Key>> FromIterator<(K, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut map = Map::new();
        map.extend(iter);
        map
    }
}

impl<K: Into<Key>> Extend<(K, Value)> for Map {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Into<Key>, const N: usize> From<[(K, Value); N]> for Map {
    fn from(items: [(K, Value); N]) -> Self {
        items.into_iter().collect()
    }
}

impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(k, v)| other.get(k).is_some_and(|w| v == w))
    }
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key)
            .unwrap_or_else(|| panic!("no key {key:?} in the object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &Map) -> Vec<&str> {
        m.keys().map(|k| k.as_str()).collect()
    }

    #[test]
    fn get_mut_before_finds_keys_among_the_first_entries_small_or_indexed() {
        for size in [3, INDEXED_FROM + 5] {
            let mut m = Map::new();
            for i in 0..size {
                m.insert(format!("key{i}").as_str(), Value::Integer(i as i64));
            }
            let known = m.len();
            m.push_distinct("appended".into(), Value::Null);
            for i in 0..size {
                let key = format!("key{i}");
                assert_eq!(
                    m.get_mut_before(&key, known),
                    Some(&mut Value::Integer(i as i64))
                );
            }
            assert_eq!(m.get_mut_before("absent", known), None);
        }
    }

    #[test]
    fn order_is_insertion_order_and_replacing_keeps_the_place() {
        let mut m = Map::new();
        m.insert("b", Value::Integer(1));
        m.insert("a", Value::Integer(2));
        assert_eq!(m.insert("b", Value::Integer(3)), Some(Value::Integer(1)));
        assert_eq!(keys(&m), ["b", "a"]);
        assert_eq!(m.get("b"), Some(&Value::Integer(3)));
    }

    #[test]
    fn small_and_indexed_maps_agree_through_inserts_and_removals() {
        // Against a plain model, across the size where the index appears
        // and disappears.
        let mut m = Map::new();
        let mut model: Vec<(String, i64)> = Vec::new();
        for round in 0..3 {
            for i in 0..40i64 {
                let k = format!("key-{}", (i * 7 + round) % 31);
                m.insert(k.as_str(), Value::Integer(i));
                match model.iter_mut().find(|(mk, _)| *mk == k) {
                    Some(slot) => slot.1 = i,
                    None => model.push((k, i)),
                }
            }
            for i in (0..31).step_by(3 + round as usize) {
                let k = format!("key-{i}");
                let expected = model
                    .iter()
                    .position(|(mk, _)| *mk == k)
                    .map(|p| model.remove(p).1);
                assert_eq!(m.shift_remove(&k), expected.map(Value::Integer));
            }
            assert_eq!(m.len(), model.len());
            assert_eq!(
                keys(&m),
                model.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()
            );
            for (k, v) in &model {
                assert_eq!(m.get(k), Some(&Value::Integer(*v)), "{k}");
            }
            assert!(!m.contains_key("absent"));
        }
        m.retain(|k, _| k.ends_with('1'));
        assert!(m.iter().all(|(k, _)| k.ends_with('1')));
        assert_eq!(
            m.get("key-11").is_some(),
            model.iter().any(|(k, _)| k == "key-11")
        );
    }

    #[test]
    fn entries_insert_once_and_find_existing() {
        let mut m = Map::new();
        *m.entry("n").or_insert(Value::Integer(0)) = Value::Integer(5);
        match m.entry("n") {
            Entry::Occupied(o) => assert_eq!(o.get(), &Value::Integer(5)),
            Entry::Vacant(_) => panic!("present"),
        }
        for i in 0..20 {
            m.entry(format!("k{i}")).or_default();
        }
        assert_eq!(m.len(), 21);
        assert_eq!(m.get_index_of("k19"), Some(20));
    }

    #[test]
    fn equality_ignores_order() {
        let a: Map = [("x", Value::Integer(1)), ("y", Value::Null)].into();
        let b: Map = [("y", Value::Null), ("x", Value::Integer(1))].into();
        let c: Map = [("y", Value::Null), ("x", Value::Integer(2))].into();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn a_shared_map_is_copied_on_first_change_only() {
        let mut original: Map = [("name", Value::from("h"))].into();
        original = original.share();
        let mut changed = original.clone();
        let untouched = original.clone();
        changed.insert("extra", Value::Integer(1));
        if let Some(v) = changed.get_mut("name") {
            *v = Value::from("other");
        }
        assert_eq!(original, untouched);
        assert_eq!(original.get("name"), Some(&Value::from("h")));
        assert_eq!(original.len(), 1);
        assert_eq!(changed.get("name"), Some(&Value::from("other")));
        assert_eq!(changed.len(), 2);
        // Taken apart by value, whether shared or not.
        let pairs: Vec<(Key, Value)> = untouched.into_iter().collect();
        assert_eq!(pairs, vec![(Key::from("name"), Value::from("h"))]);
        let mut entry_map = original.clone();
        *entry_map.entry("name").or_default() = Value::Null;
        assert_eq!(original.get("name"), Some(&Value::from("h")));
        assert_eq!(entry_map.get("name"), Some(&Value::Null));

        let fixed = original.leak();
        let mut copy = fixed.clone();
        copy.insert("name", Value::from("changed"));
        assert_eq!(fixed.get("name"), Some(&Value::from("h")));
        assert_eq!(copy.get("name"), Some(&Value::from("changed")));
        assert_eq!(fixed.clone().into_iter().count(), 1);
    }

    #[test]
    fn entries_written_in_place_are_whole_and_in_order() {
        // Through several growths, with inline and heap keys, and values
        // that own heap memory, each read back whole and in its place.
        let mut entries: Vec<(Key, Value)> = Vec::new();
        let long_key = Key::from("a key long enough to live on the heap");
        for i in 0..100i64 {
            let value = match i % 3 {
                0 => Value::Integer(i),
                1 => Value::from(format!("a string value long enough for the heap, {i}")),
                _ => Value::Object([("n", Value::Integer(i))].into()),
            };
            if i % 2 == 0 {
                push_entry(&mut entries, Key::from(format!("k{i}")), value);
            } else {
                push_entry(&mut entries, long_key.clone(), value);
            }
        }
        assert_eq!(entries.len(), 100);
        for (i, (k, v)) in entries.iter().enumerate() {
            let i = i as i64;
            if i % 2 == 0 {
                assert_eq!(k.as_str(), format!("k{i}"));
            } else {
                assert_eq!(k, &long_key);
            }
            let expected = match i % 3 {
                0 => Value::Integer(i),
                1 => Value::from(format!("a string value long enough for the heap, {i}")),
                _ => Value::Object([("n", Value::Integer(i))].into()),
            };
            assert_eq!(v, &expected);
        }
        let mut m = Map::new();
        m.insert("x", Value::Integer(1));
        m.insert("x", Value::Integer(2));
        assert_eq!(m.len(), 1);
        assert_eq!(m.get("x"), Some(&Value::Integer(2)));
    }

    #[test]
    fn values_taken_from_slots_move_once_and_large_maps_stay_indexed() {
        let mut slots: Vec<Option<Value>> = (0..40)
            .map(|i| match i % 4 {
                0 => None,
                1 => Some(Value::from(format!("a heap string for slot number {i}"))),
                2 => Some(Value::Object([("n", Value::Integer(i))].into())),
                _ => Some(Value::Integer(i)),
            })
            .collect();
        let keys: Vec<Key> = (0..40).map(|i| Key::from(format!("key{i}"))).collect();
        let mut m = Map::new();
        m.insert("first", Value::Bool(true));
        // Several pushes, so that the map crosses the size where it keeps
        // an index, both within one push and between pushes.
        for part in [0..10, 10..30, 30..40] {
            m.push_distinct_with(|entries| {
                for i in part {
                    push_entry_taken(entries, &keys[i], &mut slots[i]);
                }
            });
        }
        assert!(slots.iter().all(Option::is_none), "every value was taken");
        assert_eq!(m.len(), 1 + 30, "empty slots push nothing");
        assert_eq!(m.get("first"), Some(&Value::Bool(true)));
        for i in 0..40i64 {
            let expected = match i % 4 {
                0 => None,
                1 => Some(Value::from(format!("a heap string for slot number {i}"))),
                2 => Some(Value::Object([("n", Value::Integer(i))].into())),
                _ => Some(Value::Integer(i)),
            };
            assert_eq!(m.get(&format!("key{i}")), expected.as_ref(), "key{i}");
        }
        let order: Vec<&str> = m.keys().map(Key::as_str).collect();
        assert_eq!(order[..3], ["first", "key1", "key2"]);
    }

    #[test]
    fn objects_stay_small() {
        assert!(std::mem::size_of::<Map>() <= 32);
        assert!(std::mem::size_of::<Value>() <= 40);
    }
}
