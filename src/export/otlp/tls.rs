//! TLS of the OTLP/HTTP exports: a private CA bundle that the collector's
//! certificate must chain to, and a client certificate and key for
//! collectors that require one (mutual TLS). The files are PEM; they are
//! read and checked once, when the exporter is built (at startup and on a
//! reload), never on a request: a missing file, a file without a
//! certificate, a key that does not match its certificate is an error that
//! names the file, not a failure of every export later.
//!
//! With a CA bundle, only its certificates are trusted (as the OpenTelemetry
//! SDKs do with `OTEL_EXPORTER_OTLP_CERTIFICATE`); without one, the Mozilla
//! roots built into the binary are.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use ureq::tls::{Certificate, ClientCert, PemItem, RootCerts, TlsConfig};

/// The TLS files of one OTLP exporter, as configured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsFiles {
    /// PEM bundle of the CAs that may sign the collector's certificate.
    pub certificate: Option<PathBuf>,
    /// PEM certificate chain presented to the collector (leaf first).
    pub client_certificate: Option<PathBuf>,
    /// PEM private key of `client_certificate` (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
}

/// A TLS file that cannot be used.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsError {
    /// Which setting: `certificate`, `client_certificate` or `client_key`.
    pub key: &'static str,
    /// What is wrong, starting with the file's path.
    pub reason: String,
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl std::error::Error for TlsError {}

impl TlsFiles {
    /// Reads and checks the files; the TLS settings of a ureq agent. With no
    /// file set, ureq's defaults (the built-in public roots).
    pub fn load(&self) -> Result<TlsConfig, TlsError> {
        let mut tls = TlsConfig::builder();
        if let Some(path) = &self.certificate {
            let roots = read_ca_bundle(path).map_err(|reason| TlsError {
                key: "certificate",
                reason,
            })?;
            tls = tls.root_certs(RootCerts::from(roots));
        }
        match (&self.client_certificate, &self.client_key) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(TlsError {
                    key: "client_key",
                    reason: "missing: a client_certificate needs its client_key".into(),
                });
            }
            (None, Some(_)) => {
                return Err(TlsError {
                    key: "client_certificate",
                    reason: "missing: a client_key needs its client_certificate".into(),
                });
            }
            (Some(cert_path), Some(key_path)) => {
                let chain = read_pem(cert_path, "client_certificate", |item| match item {
                    PemItem::Certificate(c) => Some(c),
                    _ => None,
                })?;
                let key_pem = read_file(key_path, "client_key")?;
                let key = pem_items(&key_pem, key_path, "client_key", |item| match item {
                    PemItem::PrivateKey(k) => Some(k),
                    _ => None,
                })?
                .swap_remove(0);
                check_key_matches(&chain, &key_pem).map_err(|why| TlsError {
                    key: "client_key",
                    reason: format!(
                        "{}: {why} (certificate {})",
                        key_path.display(),
                        cert_path.display()
                    ),
                })?;
                tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
            }
        }
        Ok(tls.build())
    }
}

/// The CA certificates of the PEM bundle at `path`, each a valid X.509
/// certificate; an error naming the file when it cannot be read or holds none.
fn read_ca_bundle(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let certs = read_pem(path, "certificate", |item| match item {
        PemItem::Certificate(c) => Some(c),
        _ => None,
    })
    .map_err(|e| e.reason)?;
    let mut store = rustls::RootCertStore::empty();
    for (i, c) in certs.iter().enumerate() {
        store
            .add(CertificateDer::from(c.der().to_vec()))
            .map_err(|e| {
                format!(
                    "{}: certificate {} of the bundle is not a usable CA certificate ({e})",
                    path.display(),
                    i + 1
                )
            })?;
    }
    Ok(certs)
}

/// The items of the PEM file at `path` that `pick` keeps; an error (as
/// setting `key`) when the file cannot be read, is not PEM, or has none.
fn read_pem<T>(
    path: &Path,
    key: &'static str,
    pick: impl Fn(PemItem<'static>) -> Option<T>,
) -> Result<Vec<T>, TlsError> {
    pem_items(&read_file(path, key)?, path, key, pick)
}

/// Largest TLS file read: a CA bundle of every public root is about 250 KB.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// The bytes of the regular file at `path` (setting `key`), at most
/// [`MAX_FILE_BYTES`]: a device, a FIFO or a huge file is refused, not read
/// forever.
fn read_file(path: &Path, key: &'static str) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let fault = |why: String| TlsError {
        key,
        reason: format!("{}: {why}", path.display()),
    };
    let file = std::fs::File::open(path).map_err(|e| fault(format!("cannot read: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| fault(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(fault("is not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fault(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fault(format!(
            "is larger than {} MiB: not a PEM file",
            MAX_FILE_BYTES >> 20
        )));
    }
    Ok(bytes)
}

/// The items of `pem` (read from `path`, setting `key`) that `pick` keeps; at
/// least one.
fn pem_items<T>(
    pem: &[u8],
    path: &Path,
    key: &'static str,
    pick: impl Fn(PemItem<'static>) -> Option<T>,
) -> Result<Vec<T>, TlsError> {
    let fault = |why: String| TlsError {
        key,
        reason: format!("{}: {why}", path.display()),
    };
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        let item = item.map_err(|e| fault(format!("is not valid PEM: {e}")))?;
        out.extend(pick(item));
    }
    if out.is_empty() {
        let what = if key == "client_key" {
            "private key"
        } else {
            "certificate"
        };
        return Err(fault(format!("holds no PEM {what}")));
    }
    Ok(out)
}

/// Checks that the private key in `key_pem` belongs to the first
/// certificate of `chain` and that rustls can sign with it (ureq would panic
/// on the first request otherwise).
fn check_key_matches(chain: &[Certificate<'static>], key_pem: &[u8]) -> Result<(), String> {
    let chain: Vec<CertificateDer<'static>> = chain
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    let key_der = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_client_auth_cert(chain, key_der)
        .map(|_| ())
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                "is not the private key of the client certificate".to_string()
            }
            other => format!("cannot be used with the client certificate ({other})"),
        })
}

/// What a TLS failure of a request means for the operator, if `e` is one: an
/// untrusted collector certificate, or a handshake the collector refused
/// (usually a missing or unknown client certificate).
pub fn explain_failure(e: &ureq::Error) -> Option<String> {
    let tls = match e {
        ureq::Error::Rustls(t) => t,
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>()?,
        _ => return None,
    };
    Some(match tls {
        rustls::Error::InvalidCertificate(why) => format!(
            "the collector's certificate was not trusted ({why:?}): check the CA bundle \
             (certificate, OTEL_EXPORTER_OTLP_CERTIFICATE) and the endpoint's host name"
        ),
        rustls::Error::AlertReceived(alert) => format!(
            "the collector refused the TLS handshake ({alert:?}): it may require a client \
             certificate it trusts (client_certificate and client_key)"
        ),
        other => format!("TLS failed: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_small_regular_files_are_refused_with_the_path() {
        let files = TlsFiles {
            certificate: Some("/dev/zero".into()),
            ..TlsFiles::default()
        };
        let err = files.load().expect_err("a device");
        assert_eq!(err.key, "certificate");
        assert!(
            err.reason.contains("/dev/zero: is not a regular file"),
            "{err}"
        );

        let dir = std::env::temp_dir().join(format!("ringside-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.pem");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_FILE_BYTES + 1)
            .unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        for (path, why) in [
            (&big, "is larger than 4 MiB"),
            (&empty, "holds no PEM certificate"),
        ] {
            let files = TlsFiles {
                certificate: Some(path.clone()),
                ..TlsFiles::default()
            };
            let err = files.load().expect_err(why);
            assert!(err.reason.contains(why), "{err}");
            assert!(err.reason.contains(&path.display().to_string()), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
