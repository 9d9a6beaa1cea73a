//! Sources of events. Each folder holds one input: its config, its runtime
//! and its unit tests.

pub mod beats;
mod decode;
pub mod file;
pub mod generator;
pub mod stdin;

pub use decode::{Codec, decode_line};
