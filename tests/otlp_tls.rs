//! OTLP/HTTP over TLS with a private CA and a client certificate (mutual
//! TLS), against an https receiver on 127.0.0.1 that requires a client
//! certificate. The CA, the server and the client certificates are made
//! here (rcgen). Through the sidecar: with the wrong CA, the export fails
//! with a log line that says the certificate was not trusted, and the spans
//! wait in the spool; with the right one, every span arrives. The files are
//! checked at startup: `check-config` names the bad setting (or variable),
//! the file and the reason.

mod common;
mod fake_otlp;
mod otlp_support;
mod tls_support;
#[path = "common/roles.rs"]
mod writer_roles;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use rcgen::ExtendedKeyUsagePurpose;
use ringside_agent::batch::SpoolCursor;
use ringside_agent::export::otlp::{OtlpHttpExporter, OtlpSettings, TlsFiles};
use ringside_agent::export::{ExportError, Exporter};
use tls_support::{Ca, Pki, TlsReceiver};

#[test]
fn role_tracer_writer() {
    if role().as_deref() == Some("tracer_writer") {
        writer_roles::tracer_writer();
    }
}

const SPANS: u64 = 2000;

fn config_file(tmp: &TempDir, endpoint: &str, ca: &Path, pki: &Pki) -> PathBuf {
    let path = tmp.join("ringside.toml");
    std::fs::write(
        &path,
        format!(
            "[retry]\ninitial_backoff_ms = 20\nmax_backoff_ms = 100\n\
             [[exporters]]\nkind = \"otlp\"\nendpoint = \"{endpoint}\"\ntimeout_ms = 5000\n\
             certificate = \"{}\"\nclient_certificate = \"{}\"\nclient_key = \"{}\"\n",
            ca.display(),
            pki.client_cert.display(),
            pki.client_key.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn spans_arrive_over_mutual_tls_and_wait_in_the_spool_while_the_ca_is_wrong() {
    let tmp = TempDir::new("otlp-tls");
    let pki = Pki::new(tmp.path());
    let receiver = TlsReceiver::start(&pki);
    let (rings, spool, out, log) = layout(&tmp);
    let (written, dropped) = run_tracer_writer("role_tracer_writer", &rings, 0, 1, SPANS);
    assert_eq!((written, dropped), (SPANS, 0), "the ring took every span");

    // The wrong CA: the collector's certificate is not trusted.
    let config = config_file(&tmp, &receiver.endpoint, &pki.wrong_ca, &pki);
    let args = ["--config", config.to_str().unwrap()];
    let mut sidecar = start_sidecar_env(&rings, &spool, &out, &log, &args, &[]);
    wait_for(
        "the untrusted certificate logged",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("certificate was not trusted")
        },
    );
    // Several attempts, each refused.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("certificate was not trusted"))
        .unwrap();
    assert!(line.contains("level=warn"), "{line}");
    assert!(line.contains("exporter=otlp"), "{line}");
    assert!(line.contains("UnknownIssuer"), "{line}");
    assert!(receiver.requests().is_empty(), "no request got through");
    // The JSONL exporter drained the rings, so every span is in the spool.
    assert_eq!(read_jsonl(&out).len() as u64, SPANS);

    // The right CA, same spool: the spans waiting there all arrive.
    let config = config_file(&tmp, &receiver.endpoint, &pki.ca, &pki);
    let args = ["--config", config.to_str().unwrap()];
    let mut sidecar = start_sidecar_env(&rings, &spool, &out, &log, &args, &[]);
    let mut ids: HashSet<Vec<u8>> = HashSet::new();
    wait_for("every span over TLS", Duration::from_secs(60), || {
        for r in receiver.requests() {
            ids.extend(r.span_ids());
        }
        ids.len() as u64 >= SPANS
    });
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
    assert_eq!(ids.len() as u64, SPANS);
}

#[test]
fn a_collector_requiring_a_client_certificate_refuses_an_exporter_without_one() {
    let tmp = TempDir::new("otlp-tls-noclient");
    let pki = Pki::new(tmp.path());
    let receiver = TlsReceiver::start(&pki);
    let mut settings = OtlpSettings::new(&receiver.endpoint);
    settings.tls = TlsFiles {
        certificate: Some(pki.ca.clone()),
        ..TlsFiles::default()
    };
    let mut exporter = OtlpHttpExporter::new(&settings).expect("valid settings");
    let cursor = SpoolCursor {
        segment: 1,
        offset: 0,
    };
    let batches = otlp_support::sample_batches();
    match exporter.export(&batches, cursor) {
        Err(ExportError::Retryable { reason, .. }) => {
            assert!(reason.contains("refused the TLS handshake"), "{reason}");
        }
        other => panic!("expected a retryable TLS failure, got {other:?}"),
    }
    // With its client certificate, the same exporter settings get through.
    settings.tls.client_certificate = Some(pki.client_cert.clone());
    settings.tls.client_key = Some(pki.client_key.clone());
    let mut exporter = OtlpHttpExporter::new(&settings).expect("valid settings");
    exporter
        .export(&batches, cursor)
        .expect("accepted over mutual TLS");
    assert_eq!(receiver.requests().len(), 1);
}

/// `ringside check-config` with `file` and the variables `env` (every other
/// OTLP TLS variable cleared): exit code and stderr.
fn check_config(file: &Path, env: &[(&str, &Path)]) -> (i32, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ringside"));
    cmd.arg("check-config").arg("--config").arg(file);
    for form in ["", "TRACES_"] {
        for v in [
            "ENDPOINT",
            "CERTIFICATE",
            "CLIENT_CERTIFICATE",
            "CLIENT_KEY",
        ] {
            cmd.env_remove(format!("OTEL_EXPORTER_OTLP_{form}{v}"));
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// File text, variables set, what the error must name.
type BadCase<'a> = (String, Vec<(&'a str, &'a Path)>, Vec<String>);

#[test]
fn check_config_names_the_tls_setting_the_file_and_the_reason() {
    let tmp = TempDir::new("otlp-tls-check");
    let pki = Pki::new(tmp.path());
    let other = Ca::new("other").sign(&["x"], ExtendedKeyUsagePurpose::ClientAuth);
    let other_key = tmp.join("other-key.pem");
    std::fs::write(&other_key, &other.key).unwrap();
    let missing = tmp.join("missing.pem");
    let file = |extra: &str| {
        let path = tmp.join("c.toml");
        std::fs::write(
            &path,
            format!(
                "[[exporters]]\nkind = \"otlp\"\nendpoint = \"https://127.0.0.1:4318/v1/traces\"\n{extra}"
            ),
        )
        .unwrap();
        path
    };
    let q = |p: &Path| format!("{:?}", p.display().to_string());

    let (code, _) = check_config(&file(&format!("certificate = {}\n", q(&pki.ca))), &[]);
    assert_eq!(code, 0, "a good CA bundle");

    // (file text, variables, what the error names)
    let cases: Vec<BadCase> = vec![
        (
            format!("certificate = {}\n", q(&missing)),
            vec![],
            vec![
                "exporters[0].certificate".into(),
                missing.display().to_string(),
                "cannot read".into(),
            ],
        ),
        (
            format!("certificate = {}\n", q(&pki.client_key)),
            vec![],
            vec![
                "exporters[0].certificate".into(),
                "holds no PEM certificate".into(),
            ],
        ),
        (
            format!("client_certificate = {}\n", q(&pki.client_cert)),
            vec![],
            vec!["exporters[0].client_key".into(), "missing".into()],
        ),
        (
            format!(
                "client_certificate = {}\nclient_key = {}\n",
                q(&pki.client_cert),
                q(&other_key)
            ),
            vec![],
            vec![
                "exporters[0].client_key".into(),
                other_key.display().to_string(),
                "is not the private key of the client certificate".into(),
            ],
        ),
        (
            String::new(),
            vec![("OTEL_EXPORTER_OTLP_CERTIFICATE", missing.as_path())],
            vec![
                "OTEL_EXPORTER_OTLP_CERTIFICATE".into(),
                missing.display().to_string(),
            ],
        ),
        (
            // The TRACES_ form wins: its (bad) file is the one used.
            String::new(),
            vec![
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.ca.as_path()),
                ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", missing.as_path()),
            ],
            vec!["OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE".into()],
        ),
        (
            String::new(),
            vec![(
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                pki.client_key.as_path(),
            )],
            vec!["client_certificate".into(), "missing".into()],
        ),
    ];
    for (text, env, wants) in cases {
        let (code, err) = check_config(&file(&text), &env);
        assert_eq!(code, 2, "{text} {env:?}: {err}");
        for want in wants {
            assert!(err.contains(&want), "{text} {env:?}: {want:?} not in {err}");
        }
    }
    // The TRACES_ form wins over a bad generic one, and a good pair from
    // variables is accepted.
    let (code, err) = check_config(
        &file(""),
        &[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", missing.as_path()),
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", pki.ca.as_path()),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                pki.client_cert.as_path(),
            ),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.client_key.as_path()),
        ],
    );
    assert_eq!(code, 0, "{err}");
}
