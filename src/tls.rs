//! TLS set-up shared by every component that speaks TLS (beats input and
//! output, Elasticsearch output): PEM loading, server and client configurations, and the
//! identity of a verified peer.
//!
//! Keys may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM. rustls with the
//! `ring` provider; TLS 1.2 and 1.3.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether a server asks clients for certificates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// No client certificate is requested.
    #[default]
    None,
    /// A certificate is requested and verified if sent.
    Optional,
    /// A verified certificate is required.
    Required,
}

/// `ssl:` of a TLS server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// Server certificate chain (PEM).
    pub certificate: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CAs that sign client certificates (PEM bundles).
    #[serde(default)]
    pub certificate_authorities: Vec<PathBuf>,
    #[serde(default)]
    pub client_authentication: ClientAuth,
}

/// `ssl:` of a TLS client.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// CAs that sign the server's certificate (default: none trusted).
    #[serde(default)]
    pub certificate_authorities: Vec<PathBuf>,
    /// Client certificate chain and key, for servers that require one.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// `full` (default) or `none` (accept any certificate: testing only).
    #[serde(default)]
    pub verification_mode: Verification,
    /// Name to verify instead of the host of the address.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// How a client checks the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    #[default]
    Full,
    None,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("invalid PEM in {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate found in {}", path.display()));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        format!(
            "cannot read a private key (PKCS#8, PKCS#1 or SEC1 PEM) from {}: {e}",
            path.display()
        )
    })
}

fn roots(paths: &[PathBuf]) -> Result<rustls::RootCertStore, String> {
    let mut store = rustls::RootCertStore::empty();
    for p in paths {
        for c in certs(p)? {
            store
                .add(c)
                .map_err(|e| format!("unusable CA certificate in {}: {e}", p.display()))?;
        }
    }
    Ok(store)
}

impl ServerTls {
    /// Builds the rustls configuration; errors name the file at fault.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match self.client_authentication {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => {
                if self.certificate_authorities.is_empty() {
                    return Err("client_authentication needs certificate_authorities".into());
                }
                let roots = Arc::new(roots(&self.certificate_authorities)?);
                let v =
                    rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider());
                let v = if auth == ClientAuth::Optional {
                    v.allow_unauthenticated()
                } else {
                    v
                };
                builder.with_client_cert_verifier(v.build().map_err(|e| e.to_string())?)
            }
        };
        let config = builder
            .with_single_cert(certs(&self.certificate)?, key(&self.key)?)
            .map_err(|e| format!("certificate and key do not work together: {e}"))?;
        Ok(Arc::new(config))
    }
}

impl ClientTls {
    /// Builds the rustls configuration; errors name the file at fault.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        let trust = match self.verification_mode {
            Verification::Full => Trust::Authorities(&self.certificate_authorities),
            Verification::None => Trust::AnyCertificate,
        };
        client_config(trust, self.certificate.as_deref(), self.key.as_deref())
            .map(Arc::new)
            .map_err(|e| e.message)
    }
}

/// What a client checks the server's certificate against.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// The CAs of these PEM bundles; none given, nothing is trusted.
    Authorities(&'a [PathBuf]),
    /// The CAs the operating system trusts.
    System,
    /// Any certificate: the session is encrypted but not authenticated.
    AnyCertificate,
}

/// The part of a client set-up an error is about, so that a component can
/// name the option under its own spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientPart {
    Authorities,
    SystemAuthorities,
    Certificate,
    Key,
    /// The certificate and key together (one without the other, or a
    /// mismatched pair).
    CertificateAndKey,
    /// Anything else (the protocol versions of the crypto provider).
    Setup,
}

/// Why a client configuration could not be built; `message` names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    pub part: ClientPart,
    pub message: String,
}

/// A client configuration from its parts, for components whose options are
/// not [`ClientTls`]. No ALPN protocols are set.
pub fn client_config(
    trust: Trust<'_>,
    certificate: Option<&Path>,
    key_file: Option<&Path>,
) -> Result<rustls::ClientConfig, ClientError> {
    let fail = |part| move |message| ClientError { part, message };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(ClientPart::Setup)(e.to_string()))?;
    let builder = match trust {
        Trust::Authorities(paths) => {
            builder.with_root_certificates(roots(paths).map_err(fail(ClientPart::Authorities))?)
        }
        Trust::System => {
            use hyper_rustls::ConfigBuilderExt;
            builder.with_native_roots().map_err(|e| {
                fail(ClientPart::SystemAuthorities)(format!(
                    "no trusted certificates found on this system ({e})"
                ))
            })?
        }
        Trust::AnyCertificate => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider()))),
    };
    match (certificate, key_file) {
        (Some(c), Some(k)) => {
            let chain = certs(c).map_err(fail(ClientPart::Certificate))?;
            let key = key(k).map_err(fail(ClientPart::Key))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                fail(ClientPart::CertificateAndKey)(format!(
                    "client certificate and key do not work together: {e}"
                ))
            })
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(fail(ClientPart::CertificateAndKey)(
            "`certificate` and `key` go together".into(),
        )),
    }
}

/// Accepts any server certificate (`verification_mode: none`, or
/// `tls.verify: false` of the Elasticsearch output); signatures are still
/// checked, so the session is encrypted, but not authenticated.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Who a verified client certificate names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerIdentity {
    /// The subject's distinguished name, e.g. `CN=app-01,O=Jupiter`.
    pub subject: String,
    /// DNS names, IP addresses, e-mail addresses and URIs of the SAN extension.
    pub sans: Vec<String>,
}

/// Reads the subject and SANs of a DER certificate.
pub fn peer_identity(cert: &CertificateDer<'_>) -> Option<PeerIdentity> {
    use x509_parser::extensions::GeneralName;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject().to_string();
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = parsed.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push((*d).to_owned()),
                GeneralName::RFC822Name(m) => sans.push((*m).to_owned()),
                GeneralName::URI(u) => sans.push((*u).to_owned()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
                    16 => {
                        let mut b = [0u8; 16];
                        b.copy_from_slice(ip);
                        sans.push(std::net::Ipv6Addr::from(b).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Some(PeerIdentity { subject, sans })
}
