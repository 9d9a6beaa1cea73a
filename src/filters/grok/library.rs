//! The built-in pattern library, in two sets: `legacy` (Logstash's
//! original field names, `ecs_compatibility: disabled`) and `ecs_v1`
//! (fields named after the Elastic Common Schema, the default).
//!
//! Each family is a text file with one `NAME regex` definition per line,
//! `#` comments and blank lines allowed, embedded at build time. The core
//! definitions that both sets share live in `patterns/common/`.

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Which pattern set a filter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EcsMode {
    /// Legacy Logstash field names (`clientip`, `verb`, `response`…).
    Disabled,
    /// ECS field names (`[source][address]`, `[http][request][method]`…).
    #[default]
    #[serde(alias = "v8")]
    V1,
}

impl EcsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EcsMode::Disabled => "disabled",
            EcsMode::V1 => "v1",
        }
    }
}

macro_rules! family {
    ($family:literal, $path:literal) => {
        ($family, include_str!(concat!("patterns/", $path)))
    };
}

/// (family, file text) for the shared core.
const COMMON: &[(&str, &str)] = &[family!("grok-patterns", "common/grok-patterns.txt")];

const LEGACY: &[(&str, &str)] = &[
    family!("grok-patterns", "legacy/grok-patterns.txt"),
    family!("httpd", "legacy/httpd.txt"),
    family!("linux-syslog", "legacy/linux-syslog.txt"),
    family!("java", "legacy/java.txt"),
    family!("haproxy", "legacy/haproxy.txt"),
    family!("aws", "legacy/aws.txt"),
    family!("bacula", "legacy/bacula.txt"),
    family!("bind", "legacy/bind.txt"),
    family!("bro", "legacy/bro.txt"),
    family!("exim", "legacy/exim.txt"),
    family!("firewalls", "legacy/firewalls.txt"),
    family!("junos", "legacy/junos.txt"),
    family!("maven", "legacy/maven.txt"),
    family!("mcollective", "legacy/mcollective.txt"),
    family!("mongodb", "legacy/mongodb.txt"),
    family!("nagios", "legacy/nagios.txt"),
    family!("postgresql", "legacy/postgresql.txt"),
    family!("rails", "legacy/rails.txt"),
    family!("redis", "legacy/redis.txt"),
    family!("ruby", "legacy/ruby.txt"),
    family!("squid", "legacy/squid.txt"),
];

const ECS_V1: &[(&str, &str)] = &[
    family!("grok-patterns", "ecs_v1/grok-patterns.txt"),
    family!("httpd", "ecs_v1/httpd.txt"),
    family!("linux-syslog", "ecs_v1/linux-syslog.txt"),
    family!("java", "ecs_v1/java.txt"),
    family!("haproxy", "ecs_v1/haproxy.txt"),
    family!("aws", "ecs_v1/aws.txt"),
    family!("bacula", "ecs_v1/bacula.txt"),
    family!("bind", "ecs_v1/bind.txt"),
    family!("bro", "ecs_v1/bro.txt"),
    family!("exim", "ecs_v1/exim.txt"),
    family!("firewalls", "ecs_v1/firewalls.txt"),
    family!("junos", "ecs_v1/junos.txt"),
    family!("maven", "ecs_v1/maven.txt"),
    family!("mcollective", "ecs_v1/mcollective.txt"),
    family!("mongodb", "ecs_v1/mongodb.txt"),
    family!("nagios", "ecs_v1/nagios.txt"),
    family!("postgresql", "ecs_v1/postgresql.txt"),
    family!("rails", "ecs_v1/rails.txt"),
    family!("redis", "ecs_v1/redis.txt"),
    family!("ruby", "ecs_v1/ruby.txt"),
    family!("squid", "ecs_v1/squid.txt"),
    family!("zeek", "ecs_v1/zeek.txt"),
];

/// One parsed set.
struct Library {
    defs: HashMap<&'static str, &'static str>,
    /// (family, names in file order).
    families: Vec<(&'static str, Vec<&'static str>)>,
}

fn build(files: &[&[(&'static str, &'static str)]]) -> Library {
    let mut defs = HashMap::new();
    let mut families: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for set in files {
        for (family, text) in set.iter() {
            let slot = match families.iter().position(|(f, _)| f == family) {
                Some(p) => p,
                None => {
                    families.push((family, Vec::new()));
                    families.len() - 1
                }
            };
            for (name, def) in definitions(text) {
                if defs.insert(name, def).is_none() {
                    families[slot].1.push(name);
                }
            }
        }
    }
    Library { defs, families }
}

fn library(ecs: EcsMode) -> &'static Library {
    static LEGACY_LIB: OnceLock<Library> = OnceLock::new();
    static ECS_LIB: OnceLock<Library> = OnceLock::new();
    match ecs {
        EcsMode::Disabled => LEGACY_LIB.get_or_init(|| build(&[COMMON, LEGACY])),
        EcsMode::V1 => ECS_LIB.get_or_init(|| build(&[COMMON, ECS_V1])),
    }
}

/// The definitions in a patterns text: one `NAME regex` per line, split at
/// the first run of spaces or tabs; blank lines and `#` comments skipped;
/// lines without a definition are skipped too, as Logstash does.
pub fn definitions(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None;
        }
        let end = trimmed.find([' ', '\t'])?;
        let name = &trimmed[..end];
        let def = trimmed[end..].trim_start_matches([' ', '\t']);
        let valid = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        (valid && !def.is_empty()).then_some((name, def))
    })
}

/// The library definition of `name`, if any.
pub fn definition(ecs: EcsMode, name: &str) -> Option<&'static str> {
    library(ecs).defs.get(name).copied()
}

/// Every pattern name of a set, sorted.
pub fn pattern_names(ecs: EcsMode) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = library(ecs).defs.keys().copied().collect();
    names.sort_unstable();
    names
}

/// The families of a set and their names, in library order.
pub fn families(ecs: EcsMode) -> Vec<(&'static str, Vec<&'static str>)> {
    library(ecs).families.clone()
}
