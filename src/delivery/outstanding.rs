//! Counting receipts still out, for sources that have nothing to commit but
//! must not end before their events are delivered (stdin, generator).

use super::receipt::Status;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct Inner {
    pending: AtomicUsize,
    abandoned: AtomicU64,
    idle: Notify,
}

/// A counter of unresolved receipts.
#[derive(Debug, Clone, Default)]
pub struct Outstanding {
    inner: Arc<Inner>,
}

impl Outstanding {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers one more receipt; call the returned closure when it resolves.
    pub fn track(&self) -> impl FnOnce(Status) + Send + 'static {
        self.inner.pending.fetch_add(1, Ordering::AcqRel);
        let inner = self.inner.clone();
        move |status| {
            if status == Status::Abandoned {
                inner.abandoned.fetch_add(1, Ordering::Relaxed);
            }
            if inner.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                inner.idle.notify_waiters();
            }
        }
    }

    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::Acquire)
    }

    /// Batches that were abandoned rather than delivered.
    pub fn abandoned(&self) -> u64 {
        self.inner.abandoned.load(Ordering::Relaxed)
    }

    /// Waits until no receipt is unresolved.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.pending() == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_after_all_resolved() {
        let o = Outstanding::new();
        let a = o.track();
        let b = o.track();
        assert_eq!(o.pending(), 2);
        a(Status::Delivered);
        let waiter = {
            let o = o.clone();
            tokio::spawn(async move { o.idle().await })
        };
        b(Status::Abandoned);
        waiter.await.unwrap();
        assert_eq!(o.abandoned(), 1);
    }
}
