//! Pipeline files: YAML in, positioned errors out.
//!
//! [`yaml`] turns text into a tree of [`Node`]s that remember their line and
//! column (and expands `${VAR}`); [`pipeline`] reads the file's shape and the
//! options every component shares; [`de`] lets each component read its own
//! options with serde while keeping positions in every error.

pub mod de;
pub mod error;
pub mod pipeline;
pub mod types;
pub mod yaml;

pub use de::from_node;
pub use error::{ConfigError, ConfigErrors, Mark, nearest};
pub use pipeline::{
    ComponentConfig, Decorations, PipelineConfig, Section, Spanned, load_all, pipeline_files,
};
pub use types::{ByteSize, Span};
pub use yaml::{Env, Node, NodeKind, ProcessEnv};
