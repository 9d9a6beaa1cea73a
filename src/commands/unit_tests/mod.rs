//! `ganymede test`: unit tests of pipelines' filter chains.
//!
//! Cases sit in the pipeline file under `tests:` or in a sidecar
//! `NAME.test.yml` next to `NAME.yml` (the schema is in
//! `docs/testing.md` and [`cases`]). Each case builds its input events,
//! runs them through the real, compiled filters of its pipeline (inputs
//! and outputs are built, so the file is fully checked, but never
//! started), and checks what comes out. A failure prints each difference
//! and the whole event; the last line is `N passed, M failed`.

pub mod cases;
pub mod compare;

use crate::config::{ConfigError, ConfigErrors, Mark, ProcessEnv, load_all};
use crate::event::{Event, Value};
use crate::observe::{Health, Metrics};
use crate::topology::{BuildOptions, Pipeline, Registry, build_all};
use cases::{Expectations, TestCase};
use compare::{Difference, compare};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The sidecar test files of a pipeline file: `NAME.test.yml` and
/// `NAME.test.yaml` in the same folder.
pub fn sidecars(pipeline_file: &Path) -> Vec<PathBuf> {
    let Some(stem) = pipeline_file.file_stem().and_then(|s| s.to_str()) else {
        return Vec::new();
    };
    let dir = pipeline_file.parent().unwrap_or(Path::new(""));
    ["yml", "yaml"]
        .into_iter()
        .map(|ext| dir.join(format!("{stem}.test.{ext}")))
        .filter(|p| p.is_file())
        .collect()
}

/// A `-c` argument naming a test file stands for its pipeline file.
fn pipeline_of(path: &Path) -> Result<PathBuf, ConfigError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let Some(stem) = name
        .strip_suffix(".test.yml")
        .or_else(|| name.strip_suffix(".test.yaml"))
    else {
        return Ok(path.to_owned());
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    ["yml", "yaml"]
        .into_iter()
        .map(|ext| dir.join(format!("{stem}.{ext}")))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ConfigError::new(format!(
                "a test file belongs next to its pipeline, but there is no {stem}.yml here"
            ))
            .in_file(path)
        })
}

/// Runs every test of every pipeline named by `paths`. Returns the exit
/// code: 0 when all pass, 1 on a failure or an invalid file.
pub fn test(
    paths: &[PathBuf],
    registry: &Registry,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let report_errors = |err: &mut dyn Write, errors: &ConfigErrors| {
        for e in errors.iter() {
            let _ = writeln!(err, "error: {e}");
        }
        let _ = writeln!(
            err,
            "{} error{} found; no test was run",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        1
    };

    let mut errors = ConfigErrors::default();
    let mut files = Vec::new();
    for p in paths {
        match pipeline_of(p) {
            Ok(f) if !files.contains(&f) => files.push(f),
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return report_errors(err, &errors);
    }
    let configs = match load_all(&files, &ProcessEnv) {
        Ok(c) => c,
        Err(es) => return report_errors(err, &es),
    };

    // Every case of every pipeline, checked before anything runs.
    let mut suites: Vec<Vec<TestCase>> = Vec::new();
    for cfg in &configs {
        let mut cases = Vec::new();
        if let Some(node) = &cfg.tests {
            match cases::read_cases(&cfg.file, node, "tests") {
                Ok(c) => cases.extend(c),
                Err(es) => errors.0.extend(es.0),
            }
        }
        for sidecar in sidecars(&cfg.file) {
            match cases::read_sidecar(&sidecar) {
                Ok(c) => cases.extend(c),
                Err(es) => errors.0.extend(es.0),
            }
        }
        suites.push(cases);
    }
    let opts = BuildOptions {
        data_dir: std::env::temp_dir().join("ganymede-test"),
        once: true,
        metrics: Metrics::new(),
        health: Health::new(),
    };
    let pipelines = match build_all(&configs, registry, &opts) {
        Ok(p) => p,
        Err(es) => {
            errors.0.extend(es.0);
            return report_errors(err, &errors);
        }
    };
    if !errors.is_empty() {
        return report_errors(err, &errors);
    }

    let total: usize = suites.iter().map(Vec::len).sum();
    if total == 0 {
        let _ = writeln!(
            err,
            "error: no tests found; add a `tests:` list to a pipeline file or write NAME.test.yml next to NAME.yml"
        );
        return 1;
    }

    let mut passed = 0;
    let mut failures: Vec<String> = Vec::new();
    for (pipeline, cases) in pipelines.iter().zip(&suites) {
        if cases.is_empty() {
            let _ = writeln!(
                out,
                "pipeline {}: no tests ({})",
                pipeline.name,
                pipeline.file.display()
            );
            continue;
        }
        let _ = writeln!(
            out,
            "running {} test{} of pipeline {} ({})",
            cases.len(),
            if cases.len() == 1 { "" } else { "s" },
            pipeline.name,
            pipeline.file.display()
        );
        for case in cases {
            let report = run_case(pipeline, case);
            let verdict = if report.is_none() { "ok" } else { "FAILED" };
            let _ = writeln!(out, "test {}: {} ... {verdict}", pipeline.name, case.name);
            match report {
                None => passed += 1,
                Some(r) => failures.push(r),
            }
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for f in &failures {
            let _ = write!(out, "\n{f}");
        }
    }
    let _ = writeln!(out, "\n{passed} passed, {} failed", failures.len());
    let _ = out.flush();
    i32::from(!failures.is_empty())
}

/// Runs one case; `None` when it passes, else the failure report.
pub fn run_case(pipeline: &Pipeline, case: &TestCase) -> Option<String> {
    let mut events = case.input.events();
    let fed = events.len();
    pipeline.filter_events(&mut events);

    // Problems of the case as a whole, then of each event.
    let mut general: Vec<String> = Vec::new();
    let mut per_event: Vec<Vec<String>> = vec![Vec::new(); events.len()];
    let n = events.len();
    match case.dropped {
        Some(true) if n > 0 => general.push(format!(
            "expected every input event to be dropped; {} left the filters",
            count_events(n)
        )),
        Some(false) if n == 0 => general.push(format!(
            "expected events to leave the filters; all {} were dropped",
            count_events(fed)
        )),
        _ => {}
    }
    let wanted = case.count.or_else(|| case.outputs.as_ref().map(Vec::len));
    if let Some(w) = wanted
        && w != n
    {
        general.push(format!(
            "expected {} to leave the filters, got {n}",
            count_events(w)
        ));
    }
    if n == 0 && !case.every.is_empty() && case.dropped != Some(true) && wanted.is_none() {
        general.push(format!(
            "all {} were dropped: nothing to check the expectations against",
            count_events(fed)
        ));
    }
    for (i, event) in events.iter().enumerate() {
        let checks = match &case.outputs {
            Some(list) => match list.get(i) {
                Some(c) => c,
                None => continue,
            },
            None => &case.every,
        };
        per_event[i] = check_event(event, checks, &case.file);
    }

    if general.is_empty() && per_event.iter().all(Vec::is_empty) {
        return None;
    }
    let mut r = String::new();
    let _ = writeln!(
        r,
        "---- {}: {} ({}) ----",
        pipeline.name,
        case.name,
        at(&case.file, case.mark)
    );
    for g in &general {
        let _ = writeln!(r, "  {g}");
    }
    for (i, (event, problems)) in events.iter().zip(&per_event).enumerate() {
        // With a problem of the whole case, every event is shown.
        if problems.is_empty() && general.is_empty() {
            continue;
        }
        let _ = writeln!(r, "event {} of {n}:", i + 1);
        for p in problems {
            r.push_str(p);
        }
        let _ = writeln!(r, "  the event as it left the filters:");
        for line in pretty(event).lines() {
            let _ = writeln!(r, "    {line}");
        }
    }
    Some(r)
}

fn count_events(n: usize) -> String {
    format!("{n} event{}", if n == 1 { "" } else { "s" })
}

fn at(file: &Path, mark: Mark) -> String {
    format!("{}:{mark}", file.display())
}

fn json(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The checks of one event that fail, each as indented lines.
fn check_event(event: &Event, checks: &Expectations, file: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for check in &checks.fields {
        let actual = event
            .get(&check.path)
            .and_then(|v| serde_json::to_value(v).ok());
        let mut diffs: Vec<Difference> = Vec::new();
        compare(
            &check.expected,
            actual.as_ref(),
            &check.path.to_string(),
            &mut diffs,
        );
        for d in diffs {
            let mut p = format!(
                "  {} ({})\n    expected: {}\n    actual:   {}\n",
                d.path,
                at(file, check.mark),
                json(&d.expected),
                d.actual.as_ref().map_or("(missing)".to_owned(), json)
            );
            if let Some(note) = d.actual.as_ref().and_then(|a| type_note(&d.expected, a)) {
                let _ = writeln!(p, "    note:     {note}");
            }
            problems.push(p);
        }
    }
    let tags: Vec<&str> = event.tags().collect();
    let tag_list = || format!("tags: {}", json(&serde_json::json!(tags)));
    for (tag, mark) in &checks.tags {
        if !event.has_tag(tag) {
            problems.push(format!(
                "  tag `{tag}` ({})\n    expected: present\n    actual:   missing ({})\n",
                at(file, *mark),
                tag_list()
            ));
        }
    }
    for (tag, mark) in &checks.absent_tags {
        if event.has_tag(tag) {
            problems.push(format!(
                "  tag `{tag}` ({})\n    expected: absent\n    actual:   present ({})\n",
                at(file, *mark),
                tag_list()
            ));
        }
    }
    for (path, mark) in &checks.absent {
        if let Some(v) = event.get(path) {
            let v = serde_json::to_value(v).unwrap_or_default();
            problems.push(format!(
                "  {path} ({})\n    expected: (absent)\n    actual:   {}\n",
                at(file, *mark),
                json(&v)
            ));
        }
    }
    problems
}

/// Explains a difference of type alone (`200` against `"200"`).
fn type_note(expected: &serde_json::Value, actual: &serde_json::Value) -> Option<String> {
    use serde_json::Value as J;
    let text = |v: &J| match v {
        J::String(s) => Some(s.clone()),
        J::Number(n) => Some(n.to_string()),
        J::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let kind = |v: &J| match v {
        J::String(_) => "text",
        J::Number(_) => "a number",
        J::Bool(_) => "a boolean",
        _ => "other",
    };
    if std::mem::discriminant(expected) == std::mem::discriminant(actual) {
        return None;
    }
    let (e, a) = (text(expected)?, text(actual)?);
    (e == a).then(|| {
        format!(
            "same text, but the field holds {} and the test expects {} (quote a YAML value to mean text)",
            kind(actual),
            kind(expected)
        )
    })
}

/// The event as pretty JSON, its metadata (never sent by outputs) under
/// `@metadata` at the end.
pub fn pretty(event: &Event) -> String {
    let mut fields = event.fields().clone();
    if !event.metadata().is_empty() {
        fields.insert(
            "@metadata".to_owned(),
            Value::Object(event.metadata().clone()),
        );
    }
    serde_json::to_string_pretty(&Value::Object(fields)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ComponentConfig, ConfigErrors};
    use crate::topology::{BuildContext, Filter, Verdict};

    /// Drops events whose message contains `DEBUG`.
    struct DropDebug;

    impl Filter for DropDebug {
        fn process(&self, event: &mut Event) -> Verdict {
            let debug = event
                .fields()
                .get("message")
                .and_then(Value::as_str)
                .is_some_and(|m| m.contains("DEBUG"));
            if debug {
                Verdict::Drop
            } else {
                Verdict::Applied
            }
        }
    }

    fn drop_debug(_: &ComponentConfig, _: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
        Ok(Box::new(DropDebug))
    }

    fn run(pipeline: &str, tests: &str) -> (i32, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.yml");
        std::fs::write(&p, pipeline).unwrap();
        std::fs::write(dir.path().join("p.test.yml"), tests).unwrap();
        let mut registry = crate::registry::standard();
        registry.filters.insert("drop_debug", drop_debug);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = test(&[p], &registry, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    const PIPELINE: &str =
        "inputs: [stdin: {}]\nfilters:\n  - drop_debug: {}\noutputs: [console: {}]\n";

    #[test]
    fn dropped_events_are_checked() {
        let (code, out, err) = run(
            PIPELINE,
            "- name: debug lines are dropped\n  input: x DEBUG y\n  dropped: true\n- name: others stay\n  lines: [a, b DEBUG, c]\n  count: 2\n  dropped: false\n- name: not dropped\n  input: x INFO y\n  dropped: true\n- name: all dropped\n  input: DEBUG\n  expect: {message: DEBUG}\n",
        );
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            out.contains("test p: debug lines are dropped ... ok"),
            "{out}"
        );
        assert!(out.contains("test p: others stay ... ok"), "{out}");
        assert!(
            out.contains("expected every input event to be dropped; 1 event left the filters"),
            "{out}"
        );
        assert!(
            out.contains("all 1 event were dropped: nothing to check the expectations against"),
            "{out}"
        );
        assert!(out.ends_with("\n2 passed, 2 failed\n"), "{out}");
    }

    #[test]
    fn a_type_difference_is_explained() {
        let (code, out, _) = run(
            PIPELINE,
            "- name: t\n  event: {n: 200, s: '1.1'}\n  expect: {n: '200', s: 1.1}\n",
        );
        assert_eq!(code, 1);
        assert!(
            out.contains(
                "note:     same text, but the field holds a number and the test expects text"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "note:     same text, but the field holds text and the test expects a number"
            ),
            "{out}"
        );
    }

    #[test]
    fn metadata_is_checked_and_shown() {
        let (code, out, _) = run(
            PIPELINE,
            "- name: t\n  event: {message: m, '@metadata': {id: 7}}\n  expect: {'[@metadata][id]': 8}\n",
        );
        assert_eq!(code, 1);
        assert!(out.contains("  [@metadata][id] ("), "{out}");
        assert!(out.contains("\"@metadata\": {\n        \"id\": 7"), "{out}");
    }
}
