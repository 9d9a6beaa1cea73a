//! HTTP to the cluster: hosts, connections, TLS, credentials, timeouts.
//!
//! Built on hyper-util's pooled client (already the HTTP stack of the
//! binary's own endpoints) and the rustls set-up of `crate::tls`, rather
//! than reqwest, whose URL and IDNA machinery would add much compile time
//! for one POST: the pool keeps connections alive per host, and the TLS
//! set-up takes a CA file (else the system's CAs), a client certificate,
//! or (on request) no verification at all.
//!
//! Hosts are used round-robin. A host that fails to answer (connection
//! error, timeout, 502/503/504) is set aside for a while that doubles with
//! each consecutive failure, from `retry_initial` up to `retry_max`; when
//! every host is set aside, the one that comes back first is used anyway.

use crate::filters::fingerprint;
use crate::tls::{self, ClientPart, Trust};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::ClientConfig;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Credentials sent with every request.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    Basic {
        user: String,
        password: String,
    },
    /// `id:key`, or the base64 encoding of it.
    ApiKey(String),
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.write_str(match self {
            Auth::Basic { .. } => "Basic(…)",
            Auth::ApiKey(_) => "ApiKey(…)",
            Auth::Bearer(_) => "Bearer(…)",
        })
    }
}

impl Auth {
    /// The `Authorization` header value.
    pub fn header(&self) -> Result<HeaderValue, String> {
        let text = match self {
            Auth::Basic { user, password } => {
                format!(
                    "Basic {}",
                    fingerprint::base64(format!("{user}:{password}").as_bytes())
                )
            }
            Auth::ApiKey(k) if k.contains(':') => {
                format!("ApiKey {}", fingerprint::base64(k.as_bytes()))
            }
            Auth::ApiKey(k) => format!("ApiKey {k}"),
            Auth::Bearer(t) => format!("Bearer {t}"),
        };
        let mut v = HeaderValue::from_str(&text)
            .map_err(|_| "credentials must be printable ASCII without line breaks".to_owned())?;
        v.set_sensitive(true);
        Ok(v)
    }
}

/// TLS options for `https://` hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    pub ca_file: Option<PathBuf>,
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub verify: bool,
}

/// Everything the transport needs.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// Normalised base URLs (`scheme://host:port[/prefix]`).
    pub hosts: Vec<String>,
    pub auth: Option<Auth>,
    pub tls: Option<TlsOptions>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Idle connections kept per host.
    pub pool_size: usize,
    pub eviction_initial: Duration,
    pub eviction_max: Duration,
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub body: Bytes,
    /// The host that answered.
    pub host: Arc<str>,
}

impl Response {
    /// The start of the body as text, for log lines.
    pub fn body_excerpt(&self) -> String {
        let n = self.body.len().min(512);
        String::from_utf8_lossy(&self.body[..n]).into_owned()
    }
}

/// A request that got no answer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{host}: no answer within {timeout:?}")]
    Timeout { host: Arc<str>, timeout: Duration },
    #[error("{host}: {message}")]
    Failed { host: Arc<str>, message: String },
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

struct Host {
    base: Arc<str>,
    state: Mutex<HostState>,
}

#[derive(Default)]
struct HostState {
    failures: u32,
    evicted_until: Option<Instant>,
}

/// A pooled HTTP client over a list of hosts.
pub struct Transport {
    client: HttpClient,
    hosts: Vec<Host>,
    next: AtomicUsize,
    auth: Option<HeaderValue>,
    timeout: Duration,
    eviction_initial: Duration,
    eviction_max: Duration,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field(
                "hosts",
                &self.hosts.iter().map(|h| &h.base).collect::<Vec<_>>(),
            )
            .finish()
    }
}

const AGENT: &str = concat!("ganymede/", env!("CARGO_PKG_VERSION"));

impl Transport {
    /// Reads the TLS files and sets up the client. Needs no runtime and
    /// makes no connection.
    pub fn new(opts: &TransportOptions) -> Result<Transport, String> {
        let any_https = opts.hosts.iter().any(|h| h.starts_with("https://"));
        let tls = tls_config(opts.tls.as_ref(), any_https)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(opts.connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(opts.pool_size)
            .build(connector);
        let auth = opts.auth.as_ref().map(Auth::header).transpose()?;
        Ok(Transport {
            client,
            hosts: opts
                .hosts
                .iter()
                .map(|h| Host {
                    base: h.as_str().into(),
                    state: Mutex::new(HostState::default()),
                })
                .collect(),
            next: AtomicUsize::new(0),
            auth,
            timeout: opts.timeout,
            eviction_initial: opts.eviction_initial,
            eviction_max: opts.eviction_max,
        })
    }

    /// `POST <host>/_bulk?<query>` with an NDJSON body, gzip-compressed or
    /// not.
    pub async fn bulk(
        &self,
        query: &str,
        body: Bytes,
        gzip: bool,
    ) -> Result<Response, TransportError> {
        let path = format!("/_bulk?{query}");
        let mut extra = vec![(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )];
        if gzip {
            extra.push((CONTENT_ENCODING, HeaderValue::from_static("gzip")));
        }
        self.send(Method::POST, &path, body, &extra).await
    }

    /// Any other request, with an optional JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        json: Option<Bytes>,
    ) -> Result<Response, TransportError> {
        let mut extra = Vec::new();
        if json.is_some() {
            extra.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        }
        self.send(method, path, json.unwrap_or_default(), &extra)
            .await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        extra: &[(hyper::header::HeaderName, HeaderValue)],
    ) -> Result<Response, TransportError> {
        let i = self.pick();
        let host = self.hosts[i].base.clone();
        let failed = |message: String| TransportError::Failed {
            host: host.clone(),
            message,
        };
        let uri: Uri = format!("{host}{path}")
            .parse()
            .map_err(|e| failed(format!("invalid URL: {e}")))?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(USER_AGENT, AGENT);
        if let Some(a) = &self.auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        for (k, v) in extra {
            req = req.header(k, v.clone());
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| failed(e.to_string()))?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| failed(error_chain(&e)))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| failed(format!("reading the answer: {}", error_chain(&e))))?
                .to_bytes();
            Ok(Response {
                status,
                body,
                host: host.clone(),
            })
        };
        let result = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout {
                host: host.clone(),
                timeout: self.timeout,
            }),
        };
        match &result {
            Ok(r) if !matches!(r.status.as_u16(), 502..=504) => self.succeeded(i),
            _ => self.failed(i),
        }
        result
    }

    /// The next host in turn that is not set aside.
    fn pick(&self) -> usize {
        let n = self.hosts.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = Instant::now();
        let mut soonest = (start, None::<Instant>);
        for k in 0..n {
            let i = (start + k) % n;
            match self.hosts[i].lock().evicted_until {
                Some(until) if until > now => {
                    if soonest.1.is_none_or(|s| until < s) {
                        soonest = (i, Some(until));
                    }
                }
                _ => return i,
            }
        }
        soonest.0
    }

    fn failed(&self, i: usize) {
        let host = &self.hosts[i];
        let mut s = host.lock();
        let d = super::backoff::delay(self.eviction_initial, self.eviction_max, s.failures, 0.0);
        s.failures = s.failures.saturating_add(1);
        s.evicted_until = Some(Instant::now() + d);
        if self.hosts.len() > 1 {
            tracing::warn!(host = %host.base, set_aside_for = ?d, "elasticsearch: host set aside after a failure");
        }
    }

    fn succeeded(&self, i: usize) {
        let mut s = self.hosts[i].lock();
        if s.failures > 0 {
            *s = HostState::default();
        }
    }
}

impl Host {
    fn lock(&self) -> std::sync::MutexGuard<'_, HostState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An error and its causes, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

/// `host`, `host:port`, `http://host`, `https://host:port/prefix/` →
/// `scheme://host:port[/prefix]`.
pub fn normalise_host(text: &str) -> Result<String, String> {
    let t = text.trim().trim_end_matches('/');
    let with_scheme = if t.contains("://") {
        t.to_owned()
    } else {
        format!("http://{t}")
    };
    let uri: Uri = with_scheme
        .parse()
        .map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    let scheme = uri.scheme_str().unwrap_or("http");
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{text}`: use http:// or https://"));
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("`{text}` has no host"));
    };
    if authority.as_str().contains('@') {
        return Err(format!(
            "`{text}`: put credentials in `user`/`password`, not in the URL"
        ));
    }
    if uri.query().is_some() {
        return Err(format!("`{text}`: a host URL takes no query"));
    }
    let port = authority.port_u16().unwrap_or(9200);
    let path = uri.path().trim_end_matches('/');
    Ok(format!("{scheme}://{}:{port}{path}", authority.host()))
}

/// The client set-up of `src/tls.rs`, with errors naming this output's
/// `tls.*` options: the build step files an error that mentions `tls.` under
/// the `tls` option.
fn tls_config(opts: Option<&TlsOptions>, need_roots: bool) -> Result<ClientConfig, String> {
    let ca_file = opts.and_then(|o| o.ca_file.as_ref());
    let trust = if !opts.is_none_or(|o| o.verify) {
        Trust::AnyCertificate
    } else if let Some(ca) = ca_file {
        Trust::Authorities(std::slice::from_ref(ca))
    } else if need_roots {
        Trust::System
    } else {
        // Only http:// hosts: no CA is ever consulted.
        Trust::Authorities(&[])
    };
    // One without the other is refused when the options are read.
    let (certificate, key) = opts
        .and_then(|o| o.certificate.as_deref().zip(o.key.as_deref()))
        .unzip();
    tls::client_config(trust, certificate, key).map_err(|e| match e.part {
        ClientPart::Authorities => format!("tls.ca_file: {}", e.message),
        ClientPart::SystemAuthorities => format!("{}: set tls.ca_file", e.message),
        ClientPart::Certificate => format!("tls.certificate: {}", e.message),
        ClientPart::Key => format!("tls.key: {}", e.message),
        ClientPart::CertificateAndKey => format!("tls.certificate and tls.key: {}", e.message),
        ClientPart::Setup => format!("TLS set-up: {}", e.message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers() {
        let h = |a: Auth| a.header().unwrap().to_str().unwrap().to_owned();
        assert_eq!(
            h(Auth::Basic {
                user: "elastic".into(),
                password: "changeme".into()
            }),
            "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="
        );
        assert_eq!(h(Auth::ApiKey("id:key".into())), "ApiKey aWQ6a2V5");
        assert_eq!(h(Auth::ApiKey("aWQ6a2V5".into())), "ApiKey aWQ6a2V5");
        assert_eq!(h(Auth::Bearer("t0k".into())), "Bearer t0k");
        assert!(Auth::Bearer("a\nb".into()).header().is_err());
        assert_eq!(format!("{:?}", Auth::Bearer("t0k".into())), "Bearer(…)");
    }

    #[test]
    fn hosts_are_normalised() {
        let n = |t: &str| normalise_host(t);
        assert_eq!(n("localhost").unwrap(), "http://localhost:9200");
        assert_eq!(n("es1:9201").unwrap(), "http://es1:9201");
        assert_eq!(
            n("https://es.example.com/").unwrap(),
            "https://es.example.com:9200"
        );
        assert_eq!(
            n("https://es.example.com:443/es/").unwrap(),
            "https://es.example.com:443/es"
        );
        assert_eq!(n("http://[::1]:9200").unwrap(), "http://[::1]:9200");
        assert!(n("ftp://x").unwrap_err().contains("http://"));
        assert!(n("http://u:p@x").unwrap_err().contains("user"));
        assert!(n("http://x/?a=b").unwrap_err().contains("query"));
    }

    fn transport(hosts: &[&str]) -> Transport {
        Transport::new(&TransportOptions {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            auth: None,
            tls: None,
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            pool_size: 1,
            eviction_initial: Duration::from_secs(10),
            eviction_max: Duration::from_secs(60),
        })
        .unwrap()
    }

    #[test]
    fn round_robin_skips_hosts_set_aside() {
        let t = transport(&["http://a:1", "http://b:1", "http://c:1"]);
        let picks: Vec<usize> = (0..6).map(|_| t.pick()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        t.failed(1);
        let picks: Vec<usize> = (0..4).map(|_| t.pick()).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        t.succeeded(1);
        assert!((0..3).map(|_| t.pick()).any(|i| i == 1));
        // Everything set aside: the host that comes back first is used.
        t.failed(0);
        t.failed(0);
        t.failed(2);
        t.failed(2);
        t.failed(1);
        assert_eq!(t.pick(), 1);
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_naming_the_host() {
        // Port 9 on loopback: nothing listens there on a test machine.
        let t = transport(&["http://127.0.0.1:9"]);
        let e = t.request(Method::GET, "/", None).await.unwrap_err();
        assert!(e.to_string().starts_with("http://127.0.0.1:9: "), "{e}");
    }

    #[test]
    fn missing_tls_files_are_reported() {
        let opts = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            certificate: None,
            key: None,
            verify: true,
        };
        let e = tls_config(Some(&opts), true).unwrap_err();
        assert!(
            e.contains("tls.ca_file") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
        let insecure = TlsOptions {
            verify: false,
            ..opts.clone()
        };
        assert!(tls_config(Some(&insecure), true).is_ok());
        let client = TlsOptions {
            certificate: Some("/nonexistent/cert.pem".into()),
            key: Some("/nonexistent/key.pem".into()),
            ..insecure
        };
        let e = tls_config(Some(&client), true).unwrap_err();
        assert!(
            e.contains("tls.certificate") && e.contains("/nonexistent/cert.pem"),
            "{e}"
        );
    }
}
