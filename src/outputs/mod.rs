//! Destinations of events. Each folder holds one output: its config, its
//! runtime and its unit tests.

pub mod beats;
pub mod console;
pub mod elasticsearch;
pub mod file;
pub mod null;
