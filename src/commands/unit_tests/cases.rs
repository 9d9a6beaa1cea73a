//! Test cases as written: under a pipeline's `tests:` key or in its
//! `NAME.test.yml` sidecar. Read with serde over the positioned tree, so
//! every mistake comes back with its file, line and column.

use crate::config::yaml::parse;
use crate::config::{
    ConfigError, ConfigErrors, Mark, Node, NodeKind, ProcessEnv, from_node, nearest,
};
use crate::event::{Event, FieldPath, Map};
use crate::filters::grok::OneOrMany;
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One test case, checked and ready to run.
#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    /// The file and position the case was written at.
    pub file: PathBuf,
    pub mark: Mark,
    pub input: CaseInput,
    /// Checked on every event that comes out (unless `outputs` is given,
    /// then on none: `outputs` holds per-event checks).
    pub every: Expectations,
    /// Checks for each event out, in order.
    pub outputs: Option<Vec<Expectations>>,
    pub dropped: Option<bool>,
    pub count: Option<usize>,
}

/// What is fed to the filters.
#[derive(Debug, Clone)]
pub enum CaseInput {
    /// One event per text, the text in `message`.
    Lines(Vec<String>),
    /// Events from fields, as a `json` codec would make them.
    Events(Vec<Map>),
}

impl CaseInput {
    /// Fresh events (stamped now, unless they carry `@timestamp`).
    pub fn events(&self) -> Vec<Event> {
        match self {
            CaseInput::Lines(lines) => lines.iter().map(Event::from_message).collect(),
            CaseInput::Events(maps) => maps.iter().cloned().map(Event::from_map).collect(),
        }
    }
}

/// Checks on one event.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub fields: Vec<FieldCheck>,
    /// Tags that must be present.
    pub tags: Vec<(String, Mark)>,
    /// Fields that must not exist.
    pub absent: Vec<(FieldPath, Mark)>,
    /// Tags that must not be present.
    pub absent_tags: Vec<(String, Mark)>,
}

impl Expectations {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
            && self.tags.is_empty()
            && self.absent.is_empty()
            && self.absent_tags.is_empty()
    }
}

/// `field: value` under `expect`.
#[derive(Debug, Clone)]
pub struct FieldCheck {
    pub path: FieldPath,
    pub expected: serde_json::Value,
    pub mark: Mark,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    name: String,
    input: Option<String>,
    lines: Option<Vec<String>>,
    event: Option<Map>,
    events: Option<Vec<Map>>,
    expect: Option<IndexMap<String, serde_json::Value>>,
    tags: Option<OneOrMany>,
    absent: Option<OneOrMany>,
    absent_tags: Option<OneOrMany>,
    dropped: Option<bool>,
    count: Option<usize>,
    outputs: Option<Vec<OutputSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputSpec {
    expect: Option<IndexMap<String, serde_json::Value>>,
    tags: Option<OneOrMany>,
    absent: Option<OneOrMany>,
    absent_tags: Option<OneOrMany>,
}

/// Reads the cases of a `tests:` node (a list). `key` is where the list
/// sits, for messages (`tests`).
pub fn read_cases(file: &Path, tests: &Node, key: &str) -> Result<Vec<TestCase>, ConfigErrors> {
    let items = match &tests.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Null => return Ok(Vec::new()),
        _ => {
            return Err(ConfigError::new(format!(
                "`tests` is a list of test cases (`- name: ...`), found {}",
                tests.describe()
            ))
            .at(tests.mark)
            .under(key)
            .in_file(file)
            .into());
        }
    };
    let mut errors = ConfigErrors::default();
    let mut cases = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let slot = format!("{key}[{i}]");
        match read_case(file, item) {
            Ok(c) => cases.push(c),
            Err(es) => errors
                .0
                .extend(es.0.into_iter().map(|e| e.under(&slot).in_file(file))),
        }
    }
    errors.into_result(cases)
}

/// Reads a sidecar `NAME.test.yml`: a list of cases, or a map with a
/// `tests:` list.
pub fn read_sidecar(file: &Path) -> Result<Vec<TestCase>, ConfigErrors> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ConfigError::new(format!("cannot read test file: {e}")).in_file(file))?;
    let root = parse(&text, &ProcessEnv).map_err(|e| e.in_file(file))?;
    match &root.kind {
        NodeKind::Seq(_) => read_cases(file, &root, "tests"),
        NodeKind::Map(pairs) => {
            let mut errors = ConfigErrors::default();
            let mut cases = Vec::new();
            for (k, v) in pairs {
                match k.as_str().unwrap_or_default() {
                    "tests" => match read_cases(file, v, "tests") {
                        Ok(c) => cases.extend(c),
                        Err(es) => errors.0.extend(es.0),
                    },
                    other => errors.push(
                        ConfigError::new(format!(
                            "unknown top-level key `{other}`; a test file holds `tests:`"
                        ))
                        .at(k.mark)
                        .with_suggestion(nearest(other, ["tests"]))
                        .in_file(file),
                    ),
                }
            }
            errors.into_result(cases)
        }
        NodeKind::Null => Err(ConfigError::new(
            "the test file is empty; it needs a `tests:` list of test cases",
        )
        .at(root.mark)
        .in_file(file)
        .into()),
        NodeKind::Scalar { .. } => Err(ConfigError::new(
            "a test file is a `tests:` list of test cases (`- name: ...`)",
        )
        .at(root.mark)
        .in_file(file)
        .into()),
    }
}

fn read_case(file: &Path, node: &Node) -> Result<TestCase, ConfigErrors> {
    if !matches!(node.kind, NodeKind::Map(_)) {
        return Err(ConfigError::new(format!(
            "a test case is a map such as `- name: ...`, found {}",
            node.describe()
        ))
        .at(node.mark)
        .into());
    }
    let spec: CaseSpec = from_node(node)?;
    let mut errors = ConfigErrors::default();
    let key_mark = |k: &str| node_key_mark(node, k).unwrap_or(node.mark);

    if spec.name.trim().is_empty() {
        errors.push(
            ConfigError::new("a test needs a name")
                .at(value_mark(node, "name"))
                .under("name"),
        );
    }

    // Exactly one input form.
    let given: Vec<&str> = ["input", "lines", "event", "events"]
        .into_iter()
        .filter(|k| node.get(k).is_some())
        .collect();
    let input = match (spec.input, spec.lines, spec.event, spec.events) {
        _ if given.len() > 1 => {
            errors.push(
                ConfigError::new(format!(
                    "`{}` and `{}` exclude each other: give one input per test",
                    given[0], given[1]
                ))
                .at(key_mark(given[1])),
            );
            None
        }
        (Some(text), None, None, None) => Some(CaseInput::Lines(vec![text])),
        (None, Some(lines), None, None) => {
            if lines.is_empty() {
                errors.push(
                    ConfigError::new("`lines` needs at least one line")
                        .at(value_mark(node, "lines"))
                        .under("lines"),
                );
            }
            Some(CaseInput::Lines(lines))
        }
        (None, None, Some(event), None) => Some(CaseInput::Events(vec![event])),
        (None, None, None, Some(events)) => {
            if events.is_empty() {
                errors.push(
                    ConfigError::new("`events` needs at least one event")
                        .at(value_mark(node, "events"))
                        .under("events"),
                );
            }
            Some(CaseInput::Events(events))
        }
        _ => {
            errors.push(
                ConfigError::new(
                    "a test needs an input: `input` (one line), `lines`, `event` (fields) or `events`",
                )
                .at(node.mark),
            );
            None
        }
    };

    let every = checks(
        node,
        "",
        spec.expect,
        spec.tags,
        spec.absent,
        spec.absent_tags,
        &mut errors,
    );
    let outputs = spec.outputs.map(|outs| {
        let list = node.get("outputs");
        outs.into_iter()
            .enumerate()
            .map(|(i, o)| {
                let item = match list.map(|n| &n.kind) {
                    Some(NodeKind::Seq(items)) => items.get(i),
                    _ => None,
                };
                checks(
                    item.unwrap_or(node),
                    &format!("outputs[{i}]"),
                    o.expect,
                    o.tags,
                    o.absent,
                    o.absent_tags,
                    &mut errors,
                )
            })
            .collect::<Vec<_>>()
    });

    if spec.dropped == Some(true) {
        let conflicting = ["expect", "tags", "absent", "absent_tags", "outputs"]
            .into_iter()
            .find(|k| node.get(k).is_some())
            .or_else(|| (spec.count.unwrap_or(0) > 0).then_some("count"));
        if let Some(k) = conflicting {
            errors.push(
                ConfigError::new(format!(
                    "`dropped: true` checks that no event is left; `{k}` would check events"
                ))
                .at(key_mark(k)),
            );
        }
    }
    if let (Some(n), Some(outs)) = (spec.count, &outputs)
        && n != outs.len()
    {
        errors.push(
            ConfigError::new(format!(
                "`count: {n}` disagrees with the {} entries of `outputs`",
                outs.len()
            ))
            .at(value_mark(node, "count"))
            .under("count"),
        );
    }
    // (Unless a check was given but is invalid: that is reported above.)
    if every.is_empty()
        && outputs.is_none()
        && spec.dropped.is_none()
        && spec.count.is_none()
        && errors.is_empty()
    {
        errors.push(
            ConfigError::new(
                "a test needs something to check: `expect`, `tags`, `absent`, `absent_tags`, `dropped`, `count` or `outputs`",
            )
            .at(node.mark),
        );
    }
    let input = match input {
        Some(i) if errors.is_empty() => i,
        _ => return Err(errors),
    };
    Ok(TestCase {
        name: spec.name,
        file: file.to_owned(),
        mark: node.mark,
        input,
        every,
        outputs,
        dropped: spec.dropped,
        count: spec.count,
    })
}

/// Compiles the checks of a case (or of one entry of `outputs`).
fn checks(
    node: &Node,
    prefix: &str,
    expect: Option<IndexMap<String, serde_json::Value>>,
    tags: Option<OneOrMany>,
    absent: Option<OneOrMany>,
    absent_tags: Option<OneOrMany>,
    errors: &mut ConfigErrors,
) -> Expectations {
    let mut out = Expectations::default();
    let under = |key: &str| {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    };
    for (field, expected) in expect.unwrap_or_default() {
        let mark = node
            .get("expect")
            .and_then(|n| n.as_map())
            .and_then(|pairs| {
                pairs
                    .iter()
                    .find(|(k, _)| k.as_str() == Some(field.as_str()))
            })
            .map_or(node.mark, |(k, _)| k.mark);
        match FieldPath::parse(&field) {
            Ok(path) => out.fields.push(FieldCheck {
                path,
                expected,
                mark,
            }),
            Err(e) => errors.push(
                ConfigError::new(format!("invalid field reference: {e}"))
                    .at(mark)
                    .under(&under("expect")),
            ),
        }
    }
    for (key, list) in [("tags", tags), ("absent_tags", absent_tags)] {
        for (i, tag) in list
            .map(|l| l.0)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let mark = item_mark(node, key, i);
            if key == "tags" {
                out.tags.push((tag, mark));
            } else {
                out.absent_tags.push((tag, mark));
            }
        }
    }
    for (i, field) in absent
        .map(|l| l.0)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let mark = item_mark(node, "absent", i);
        match FieldPath::parse(&field) {
            Ok(p) => out.absent.push((p, mark)),
            Err(e) => errors.push(
                ConfigError::new(format!("invalid field reference: {e}"))
                    .at(mark)
                    .under(&format!("{}[{i}]", under("absent"))),
            ),
        }
    }
    out
}

fn node_key_mark(node: &Node, key: &str) -> Option<Mark> {
    node.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(k, _)| k.mark)
}

fn value_mark(node: &Node, key: &str) -> Mark {
    node.get(key).map_or(node.mark, |n| n.mark)
}

/// The position of item `i` of the list under `key` (or of the value).
fn item_mark(node: &Node, key: &str, i: usize) -> Mark {
    match node.get(key) {
        Some(Node {
            kind: NodeKind::Seq(items),
            ..
        }) => items.get(i).map_or(node.mark, |n| n.mark),
        Some(n) => n.mark,
        None => node.mark,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cases(text: &str) -> Result<Vec<TestCase>, ConfigErrors> {
        let root = parse(text, &HashMap::new()).unwrap();
        read_cases(Path::new("t.yml"), root.get("tests").unwrap(), "tests")
    }

    #[test]
    fn reads_every_form() {
        let c = cases(
            "tests:\n  - name: a\n    input: x\n    expect: {'[log][level]': INFO, log.logger: m, n: 3}\n    tags: [t]\n    absent: timestamp\n  - name: b\n    lines: [x, y]\n    dropped: true\n  - name: c\n    event: {message: x, fields: {type: backend}}\n    outputs:\n      - expect: {a: 1}\n      - {}\n",
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].every.fields.len(), 3);
        assert_eq!(c[0].every.fields[0].path.to_string(), "[log][level]");
        assert_eq!(c[0].every.fields[1].path.to_string(), "[log][logger]");
        assert_eq!(c[0].every.fields[2].expected, serde_json::json!(3));
        assert_eq!(c[0].every.fields[0].mark, Mark { line: 4, col: 14 });
        assert_eq!(c[0].every.absent[0].0.to_string(), "[timestamp]");
        assert_eq!(c[1].dropped, Some(true));
        assert!(matches!(&c[1].input, CaseInput::Lines(l) if l.len() == 2));
        assert_eq!(c[2].outputs.as_ref().unwrap().len(), 2);
        let e = c[2].input.events();
        assert_eq!(
            e[0].fields()["fields"].as_object().unwrap()["type"],
            "backend".into()
        );
    }

    #[test]
    fn mistakes_are_positioned() {
        let errs = cases("tests:\n  - name: a\n    input: x\n    expekt: {a: 1}\n").unwrap_err();
        let e = errs.to_string();
        assert!(e.starts_with("t.yml:4:5: `tests[0]"), "{e}");
        assert!(e.contains("(did you mean `expect`?)"), "{e}");

        let errs =
            cases("tests:\n  - name: a\n    input: x\n    lines: [y]\n    count: 1\n").unwrap_err();
        assert!(
            errs.to_string()
                .starts_with("t.yml:4:5: `tests[0]`: `input` and `lines` exclude"),
            "{errs}"
        );

        let errs = cases("tests:\n  - name: a\n    input: x\n").unwrap_err();
        assert!(errs.to_string().contains("something to check"), "{errs}");

        let errs = cases("tests:\n  - name: a\n    input: x\n    expect: {'[a': 1}\n").unwrap_err();
        assert!(
            errs.to_string()
                .starts_with("t.yml:4:14: `tests[0].expect`"),
            "{errs}"
        );

        let errs = cases("tests:\n  - name: a\n    input: x\n    dropped: true\n    tags: [x]\n")
            .unwrap_err();
        assert!(errs.to_string().contains("t.yml:5:5:"), "{errs}");
    }
}
