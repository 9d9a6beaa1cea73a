//! Expressions embedded in pipeline configuration: conditions
//! (`if [status] >= 500`), sprintf templates (`logs-%{+YYYY.MM.dd}`) and
//! Joda date patterns.
//!
//! All three are compiled once, when a pipeline is built, so that syntax
//! errors are reported with a column before any event flows, and so that
//! the per-event work is only evaluation: no re-parsing, no regex
//! compilation, and no allocation beyond the output being written.

mod condition;
mod joda;
mod sprintf;

pub use condition::{Condition, ConditionError};
pub use joda::DateFormat;
pub use sprintf::{SprintfError, Template};
