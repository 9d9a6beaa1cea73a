//! Sources of events. Each folder holds one input: its config, its runtime
//! and its unit tests.

mod decode;
pub mod beats;
pub mod file;
pub mod generator;
pub mod stdin;

pub use decode::{Codec, decode_line};
