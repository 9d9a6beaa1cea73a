//! Delivery accounting: receipts and the commit point of sources.
//!
//! Every batch carries a [`Receipt`]. Each output that takes part of the
//! batch holds its own copy and resolves it once its events are durably
//! accepted ([`Outcome::Delivered`]) or permanently rejected and already
//! dead-lettered ([`Outcome::Rejected`]). When the last copy is gone the
//! source learns the batch's final [`Status`]. A copy dropped without being
//! resolved (a crash path, a shutdown deadline) makes the status
//! [`Status::Abandoned`], and sources never commit past an abandoned batch.
//!
//! Sources turn out-of-order receipts into a safe commit point with the
//! [`CommitTracker`]: it only ever advances over a contiguous prefix of
//! resolved batches.

mod commit;
mod outstanding;
mod receipt;

pub use commit::{CommitTracker, SharedCommitTracker, Ticket};
pub use outstanding::Outstanding;
pub use receipt::{Outcome, Receipt, Status};
