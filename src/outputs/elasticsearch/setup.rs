//! What happens once on start, before the first bulk request: learn what
//! the cluster is (`GET /`) and install the index template.
//!
//! The template is composable (`PUT _index_template/<name>`, Elasticsearch
//! 7.8+ and OpenSearch 1+), priority 200 so that it wins over built-in
//! ones, and maps `@timestamp` as `date`, `message` as `text`, every other
//! string as `keyword` and a few common ECS fields explicitly, so that
//! Kibana and OpenSearch Dashboards can use the indices as they are. For a
//! data stream target it also declares `data_stream: {}` (OpenSearch has
//! no built-in `logs-*-*` template, so a data stream needs one).
//!
//! An existing template of the same name is kept unless
//! `template_overwrite` is set. Index lifecycle policies are not managed
//! (indices roll over by name, daily); OpenSearch has no ILM at all, which
//! is logged. A refused template is logged and does not stop delivery.

use super::backoff::Backoff;
use super::config::TemplateSetup;
use super::transport::{Response, Transport};
use super::writer::FAILURES_BEFORE_UNHEALTHY;
use crate::observe::ComponentHealth;
use bytes::Bytes;
use hyper::Method;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// What `GET /` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `elasticsearch` or `opensearch`.
    pub distribution: String,
    pub version: String,
}

impl ClusterInfo {
    fn from_body(body: &[u8]) -> Option<ClusterInfo> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let version = v.get("version")?;
        Some(ClusterInfo {
            distribution: version
                .get("distribution")
                .and_then(Value::as_str)
                .unwrap_or("elasticsearch")
                .to_owned(),
            version: version.get("number")?.as_str()?.to_owned(),
        })
    }

    fn is_opensearch(&self) -> bool {
        self.distribution == "opensearch"
    }

    /// Composable templates exist from Elasticsearch 7.8 on.
    fn has_composable_templates(&self) -> bool {
        if self.is_opensearch() {
            return true;
        }
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let major = parts.next().unwrap_or(0);
        let minor = parts.next().unwrap_or(0);
        (major, minor) >= (7, 8)
    }
}

/// Learns the cluster and installs the template. Retries until the
/// cluster answers (the caller stops it on abort).
pub async fn run(
    transport: &Transport,
    template: Option<&TemplateSetup>,
    health: &ComponentHealth,
    retry: (Duration, Duration),
) -> Option<ClusterInfo> {
    let mut backoff = Backoff::new(retry.0, retry.1);
    let mut failures = 0;
    let root = loop {
        match transport.request(Method::GET, "/", None).await {
            Ok(r) if r.status.is_success() => break r,
            Ok(r) if matches!(r.status.as_u16(), 401 | 403) => {
                let why = format!(
                    "{} refused the credentials ({}): check user/password, api_key or bearer_token",
                    r.host, r.status
                );
                tracing::error!(body = %r.body_excerpt(), "elasticsearch: {why}");
                health.failing(why);
            }
            Ok(r) if r.status.is_server_error() => {
                tracing::warn!(host = %r.host, status = %r.status, "elasticsearch: cluster not ready");
                failures += 1;
                if failures >= FAILURES_BEFORE_UNHEALTHY {
                    health.failing(format!("{} answered {}", r.host, r.status));
                }
            }
            Ok(r) => {
                // A proxy or an unusual server: carry on without details.
                tracing::warn!(host = %r.host, status = %r.status, "elasticsearch: unexpected answer to GET /");
                break r;
            }
            Err(e) => {
                tracing::warn!(error = %e, "elasticsearch: cannot reach the cluster; retrying");
                failures += 1;
                if failures >= FAILURES_BEFORE_UNHEALTHY {
                    health.failing(format!("cannot reach Elasticsearch: {e}"));
                }
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    };
    health.healthy();
    let info = ClusterInfo::from_body(&root.body);
    match &info {
        Some(i) => {
            tracing::info!(distribution = %i.distribution, version = %i.version, host = %root.host, "elasticsearch: connected")
        }
        None => tracing::info!(host = %root.host, "elasticsearch: connected (unknown version)"),
    }
    if info.as_ref().is_some_and(ClusterInfo::is_opensearch) {
        tracing::info!(
            "elasticsearch: the cluster is OpenSearch: no ILM policy is set up (indices roll over by name; use ISM for retention)"
        );
    }
    if let Some(t) = template {
        if info.as_ref().is_some_and(|i| !i.has_composable_templates()) {
            tracing::warn!(
                version = ?info.as_ref().map(|i| &i.version),
                "elasticsearch: composable index templates need Elasticsearch 7.8 or later; template not installed"
            );
        } else {
            install_template(transport, t).await;
        }
    }
    info
}

async fn install_template(transport: &Transport, t: &TemplateSetup) {
    let path = format!("/_index_template/{}", t.name);
    if !t.overwrite {
        match transport.request(Method::HEAD, &path, None).await {
            Ok(r) if r.status.is_success() => {
                tracing::info!(template = %t.name, "elasticsearch: index template exists, kept (set template_overwrite to replace it)");
                return;
            }
            Ok(r) if r.status.as_u16() == 404 => {}
            other => log_refusal(&t.name, other),
        }
    }
    let body = Bytes::from(template_body(t).to_string());
    match transport.request(Method::PUT, &path, Some(body)).await {
        Ok(r) if r.status.is_success() => {
            tracing::info!(template = %t.name, pattern = %t.pattern, "elasticsearch: index template installed");
        }
        other => log_refusal(&t.name, other),
    }
}

fn log_refusal(name: &str, r: Result<Response, super::transport::TransportError>) {
    match r {
        Ok(r) => tracing::error!(
            template = %name, status = %r.status, body = %r.body_excerpt(),
            "elasticsearch: cannot install the index template; events are still sent, with dynamic mappings"
        ),
        Err(e) => tracing::error!(
            template = %name, error = %e,
            "elasticsearch: cannot install the index template; events are still sent, with dynamic mappings"
        ),
    }
}

/// ECS fields given an explicit type.
const KEYWORDS: &[&str] = &[
    "log.level",
    "log.logger",
    "log.file.path",
    "host.name",
    "host.hostname",
    "service.name",
    "event.dataset",
    "event.module",
    "agent.type",
    "agent.version",
    "agent.name",
    "ecs.version",
    "error.type",
    "tags",
];
const TEXTS: &[&str] = &["message", "error.message", "event.original"];
const LONGS: &[&str] = &[
    "log.offset",
    "http.response.status_code",
    "http.response.body.bytes",
];

/// The body of `PUT _index_template/<name>`.
pub fn template_body(t: &TemplateSetup) -> Value {
    let mut props = Map::new();
    insert(&mut props, "@timestamp", json!({"type": "date"}));
    for f in KEYWORDS {
        insert(
            &mut props,
            f,
            json!({"type": "keyword", "ignore_above": 1024}),
        );
    }
    for f in TEXTS {
        insert(&mut props, f, json!({"type": "text"}));
    }
    for f in LONGS {
        insert(&mut props, f, json!({"type": "long"}));
    }
    let mut body = json!({
        "index_patterns": [t.pattern],
        "priority": 200,
        "_meta": {"managed_by": "ganymede"},
        "template": {
            "mappings": {
                "dynamic_templates": [{
                    "strings_as_keyword": {
                        "match_mapping_type": "string",
                        "mapping": {"type": "keyword", "ignore_above": 1024}
                    }
                }],
                "properties": props
            }
        }
    });
    if t.data_stream {
        body["data_stream"] = json!({});
    }
    body
}

/// Inserts a dotted field into nested `properties`.
fn insert(props: &mut Map<String, Value>, dotted: &str, mapping: Value) {
    match dotted.split_once('.') {
        None => {
            props.insert(dotted.to_owned(), mapping);
        }
        Some((head, rest)) => {
            let entry = props
                .entry(head.to_owned())
                .or_insert_with(|| json!({"properties": {}}));
            if let Some(Value::Object(inner)) = entry.get_mut("properties") {
                insert(inner, rest, mapping);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_maps_timestamp_and_ecs_fields() {
        let t = TemplateSetup {
            name: "jupiter-logs".into(),
            pattern: "jupiter-logs-*".into(),
            overwrite: false,
            data_stream: false,
        };
        let b = template_body(&t);
        assert_eq!(b["index_patterns"][0], "jupiter-logs-*");
        assert_eq!(b["priority"], 200);
        let p = &b["template"]["mappings"]["properties"];
        assert_eq!(p["@timestamp"]["type"], "date");
        assert_eq!(p["message"]["type"], "text");
        assert_eq!(p["log"]["properties"]["level"]["type"], "keyword");
        assert_eq!(p["log"]["properties"]["offset"]["type"], "long");
        assert_eq!(
            p["http"]["properties"]["response"]["properties"]["status_code"]["type"],
            "long"
        );
        assert!(b.get("data_stream").is_none());
        let ds = template_body(&TemplateSetup {
            data_stream: true,
            ..t
        });
        assert_eq!(ds["data_stream"], json!({}));
    }

    #[test]
    fn cluster_info_and_versions() {
        let os = ClusterInfo::from_body(
            br#"{"version":{"distribution":"opensearch","number":"2.19.6"}}"#,
        )
        .unwrap();
        assert!(os.is_opensearch() && os.has_composable_templates());
        let es = |v: &str| ClusterInfo {
            distribution: "elasticsearch".into(),
            version: v.into(),
        };
        assert!(es("8.15.0").has_composable_templates());
        assert!(es("7.8.0").has_composable_templates());
        assert!(!es("7.7.1").has_composable_templates());
        assert!(ClusterInfo::from_body(b"{}").is_none());
    }
}
