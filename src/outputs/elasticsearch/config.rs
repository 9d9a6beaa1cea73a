//! The options of the `elasticsearch` output, as written in pipeline files,
//! and their compilation into what the runtime uses.
//!
//! Everything that can be checked without a server is checked here, at
//! build time, so that `ganymede check` reports a bad template, time zone,
//! certificate path or credential combination with its position.

use super::naming::{Action, DocumentId, Naming};
use super::transport::{Auth, TlsOptions, TransportOptions};
use crate::config::{ByteSize, ComponentConfig, ConfigErrors, Span};
use crate::expr::Template;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Options of the `elasticsearch` output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    /// Base URLs, tried round-robin (default `http://localhost:9200`). A
    /// missing port is 9200; a path is kept as a prefix (`https://h/es`).
    #[serde(default = "default_hosts")]
    pub hosts: Vec<String>,
    /// Target index, a sprintf template (default `ganymede-%{+YYYY.MM.dd}`).
    pub index: Option<String>,
    /// IANA time zone in which `%{+...}` dates of `index` are formatted
    /// (default UTC).
    pub index_timezone: Option<String>,
    /// Write to the data stream `type-dataset-namespace` with `create`.
    pub data_stream: Option<DataStreamConfig>,
    /// `index` (default) or `create`. Data streams and documents with an id
    /// always use `create`.
    pub action: Option<String>,
    /// Document id: a sprintf template, or `auto` for `[@metadata][_id]`.
    pub document_id: Option<String>,
    /// Ingest pipeline (sprintf).
    pub pipeline: Option<String>,
    /// Send a request once its body reaches this size (default 5MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// Send a request once it holds this many events (default 2000, near
    /// Filebeat's 1600: larger requests index no faster, and the events of
    /// every request in flight stay in memory until it is answered).
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// Longest wait before a partly filled request is sent (default 1s).
    #[serde(default = "default_linger")]
    pub linger: Span,
    /// Requests in flight at once (default 2).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// gzip level of request bodies, 0 (off) to 9 (default 1).
    #[serde(default = "default_compression_level")]
    pub compression_level: u32,
    /// Longest wait for one request's whole answer (default 60s).
    #[serde(default = "default_timeout")]
    pub timeout: Span,
    /// Longest wait for a TCP connection (default 10s).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: Span,
    /// First retry delay (default 1s); doubles per attempt, with jitter.
    #[serde(default = "default_retry_initial")]
    pub retry_initial: Span,
    /// Longest retry delay (default 60s).
    #[serde(default = "default_retry_max")]
    pub retry_max: Span,
    /// Retries before an event is dead-lettered (default: no limit).
    pub max_retries: Option<u32>,
    /// Basic authentication.
    pub user: Option<String>,
    pub password: Option<String>,
    /// `id:key` (encoded here) or the already base64-encoded credential.
    pub api_key: Option<String>,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// TLS for `https://` hosts.
    pub tls: Option<TlsConfig>,
    /// Install an index template for the target on start (default true).
    #[serde(default = "yes")]
    pub manage_template: bool,
    /// Name of that template (default: the index's literal prefix).
    pub template_name: Option<String>,
    /// Index pattern of that template (default: literal prefix + `*`).
    pub template_pattern: Option<String>,
    /// Replace a template (and ILM policy) of that name that already
    /// exists (default false).
    #[serde(default)]
    pub template_overwrite: bool,
    /// On Elasticsearch, install an ILM policy with the template and name
    /// it in the template's settings (default true). OpenSearch has no ILM.
    #[serde(default = "yes")]
    pub ilm_enabled: bool,
    /// Name of that policy (default: the template's name).
    pub ilm_policy: Option<String>,
    /// Delete indices this long after they were created, e.g. `30d`
    /// (default: keep them). Daily indices roll over by name, so the policy
    /// has no rollover.
    pub ilm_delete_after: Option<String>,
}

/// `data_stream: { type, dataset, namespace }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataStreamConfig {
    /// Default `logs`.
    #[serde(rename = "type", default = "default_ds_type")]
    pub kind: String,
    /// Default `generic`.
    #[serde(default = "default_ds_dataset")]
    pub dataset: String,
    /// Default `default`.
    #[serde(default = "default_ds_namespace")]
    pub namespace: String,
}

/// `tls: { ca_file, certificate, key, verify }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the authorities to trust (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain), with `key`.
    pub certificate: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key: Option<PathBuf>,
    /// Verify the server's certificate and name (default true).
    #[serde(default = "yes")]
    pub verify: bool,
}

fn default_hosts() -> Vec<String> {
    vec!["http://localhost:9200".to_owned()]
}
fn default_max_bytes() -> ByteSize {
    ByteSize(5 * 1024 * 1024)
}
fn default_max_events() -> usize {
    2000
}
fn default_linger() -> Span {
    Span::secs(1)
}
fn default_concurrency() -> usize {
    2
}
fn default_compression_level() -> u32 {
    1
}
fn default_timeout() -> Span {
    Span::secs(60)
}
fn default_connect_timeout() -> Span {
    Span::secs(10)
}
fn default_retry_initial() -> Span {
    Span::secs(1)
}
fn default_retry_max() -> Span {
    Span::secs(60)
}
fn yes() -> bool {
    true
}
fn default_ds_type() -> String {
    "logs".to_owned()
}
fn default_ds_dataset() -> String {
    "generic".to_owned()
}
fn default_ds_namespace() -> String {
    "default".to_owned()
}

/// The default target when neither `index` nor `data_stream` is given.
pub const DEFAULT_INDEX: &str = "ganymede-%{+YYYY.MM.dd}";

/// How requests are cut from the stream of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_events: usize,
    pub linger: Duration,
    pub concurrency: usize,
}

/// How failed requests and items are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub max_retries: Option<u32>,
}

/// What to install on start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSetup {
    pub name: String,
    pub pattern: String,
    pub overwrite: bool,
    pub data_stream: bool,
    /// The ILM policy to install with it on Elasticsearch.
    pub ilm: Option<IlmSetup>,
}

/// An ILM policy: a hot phase, and a delete phase if `delete_after` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IlmSetup {
    pub policy: String,
    /// An Elasticsearch time unit such as `30d`.
    pub delete_after: Option<String>,
}

/// Whether `text` is an Elasticsearch time value (`30d`, `12h`, `90m`).
fn is_time_value(text: &str) -> bool {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "d" | "h" | "m" | "s" | "ms")
}

/// The compiled options.
#[derive(Debug)]
pub struct Settings {
    pub naming: Naming,
    pub limits: Limits,
    pub retry: RetryPolicy,
    /// 0 = no compression.
    pub compression_level: u32,
    pub transport: TransportOptions,
    /// `None` when `manage_template` is off or no pattern can be derived.
    pub template: Option<TemplateSetup>,
}

impl ElasticsearchConfig {
    /// Checks and compiles the options; every problem found is reported.
    pub fn compile(self, c: &ComponentConfig) -> Result<Settings, ConfigErrors> {
        let mut errors = ConfigErrors::default();
        let mut err = |key: &str, msg: String| errors.push(c.option_error(key, msg));

        let template = |key: &str, text: &str, err: &mut dyn FnMut(&str, String)| {
            Template::parse(text)
                .map_err(|e| err(key, format!("invalid template `{text}`: {e}")))
                .ok()
        };

        // Target.
        let data_stream = self.data_stream.is_some();
        if data_stream && self.index.is_some() {
            err(
                "data_stream",
                "`index` and `data_stream` exclude each other: a data stream's name is \
                 `type-dataset-namespace`"
                    .to_owned(),
            );
        }
        let index_text = match &self.data_stream {
            Some(ds) => {
                for (name, value) in [("dataset", &ds.dataset), ("namespace", &ds.namespace)] {
                    if !value.contains("%{") && value.contains('-') {
                        err(
                            "data_stream",
                            format!("data_stream.{name} `{value}` must not contain `-`"),
                        );
                    }
                }
                format!("{}-{}-{}", ds.kind, ds.dataset, ds.namespace)
            }
            None => self
                .index
                .clone()
                .unwrap_or_else(|| DEFAULT_INDEX.to_owned()),
        };
        let index_key = if data_stream { "data_stream" } else { "index" };
        let index = template(index_key, &index_text, &mut err);
        let timezone = match &self.index_timezone {
            None => None,
            Some(name) => match name.parse::<chrono_tz::Tz>() {
                Ok(tz) => Some(tz),
                Err(_) => {
                    err(
                        "index_timezone",
                        format!(
                            "unknown time zone `{name}`: use an IANA name such as \
                             `Europe/Paris` or `UTC`"
                        ),
                    );
                    None
                }
            },
        };
        let action = match self.action.as_deref() {
            None | Some("index") if !data_stream => Action::Index,
            None | Some("create") => Action::Create,
            Some("index") => {
                err(
                    "action",
                    "data streams accept only `create`; remove `action`".to_owned(),
                );
                Action::Create
            }
            Some(other) => {
                err(
                    "action",
                    format!("unknown action `{other}`: use `index` or `create`"),
                );
                Action::Index
            }
        };
        let document_id = match self.document_id.as_deref() {
            None => None,
            Some("auto") => Some(DocumentId::Auto),
            Some(text) => template("document_id", text, &mut err).map(DocumentId::Template),
        };
        let pipeline = self
            .pipeline
            .as_deref()
            .and_then(|p| template("pipeline", p, &mut err));

        // Batching.
        if self.max_events == 0 {
            err("max_events", "must be at least 1".to_owned());
        }
        if self.max_bytes.0 == 0 {
            err("max_bytes", "must be at least 1 byte".to_owned());
        }
        if self.concurrency == 0 {
            err("concurrency", "must be at least 1".to_owned());
        }
        if self.compression_level > 9 {
            err(
                "compression_level",
                format!(
                    "{} is not a gzip level: use 0 (off) to 9",
                    self.compression_level
                ),
            );
        }
        if self.retry_initial.0.is_zero() {
            err("retry_initial", "must be more than 0".to_owned());
        }
        if self.retry_max < self.retry_initial {
            err(
                "retry_max",
                "must not be less than `retry_initial`".to_owned(),
            );
        }
        if self.timeout.0.is_zero() {
            err("timeout", "must be more than 0".to_owned());
        }
        if let Some(after) = &self.ilm_delete_after
            && !is_time_value(after)
        {
            err(
                "ilm_delete_after",
                format!("`{after}` is not a time such as `30d`, `12h` or `90m`"),
            );
        }

        let auth = self.auth(&mut err);

        // Hosts and TLS.
        if self.hosts.is_empty() {
            err("hosts", "give at least one host".to_owned());
        }
        let mut hosts = Vec::new();
        for h in &self.hosts {
            match super::transport::normalise_host(h) {
                Ok(base) => hosts.push(base),
                Err(msg) => err("hosts", msg),
            }
        }
        let tls = self.tls.clone().map(|t| TlsOptions {
            ca_file: t.ca_file,
            certificate: t.certificate,
            key: t.key,
            verify: t.verify,
        });
        if let Some(t) = &tls
            && t.certificate.is_some() != t.key.is_some()
        {
            err(
                "tls",
                "`tls.certificate` and `tls.key` go together".to_owned(),
            );
        }

        let template_setup = self.template_setup(&index_text, data_stream);

        let transport = TransportOptions {
            hosts,
            auth,
            tls,
            timeout: self.timeout.0,
            connect_timeout: self.connect_timeout.0,
            pool_size: self.concurrency.max(1),
            eviction_initial: self.retry_initial.0,
            eviction_max: self.retry_max.0,
        };
        let (Some(index), true) = (index, errors.is_empty()) else {
            return Err(errors);
        };
        Ok(Settings {
            naming: Naming {
                index,
                timezone,
                action,
                document_id,
                pipeline,
            },
            limits: Limits {
                max_bytes: usize::try_from(self.max_bytes.0).unwrap_or(usize::MAX),
                max_events: self.max_events.max(1),
                linger: self.linger.0,
                concurrency: self.concurrency.max(1),
            },
            retry: RetryPolicy {
                initial: self.retry_initial.0,
                max: self.retry_max.0.max(self.retry_initial.0),
                max_retries: self.max_retries,
            },
            compression_level: self.compression_level.min(9),
            transport,
            template: template_setup,
        })
    }

    /// The credentials: one scheme at most.
    fn auth(&self, err: &mut dyn FnMut(&str, String)) -> Option<Auth> {
        match (
            &self.user,
            &self.password,
            &self.api_key,
            &self.bearer_token,
        ) {
            (None, None, None, None) => None,
            (Some(u), Some(p), None, None) => Some(Auth::Basic {
                user: u.clone(),
                password: p.clone(),
            }),
            (Some(_), None, None, None) => {
                err("user", "`user` needs `password`".to_owned());
                None
            }
            (None, Some(_), None, None) => {
                err("password", "`password` needs `user`".to_owned());
                None
            }
            (None, None, Some(k), None) => Some(Auth::ApiKey(k.clone())),
            (None, None, None, Some(t)) => Some(Auth::Bearer(t.clone())),
            _ => {
                err(
                    "user",
                    "give one of `user`/`password`, `api_key` or `bearer_token`".to_owned(),
                );
                None
            }
        }
    }

    /// The template to install for the target `index_text`, if any.
    fn template_setup(&self, index_text: &str, data_stream: bool) -> Option<TemplateSetup> {
        if !self.manage_template {
            return None;
        }
        let Some(pattern) = self
            .template_pattern
            .clone()
            .or_else(|| pattern_of(index_text))
        else {
            tracing::warn!(
                index = index_text,
                "elasticsearch: the index name starts with a field reference, so no index \
                 template can be derived; set template_pattern to have one installed"
            );
            return None;
        };
        let name = self.template_name.clone().unwrap_or_else(|| {
            pattern
                .trim_end_matches('*')
                .trim_end_matches(['-', '_', '.'])
                .to_owned()
        });
        let ilm = self.ilm_enabled.then(|| IlmSetup {
            policy: self.ilm_policy.clone().unwrap_or_else(|| name.clone()),
            delete_after: self.ilm_delete_after.clone(),
        });
        Some(TemplateSetup {
            name,
            pattern,
            overwrite: self.template_overwrite,
            data_stream,
            ilm,
        })
    }
}

/// The index pattern a template needs for `index`: its literal prefix
/// followed by `*`; `None` when the name starts with a reference.
pub fn pattern_of(index: &str) -> Option<String> {
    let prefix = match index.find("%{") {
        Some(i) => &index[..i],
        None => return Some(index.to_owned()),
    };
    if prefix.is_empty() {
        None
    } else {
        Some(format!("{prefix}*"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ilm_ages_are_elasticsearch_time_values() {
        for ok in ["30d", "12h", "90m", "45s", "500ms"] {
            assert!(is_time_value(ok), "{ok}");
        }
        for bad in ["", "d", "30", "30 d", "30days", "-1d", "1.5d"] {
            assert!(!is_time_value(bad), "{bad}");
        }
    }

    #[test]
    fn template_pattern_is_the_literal_prefix() {
        assert_eq!(
            pattern_of("jupiter-logs-%{+YYYY.MM.dd}").as_deref(),
            Some("jupiter-logs-*")
        );
        assert_eq!(pattern_of("fixed").as_deref(), Some("fixed"));
        assert_eq!(pattern_of("%{[service]}-logs"), None);
    }
}
