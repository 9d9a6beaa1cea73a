//! The pipeline file model: what one `*.yml` file declares.
//!
//! ```yaml
//! name: jupiter-backend        # default: the file name without extension
//! workers: 2                   # filter workers (default: one per core)
//! batch_size: 1000             # events per batch read by inputs
//! inputs:  [ { stdin: {} } ]
//! filters: [ { json: { source: message, if: '[type] == "app"' } } ]
//! outputs: [ { console: { codec: json } } ]
//! ```
//!
//! Each component is a one-key map: the key is its type, the value its
//! options. The framework reads the options every component shares (`id`,
//! `if`, and for filters `add_field`, `add_tag`, `remove_field`,
//! `remove_tag`) and hands the rest to the component.

use super::de::from_node;
use super::error::{ConfigError, ConfigErrors, Mark, nearest};
use super::yaml::{Env, Node, NodeKind, parse};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Keys a pipeline file may have at its top level.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "workers",
    "batch_size",
    "channel_capacity",
    "inputs",
    "filters",
    "outputs",
    "tests",
];

/// Which list a component is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    Inputs,
    Filters,
    Outputs,
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Inputs => "inputs",
            Section::Filters => "filters",
            Section::Outputs => "outputs",
        }
    }

    /// Singular, for messages and metric labels.
    pub fn kind(self) -> &'static str {
        match self {
            Section::Inputs => "input",
            Section::Filters => "filter",
            Section::Outputs => "output",
        }
    }

    fn common_keys(self) -> &'static [&'static str] {
        match self {
            Section::Inputs => &["id"],
            Section::Filters => &[
                "id",
                "if",
                "add_field",
                "add_tag",
                "remove_field",
                "remove_tag",
            ],
            Section::Outputs => &["id", "if"],
        }
    }
}

/// A text value together with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub mark: Mark,
}

/// Options that every filter understands, applied when the filter succeeds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decorations {
    /// Field path → sprintf template.
    pub add_field: Vec<(Spanned<String>, Spanned<String>)>,
    pub add_tag: Vec<Spanned<String>>,
    pub remove_field: Vec<Spanned<String>>,
    pub remove_tag: Vec<Spanned<String>>,
}

impl Decorations {
    pub fn is_empty(&self) -> bool {
        self.add_field.is_empty()
            && self.add_tag.is_empty()
            && self.remove_field.is_empty()
            && self.remove_tag.is_empty()
    }
}

/// One declared component.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentConfig {
    pub section: Section,
    /// The component type, e.g. `file`.
    pub kind: String,
    pub kind_mark: Mark,
    /// `id:` if given, else `<kind>-<position>` (unique within the section).
    pub id: String,
    /// Where it sits, for messages: `filters[2].grok`.
    pub key_path: String,
    pub condition: Option<Spanned<String>>,
    pub decorations: Decorations,
    /// The component's own options (a map, shared keys removed).
    pub options: Node,
}

impl ComponentConfig {
    /// Reads the component's own options into its config struct.
    pub fn parse_options<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        from_node::<T>(&self.options).map_err(|e| {
            let e = if e.message.starts_with("unknown key") && e.suggestion.is_none() {
                let unknown = e.message.split('`').nth(1).unwrap_or_default().to_owned();
                let s = nearest(&unknown, self.section.common_keys().iter().copied());
                e.with_suggestion(s)
            } else {
                e
            };
            e.under(&self.key_path)
        })
    }

    /// An error about this component, at its type key.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::new(message)
            .at(self.kind_mark)
            .under(&self.key_path)
    }

    /// An error about one of its options, at that option's value.
    pub fn option_error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let mark = self
            .options
            .get(key)
            .map(|n| n.mark)
            .unwrap_or(self.kind_mark);
        ConfigError::new(message)
            .at(mark)
            .under(key)
            .under(&self.key_path)
    }
}

/// One pipeline file, parsed but not yet built.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    pub file: PathBuf,
    pub name: String,
    pub workers: Option<usize>,
    pub batch_size: usize,
    pub channel_capacity: usize,
    pub inputs: Vec<ComponentConfig>,
    pub filters: Vec<ComponentConfig>,
    pub outputs: Vec<ComponentConfig>,
    /// Test cases for `ganymede test`, read by that command.
    pub tests: Option<Node>,
    /// Whether a filter or output option names `@metadata` (it may then
    /// read the document ids that inputs set there).
    pub mentions_metadata: bool,
}

/// Default number of events an input puts in one batch.
pub const DEFAULT_BATCH_SIZE: usize = 1000;
/// Default number of batches a channel between stages holds.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 4;

/// Whether any key or value under `node` contains `needle`.
fn mentions(node: &Node, needle: &str) -> bool {
    match &node.kind {
        NodeKind::Null => false,
        NodeKind::Scalar { text, .. } => text.contains(needle),
        NodeKind::Seq(items) => items.iter().any(|n| mentions(n, needle)),
        NodeKind::Map(pairs) => pairs
            .iter()
            .any(|(k, v)| mentions(k, needle) || mentions(v, needle)),
    }
}

impl PipelineConfig {
    /// Whether anything after the inputs may read `[@metadata][_id]`: an
    /// output that forwards or uses metadata (elasticsearch with
    /// `document_id: auto`, beats, and any kind not known to ignore it), or
    /// a filter or output option that names `@metadata`. When nothing
    /// does, inputs skip computing document ids.
    pub fn reads_document_ids(&self) -> bool {
        let reads = |o: &ComponentConfig| match o.kind.as_str() {
            "null" | "console" | "file" => false,
            // It sends no metadata; only `auto` takes the id from it (a
            // template naming it is caught by `mentions_metadata`).
            "elasticsearch" => o
                .options
                .get("document_id")
                .is_some_and(|v| v.as_str() == Some("auto")),
            _ => true,
        };
        self.mentions_metadata || self.outputs.iter().any(reads)
    }

    /// Parses a pipeline file's text. Every problem found is reported, not
    /// only the first.
    pub fn from_text(file: &Path, text: &str, env: &dyn Env) -> Result<Self, ConfigErrors> {
        let in_file = |e: ConfigError| e.in_file(file);
        let root = parse(text, env).map_err(in_file)?;
        let mut errors = ConfigErrors::default();
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "main".to_owned());
        let mut cfg = PipelineConfig {
            file: file.to_owned(),
            name: stem,
            workers: None,
            batch_size: DEFAULT_BATCH_SIZE,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            inputs: Vec::new(),
            filters: Vec::new(),
            outputs: Vec::new(),
            tests: None,
            mentions_metadata: false,
        };
        let Some(pairs) = root.as_map() else {
            let msg = match root.kind {
                NodeKind::Null => "the pipeline file is empty; it needs `inputs` and `outputs`",
                _ => "a pipeline file is a map with `inputs`, `filters` and `outputs`",
            };
            return Err(ConfigError::new(msg).at(root.mark).in_file(file).into());
        };
        for (key, value) in pairs {
            let k = key.as_str().unwrap_or_default();
            let r: Result<(), ConfigError> = match k {
                "name" => from_node::<String>(value).map(|v| cfg.name = v),
                "workers" => from_node::<usize>(value).and_then(|v| {
                    if v == 0 {
                        Err(ConfigError::new("`workers` must be at least 1").at(value.mark))
                    } else {
                        cfg.workers = Some(v);
                        Ok(())
                    }
                }),
                "batch_size" => positive(value).map(|v| cfg.batch_size = v),
                "channel_capacity" => positive(value).map(|v| cfg.channel_capacity = v),
                "inputs" => components(value, Section::Inputs, &mut errors).map(|v| cfg.inputs = v),
                "filters" => {
                    cfg.mentions_metadata |= mentions(value, "@metadata");
                    components(value, Section::Filters, &mut errors).map(|v| cfg.filters = v)
                }
                "outputs" => {
                    cfg.mentions_metadata |= mentions(value, "@metadata");
                    components(value, Section::Outputs, &mut errors).map(|v| cfg.outputs = v)
                }
                "tests" => {
                    cfg.tests = Some(value.clone());
                    Ok(())
                }
                other => Err(ConfigError::new(format!("unknown top-level key `{other}`"))
                    .at(key.mark)
                    .with_suggestion(nearest(other, TOP_LEVEL_KEYS.iter().copied()))),
            };
            if let Err(e) = r {
                errors.push(e.under(if TOP_LEVEL_KEYS.contains(&k) { k } else { "" }));
            }
        }
        if cfg.inputs.is_empty() && errors.is_empty() {
            errors.push(
                ConfigError::new("a pipeline needs at least one input under `inputs`")
                    .at(root.mark),
            );
        }
        if cfg.outputs.is_empty() && errors.is_empty() {
            errors.push(
                ConfigError::new("a pipeline needs at least one output under `outputs`")
                    .at(root.mark),
            );
        }
        let errors = ConfigErrors(errors.0.into_iter().map(in_file).collect());
        errors.into_result(cfg)
    }

    /// Reads and parses a pipeline file.
    pub fn load(file: &Path, env: &dyn Env) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            ConfigError::new(format!("cannot read pipeline file: {e}")).in_file(file)
        })?;
        Self::from_text(file, &text, env)
    }
}

fn positive(node: &Node) -> Result<usize, ConfigError> {
    let v = from_node::<usize>(node)?;
    if v == 0 {
        return Err(ConfigError::new("must be at least 1").at(node.mark));
    }
    Ok(v)
}

fn components(
    node: &Node,
    section: Section,
    errors: &mut ConfigErrors,
) -> Result<Vec<ComponentConfig>, ConfigError> {
    let items = match &node.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Null => return Ok(Vec::new()),
        _ => {
            return Err(ConfigError::new(format!(
                "`{}` is a list of components, e.g. `- stdin: {{}}`",
                section.as_str()
            ))
            .at(node.mark));
        }
    };
    let mut out: Vec<ComponentConfig> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match component(item, section, i) {
            Ok(c) => {
                if let Some(prev) = out.iter().find(|p| p.id == c.id) {
                    errors.push(c.error(format!(
                        "duplicate id `{}` (also used by {})",
                        c.id, prev.key_path
                    )));
                } else {
                    out.push(c);
                }
            }
            Err(e) => errors.push(e.under(section.as_str())),
        }
    }
    Ok(out)
}

fn component(item: &Node, section: Section, index: usize) -> Result<ComponentConfig, ConfigError> {
    let slot = format!("[{index}]");
    let pairs = match &item.kind {
        NodeKind::Map(pairs) if pairs.len() == 1 => pairs,
        NodeKind::Map(pairs) if pairs.len() > 1 => {
            return Err(ConfigError::new(format!(
                "each entry holds one component, found {} keys; start a new `- ` entry for each (is an option indented too little?)",
                pairs.len()
            ))
            .at(pairs[1].0.mark)
            .under(&slot));
        }
        _ => {
            return Err(ConfigError::new(format!(
                "expected a component such as `- {}: {{...}}`, found {}",
                example(section),
                item.describe()
            ))
            .at(item.mark)
            .under(&slot));
        }
    };
    let (kind_node, body) = &pairs[0];
    let kind = kind_node.as_str().unwrap_or_default().to_owned();
    let key_path = format!("{}[{index}].{kind}", section.as_str());
    let mut cfg = ComponentConfig {
        section,
        id: format!("{kind}-{index}"),
        kind,
        kind_mark: kind_node.mark,
        key_path: key_path.clone(),
        condition: None,
        decorations: Decorations::default(),
        options: Node {
            mark: body.mark,
            kind: NodeKind::Map(Vec::new()),
        },
    };
    let body_pairs = match &body.kind {
        NodeKind::Map(p) => p.as_slice(),
        NodeKind::Null => &[],
        _ => {
            return Err(ConfigError::new(format!(
                "the options of `{}` are a map (use `{{}}` for none), found {}",
                cfg.kind,
                body.describe()
            ))
            .at(body.mark)
            .under(&key_path));
        }
    };
    let common = section.common_keys();
    let mut own = Vec::new();
    for (k, v) in body_pairs {
        let name = k.as_str().unwrap_or_default();
        if !common.contains(&name) {
            own.push((k.clone(), v.clone()));
            continue;
        }
        let at = |e: ConfigError| e.under(name).under(&key_path);
        match name {
            "id" => cfg.id = spanned_str(v).map_err(at)?.value,
            "if" => cfg.condition = Some(spanned_str(v).map_err(at)?),
            "add_field" => cfg.decorations.add_field = string_pairs(v).map_err(at)?,
            "add_tag" => cfg.decorations.add_tag = string_list(v).map_err(at)?,
            "remove_field" => cfg.decorations.remove_field = string_list(v).map_err(at)?,
            "remove_tag" => cfg.decorations.remove_tag = string_list(v).map_err(at)?,
            _ => own.push((k.clone(), v.clone())),
        }
    }
    cfg.options.kind = NodeKind::Map(own);
    Ok(cfg)
}

fn example(section: Section) -> &'static str {
    match section {
        Section::Inputs => "stdin",
        Section::Filters => "mutate",
        Section::Outputs => "console",
    }
}

fn spanned_str(node: &Node) -> Result<Spanned<String>, ConfigError> {
    Ok(Spanned {
        value: from_node::<String>(node)?,
        mark: node.mark,
    })
}

/// A string or a list of strings.
fn string_list(node: &Node) -> Result<Vec<Spanned<String>>, ConfigError> {
    match &node.kind {
        NodeKind::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| spanned_str(n).map_err(|e| e.under(&format!("[{i}]"))))
            .collect(),
        NodeKind::Null => Ok(Vec::new()),
        _ => Ok(vec![spanned_str(node)?]),
    }
}

/// `field: value` pairs, each side with its position.
type SpannedPairs = Vec<(Spanned<String>, Spanned<String>)>;

fn string_pairs(node: &Node) -> Result<SpannedPairs, ConfigError> {
    let Some(pairs) = node.as_map() else {
        return Err(ConfigError::new(format!(
            "expected a map of field: value, found {}",
            node.describe()
        ))
        .at(node.mark));
    };
    pairs
        .iter()
        .map(|(k, v)| {
            Ok((
                spanned_str(k)?,
                spanned_str(v).map_err(|e| e.under(k.as_str().unwrap_or_default()))?,
            ))
        })
        .collect()
}

/// Expands `-c` arguments: files as given, folders into their `*.yml` and
/// `*.yaml` files (sorted; `*.test.yml` sidecars are test files, not
/// pipelines).
pub fn pipeline_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ConfigErrors> {
    let mut files = Vec::new();
    let mut errors = ConfigErrors::default();
    for p in paths {
        if p.is_dir() {
            let entries = match std::fs::read_dir(p) {
                Ok(e) => e,
                Err(e) => {
                    errors.push(ConfigError::new(format!("cannot read folder: {e}")).in_file(p));
                    continue;
                }
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| is_pipeline_file(f))
                .collect();
            found.sort();
            if found.is_empty() {
                errors.push(
                    ConfigError::new("no *.yml or *.yaml pipeline files in this folder").in_file(p),
                );
            }
            files.extend(found);
        } else if p.exists() {
            files.push(p.clone());
        } else {
            errors.push(ConfigError::new("no such file or folder").in_file(p));
        }
    }
    errors.into_result(files)
}

fn is_pipeline_file(f: &Path) -> bool {
    let name = f
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    f.is_file()
        && (name.ends_with(".yml") || name.ends_with(".yaml"))
        && !name.ends_with(".test.yml")
        && !name.ends_with(".test.yaml")
        && !name.starts_with('.')
}

/// Loads every pipeline named by `paths`, collecting all errors. Pipeline
/// names must be unique.
pub fn load_all(paths: &[PathBuf], env: &dyn Env) -> Result<Vec<PipelineConfig>, ConfigErrors> {
    let files = pipeline_files(paths)?;
    let mut errors = ConfigErrors::default();
    let mut out: Vec<PipelineConfig> = Vec::new();
    for f in files {
        match PipelineConfig::load(&f, env) {
            Ok(p) => {
                if let Some(prev) = out.iter().find(|o| o.name == p.name) {
                    errors.push(
                        ConfigError::new(format!(
                            "pipeline name `{}` is also used by {}; give each file its own `name`",
                            p.name,
                            prev.file.display()
                        ))
                        .in_file(&f),
                    );
                } else {
                    out.push(p);
                }
            }
            Err(es) => errors.0.extend(es.0),
        }
    }
    errors.into_result(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(text: &str) -> Result<PipelineConfig, ConfigErrors> {
        PipelineConfig::from_text(Path::new("p.yml"), text, &HashMap::new())
    }

    #[test]
    fn reads_components_and_shared_options() {
        let p = load(
            "name: demo\nworkers: 2\ninputs:\n  - stdin: {}\nfilters:\n  - mutate:\n      id: m\n      if: '[a] == 1'\n      add_tag: [x]\n      rename: {a: b}\noutputs:\n  - console:\n",
        )
        .unwrap();
        assert_eq!(p.name, "demo");
        assert_eq!(p.workers, Some(2));
        assert_eq!(p.inputs[0].id, "stdin-0");
        let f = &p.filters[0];
        assert_eq!(f.id, "m");
        assert_eq!(f.condition.as_ref().unwrap().value, "[a] == 1");
        assert_eq!(
            f.condition.as_ref().unwrap().mark,
            Mark { line: 8, col: 11 }
        );
        assert_eq!(f.decorations.add_tag[0].value, "x");
        assert!(f.options.get("rename").is_some());
        assert!(f.options.get("if").is_none());
        assert_eq!(p.outputs[0].kind, "console");
    }

    #[test]
    fn document_ids_are_wanted_when_something_may_read_them() {
        let wants = |outputs: &str, filters: &str| {
            load(&format!(
                "inputs: [stdin: {{}}]\nfilters: {filters}\noutputs: {outputs}\n"
            ))
            .unwrap()
            .reads_document_ids()
        };
        assert!(!wants("[null: {}, console: {}]", "[]"));
        assert!(!wants("[file: {path: /tmp/x}]", "[mutate: {add_tag: [a]}]"));
        assert!(wants(
            "[null: {}, elasticsearch: {document_id: auto}]",
            "[]"
        ));
        assert!(!wants("[elasticsearch: {}]", "[]"));
        assert!(!wants(
            "[elasticsearch: {document_id: '%{[request_id]}'}]",
            "[]"
        ));
        assert!(wants(
            "[elasticsearch: {document_id: '%{[@metadata][_id]}'}]",
            "[]"
        ));
        assert!(wants("[beats: {hosts: [a]}]", "[]"));
        assert!(wants(
            "[console: {}]",
            "[mutate: {copy: {'[@metadata][_id]': id}}]"
        ));
        assert!(wants("[file: {path: '/tmp/%{[@metadata][_id]}'}]", "[]"));
        assert!(wants(
            "[console: {}]",
            "[mutate: {if: '[@metadata][_id]', add_tag: [x]}]"
        ));
    }

    #[test]
    fn unknown_top_level_key_is_reported_with_suggestion() {
        let errs = load("inputs:\n  - stdin: {}\noutput:\n  - console: {}\n").unwrap_err();
        let e = &errs.0[0];
        assert_eq!(e.mark, Some(Mark { line: 3, col: 1 }));
        assert_eq!(e.suggestion.as_deref(), Some("outputs"));
        assert!(e.to_string().starts_with("p.yml:3:1: "), "{e}");
    }

    #[test]
    fn every_error_is_listed() {
        let errs = load("workers: 0\nbatch_size: -1\ninputs:\n  - stdin: 3\noutputs:\n  - 7\n")
            .unwrap_err();
        assert_eq!(errs.len(), 4, "{errs}");
    }

    #[test]
    fn two_keys_in_one_entry_is_explained() {
        let errs = load("inputs:\n  - stdin: {}\n    generator: {}\noutputs: [console: {}]\n")
            .unwrap_err();
        assert!(errs.0[0].message.contains("one component"), "{errs}");
        assert_eq!(errs.0[0].mark, Some(Mark { line: 3, col: 5 }));
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let errs =
            load("inputs:\n  - stdin: {id: a}\n  - stdin: {id: a}\noutputs: [console: {}]\n")
                .unwrap_err();
        assert!(errs.0[0].message.contains("duplicate id `a`"), "{errs}");
    }

    #[test]
    fn option_errors_suggest_shared_keys() {
        let p = load(
            "inputs: [stdin: {}]\nfilters:\n  - mutate: {add_tags: [x]}\noutputs: [console: {}]\n",
        )
        .unwrap();
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct M {
            #[allow(dead_code)]
            rename: Option<String>,
        }
        let e = p.filters[0].parse_options::<M>().unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("add_tag"));
        assert_eq!(e.key, "filters[0].mutate");
        assert_eq!(e.mark, Some(Mark { line: 3, col: 14 }));
    }

    #[test]
    fn empty_file_is_explained() {
        let errs = load("").unwrap_err();
        assert!(errs.0[0].message.contains("empty"));
    }
}
