//! Request bodies and compressed bodies, kept for reuse.
//!
//! A request body is several megabytes, built on the output's thread and
//! done with on whichever thread finished its delivery. Allocated afresh
//! every time, the allocator keeps several freed ones in hand at once, and
//! the process's resident memory grows by that much; handed back here, the
//! same few buffers go round.

use bytes::Bytes;
use std::sync::Mutex;

/// Spare buffers of one kind.
pub struct Pool {
    spare: Mutex<Vec<Vec<u8>>>,
    /// At most this many are kept; more are freed.
    keep: usize,
}

impl Pool {
    pub const fn new(keep: usize) -> Self {
        Pool {
            spare: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// An empty buffer with room for at least `capacity` bytes.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match spare {
            Some(mut v) => {
                v.reserve(capacity);
                v
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Keeps `v` for a later [`Pool::take`], if there is room and it is
    /// not outsized (one huge request must not stay in memory for good).
    pub fn give(&self, mut v: Vec<u8>) {
        if v.capacity() == 0 || v.capacity() > MAX_KEPT {
            return;
        }
        v.clear();
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < self.keep {
            spare.push(v);
        }
    }

    /// Keeps the buffer under `b` if nothing else refers to it.
    pub fn give_bytes(&self, b: Bytes) {
        if let Ok(m) = b.try_into_mut() {
            self.give(m.into());
        }
    }
}

/// Buffers bigger than this are freed, not kept: a body is at most
/// `max_bytes` (reserved up to 64 MiB) plus its last document.
pub const MAX_KEPT: usize = 80 << 20;

/// Bulk request bodies (up to `max_bytes` each). Two spares cover the
/// open request and one just delivered.
pub static BODIES: Pool = Pool::new(2);

/// Compressed request bodies.
pub static COMPRESSED: Pool = Pool::new(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_whole() {
        let pool = Pool::new(1);
        let mut v = pool.take(1 << 16);
        v.extend_from_slice(b"hello");
        let (ptr, cap) = (v.as_ptr(), v.capacity());
        pool.give_bytes(Bytes::from(v));
        let again = pool.take(10);
        assert!(again.is_empty());
        assert_eq!((again.as_ptr(), again.capacity()), (ptr, cap));
    }

    #[test]
    fn shared_bytes_and_a_full_pool_keep_nothing() {
        let pool = Pool::new(1);
        let b = Bytes::from(vec![1u8; 100]);
        let other = b.clone();
        pool.give_bytes(b);
        assert_eq!(pool.spare.lock().unwrap().len(), 0, "still referred to");
        pool.give_bytes(other);
        assert_eq!(pool.spare.lock().unwrap().len(), 1);
        pool.give(vec![0u8; 10]);
        assert_eq!(pool.spare.lock().unwrap().len(), 1, "keeps one at most");
        let pool = Pool::new(4);
        pool.give(Vec::with_capacity(MAX_KEPT + 1));
        assert_eq!(
            pool.spare.lock().unwrap().len(),
            0,
            "outsized buffers are freed"
        );
    }
}
