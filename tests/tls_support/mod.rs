//! A private PKI and an https OTLP receiver for the TLS tests: a CA made
//! with rcgen that signs a server certificate for 127.0.0.1 and a client
//! certificate, an unrelated CA, and a receiver (rustls, on 127.0.0.1) that
//! requires a client certificate signed by the first CA.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::fake_otlp::{self, Reply, Request};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate and its key, in PEM.
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A CA that signs server and client certificates.
pub struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses) used as `usage`.
    pub fn sign(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Pem {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "ringside test");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// The test PKI, written under a directory: the collector's CA (which also
/// signs the client certificate), a server certificate for 127.0.0.1, a
/// client certificate, and an unrelated CA.
pub struct Pki {
    pub ca: PathBuf,
    pub wrong_ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub server: Pem,
    pub ca_pem: String,
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        let ca = Ca::new("ringside test CA");
        let wrong = Ca::new("some other CA");
        let server = ca.sign(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = ca.sign(&["sidecar.test"], ExtendedKeyUsagePurpose::ClientAuth);
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        Pki {
            ca: write("ca.pem", &ca.pem),
            wrong_ca: write("wrong-ca.pem", &wrong.pem),
            client_cert: write("client.pem", &client.cert),
            client_key: write("client-key.pem", &client.key),
            server,
            ca_pem: ca.pem,
        }
    }
}

/// An https OTLP receiver on 127.0.0.1 that requires a client certificate
/// signed by the test CA and answers every request with 200.
pub struct TlsReceiver {
    pub endpoint: String,
    requests: mpsc::Receiver<Request>,
}

impl TlsReceiver {
    pub fn start(pki: &Pki) -> TlsReceiver {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut clients = rustls::RootCertStore::empty();
        clients
            .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            clients.into(),
            provider.clone(),
        )
        .build()
        .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(pki.server.cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(pki.server.key.as_bytes()).unwrap(),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("https://{}/v1/traces", listener.local_addr().unwrap());
        let (tx, requests) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(tcp) = stream else { return };
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                // A failed handshake (untrusted or missing client
                // certificate) ends here: no request. rustls has sent its
                // alert; read what the client still sends (under TLS 1.3 it
                // sends its request before the server checked its
                // certificate) until it closes, so it reads the alert
                // rather than a reset connection.
                let Some(mut request) = fake_otlp::read_request(&mut tls) else {
                    let mut sink = [0u8; 4096];
                    while matches!(std::io::Read::read(&mut tls.sock, &mut sink), Ok(n) if n > 0) {}
                    continue;
                };
                request.answered = 200;
                if tx.send(request).is_err() {
                    return;
                }
                fake_otlp::answer(&mut tls, Reply::ok());
                tls.conn.send_close_notify();
                let _ = std::io::Write::flush(&mut tls);
            }
        });
        TlsReceiver { endpoint, requests }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.try_iter().collect()
    }
}
