//! `fingerprint`: a consistent hash of one or more fields, as Logstash's
//! fingerprint filter computes it — typically a document id that makes a
//! re-sent event overwrite its first copy instead of duplicating it.
//!
//! ```yaml
//! filters:
//!   - fingerprint:
//!       source: [host, message]        # default: message
//!       concatenate_sources: true
//!       method: SHA256                 # default SHA1
//!       key: "${FINGERPRINT_KEY}"      # optional: HMAC
//!       target: "[@metadata][_id]"     # default [event][hash] (`fingerprint` without ECS)
//! ```
//!
//! Methods: `SHA1`, `SHA256`, `SHA384`, `SHA512`, `MD5` (hex, or base64
//! with `base64encode`; HMAC with `key`), `MURMUR3` (32-bit, a number),
//! `MURMUR3_128` (hex or base64), `IPV4_NETWORK` (`key` is the prefix
//! length), `PUNCTUATION` and `UUID` (random, not a hash).
//!
//! Values are hashed in Logstash's text form, so the same event gives the
//! same fingerprint in ganymede and in Logstash: strings as they are,
//! numbers as Ruby prints them, times as ISO 8601 with milliseconds.

mod hash;

pub use hash::{Digest, base64, hex, hmac_md5, md5, murmur3_32, murmur3_128, uuid_v4};

use crate::config::{ComponentConfig, ConfigErrors};
use crate::event::{Event, FieldPath, Value};
use crate::filters::mutate::{StringList, text};
use crate::topology::{BuildContext, Filter, Verdict};
use serde::Deserialize;
use std::net::Ipv4Addr;

/// `method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Method {
    #[serde(rename = "SHA1", alias = "sha1")]
    Sha1,
    #[serde(rename = "SHA256", alias = "sha256")]
    Sha256,
    #[serde(rename = "SHA384", alias = "sha384")]
    Sha384,
    #[serde(rename = "SHA512", alias = "sha512")]
    Sha512,
    #[serde(rename = "MD5", alias = "md5")]
    Md5,
    #[serde(rename = "MURMUR3", alias = "murmur3")]
    Murmur3,
    #[serde(rename = "MURMUR3_128", alias = "murmur3_128")]
    Murmur3_128,
    #[serde(rename = "IPV4_NETWORK", alias = "ipv4_network")]
    Ipv4Network,
    #[serde(rename = "PUNCTUATION", alias = "punctuation")]
    Punctuation,
    #[serde(rename = "UUID", alias = "uuid")]
    Uuid,
}

/// `ecs_compatibility`: only changes the default `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecs {
    Disabled,
    #[default]
    #[serde(alias = "v8")]
    V1,
}

/// Options of the `fingerprint` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingerprintConfig {
    #[serde(default = "default_source")]
    pub source: StringList,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default = "default_method")]
    pub method: Method,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub base64encode: bool,
    #[serde(default)]
    pub concatenate_sources: bool,
    #[serde(default)]
    pub concatenate_all_fields: bool,
    #[serde(default)]
    pub ecs_compatibility: Ecs,
}

fn default_source() -> StringList {
    StringList::one("message")
}

fn default_method() -> Method {
    Method::Sha1
}

/// What is computed from a value's text.
enum Compute {
    Digest {
        digest: Digest,
        key: Option<Vec<u8>>,
        base64: bool,
    },
    Murmur3,
    Murmur3_128 {
        base64: bool,
    },
    Ipv4Network(u32),
}

/// How sources are read.
enum Mode {
    /// Each source in turn (the last present one wins); a list is
    /// fingerprinted element by element.
    EachSource,
    /// `|name|value|name|value|` of the sources, sorted by name.
    Concatenated,
    /// `|name|value|…|` of every field of the event, sorted.
    AllFields,
}

pub fn build(c: &ComponentConfig, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigErrors> {
    let config: FingerprintConfig = c.parse_options()?;
    let mut errors = ConfigErrors::default();
    let mut sources = Vec::new();
    for s in &config.source.0 {
        match super::field_option(c, "source", s) {
            Ok(p) => sources.push((s.clone(), p)),
            Err(e) => errors.push(e),
        }
    }
    if config.source.0.is_empty() && !config.concatenate_all_fields {
        errors.push(c.option_error("source", "name at least one field"));
    }
    let target_text = config
        .target
        .as_deref()
        .unwrap_or(match config.ecs_compatibility {
            Ecs::V1 => "[event][hash]",
            Ecs::Disabled => "fingerprint",
        });
    let target = super::field_option(c, "target", target_text).map_err(|e| errors.push(e));
    let digest = |digest| {
        Some(Compute::Digest {
            digest,
            key: config.key.as_ref().map(|k| k.as_bytes().to_vec()),
            base64: config.base64encode,
        })
    };
    let compute = match config.method {
        Method::Sha1 => digest(Digest::Sha1),
        Method::Sha256 => digest(Digest::Sha256),
        Method::Sha384 => digest(Digest::Sha384),
        Method::Sha512 => digest(Digest::Sha512),
        Method::Md5 => digest(Digest::Md5),
        Method::Murmur3 => Some(Compute::Murmur3),
        Method::Murmur3_128 => Some(Compute::Murmur3_128 {
            base64: config.base64encode,
        }),
        Method::Ipv4Network => match config.key.as_deref().map(|k| k.trim().parse::<u32>()) {
            Some(Ok(bits)) if bits <= 32 => Some(Compute::Ipv4Network(bits)),
            _ => {
                errors.push(c.option_error(
                    "key",
                    "IPV4_NETWORK needs `key`: the prefix length, 0 to 32",
                ));
                None
            }
        },
        Method::Punctuation | Method::Uuid => None,
    };
    let Ok(target) = target else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut by_name = sources.clone();
    by_name.sort_by(|a, b| a.0.cmp(&b.0));
    let mode = if config.concatenate_all_fields {
        Mode::AllFields
    } else if config.concatenate_sources {
        Mode::Concatenated
    } else {
        Mode::EachSource
    };
    Ok(Box::new(FingerprintFilter {
        method: config.method,
        compute,
        sources: sources.into_iter().map(|(_, p)| p).collect(),
        by_name,
        mode,
        target,
    }))
}

/// Computes fingerprints.
pub struct FingerprintFilter {
    method: Method,
    /// `None` for `PUNCTUATION` and `UUID`.
    compute: Option<Compute>,
    /// The sources as written.
    sources: Vec<FieldPath>,
    /// The sources sorted by name, with their names.
    by_name: Vec<(String, FieldPath)>,
    mode: Mode,
    target: FieldPath,
}

/// A copy with object keys sorted at every depth, so that key order does
/// not change the fingerprint.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut pairs: Vec<(&crate::event::Key, &Value)> = m.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The text a value is hashed as.
fn hash_text(value: &Value) -> String {
    match value {
        Value::Object(_) | Value::Array(_) => text(&sorted(value)),
        other => text(other),
    }
}

/// Keeps punctuation and symbols (Unicode `P` and `S` categories).
fn punctuation(s: &str) -> String {
    use std::sync::OnceLock;
    static NOT_PUNCT: OnceLock<regex::Regex> = OnceLock::new();
    let re = NOT_PUNCT.get_or_init(|| regex::Regex::new(r"[^\p{P}\p{S}]").expect("a valid class"));
    re.replace_all(s, "").into_owned()
}

impl Compute {
    /// The fingerprint of one value; `None` when the method does not apply
    /// (an IPv4 network of something that is not an address).
    fn of(&self, value: &Value) -> Option<Value> {
        match self {
            Compute::Murmur3 => Some(Value::Integer(match value {
                Value::Integer(i) => murmur3_32(&i.to_le_bytes(), 0),
                other => murmur3_32(hash_text(other).as_bytes(), 0),
            } as i64)),
            _ => self.of_text(&hash_text(value)),
        }
    }

    fn of_text(&self, data: &str) -> Option<Value> {
        let encode = |bytes: &[u8], b64: bool| {
            Value::String(if b64 { base64(bytes) } else { hex(bytes) }.into())
        };
        match self {
            Compute::Digest {
                digest,
                key,
                base64,
            } => Some(encode(
                &digest.compute(key.as_deref(), data.as_bytes()),
                *base64,
            )),
            Compute::Murmur3 => Some(Value::Integer(murmur3_32(data.as_bytes(), 0) as i64)),
            Compute::Murmur3_128 { base64 } => {
                Some(encode(&murmur3_128(data.as_bytes(), 0), *base64))
            }
            Compute::Ipv4Network(bits) => {
                let ip: Ipv4Addr = data.trim().parse().ok()?;
                let mask = if *bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                Some(Value::String(
                    Ipv4Addr::from(u32::from(ip) & mask).to_string().into(),
                ))
            }
        }
    }
}

impl FingerprintFilter {
    fn concatenated(&self, event: &Event) -> String {
        let mut s = String::new();
        let mut push = |name: &str, value: Option<&Value>| {
            s.push('|');
            s.push_str(name);
            s.push('|');
            if let Some(v) = value {
                s.push_str(&hash_text(v));
            }
        };
        match &self.mode {
            Mode::Concatenated => {
                for (name, path) in &self.by_name {
                    push(name, event.get(path));
                }
            }
            Mode::AllFields => {
                let mut fields: Vec<(&crate::event::Key, &Value)> = event.fields().iter().collect();
                fields.sort_by(|a, b| a.0.cmp(b.0));
                for (name, value) in fields {
                    push(name, Some(value));
                }
            }
            Mode::EachSource => {}
        }
        s.push('|');
        s
    }
}

impl Filter for FingerprintFilter {
    fn process(&self, event: &mut Event) -> Verdict {
        let Some(compute) = &self.compute else {
            match self.method {
                Method::Uuid => event.set(&self.target, uuid_v4()),
                _ => {
                    // PUNCTUATION: by source name, the last present wins.
                    for (_, p) in &self.by_name {
                        if let Some(v) = event.get(p) {
                            let out = punctuation(&text(v));
                            event.set(&self.target, out);
                        }
                    }
                }
            }
            return Verdict::Applied;
        };
        if !matches!(self.mode, Mode::EachSource) {
            let data = self.concatenated(event);
            if let Some(v) = compute.of_text(&data) {
                event.set(&self.target, v);
            }
            return Verdict::Applied;
        }
        let mut result: Option<Value> = None;
        for p in &self.sources {
            let Some(value) = event.get(p) else {
                continue;
            };
            let fingerprint = match value {
                Value::Array(items) => Some(Value::Array(
                    items
                        .iter()
                        .map(|v| compute.of(v).unwrap_or(Value::Null))
                        .collect(),
                )),
                other => compute.of(other),
            };
            if fingerprint.is_some() {
                result = fingerprint;
            }
        }
        if let Some(v) = result {
            event.set(&self.target, v);
        }
        Verdict::Applied
    }
}

#[cfg(test)]
mod tests;
