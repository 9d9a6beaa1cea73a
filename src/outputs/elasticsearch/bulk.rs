//! Bulk request bodies: events serialised straight into one NDJSON buffer.
//!
//! Each event becomes an [`Item`]: its action line and its source line,
//! remembered by their offsets in the body, and the share of its batch's
//! receipt. The events themselves are not kept: a retry re-sends the
//! bytes of only the items that failed, and a dead-letter record quotes
//! the source line as it was sent.
//!
//! The serialising is usually done before the output's channel, by the
//! thread that built the events ([`Preparer`], see
//! [`crate::topology::Prepare`]); the output then only copies the lines
//! of each batch into the request body.

use super::buffers::BODIES;
use super::naming::{ItemKind, Naming};
use crate::delivery::Receipt;
use crate::event::Event;
use crate::topology::Prepare;
use bytes::Bytes;
use std::sync::Mutex;

/// One document of a request.
#[derive(Debug)]
pub struct Item {
    /// Start of the action line in the body.
    start: usize,
    /// Start of the source line.
    source: usize,
    /// Just past the source line's newline.
    end: usize,
    pub kind: ItemKind,
    /// This item's share of its batch's receipt: the batch resolves when
    /// every share did.
    pub receipt: Receipt,
}

impl Item {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// A bulk request: the NDJSON body and its items, in order.
#[derive(Debug)]
pub struct Request {
    pub body: Bytes,
    pub items: Vec<Item>,
    /// How many times these items were sent already.
    pub attempts: u32,
}

impl Request {
    /// The action line of item `i`, without its newline.
    pub fn action_line(&self, i: usize) -> &[u8] {
        let it = &self.items[i];
        &self.body[it.start..it.source - 1]
    }

    /// The source line of item `i`, without its newline.
    pub fn source_line(&self, i: usize) -> &[u8] {
        let it = &self.items[i];
        &self.body[it.source..it.end - 1]
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Takes the items out; the body stays until the request is dropped.
    pub fn take_items(&mut self) -> Vec<Item> {
        std::mem::take(&mut self.items)
    }

    /// A new request of `items`, all of which come from `body`.
    pub fn from_items(body: &[u8], items: Vec<Item>, attempts: u32) -> Request {
        let size = items.iter().map(Item::len).sum();
        let mut out = BODIES.take(size);
        let items = items
            .into_iter()
            .map(|it| {
                let start = out.len();
                out.extend_from_slice(&body[it.start..it.end]);
                Item {
                    start,
                    source: start + (it.source - it.start),
                    end: out.len(),
                    ..it
                }
            })
            .collect();
        Request {
            body: Bytes::from(out),
            items,
            attempts,
        }
    }

    /// Two requests of the first and the second half of the items (for a
    /// server that answered 413). Needs at least two items.
    pub fn split(mut self) -> (Request, Request) {
        let attempts = self.attempts;
        let mut first = self.take_items();
        let second = first.split_off(first.len() / 2);
        (
            Request::from_items(&self.body, first, attempts),
            Request::from_items(&self.body, second, attempts),
        )
    }

    /// The byte range of item `i` in the body (for tests).
    #[cfg(test)]
    fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.items[i].start..self.items[i].end
    }
}

/// Where one document's lines lie in a buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    source: usize,
    end: usize,
    kind: ItemKind,
}

/// Appends `event` to `body` as an action line and a source line.
fn write_item(naming: &Naming, event: &Event, scratch: &mut String, body: &mut Vec<u8>) -> Span {
    let start = body.len();
    let kind = naming.write_action(event, scratch, body);
    let source = body.len();
    event.write_json(body);
    body.push(b'\n');
    Span {
        start,
        source,
        end: body.len(),
        kind,
    }
}

/// The events of one batch as bulk lines, ready to be copied into a
/// request.
#[derive(Debug, Default)]
pub struct Docs {
    body: Vec<u8>,
    spans: Vec<Span>,
}

impl Docs {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// Serialises batches into [`Docs`] for the output, on the thread that
/// built their events.
///
/// The buffers go round: the output gives each back once copied
/// ([`Preparer::recycle`]). A batch's lines are most of a megabyte, made on
/// one thread and done with on another; allocated afresh every time, the
/// allocator keeps many of them in hand at once and the process's memory
/// doubles.
#[derive(Debug)]
pub struct Preparer {
    naming: Naming,
    // Boxed because the box goes round too: a batch carries its prepared
    // data as a `Box<dyn Any>`.
    #[allow(clippy::vec_box)]
    spare: Mutex<Vec<Box<Docs>>>,
}

/// Buffers kept for reuse, at most: more than the channel and the workers
/// can hold at once.
const SPARE_DOCS: usize = 32;

/// Prepared lines bigger than this are not kept for reuse. A batch of
/// 1,000 typical events is about a megabyte.
const MAX_KEPT_DOCS: usize = 16 << 20;

impl Preparer {
    pub fn new(naming: Naming) -> Self {
        Preparer {
            naming,
            spare: Mutex::new(Vec::new()),
        }
    }

    /// How events are named (index, action, id).
    pub fn naming(&self) -> &Naming {
        &self.naming
    }

    /// An empty buffer, reused when one is spare.
    pub fn start(&self) -> Box<Docs> {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        spare.unwrap_or_default()
    }

    /// Appends `events` to `docs`.
    pub fn add(&self, docs: &mut Docs, events: &[Event]) {
        let mut scratch = String::new();
        docs.spans.reserve(events.len());
        for event in events {
            let span = write_item(&self.naming, event, &mut scratch, &mut docs.body);
            docs.spans.push(span);
        }
    }

    /// Takes back a buffer whose lines were copied. One grown far past
    /// the usual batch (a few huge events) is freed instead.
    pub fn recycle(&self, mut docs: Box<Docs>) {
        if docs.body.capacity() > MAX_KEPT_DOCS {
            return;
        }
        docs.body.clear();
        docs.spans.clear();
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < SPARE_DOCS {
            spare.push(docs);
        }
    }
}

impl Prepare for Preparer {
    fn prepare(
        &self,
        events: &mut Vec<Event>,
        prepared: &mut Option<Box<dyn std::any::Any + Send>>,
    ) {
        let data = prepared.get_or_insert_with(|| self.start());
        // Only this output's `Docs` are ever put here.
        if let Some(docs) = data.downcast_mut::<Docs>() {
            self.add(docs, events);
        }
        events.clear();
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        BODIES.give_bytes(std::mem::take(&mut self.body));
    }
}

/// The request being filled from incoming batches.
pub struct RequestBuilder {
    body: Vec<u8>,
    items: Vec<Item>,
    max_bytes: usize,
    max_events: usize,
    scratch: String,
}

impl RequestBuilder {
    pub fn new(max_bytes: usize, max_events: usize) -> Self {
        RequestBuilder {
            body: Vec::new(),
            items: Vec::new(),
            max_bytes,
            max_events,
            scratch: String::new(),
        }
    }

    /// Room for a whole request up front: growing the body by doubling
    /// would copy it several times. Pages not yet written cost no memory.
    fn reserve_first(&mut self) {
        if self.body.capacity() == 0 {
            self.body = BODIES.take(self.max_bytes.min(64 << 20) + 64 * 1024);
        }
    }

    /// Appends `event` as an action line and a source line.
    pub fn push(&mut self, naming: &Naming, event: &Event, receipt: Receipt) {
        self.reserve_first();
        let Span {
            start,
            source,
            end,
            kind,
        } = write_item(naming, event, &mut self.scratch, &mut self.body);
        self.items.push(Item {
            start,
            source,
            end,
            kind,
            receipt,
        });
    }

    /// Appends the documents of `docs` from index `from` on, each with a
    /// share of `receipt`, until the request is full or they are all in.
    /// Returns the index of the first document not appended. The request
    /// must not be full already.
    pub fn append(&mut self, docs: &Docs, from: usize, receipt: &Receipt) -> usize {
        let Some(first) = docs.spans.get(from) else {
            return from;
        };
        self.reserve_first();
        let (base, offset) = (self.body.len(), first.start);
        let mut to = from;
        for span in &docs.spans[from..] {
            to += 1;
            // The same cut as `push` followed by `is_full`.
            if base + (span.end - offset) >= self.max_bytes
                || self.items.len() + (to - from) >= self.max_events
            {
                break;
            }
        }
        let last = docs.spans[to - 1].end;
        self.body.extend_from_slice(&docs.body[offset..last]);
        self.items.extend(docs.spans[from..to].iter().map(|s| Item {
            start: s.start - offset + base,
            source: s.source - offset + base,
            end: s.end - offset + base,
            kind: s.kind,
            receipt: receipt.clone(),
        }));
        to
    }

    /// True once the request should be sent.
    pub fn is_full(&self) -> bool {
        self.body.len() >= self.max_bytes || self.items.len() >= self.max_events
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The request built so far; the builder starts over empty.
    pub fn take(&mut self) -> Request {
        Request {
            body: Bytes::from(std::mem::take(&mut self.body)),
            items: std::mem::take(&mut self.items),
            attempts: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{Outcome, Status};
    use crate::event::FieldPath;
    use chrono::TimeZone;

    fn event(i: usize) -> Event {
        let mut e = Event::from_message(format!("line {i}"));
        e.set_timestamp(chrono::Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap());
        e.set(
            &FieldPath::parse("[@metadata][secret]").unwrap(),
            "not sent",
        );
        e
    }

    fn build(n: usize, max_bytes: usize, max_events: usize) -> RequestBuilder {
        let naming = Naming::index("logs-%{+YYYY.MM.dd}").unwrap();
        let mut b = RequestBuilder::new(max_bytes, max_events);
        for i in 0..n {
            b.push(&naming, &event(i), Receipt::untracked());
        }
        b
    }

    #[test]
    fn ndjson_pairs_end_with_a_newline() {
        let r = build(2, 1 << 20, 100).take();
        let text = std::str::from_utf8(&r.body).unwrap();
        assert_eq!(
            text,
            "{\"index\":{\"_index\":\"logs-2026.11.27\"}}\n\
             {\"@timestamp\":\"2026-11-27T08:00:00.000Z\",\"message\":\"line 0\"}\n\
             {\"index\":{\"_index\":\"logs-2026.11.27\"}}\n\
             {\"@timestamp\":\"2026-11-27T08:00:00.000Z\",\"message\":\"line 1\"}\n"
        );
        assert_eq!(
            r.action_line(1),
            b"{\"index\":{\"_index\":\"logs-2026.11.27\"}}"
        );
        assert_eq!(
            r.source_line(1),
            b"{\"@timestamp\":\"2026-11-27T08:00:00.000Z\",\"message\":\"line 1\"}"
        );
        assert_eq!(r.range(0).end, r.range(1).start);
        assert_eq!(r.range(1).end, r.body.len());
    }

    #[test]
    fn full_at_max_events_or_max_bytes() {
        assert!(!build(2, 1 << 20, 3).is_full());
        assert!(build(3, 1 << 20, 3).is_full());
        let one = build(1, 1 << 20, 100).take().body.len();
        assert!(!build(2, 2 * one + 1, 100).is_full());
        assert!(build(2, 2 * one, 100).is_full());
    }

    /// Cuts a request list from `events`, pushed one by one or appended
    /// from prepared docs.
    fn requests(
        events: &[Event],
        max_bytes: usize,
        max_events: usize,
        prepared: bool,
    ) -> Vec<Request> {
        let naming = Naming::index("logs-%{+YYYY.MM.dd}").unwrap();
        let mut b = RequestBuilder::new(max_bytes, max_events);
        let mut out = Vec::new();
        if prepared {
            let preparer = Preparer::new(naming);
            let mut docs = preparer.start();
            // Prepared in two parts, as workers do chunk by chunk.
            preparer.add(&mut docs, &events[..4]);
            preparer.add(&mut docs, &events[4..]);
            assert_eq!(docs.len(), events.len());
            let mut next = 0;
            while next < docs.len() {
                next = b.append(&docs, next, &Receipt::untracked());
                if b.is_full() {
                    out.push(b.take());
                }
            }
        } else {
            for e in events {
                b.push(&naming, e, Receipt::untracked());
                if b.is_full() {
                    out.push(b.take());
                }
            }
        }
        if !b.is_empty() {
            out.push(b.take());
        }
        out
    }

    #[test]
    fn prepared_docs_make_the_same_requests_as_pushed_events() {
        let events: Vec<Event> = (0..10).map(event).collect();
        let one = build(1, 1 << 20, 100).take().body.len();
        for (max_bytes, max_events) in [
            (1 << 20, 100),
            (1 << 20, 3),
            (1 << 20, 1),
            (2 * one + 1, 100),
            (3 * one, 4),
            (1, 100),
        ] {
            let pushed = requests(&events, max_bytes, max_events, false);
            let appended = requests(&events, max_bytes, max_events, true);
            assert_eq!(pushed.len(), appended.len(), "{max_bytes} {max_events}");
            for (p, a) in pushed.iter().zip(&appended) {
                assert_eq!(p.body, a.body);
                assert_eq!(p.len(), a.len());
                for i in 0..p.len() {
                    assert_eq!(p.range(i), a.range(i));
                    assert_eq!(p.items[i].kind, a.items[i].kind);
                    assert_eq!(p.source_line(i), a.source_line(i));
                }
            }
            let total: usize = appended.iter().map(Request::len).sum();
            assert_eq!(total, events.len(), "{max_bytes} {max_events}");
        }
    }

    #[test]
    fn recycled_docs_come_back_empty() {
        let preparer = Preparer::new(Naming::index("x").unwrap());
        let mut docs = preparer.start();
        preparer.add(&mut docs, &[event(0), event(1)]);
        assert_eq!(docs.len(), 2);
        let at: *const Docs = &*docs;
        preparer.recycle(docs);
        let again = preparer.start();
        assert!(again.is_empty() && again.body.is_empty());
        assert!(std::ptr::eq(&*again, at), "the same buffer, reused");
    }

    #[test]
    fn outsized_docs_are_not_kept() {
        let preparer = Preparer::new(Naming::index("x").unwrap());
        let mut docs = preparer.start();
        docs.body.reserve(MAX_KEPT_DOCS + 1);
        preparer.recycle(docs);
        assert!(preparer.spare.lock().unwrap().is_empty());
    }

    #[test]
    fn take_starts_over() {
        let mut b = build(3, 1 << 20, 100);
        assert_eq!(b.take().len(), 3);
        assert!(b.is_empty());
        assert!(b.take().body.is_empty());
    }

    #[test]
    fn subsets_copy_only_their_items() {
        let r = build(5, 1 << 20, 100).take();
        let expect: Vec<u8> = [1, 3]
            .iter()
            .flat_map(|&i| r.body[r.range(i)].to_vec())
            .collect();
        let mut r = r;
        let items = r.take_items();
        let keep: Vec<Item> = items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, it)| it)
            .collect();
        let sub = Request::from_items(&r.body, keep, 4);
        assert_eq!(&sub.body[..], &expect[..]);
        assert_eq!(sub.attempts, 4);
        assert!(sub.source_line(1).ends_with(b"\"line 3\"}"));
    }

    #[test]
    fn split_halves_keep_every_item_once() {
        for n in [2, 3, 7] {
            let r = build(n, 1 << 20, 100).take();
            let whole = r.body.clone();
            let (a, b) = r.split();
            assert_eq!(a.len(), n / 2);
            assert_eq!(b.len(), n - n / 2);
            let joined: Vec<u8> = [&a.body[..], &b.body[..]].concat();
            assert_eq!(joined, whole);
            assert!(
                b.source_line(0)
                    .ends_with(format!("\"line {}\"}}", n / 2).as_bytes())
            );
        }
    }

    #[test]
    fn item_shares_resolve_the_batch_once() {
        let naming = Naming::index("x").unwrap();
        let (receipt, mut status) = Receipt::with_channel();
        let mut b = RequestBuilder::new(1 << 20, 100);
        for i in 0..3 {
            b.push(&naming, &event(i), receipt.clone());
        }
        receipt.resolve(Outcome::Delivered);
        let mut items = b.take().take_items();
        items.pop().unwrap().receipt.resolve(Outcome::Rejected);
        items.pop().unwrap().receipt.resolve(Outcome::Delivered);
        assert!(status.try_recv().is_err(), "one item is still out");
        items.pop().unwrap().receipt.resolve(Outcome::Delivered);
        assert_eq!(status.try_recv().unwrap(), Status::Rejected);
    }
}
