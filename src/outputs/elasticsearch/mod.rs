//! `elasticsearch`: writes events with the bulk API into daily indices or a
//! data stream, on Elasticsearch or OpenSearch.
//!
//! ```yaml
//! outputs:
//!   - elasticsearch:
//!       hosts: ["https://es1:9200", "https://es2:9200"]
//!       index: "jupiter-logs-%{+YYYY.MM.dd}"   # day of each event's @timestamp, UTC
//!       # index_timezone: Europe/Paris         # roll over at that zone's midnight
//!       # data_stream: { type: logs, dataset: jupiter, namespace: prod }
//!       # document_id: "%{[request_id]}"       # or `auto`: [@metadata][_id]
//!       user: ganymede
//!       password: "${ES_PASSWORD}"
//!       tls: { ca_file: /etc/ganymede/ca.pem }
//! ```
//!
//! How it fits together, one module per concern:
//!
//! - [`config`]: the options and their checks (all reported at build time).
//! - [`naming`]: index, action, id and ingest pipeline of each event.
//! - [`bulk`]: events serialised straight into the NDJSON request body.
//! - [`buffers`]: request bodies kept for reuse.
//! - [`transport`]: pooled keep-alive HTTP(S) over round-robin hosts.
//! - [`response`]: the `errors:false` fast path and per-item verdicts.
//! - [`writer`]: batching, concurrency, retries, receipts.
//! - [`dead_letter`]: where permanently refused events go.
//! - [`doc_id`]: the ids sources set for `document_id: auto`.
//! - [`setup`]: `GET /` and the index template, once on start.
//!
//! Delivery is at least once. A batch's receipt resolves only when each of
//! its events is written (2xx), known to be written already (409 on a
//! `create` with an id), or in the dead-letter file (400, 404 and other
//! permanent refusals; rejected). Items answered 429 or 5xx are re-sent
//! alone, with exponential backoff and jitter, without limit unless
//! `max_retries` is set; failed requests (connection errors, timeouts,
//! 429, 5xx, 401/403) are re-sent whole; a 413 splits the request in
//! halves. Refused credentials turn `/ready` to 503 until a request
//! succeeds again.
//!
//! Replays without duplicates: with `document_id`, each event is sent as
//! `create` with that id, and a 409 counts as delivered. `auto` takes the
//! id from `[@metadata][_id]`, which sources that know an event's identity
//! set (the file input: file identity and line offset; the beats input:
//! the event as sent; see [`doc_id`]); an event without one gets a
//! server-generated id.

pub mod backoff;
pub mod buffers;
pub mod bulk;
pub mod config;
pub mod dead_letter;
pub mod doc_id;
pub mod naming;
pub mod response;
pub mod setup;
pub mod transport;
pub mod writer;

use crate::config::{ComponentConfig, ConfigErrors};
use crate::topology::{BoxFuture, BuildContext, Output, OutputContext, Prepare};
pub use config::ElasticsearchConfig;
use std::sync::Arc;
use writer::{Counters, Writer};

/// Builds the output from its options. Reads TLS files; connects nowhere.
pub fn build(c: &ComponentConfig, ctx: &BuildContext) -> Result<Box<dyn Output>, ConfigErrors> {
    Ok(Box::new(ElasticsearchOutput::new(c, ctx)?))
}

/// Writes to Elasticsearch or OpenSearch.
pub struct ElasticsearchOutput {
    writer: Writer,
}

impl ElasticsearchOutput {
    /// The output for the options of `c`.
    pub fn new(c: &ComponentConfig, ctx: &BuildContext) -> Result<Self, ConfigErrors> {
        let config: ElasticsearchConfig = c.parse_options()?;
        let settings = config.compile(c)?;
        let transport = transport::Transport::new(&settings.transport)
            .map_err(|e| c.option_error(if e.contains("tls.") { "tls" } else { "hosts" }, e))?;
        let labels = [
            ("pipeline", ctx.pipeline.as_str()),
            ("component", c.id.as_str()),
        ];
        let counters = Counters {
            duplicates: ctx.metrics.counter(
                "ganymede_elasticsearch_duplicates_total",
                "Documents already present (409 on create with an id), counted as delivered.",
                &labels,
            ),
            retried: ctx.metrics.counter(
                "ganymede_elasticsearch_retried_events_total",
                "Events sent again after a failed request or a 429/5xx item.",
                &labels,
            ),
            requests: ctx.metrics.counter(
                "ganymede_elasticsearch_requests_total",
                "Bulk requests answered by the cluster.",
                &labels,
            ),
        };
        Ok(ElasticsearchOutput {
            writer: Writer {
                preparer: Arc::new(bulk::Preparer::new(settings.naming)),
                limits: settings.limits,
                retry: settings.retry,
                compression_level: settings.compression_level,
                transport,
                template: settings.template,
                counters,
            },
        })
    }

    /// The counters this output keeps beyond the standard ones.
    pub fn counters(&self) -> Counters {
        self.writer.counters.clone()
    }
}

impl Output for ElasticsearchOutput {
    fn run(self: Box<Self>, ctx: OutputContext) -> BoxFuture<anyhow::Result<()>> {
        Box::pin(writer::run(self.writer, ctx))
    }

    fn preparer(&self) -> Option<Arc<dyn Prepare>> {
        Some(self.writer.preparer.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::config::Settings;
    use super::naming::Action;
    use super::*;
    use crate::config::PipelineConfig;
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::Duration;

    fn component(options: &str) -> ComponentConfig {
        let text = format!(
            "inputs: [generator: {{lines: [x]}}]\noutputs:\n  - elasticsearch:\n{}",
            options
                .lines()
                .map(|l| format!("      {l}\n"))
                .collect::<String>()
        );
        let text = if options.is_empty() {
            "inputs: [generator: {lines: [x]}]\noutputs:\n  - elasticsearch: {}\n".to_owned()
        } else {
            text
        };
        let mut p = PipelineConfig::from_text(Path::new("t.yml"), &text, &HashMap::new())
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        p.outputs.remove(0)
    }

    fn compile(options: &str) -> Result<Settings, ConfigErrors> {
        let c = component(options);
        c.parse_options::<ElasticsearchConfig>()?.compile(&c)
    }

    fn error(options: &str) -> String {
        compile(options).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let s = compile("").unwrap();
        assert_eq!(s.naming.index.source(), "ganymede-%{+YYYY.MM.dd}");
        assert_eq!(s.naming.action, Action::Index);
        assert_eq!(s.limits.max_bytes, 5 * 1024 * 1024);
        assert_eq!(s.limits.max_events, 2000);
        assert_eq!(s.limits.linger, Duration::from_secs(1));
        assert_eq!(s.limits.concurrency, 2);
        assert_eq!(s.compression_level, 1);
        assert_eq!(s.retry.initial, Duration::from_secs(1));
        assert_eq!(s.retry.max, Duration::from_secs(60));
        assert_eq!(s.retry.max_retries, None);
        assert_eq!(s.transport.hosts, ["http://localhost:9200"]);
        let t = s.template.unwrap();
        assert_eq!(
            (t.name.as_str(), t.pattern.as_str()),
            ("ganymede", "ganymede-*")
        );
        assert!(!t.overwrite && !t.data_stream);
    }

    #[test]
    fn data_streams_use_create_and_their_own_name() {
        let s = compile("data_stream: { dataset: jupiter }").unwrap();
        assert_eq!(s.naming.index.source(), "logs-jupiter-default");
        assert_eq!(s.naming.action, Action::Create);
        let t = s.template.unwrap();
        assert!(t.data_stream);
        assert_eq!(t.pattern, "logs-jupiter-default");
        assert!(error("data_stream: {}\nindex: x").contains("exclude each other"));
        assert!(error("data_stream: {}\naction: index").contains("only `create`"));
        assert!(error("data_stream: { dataset: a-b }").contains("must not contain `-`"));
    }

    #[test]
    fn invalid_options_are_reported_with_their_key() {
        let cases = [
            (
                "index: \"x-%{+YYYY.qq}\"",
                "outputs[0].elasticsearch.index",
                "invalid template",
            ),
            (
                "index_timezone: Mars/Olympus",
                "index_timezone",
                "unknown time zone",
            ),
            ("action: upsert", "action", "use `index` or `create`"),
            ("compression_level: 11", "compression_level", "0 (off) to 9"),
            ("concurrency: 0", "concurrency", "at least 1"),
            ("user: elastic", "user", "needs `password`"),
            ("api_key: a:b\nbearer_token: t", "user", "give one of"),
            ("hosts: [\"ftp://x\"]", "hosts", "http://"),
            (
                "retry_initial: 10s\nretry_max: 1s",
                "retry_max",
                "retry_initial",
            ),
            ("tls: { certificate: /c.pem }", "tls", "go together"),
            ("linger: soon", "linger", "duration"),
            (
                "ilm_delete_after: 30days",
                "ilm_delete_after",
                "such as `30d`",
            ),
            ("hots: []", "elasticsearch", "hosts"),
        ];
        for (options, key, message) in cases {
            let e = compile(options).unwrap_err();
            let e = e.iter().next().unwrap();
            assert!(e.key.ends_with(key), "{options}: key {}", e.key);
            assert!(e.to_string().contains(message), "{options}: {e}");
        }
    }

    #[test]
    fn tls_files_are_read_at_build_time() {
        let c = component("hosts: [\"https://es:9200\"]\ntls: { ca_file: /nonexistent/ca.pem }");
        let e = build(&c, &BuildContext::for_tests("t")).err().unwrap();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn document_ids_and_templates() {
        let s = compile("document_id: auto\nmanage_template: false").unwrap();
        assert!(matches!(
            s.naming.document_id,
            Some(naming::DocumentId::Auto)
        ));
        assert!(s.template.is_none());
        let s = compile("index: \"%{[svc]}-logs\"").unwrap();
        assert!(
            s.template.is_none(),
            "no literal prefix: no pattern to derive"
        );
        let s =
            compile("index: \"%{[svc]}-logs\"\ntemplate_pattern: \"*-logs\"\ntemplate_name: logs")
                .unwrap();
        assert_eq!(s.template.unwrap().pattern, "*-logs");
    }

    #[test]
    fn ilm_follows_the_template_unless_turned_off() {
        let t = compile("index: \"jupiter-logs-%{+YYYY.MM.dd}\"")
            .unwrap()
            .template
            .unwrap();
        let ilm = t.ilm.unwrap();
        assert_eq!(
            (ilm.policy.as_str(), ilm.delete_after),
            ("jupiter-logs", None)
        );
        let t = compile("ilm_policy: logs-30d\nilm_delete_after: 30d")
            .unwrap()
            .template
            .unwrap();
        let ilm = t.ilm.unwrap();
        assert_eq!(ilm.policy, "logs-30d");
        assert_eq!(ilm.delete_after.as_deref(), Some("30d"));
        let t = compile("ilm_enabled: false").unwrap().template.unwrap();
        assert!(t.ilm.is_none());
    }
}
