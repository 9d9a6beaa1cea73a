//! The receipt that travels with a batch.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

/// What an output reports for the events it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Durably accepted downstream (or dropped on purpose by a filter).
    Delivered,
    /// Permanently refused and already written to a dead-letter file.
    Rejected,
}

/// The final state of a batch, once every holder of its receipt is done.
/// Ordered by severity: the worst status of all holders wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Delivered = 0,
    /// At least one event was rejected and dead-lettered; none is lost, so
    /// the source may commit.
    Rejected = 1,
    /// Some holder gave up without a resolution: the source must not commit.
    Abandoned = 2,
}

impl Status {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Status::Delivered,
            1 => Status::Rejected,
            _ => Status::Abandoned,
        }
    }

    /// Whether a source may commit the batch's position.
    pub fn is_committable(self) -> bool {
        self != Status::Abandoned
    }
}

type Callback = Box<dyn FnOnce(Status) + Send>;

struct Shared {
    worst: AtomicU8,
    on_final: Mutex<Option<Callback>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let status = Status::from_u8(*self.worst.get_mut());
        let cb = match self.on_final.get_mut() {
            Ok(slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(cb) = cb {
            cb(status);
        }
    }
}

/// One holder's share of a batch's receipt.
///
/// Cloning makes another holder. Every holder must either be resolved with
/// [`Receipt::resolve`] or be handed on with [`Receipt::split`]; a holder
/// dropped otherwise marks the batch abandoned.
pub struct Receipt {
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receipt")
            .field("tracked", &self.shared.is_some())
            .finish()
    }
}

impl Receipt {
    /// A receipt that calls `on_final` once with the batch's final status.
    pub fn new(on_final: impl FnOnce(Status) + Send + 'static) -> Self {
        Receipt {
            shared: Some(Arc::new(Shared {
                worst: AtomicU8::new(Status::Delivered as u8),
                on_final: Mutex::new(Some(Box::new(on_final))),
            })),
        }
    }

    /// A receipt that nobody waits for (sources with nothing to commit).
    pub fn untracked() -> Self {
        Receipt { shared: None }
    }

    /// A receipt whose final status arrives on the returned channel.
    pub fn with_channel() -> (Self, tokio::sync::oneshot::Receiver<Status>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (
            Receipt::new(move |s| {
                let _ = tx.send(s);
            }),
            rx,
        )
    }

    fn mark(&self, status: Status) {
        if let Some(shared) = &self.shared {
            shared.worst.fetch_max(status as u8, Ordering::AcqRel);
        }
    }

    /// Resolves this holder's share.
    pub fn resolve(mut self, outcome: Outcome) {
        match outcome {
            Outcome::Delivered => {}
            Outcome::Rejected => self.mark(Status::Rejected),
        }
        self.shared = None;
    }

    /// Hands this holder's share on to `n` new holders (one per output the
    /// batch goes to). With `n == 0` the share resolves as delivered: the
    /// events went nowhere on purpose.
    pub fn split(mut self, n: usize) -> Vec<Receipt> {
        let shared = self.shared.take();
        (0..n)
            .map(|_| Receipt {
                shared: shared.clone(),
            })
            .collect()
    }

    /// Gives up on this share: the batch will not be committed.
    pub fn abandon(self) {
        self.mark(Status::Abandoned);
        drop(self);
    }
}

impl Drop for Receipt {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared
                .worst
                .fetch_max(Status::Abandoned as u8, Ordering::AcqRel);
        }
    }
}

impl Clone for Receipt {
    fn clone(&self) -> Self {
        Receipt {
            shared: self.shared.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched() -> (Receipt, Arc<Mutex<Vec<Status>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        (Receipt::new(move |st| s.lock().unwrap().push(st)), seen)
    }

    #[test]
    fn resolves_once_when_all_holders_are_done() {
        let (r, seen) = watched();
        let mut parts = r.split(3);
        parts.pop().unwrap().resolve(Outcome::Delivered);
        parts.pop().unwrap().resolve(Outcome::Delivered);
        assert!(seen.lock().unwrap().is_empty(), "one holder is still out");
        parts.pop().unwrap().resolve(Outcome::Delivered);
        assert_eq!(*seen.lock().unwrap(), [Status::Delivered]);
    }

    #[test]
    fn worst_outcome_wins() {
        let (r, seen) = watched();
        let mut parts = r.split(2);
        parts.pop().unwrap().resolve(Outcome::Rejected);
        parts.pop().unwrap().resolve(Outcome::Delivered);
        assert_eq!(*seen.lock().unwrap(), [Status::Rejected]);
    }

    #[test]
    fn a_dropped_holder_abandons_the_batch() {
        let (r, seen) = watched();
        let mut parts = r.split(2);
        parts.pop().unwrap().resolve(Outcome::Delivered);
        drop(parts);
        assert_eq!(*seen.lock().unwrap(), [Status::Abandoned]);
        assert!(!Status::Abandoned.is_committable());
    }

    #[test]
    fn split_into_nothing_is_delivered() {
        let (r, seen) = watched();
        assert!(r.split(0).is_empty());
        assert_eq!(*seen.lock().unwrap(), [Status::Delivered]);
    }

    #[test]
    fn clones_are_holders_too() {
        let (r, seen) = watched();
        let c = r.clone();
        r.resolve(Outcome::Delivered);
        assert!(seen.lock().unwrap().is_empty());
        c.resolve(Outcome::Delivered);
        assert_eq!(*seen.lock().unwrap(), [Status::Delivered]);
    }
}
