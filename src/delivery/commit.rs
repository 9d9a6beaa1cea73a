//! The contiguous commit point of a source.
//!
//! A source reads positions in order (file offsets, beats sequence numbers)
//! and sends batches that may be resolved in any order. It may only persist
//! a position once every batch before it has resolved too: committing past a
//! gap would lose the gap on a crash. The tracker keeps the tickets in read
//! order and releases the newest position of the resolved prefix.

use super::receipt::{Receipt, Status};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Identifies one tracked batch within its tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(u64);

#[derive(Debug)]
struct Entry<P> {
    position: P,
    status: Option<Status>,
}

/// Orders resolutions and yields the highest committable position.
#[derive(Debug)]
pub struct CommitTracker<P> {
    /// Ticket number of `entries[0]`.
    first: u64,
    entries: VecDeque<Entry<P>>,
    /// Set once an abandoned batch reaches the front: nothing after it may
    /// ever be committed by this tracker.
    blocked: bool,
}

impl<P> Default for CommitTracker<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> CommitTracker<P> {
    pub fn new() -> Self {
        CommitTracker {
            first: 0,
            entries: VecDeque::new(),
            blocked: false,
        }
    }

    /// Registers the next batch, which ends at `position`. Call in read order.
    pub fn track(&mut self, position: P) -> Ticket {
        let ticket = Ticket(self.first + self.entries.len() as u64);
        self.entries.push_back(Entry {
            position,
            status: None,
        });
        ticket
    }

    /// Records the final status of a batch. Unknown or repeated tickets are
    /// ignored.
    pub fn resolve(&mut self, ticket: Ticket, status: Status) {
        let Some(idx) = ticket.0.checked_sub(self.first) else {
            return;
        };
        if let Some(entry) = self.entries.get_mut(idx as usize)
            && entry.status.is_none()
        {
            entry.status = Some(status);
        }
    }

    /// Pops the resolved prefix and returns its last position, if any
    /// advanced. Stops for good at an abandoned batch.
    pub fn take_committable(&mut self) -> Option<P> {
        let mut newest = None;
        while !self.blocked {
            match self.entries.front().and_then(|e| e.status) {
                Some(status) if status.is_committable() => {
                    let entry = self.entries.pop_front()?;
                    self.first += 1;
                    newest = Some(entry.position);
                }
                Some(_) => self.blocked = true,
                None => break,
            }
        }
        newest
    }

    /// Batches not yet released (resolved or not).
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// True once an abandoned batch has stopped this tracker.
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }
}

/// A tracker shared between a source and the receipts it hands out.
#[derive(Debug)]
pub struct SharedCommitTracker<P> {
    inner: Arc<Mutex<CommitTracker<P>>>,
    changed: Arc<tokio::sync::Notify>,
}

impl<P> Clone for SharedCommitTracker<P> {
    fn clone(&self) -> Self {
        SharedCommitTracker {
            inner: self.inner.clone(),
            changed: self.changed.clone(),
        }
    }
}

impl<P> Default for SharedCommitTracker<P>
where
    P: Send + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Send + 'static> SharedCommitTracker<P> {
    pub fn new() -> Self {
        SharedCommitTracker {
            inner: Arc::new(Mutex::new(CommitTracker::new())),
            changed: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CommitTracker<P>> {
        // The tracker's state stays consistent even if a holder panicked.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tracks a batch ending at `position` and returns its receipt.
    pub fn receipt(&self, position: P) -> Receipt {
        self.receipt_with(position, |_| {})
    }

    /// As [`SharedCommitTracker::receipt`], also calling `observe` with the
    /// final status (for metrics).
    pub fn receipt_with(
        &self,
        position: P,
        observe: impl FnOnce(Status) + Send + 'static,
    ) -> Receipt {
        let ticket = self.lock().track(position);
        let inner = self.inner.clone();
        let changed = self.changed.clone();
        Receipt::new(move |status| {
            observe(status);
            inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .resolve(ticket, status);
            changed.notify_waiters();
            changed.notify_one();
        })
    }

    /// See [`CommitTracker::take_committable`].
    pub fn take_committable(&self) -> Option<P> {
        self.lock().take_committable()
    }

    pub fn pending(&self) -> usize {
        self.lock().pending()
    }

    pub fn is_blocked(&self) -> bool {
        self.lock().is_blocked()
    }

    /// Waits until some receipt resolved since the last call.
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Waits until every tracked batch has resolved, or the tracker is
    /// blocked by an abandoned batch. Returns whether all were committable.
    pub async fn drained(&self) -> bool {
        loop {
            let notified = self.changed.notified();
            {
                let t = self.lock();
                if t.is_blocked() {
                    return false;
                }
                if t.entries.iter().all(|e| e.status.is_some()) {
                    return t
                        .entries
                        .iter()
                        .all(|e| e.status.is_some_and(Status::is_committable));
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_of_order_resolution_waits_for_the_gap() {
        let mut t = CommitTracker::new();
        let a = t.track(10);
        let b = t.track(20);
        let c = t.track(30);
        t.resolve(c, Status::Delivered);
        t.resolve(b, Status::Delivered);
        assert_eq!(t.take_committable(), None, "batch a is still pending");
        t.resolve(a, Status::Rejected);
        assert_eq!(t.take_committable(), Some(30));
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn abandoned_batch_blocks_forever() {
        let mut t = CommitTracker::new();
        let a = t.track(1);
        let b = t.track(2);
        let c = t.track(3);
        t.resolve(a, Status::Delivered);
        t.resolve(b, Status::Abandoned);
        t.resolve(c, Status::Delivered);
        assert_eq!(t.take_committable(), Some(1));
        assert_eq!(t.take_committable(), None);
        let d = t.track(4);
        t.resolve(d, Status::Delivered);
        assert_eq!(t.take_committable(), None);
        assert!(t.is_blocked());
    }

    #[test]
    fn shared_tracker_through_receipts() {
        let t = SharedCommitTracker::new();
        let r1 = t.receipt(100u64);
        let r2 = t.receipt(200u64);
        r2.resolve(crate::delivery::Outcome::Delivered);
        assert_eq!(t.take_committable(), None);
        r1.resolve(crate::delivery::Outcome::Delivered);
        assert_eq!(t.take_committable(), Some(200));
    }

    proptest! {
        /// Whatever the order of resolutions, the committed position is
        /// always the end of the longest fully resolved prefix, it never
        /// moves backwards, and never passes an abandoned batch.
        #[test]
        fn commits_only_contiguous_prefixes(
            n in 1usize..60,
            order in proptest::collection::vec(any::<proptest::sample::Index>(), 0..80),
            abandon in proptest::option::of(any::<proptest::sample::Index>()),
        ) {
            let mut t = CommitTracker::new();
            let tickets: Vec<Ticket> = (0..n).map(|i| t.track(i)).collect();
            let abandoned = abandon.map(|ix| ix.index(n));
            let mut resolved = vec![false; n];
            let mut committed: Option<usize> = None;
            let mut seq: Vec<usize> = order.iter().map(|ix| ix.index(n)).collect();
            seq.extend(0..n); // eventually resolve everything
            for i in seq {
                let status = if Some(i) == abandoned { Status::Abandoned } else { Status::Delivered };
                t.resolve(tickets[i], status);
                resolved[i] = true;
                if let Some(pos) = t.take_committable() {
                    prop_assert!(committed.is_none_or(|c| pos > c), "moved backwards");
                    committed = Some(pos);
                }
                if let Some(c) = committed {
                    prop_assert!(resolved[..=c].iter().all(|r| *r), "committed past a gap");
                    prop_assert!(abandoned.is_none_or(|a| c < a), "committed past an abandoned batch");
                }
            }
            let expect = match abandoned {
                Some(0) => None,
                Some(a) => Some(a - 1),
                None => Some(n - 1),
            };
            prop_assert_eq!(committed, expect);
        }
    }
}
