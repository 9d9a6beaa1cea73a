//! `ganymede check`: load, validate and compile every pipeline without
//! running anything.

use super::load_and_build;
use crate::observe::{Health, Metrics};
use crate::topology::{BuildOptions, Registry};
use std::io::Write;
use std::path::PathBuf;

/// Prints one line per valid pipeline, each followed by its filters'
/// notices (indented), or every error. Returns the exit code.
pub fn check(
    paths: &[PathBuf],
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let opts = BuildOptions {
        data_dir: std::env::temp_dir().join("ganymede-check"),
        once: false,
        metrics: Metrics::new(),
        health: Health::new(),
    };
    match load_and_build(paths, registry, &opts) {
        Ok((_, pipelines)) => {
            for p in &pipelines {
                let _ = writeln!(out, "{}", p.summary());
                for n in p.notices() {
                    let _ = writeln!(out, "  {n}");
                }
            }
            0
        }
        Err(errors) => {
            for e in errors.iter() {
                let _ = writeln!(err, "error: {e}");
            }
            let _ = writeln!(
                err,
                "{} error{} found; nothing was started",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            1
        }
    }
}
