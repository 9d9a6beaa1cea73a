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
//! On Elasticsearch, an ILM policy is installed first (`PUT
//! _ilm/policy/<name>`) and named in the template's settings
//! (`index.lifecycle.name`): a hot phase, and a delete phase if
//! `ilm_delete_after` is set. Daily indices roll over by name, so the
//! policy has no rollover action. OpenSearch has no ILM at all, which is
//! logged (its ISM is left to the user).
//!
//! An existing template or policy of the same name is kept unless
//! `template_overwrite` is set. A refused template or policy is logged and
//! does not stop delivery.

use super::backoff::Backoff;
use super::config::{IlmSetup, TemplateSetup};
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
    let Some(t) = template else {
        return info;
    };
    if info.as_ref().is_some_and(|i| !i.has_composable_templates()) {
        tracing::warn!(
            version = ?info.as_ref().map(|i| &i.version),
            "elasticsearch: composable index templates need Elasticsearch 7.8 or later; template not installed"
        );
        return info;
    }
    // ILM only where the cluster is known to be Elasticsearch.
    let ilm = match (&t.ilm, &info) {
        (Some(ilm), Some(i)) if !i.is_opensearch() => {
            install(
                transport,
                "ILM policy",
                &ilm.policy,
                &format!("/_ilm/policy/{}", ilm.policy),
                policy_body(ilm),
                t.overwrite,
            )
            .await;
            Some(ilm.policy.as_str())
        }
        (Some(_), Some(_)) => {
            tracing::info!(
                "elasticsearch: the cluster is OpenSearch: no ILM policy is set up (indices roll over by name; use ISM for retention)"
            );
            None
        }
        (Some(_), None) => {
            tracing::warn!("elasticsearch: unknown cluster version: no ILM policy is set up");
            None
        }
        (None, _) => None,
    };
    let path = format!("/_index_template/{}", t.name);
    install(
        transport,
        "index template",
        &t.name,
        &path,
        template_body(t, ilm),
        t.overwrite,
    )
    .await;
    info
}

/// Installs `body` at `path` (a `what` named `name`), unless one exists
/// and `overwrite` is off. Failures are logged: events are still sent.
async fn install(
    transport: &Transport,
    what: &str,
    name: &str,
    path: &str,
    body: Value,
    overwrite: bool,
) {
    if !overwrite {
        // GET rather than HEAD: Elasticsearch has no HEAD for ILM policies.
        match transport.request(Method::GET, path, None).await {
            Ok(r) if r.status.is_success() => {
                tracing::info!(
                    name,
                    "elasticsearch: {what} exists, kept (set template_overwrite to replace it)"
                );
                return;
            }
            Ok(r) if r.status.as_u16() == 404 => {}
            other => log_refusal(what, name, other),
        }
    }
    let body = Bytes::from(body.to_string());
    match transport.request(Method::PUT, path, Some(body)).await {
        Ok(r) if r.status.is_success() => {
            tracing::info!(name, "elasticsearch: {what} installed");
        }
        other => log_refusal(what, name, other),
    }
}

fn log_refusal(what: &str, name: &str, r: Result<Response, super::transport::TransportError>) {
    match r {
        Ok(r) => tracing::error!(
            name, status = %r.status, body = %r.body_excerpt(),
            "elasticsearch: cannot install the {what}; events are still sent"
        ),
        Err(e) => tracing::error!(
            name, error = %e,
            "elasticsearch: cannot install the {what}; events are still sent"
        ),
    }
}

/// The body of `PUT _ilm/policy/<name>`.
pub fn policy_body(ilm: &IlmSetup) -> Value {
    let mut phases = json!({
        "hot": {"min_age": "0ms", "actions": {"set_priority": {"priority": 100}}}
    });
    if let Some(after) = &ilm.delete_after {
        phases["delete"] = json!({"min_age": after, "actions": {"delete": {}}});
    }
    json!({"policy": {"_meta": {"managed_by": "ganymede"}, "phases": phases}})
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

/// The body of `PUT _index_template/<name>`, naming ILM policy `ilm` in
/// its settings if given.
pub fn template_body(t: &TemplateSetup, ilm: Option<&str>) -> Value {
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
    if let Some(policy) = ilm {
        body["template"]["settings"] = json!({"index.lifecycle.name": policy});
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
    use std::sync::{Arc, Mutex};

    #[test]
    fn template_maps_timestamp_and_ecs_fields() {
        let t = TemplateSetup {
            name: "jupiter-logs".into(),
            pattern: "jupiter-logs-*".into(),
            overwrite: false,
            data_stream: false,
            ilm: None,
        };
        let b = template_body(&t, None);
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
        assert!(b["template"].get("settings").is_none());
        let ds = template_body(
            &TemplateSetup {
                data_stream: true,
                ..t
            },
            Some("jupiter-logs"),
        );
        assert_eq!(ds["data_stream"], json!({}));
        assert_eq!(
            ds["template"]["settings"]["index.lifecycle.name"],
            "jupiter-logs"
        );
    }

    #[test]
    fn ilm_policy_has_a_hot_phase_and_deletes_when_asked() {
        let keep = policy_body(&IlmSetup {
            policy: "p".into(),
            delete_after: None,
        });
        let phases = &keep["policy"]["phases"];
        assert_eq!(phases["hot"]["actions"]["set_priority"]["priority"], 100);
        assert!(phases.get("delete").is_none());
        let delete = policy_body(&IlmSetup {
            policy: "p".into(),
            delete_after: Some("30d".into()),
        });
        let phase = &delete["policy"]["phases"]["delete"];
        assert_eq!(phase["min_age"], "30d");
        assert_eq!(phase["actions"], json!({"delete": {}}));
    }

    /// A stand-in for a cluster's set-up endpoints: answers `GET /` with
    /// `root`, 404 to other GETs, 200 to PUTs, and records every request.
    async fn fake_cluster(
        root: &'static str,
    ) -> (String, Arc<Mutex<Vec<(String, String, String)>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut conn = BufReader::new(socket);
                    loop {
                        let mut line = String::new();
                        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let method = parts.next().unwrap_or_default().to_owned();
                        let path = parts.next().unwrap_or_default().to_owned();
                        let mut length = 0;
                        loop {
                            let mut header = String::new();
                            conn.read_line(&mut header).await.unwrap();
                            if header.trim().is_empty() {
                                break;
                            }
                            if let Some((k, v)) = header.split_once(':')
                                && k.eq_ignore_ascii_case("content-length")
                            {
                                length = v.trim().parse().unwrap();
                            }
                        }
                        let mut body = vec![0; length];
                        conn.read_exact(&mut body).await.unwrap();
                        let (status, answer) = match (method.as_str(), path.as_str()) {
                            ("GET", "/") => ("200 OK", root),
                            ("GET", _) => ("404 Not Found", "{}"),
                            _ => ("200 OK", r#"{"acknowledged":true}"#),
                        };
                        log.lock()
                            .unwrap()
                            .push((method, path, String::from_utf8(body).unwrap()));
                        let reply = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        conn.get_mut().write_all(reply.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        (url, seen)
    }

    async fn set_up(root: &'static str) -> Vec<(String, String, String)> {
        let (url, seen) = fake_cluster(root).await;
        let transport = Transport::new(&super::super::transport::TransportOptions {
            hosts: vec![url],
            auth: None,
            tls: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            pool_size: 1,
            eviction_initial: Duration::from_millis(10),
            eviction_max: Duration::from_millis(10),
        })
        .unwrap();
        let t = TemplateSetup {
            name: "jupiter-logs".into(),
            pattern: "jupiter-logs-*".into(),
            overwrite: false,
            data_stream: false,
            ilm: Some(IlmSetup {
                policy: "jupiter-logs".into(),
                delete_after: Some("30d".into()),
            }),
        };
        let health = crate::observe::Health::new().component("p", "es");
        let retry = (Duration::from_millis(10), Duration::from_millis(10));
        run(&transport, Some(&t), &health, retry).await.unwrap();
        seen.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn on_elasticsearch_an_ilm_policy_is_installed_and_named_in_the_template() {
        let seen = set_up(r#"{"version":{"number":"8.15.0"}}"#).await;
        let requests: Vec<(&str, &str)> = (seen.iter())
            .map(|(m, p, _)| (m.as_str(), p.as_str()))
            .collect();
        assert_eq!(
            requests,
            [
                ("GET", "/"),
                ("GET", "/_ilm/policy/jupiter-logs"),
                ("PUT", "/_ilm/policy/jupiter-logs"),
                ("GET", "/_index_template/jupiter-logs"),
                ("PUT", "/_index_template/jupiter-logs"),
            ]
        );
        let policy: Value = serde_json::from_str(&seen[2].2).unwrap();
        assert_eq!(policy["policy"]["phases"]["delete"]["min_age"], "30d");
        let template: Value = serde_json::from_str(&seen[4].2).unwrap();
        assert_eq!(
            template["template"]["settings"]["index.lifecycle.name"],
            "jupiter-logs"
        );
    }

    #[tokio::test]
    async fn on_opensearch_no_ilm_policy_is_installed() {
        let seen = set_up(r#"{"version":{"distribution":"opensearch","number":"2.19.6"}}"#).await;
        assert!(seen.iter().all(|(_, p, _)| !p.contains("_ilm")), "{seen:?}");
        let (_, _, body) = seen.last().unwrap();
        let template: Value = serde_json::from_str(body).unwrap();
        assert_eq!(template["index_patterns"][0], "jupiter-logs-*");
        assert!(template["template"].get("settings").is_none());
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
