//! ganymede: one binary that tails, ships, parses and indexes logs.
//!
//! The flow, top-down: the CLI (`main.rs`) loads pipeline files
//! ([`config`]), asks the [`registry`] to build each component, and hands
//! the result to the [`topology`], which wires inputs → filter workers →
//! outputs with bounded channels of batches. Every batch carries a
//! [`delivery::Receipt`] so that a source commits only what outputs have
//! durably accepted. [`observe`] serves metrics and probes.

pub mod commands;
pub mod config;
pub mod delivery;
pub mod event;
pub mod expr;
pub mod filters;
pub mod inputs;
pub mod lumberjack;
pub mod observe;
pub mod outputs;
pub mod registry;
pub mod tls;
pub mod topology;
