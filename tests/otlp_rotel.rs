//! Interoperability with a real OTLP receiver: rotel (`pip install rotel`, its
//! `rotel-agent` binary) on 127.0.0.1, exporting nowhere and printing every
//! span it receives (`--debug-log traces --debug-log-verbosity detailed`).
//! The tests are `#[ignore]`d because they need the Python virtual
//! environment `target/venv` that `.ci/run` creates:
//!
//! ```text
//! python3 -m venv target/venv && target/venv/bin/pip install rotel
//! cargo test --test otlp_rotel -- --ignored
//! ```

mod otlp_support;
mod rotel_support;

use otlp_support::*;
use ringside_agent::batch::SpanBatch;
use ringside_agent::batch::SpoolCursor;
use ringside_agent::export::otlp::http::{Compression, Protocol};
use ringside_agent::export::otlp::{OtlpHttpExporter, OtlpSettings};
use ringside_agent::export::{ExportError, ExportOutcome, Exporter};
use rotel_support::Rotel;

fn span_count(batches: &[SpanBatch]) -> u64 {
    batches.iter().map(|b| b.records.len() as u64).sum()
}

fn export_to_rotel(test: &str, protocol: Protocol, compression: Compression) -> String {
    let mut rotel = Rotel::start(test);
    let mut s = OtlpSettings::new(&rotel.endpoint);
    s.protocol = protocol;
    s.compression = compression;
    let batches = sample_batches();
    let mut exporter = OtlpHttpExporter::new(&s).expect("valid settings");
    // As the delivery stage does: a retryable failure (rotel resetting a
    // connection while it starts up on a busy machine) is tried again.
    let mut tries = 0;
    let outcome = loop {
        match exporter.export(&batches, SpoolCursor::default()) {
            Err(ExportError::Retryable { .. }) if tries < 10 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            other => break other.expect("rotel accepts the spans"),
        }
    };
    assert_eq!(
        outcome,
        ExportOutcome {
            accepted: span_count(&batches),
            rejected: 0
        }
    );
    rotel.printed(batches.iter().map(|b| b.records.len()).sum())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// rotel printed every sample span with its fields.
fn assert_printed_samples(out: &str) {
    let mut want: Vec<String> = [
        "-> service.name: Str(data-node)",
        "-> host.name: Str(node-7)",
        "-> process.pid: Int(4242)",
        "-> deployment.environment: Str(test)",
        "-> service.name: Str(meta-server)",
        concat!("InstrumentationScope ringside ", env!("CARGO_PKG_VERSION")),
        // The full span: every field and entry kind.
        "    Parent ID      : 7777777777777777\n    ID             : 010101010101015c\n    \
         Name           : storage.data.write\n    Kind           : SPAN_KIND_SERVER\n    \
         TraceState     : vendor=abc",
        "    Status code    : STATUS_CODE_ERROR\n    Status message : disk full",
        "-> path: Str(/vol/a/\"quoted\"\n)",
        "-> size: Int(-4096)",
        "-> ratio: Double(0.25)",
        "-> sync: Bool(true)",
        "SpanEvent #0\n     -> Name: retry",
        "-> attempt: Int(2)",
        "SpanLink #0\n     -> Trace ID: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n     -> ID: cccccccccccccccc",
        "-> rel: Str(follows)",
        "Kind           : SPAN_KIND_CLIENT",
        "Status code    : STATUS_CODE_OK",
        "-> ringside.truncated: Slice(Str(name), Str(trace_state), Str(path))",
    ]
    .map(String::from)
    .to_vec();
    let full = full_span();
    want.push(format!(
        "Start time: {}\nEnd time: {}",
        full.start, full.end
    ));
    for batch in sample_batches() {
        for v in batch.views() {
            want.push(format!("    Trace ID       : {}", hex(&v.trace_id())));
            want.push(format!(
                "    ID             : {}\n    Name           : {}\n",
                hex(&v.span_id()),
                v.name()
            ));
        }
    }
    for w in &want {
        assert!(
            out.contains(w.as_str()),
            "rotel did not print {w:?}; its output:\n{out}"
        );
    }
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn rotel_receives_protobuf() {
    assert_printed_samples(&export_to_rotel(
        "proto",
        Protocol::Protobuf,
        Compression::None,
    ));
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn rotel_receives_gzip_protobuf() {
    assert_printed_samples(&export_to_rotel(
        "proto-gzip",
        Protocol::Protobuf,
        Compression::Gzip,
    ));
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn rotel_receives_json() {
    assert_printed_samples(&export_to_rotel("json", Protocol::Json, Compression::None));
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn rotel_receives_gzip_json() {
    assert_printed_samples(&export_to_rotel(
        "json-gzip",
        Protocol::Json,
        Compression::Gzip,
    ));
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn rotel_refuses_a_malformed_payload_with_400_which_is_permanent() {
    let rotel = Rotel::start("malformed");
    let mut s = OtlpSettings::new(&rotel.endpoint);
    // Claims gzip, sends plain protobuf: the receiver cannot decode it.
    s.headers = vec![("Content-Encoding".into(), "gzip".into())];
    let mut exporter = OtlpHttpExporter::new(&s).expect("valid settings");
    match exporter.export(&sample_batches(), SpoolCursor::default()) {
        Err(ExportError::Permanent { reason }) => {
            assert!(reason.starts_with("HTTP 400"), "{reason}")
        }
        other => panic!("expected a permanent 400, got {other:?}"),
    }
    assert_eq!(
        rotel.output().matches("Span #").count(),
        0,
        "nothing was printed"
    );
}
