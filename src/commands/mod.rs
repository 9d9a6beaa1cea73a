//! What each CLI subcommand does. `main.rs` only parses arguments and calls
//! these.

pub mod check;
pub mod dlq;
pub mod grok;
pub mod run;
pub mod unit_tests;

use crate::config::{ConfigErrors, PipelineConfig, ProcessEnv, load_all};
use crate::topology::{BuildOptions, Pipeline, Registry, build_all};
use std::path::PathBuf;

/// Loads and builds every pipeline named by `paths`, or returns every error.
pub fn load_and_build(
    paths: &[PathBuf],
    registry: &Registry,
    opts: &BuildOptions,
) -> Result<(Vec<PipelineConfig>, Vec<Pipeline>), ConfigErrors> {
    let configs = load_all(paths, &ProcessEnv)?;
    let pipelines = build_all(&configs, registry, opts)?;
    Ok((configs, pipelines))
}
