//! The pipeline reference cannot drift from the code: every component type
//! the registry knows has a section, and every example in it is valid.

use ganymede::config::{ComponentConfig, PipelineConfig, Section};
use ganymede::observe::{Health, Metrics};
use ganymede::topology::{BuildContext, BuildOptions, build_pipeline};
use std::collections::HashMap;
use std::path::Path;

fn reference() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/pipelines.md")).unwrap()
}

fn yaml_blocks(doc: &str) -> Vec<String> {
    doc.split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_owned())
        .collect()
}

#[test]
fn every_component_has_a_section() {
    let doc = reference();
    let r = ganymede::registry::standard();
    let names = r
        .inputs
        .keys()
        .chain(r.filters.keys())
        .chain(r.outputs.keys());
    for name in names {
        assert!(
            doc.contains(&format!("\n### {name}\n")),
            "docs/pipelines.md lacks a `### {name}` section"
        );
    }
}

#[test]
fn every_component_example_builds() {
    let r = ganymede::registry::standard();
    let ctx = BuildContext::for_tests("docs");
    let mut checked = 0;
    for block in yaml_blocks(&reference()) {
        let section = ["inputs:", "filters:", "outputs:"]
            .into_iter()
            .find(|s| block.starts_with(s));
        let Some(section) = section else { continue };
        // Wrap the fragment into a whole pipeline around it.
        let mut text = block.clone();
        if section != "inputs:" {
            text.push_str("inputs: [generator: {lines: [x]}]\n");
        }
        if section != "outputs:" {
            text.push_str("outputs: [null: {}]\n");
        }
        let text = text.replace(
            "file: fixtures/",
            &format!("file: {}/fixtures/", env!("CARGO_MANIFEST_DIR")),
        );
        let cfg = PipelineConfig::from_text(Path::new("docs.yml"), &text, &HashMap::new())
            .unwrap_or_else(|e| panic!("example does not parse:\n{block}\n{e}"));
        let opts = BuildOptions {
            data_dir: ctx.data_dir.clone(),
            once: false,
            metrics: Metrics::new(),
            health: Health::new(),
        };
        if let Err(e) = build_pipeline(&cfg, &r, &opts) {
            // Examples may name files of a real installation (certificates
            // under /etc/ganymede): failing to read those is expected; any
            // other error (an unknown key, a bad value) is not.
            let only_missing_files = e.iter().all(|x| x.message.contains("/etc/ganymede/"));
            assert!(only_missing_files, "example does not build:\n{block}\n{e}");
        }
        let components: Vec<&ComponentConfig> = match section {
            "inputs:" => cfg.inputs.iter().collect(),
            "filters:" => cfg.filters.iter().collect(),
            _ => cfg.outputs.iter().collect(),
        };
        assert!(
            components
                .iter()
                .all(|c| c.section != Section::Inputs || section == "inputs:")
        );
        checked += components.len();
    }
    let r = ganymede::registry::standard();
    let total = r.inputs.len() + r.filters.len() + r.outputs.len();
    assert!(
        checked >= total,
        "only {checked} component examples for {total} components"
    );
}

/// docs/grok-patterns.md lists every library name; regenerate it with
/// `GANYMEDE_BLESS=1 cargo test --test docs_reference`.
#[test]
fn grok_pattern_list_is_complete() {
    use ganymede::filters::grok::{EcsMode, families};
    let mut doc = String::from(
        "# Grok pattern library\n\nEvery pattern name ganymede ships, by family. \
`ecs_compatibility: v1` (the default) uses the ECS set, `disabled` the legacy set.\n",
    );
    for (title, mode) in [
        ("ECS v1 set", EcsMode::V1),
        ("Legacy set", EcsMode::Disabled),
    ] {
        let fams = families(mode);
        let total: usize = fams.iter().map(|(_, n)| n.len()).sum();
        doc.push_str(&format!("\n## {title} ({total} names)\n"));
        for (family, names) in fams {
            doc.push_str(&format!("\n### {family}\n\n"));
            for n in names {
                doc.push_str(&format!("- `{n}`\n"));
            }
        }
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grok-patterns.md");
    if std::env::var_os("GANYMEDE_BLESS").is_some() {
        std::fs::write(path, &doc).unwrap();
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        current == doc,
        "docs/grok-patterns.md is out of date: run GANYMEDE_BLESS=1 cargo test --test docs_reference"
    );
}
