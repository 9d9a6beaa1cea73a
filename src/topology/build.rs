//! Turns parsed pipeline files into ready-to-run pipelines.
//!
//! Everything is compiled here, before anything starts: components,
//! conditions, sprintf templates. Every error of every pipeline is
//! collected, and if there is any, nothing runs: an invalid file never
//! starts a partial pipeline.

use super::component::{BuildContext, ComponentId, Filter, Input, Output, Registry};
use super::stage::{CompiledDecorations, FieldTarget, FilterStage};
use crate::config::{
    ComponentConfig, ConfigError, ConfigErrors, Decorations, Mark, PipelineConfig, Spanned, nearest,
};
use crate::event::FieldPath;
use crate::expr::{Condition, Template};
use crate::observe::{Health, Metrics};
use std::path::PathBuf;
use std::sync::Arc;

/// A built input, waiting to be started.
pub struct BuiltInput {
    pub id: ComponentId,
    pub input: Box<dyn Input>,
}

/// A built output with its routing condition.
pub struct BuiltOutput {
    pub id: ComponentId,
    pub condition: Option<Condition>,
    pub output: Box<dyn Output>,
}

/// A pipeline with every component built.
pub struct Pipeline {
    pub name: String,
    pub file: PathBuf,
    pub workers: usize,
    pub batch_size: usize,
    pub channel_capacity: usize,
    pub once: bool,
    /// Whether inputs set `[@metadata][_id]` (see
    /// [`PipelineConfig::reads_document_ids`]).
    pub document_ids: bool,
    pub data_dir: PathBuf,
    pub inputs: Vec<BuiltInput>,
    pub(crate) stages: Vec<FilterStage>,
    pub outputs: Vec<BuiltOutput>,
    pub metrics: Arc<Metrics>,
    pub health: Health,
}

impl Pipeline {
    /// One line that `ganymede check` prints.
    pub fn summary(&self) -> String {
        format!(
            "{}: ok ({} input{}, {} filter{}, {} output{}) from {}",
            self.name,
            self.inputs.len(),
            plural(self.inputs.len()),
            self.stages.len(),
            plural(self.stages.len()),
            self.outputs.len(),
            plural(self.outputs.len()),
            self.file.display()
        )
    }

    /// One line per notice of its filters (`file:line:col: message`), for
    /// `ganymede check`.
    pub fn notices(&self) -> Vec<String> {
        let file = self.file.display();
        self.stages
            .iter()
            .flat_map(|stage| stage.filter.notices())
            .map(|n| match n.mark {
                Some(m) => format!("{file}:{m}: {}", n.message),
                None => format!("{file}: {}", n.message),
            })
            .collect()
    }

    /// Runs the filter chain over events synchronously (for `ganymede test`
    /// and benchmarks).
    pub fn filter_events(&self, events: &mut Vec<crate::event::Event>) {
        super::stage::filter_batch(&self.stages, events);
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Settings that come from the command line rather than the files.
#[derive(Clone)]
pub struct BuildOptions {
    pub data_dir: PathBuf,
    pub once: bool,
    pub metrics: Arc<Metrics>,
    pub health: Health,
}

/// Builds every pipeline or reports every error.
pub fn build_all(
    configs: &[PipelineConfig],
    registry: &Registry,
    opts: &BuildOptions,
) -> Result<Vec<Pipeline>, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut built = Vec::new();
    for cfg in configs {
        match build_pipeline(cfg, registry, opts) {
            Ok(p) => built.push(p),
            Err(es) => errors.0.extend(es.0),
        }
    }
    if !errors.is_empty() {
        for p in &built {
            opts.metrics.remove_pipeline(&p.name);
        }
        return Err(errors);
    }
    Ok(built)
}

/// Builds one pipeline or reports all of its errors.
pub fn build_pipeline(
    cfg: &PipelineConfig,
    registry: &Registry,
    opts: &BuildOptions,
) -> Result<Pipeline, ConfigErrors> {
    let ctx = BuildContext {
        pipeline: cfg.name.clone(),
        data_dir: opts.data_dir.clone(),
        once: opts.once,
        metrics: opts.metrics.clone(),
        health: opts.health.clone(),
    };
    let mut errors = ConfigErrors::default();
    let mut collect = |r: Result<(), ConfigErrors>| {
        if let Err(es) = r {
            errors.0.extend(es.0);
        }
    };
    let id_of = |c: &ComponentConfig| ComponentId {
        pipeline: cfg.name.as_str().into(),
        id: c.id.as_str().into(),
        plugin: c.kind.as_str().into(),
    };

    let mut inputs = Vec::new();
    for c in &cfg.inputs {
        collect(lookup(&registry.inputs, c).and_then(|b| {
            let input = b(c, &ctx)?;
            inputs.push(BuiltInput {
                id: id_of(c),
                input,
            });
            Ok(())
        }));
    }

    let mut stages = Vec::new();
    for c in &cfg.filters {
        collect((|| {
            let builder = lookup(&registry.filters, c);
            let condition = compile_condition(c);
            let decorations = compile_decorations(c);
            let filter: Result<Box<dyn Filter>, ConfigErrors> = builder.and_then(|b| b(c, &ctx));
            let (filter, condition, decorations) = merge3(filter, condition, decorations)?;
            stages.push(FilterStage {
                filter,
                condition,
                decorations,
                metrics: opts.metrics.component(&cfg.name, "filter", &c.kind, &c.id),
            });
            Ok(())
        })());
    }

    let mut outputs = Vec::new();
    for c in &cfg.outputs {
        collect((|| {
            let builder = lookup(&registry.outputs, c);
            let condition = compile_condition(c);
            let output: Result<Box<dyn Output>, ConfigErrors> = builder.and_then(|b| b(c, &ctx));
            let (output, condition, ()) = merge3(output, condition, Ok(()))?;
            outputs.push(BuiltOutput {
                id: id_of(c),
                condition,
                output,
            });
            Ok(())
        })());
    }

    if !errors.is_empty() {
        opts.metrics.remove_pipeline(&cfg.name);
        return Err(ConfigErrors(
            errors.0.into_iter().map(|e| e.in_file(&cfg.file)).collect(),
        ));
    }
    let workers = cfg.workers.unwrap_or_else(default_workers);
    Ok(Pipeline {
        name: cfg.name.clone(),
        file: cfg.file.clone(),
        workers,
        batch_size: cfg.batch_size,
        channel_capacity: cfg.channel_capacity.max(workers),
        once: opts.once,
        document_ids: cfg.reads_document_ids(),
        data_dir: opts.data_dir.clone(),
        inputs,
        stages,
        outputs,
        metrics: opts.metrics.clone(),
        health: opts.health.clone(),
    })
}

/// One filter worker per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn merge3<A, B, C>(
    a: Result<A, ConfigErrors>,
    b: Result<B, ConfigErrors>,
    c: Result<C, ConfigErrors>,
) -> Result<(A, B, C), ConfigErrors> {
    match (a, b, c) {
        (Ok(a), Ok(b), Ok(c)) => Ok((a, b, c)),
        (a, b, c) => {
            let mut all = ConfigErrors::default();
            for e in [a.err(), b.err(), c.err()].into_iter().flatten() {
                all.0.extend(e.0);
            }
            Err(all)
        }
    }
}

fn lookup<B: Copy>(
    table: &std::collections::BTreeMap<&'static str, B>,
    c: &ComponentConfig,
) -> Result<B, ConfigErrors> {
    table.get(c.kind.as_str()).copied().ok_or_else(|| {
        let known = table
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        c.error(format!(
            "unknown {} type `{}`; known types are {known}",
            c.section.kind(),
            c.kind
        ))
        .with_suggestion(nearest(&c.kind, table.keys().copied()))
        .into()
    })
}

/// Where a column inside a quoted scalar lands in the file.
fn column_in(mark: Mark, column: usize) -> Mark {
    Mark {
        line: mark.line,
        col: mark.col + column,
    }
}

fn compile_condition(c: &ComponentConfig) -> Result<Option<Condition>, ConfigErrors> {
    let Some(Spanned { value, mark }) = &c.condition else {
        return Ok(None);
    };
    Condition::parse(value).map(Some).map_err(|e| {
        ConfigError::new(format!("invalid condition: {}", e.message))
            .at(column_in(*mark, e.column))
            .under("if")
            .under(&c.key_path)
            .into()
    })
}

fn compile_template(
    c: &ComponentConfig,
    key: &str,
    s: &Spanned<String>,
) -> Result<Template, ConfigError> {
    Template::parse(&s.value).map_err(|e| {
        ConfigError::new(format!("invalid sprintf template: {}", e.message))
            .at(column_in(s.mark, e.column))
            .under(key)
            .under(&c.key_path)
    })
}

fn compile_target(
    c: &ComponentConfig,
    key: &str,
    s: &Spanned<String>,
) -> Result<FieldTarget, ConfigError> {
    if s.value.contains("%{") {
        return compile_template(c, key, s).map(FieldTarget::Dynamic);
    }
    FieldPath::parse(&s.value)
        .map(FieldTarget::Fixed)
        .map_err(|e| {
            ConfigError::new(format!("invalid field reference: {e}"))
                .at(s.mark)
                .under(key)
                .under(&c.key_path)
        })
}

fn compile_decorations(c: &ComponentConfig) -> Result<CompiledDecorations, ConfigErrors> {
    let Decorations {
        add_field,
        add_tag,
        remove_field,
        remove_tag,
    } = &c.decorations;
    let mut errors = ConfigErrors::default();
    let mut out = CompiledDecorations::default();
    for (k, v) in add_field {
        match (
            compile_target(c, "add_field", k),
            compile_template(c, "add_field", v),
        ) {
            (Ok(t), Ok(v)) => out.add_field.push((t, v)),
            (a, b) => errors.0.extend(a.err().into_iter().chain(b.err())),
        }
    }
    for t in add_tag {
        match compile_template(c, "add_tag", t) {
            Ok(t) => out.add_tag.push(t),
            Err(e) => errors.push(e),
        }
    }
    for f in remove_field {
        match compile_target(c, "remove_field", f) {
            Ok(t) => out.remove_field.push(t),
            Err(e) => errors.push(e),
        }
    }
    for t in remove_tag {
        match compile_template(c, "remove_tag", t) {
            Ok(t) => out.remove_tag.push(t),
            Err(e) => errors.push(e),
        }
    }
    errors.into_result(out)
}
