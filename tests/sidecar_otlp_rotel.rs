//! The whole pipeline against a real OTLP receiver: writer processes use the
//! Tracer API, `ringside run` drains their rings and exports over OTLP/HTTP
//! (protobuf, JSON, gzip) to rotel (`rotel-agent` on 127.0.0.1), and the spans
//! rotel prints are the spans the writers wrote: ids, parents, names, kinds,
//! status, attributes of every type, and times inside the wall-clock bounds
//! each writer recorded around each span. `#[ignore]`d: needs rotel in
//! `target/venv` (see tests/otlp_rotel.rs).
//!
//! ```text
//! cargo test --test sidecar_otlp_rotel -- --ignored
//! ```

mod common;
mod rotel_support;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use ringside::record::{SpanKind, StatusCode};
use ringside::trace::Tracer;
use rotel_support::{PrintedSpan, Rotel, parse_printed};

/// Traces each writer writes: a server root, a client child with an error, a
/// grandchild, and a producer/consumer pair.
const TRACES: usize = 4;
const SPANS_PER_TRACE: usize = 5;

/// What a writer wrote, as rotel should print it.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Wrote {
    service: String,
    trace_id: String,
    span_id: String,
    parent_id: String,
    name: String,
    kind: String,
    status: String,
    status_message: String,
    attrs: HashMap<String, String>,
    /// Unix ns read just before the span started and just after it ended.
    lo: u64,
    hi: u64,
}

/// Runs `body` as a span and prints what it wrote as a `WROTE {json}` line.
fn span_recorded(
    tracer: &Tracer,
    name: &str,
    kind: SpanKind,
    parent_id: String,
    body: impl FnOnce(&mut ringside::trace::Span<'_>) -> (String, String, HashMap<String, String>),
) {
    let lo = ringside::clock::unix_ns();
    let mut span = tracer.span(name);
    span.set_kind(kind);
    let ctx = span.context();
    let (status, status_message, attrs) = body(&mut span);
    span.end();
    let hi = ringside::clock::unix_ns();
    let wrote = Wrote {
        service: tracer.service().to_string(),
        trace_id: ctx.trace_id.to_hex(),
        span_id: ctx.span_id.to_hex(),
        parent_id,
        name: name.into(),
        kind: format!("SPAN_KIND_{}", format!("{kind:?}").to_uppercase()),
        status,
        status_message,
        attrs,
        lo,
        hi,
    };
    println!("\nWROTE {}", serde_json::to_string(&wrote).unwrap());
}

fn attrs(list: &[(&str, String)]) -> HashMap<String, String> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Writes [`TRACES`] traces through the Tracer, printing each span it wrote.
fn rich_writer() {
    let w: i64 = std::env::var("WRITER_ID").unwrap().parse().unwrap();
    let tracer = Tracer::new(&format!("interop-{w}"));
    tracer.open().expect("ring");
    for i in 0..TRACES as i64 {
        let path = format!("/vol/{w}/obj-{i} \"q\"");
        span_recorded(
            &tracer,
            "rpc.write",
            SpanKind::Server,
            String::new(),
            |root| {
                let (size, ratio, sync) = (-4096 * (i + 1), 0.25 + i as f64, i % 2 == 0);
                root.set_attr("path", path.as_str())
                    .set_attr("size", size)
                    .set_attr("ratio", ratio)
                    .set_attr("sync", sync);
                let root_id = root.context().span_id.to_hex();
                let _in_root = root.enter();
                span_recorded(
                    &tracer,
                    "disk.write",
                    SpanKind::Client,
                    root_id.clone(),
                    |disk| {
                        let msg = format!("disk {i} full");
                        disk.set_status(StatusCode::Error, &msg)
                            .set_attr("device", "nvme0");
                        let disk_id = disk.context().span_id.to_hex();
                        let _in_disk = disk.enter();
                        span_recorded(
                            &tracer,
                            "journal.append",
                            SpanKind::Internal,
                            disk_id,
                            |j| {
                                j.set_attr("bytes", 512 * i).set_status(StatusCode::Ok, "");
                                (
                                    "STATUS_CODE_OK".into(),
                                    String::new(),
                                    attrs(&[("bytes", format!("Int({})", 512 * i))]),
                                )
                            },
                        );
                        (
                            "STATUS_CODE_ERROR".into(),
                            msg.clone(),
                            attrs(&[("device", "Str(nvme0)".into())]),
                        )
                    },
                );
                span_recorded(
                    &tracer,
                    "replica.send",
                    SpanKind::Producer,
                    root_id.clone(),
                    |p| {
                        p.set_attr("replica", 2i64);
                        (
                            String::new(),
                            String::new(),
                            attrs(&[("replica", "Int(2)".into())]),
                        )
                    },
                );
                span_recorded(&tracer, "replica.ack", SpanKind::Consumer, root_id, |c| {
                    c.set_attr("acked", true);
                    (
                        String::new(),
                        String::new(),
                        attrs(&[("acked", "Bool(true)".into())]),
                    )
                });
                (
                    String::new(),
                    String::new(),
                    attrs(&[
                        ("path", format!("Str({path})")),
                        ("size", format!("Int({size})")),
                        ("ratio", format!("Double({ratio})")),
                        ("sync", format!("Bool({sync})")),
                    ]),
                )
            },
        );
    }
    let stats = tracer.stats().unwrap();
    println!("\nSTATS {} {}", stats.written, stats.dropped);
}

#[test]
fn role_rich_writer() {
    if role().as_deref() == Some("rich_writer") {
        rich_writer();
    }
}

/// Writers → `ringside run` exporting with `protocol`/`compression` → rotel;
/// returns what the writers wrote and what rotel printed.
fn through_sidecar_to_rotel(test: &str, protocol: &str, compression: &str) {
    let mut rotel = Rotel::start(test);
    let tmp = TempDir::new(test);
    let (rings, spool, out, log) = layout(&tmp);
    let config = tmp.join("ringside.toml");
    std::fs::write(
        &config,
        format!(
            "[[exporters]]\nkind = \"otlp\"\nendpoint = \"{}\"\nprotocol = \"{protocol}\"\n\
             compression = \"{compression}\"\n",
            rotel.endpoint
        ),
    )
    .unwrap();
    let mut sidecar = start_sidecar(
        &rings,
        &spool,
        &out,
        &log,
        &["--config", config.to_str().unwrap()],
    );
    let mut wrote = Vec::new();
    for w in 0..2 {
        let mut writer = spawn_role(
            "role_rich_writer",
            "rich_writer",
            &[
                ("RINGSIDE_DIR", rings.display().to_string()),
                ("WRITER_ID", w.to_string()),
            ],
        );
        let lines = child_lines(&mut writer);
        assert!(writer.wait(Duration::from_secs(60)).success());
        let stats = lines
            .iter()
            .find_map(|l| l.strip_prefix("STATS "))
            .expect("writer stats");
        assert_eq!(stats, format!("{} 0", TRACES * SPANS_PER_TRACE));
        wrote.extend(
            lines
                .iter()
                .filter_map(|l| l.strip_prefix("WROTE "))
                .map(|j| serde_json::from_str::<Wrote>(j).unwrap()),
        );
    }
    assert_eq!(wrote.len(), 2 * TRACES * SPANS_PER_TRACE);
    let printed = parse_printed(&rotel.printed(wrote.len()));
    wait_for("both rings drained", Duration::from_secs(60), || {
        removed_rings(&log).len() == 2
    });
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
    // Whatever the sidecar still had went out before it stopped: count again.
    let printed_after = parse_printed(&rotel.output());
    assert_eq!(
        printed_after.len(),
        wrote.len(),
        "rotel printed each span once; its output:\n{}",
        rotel.output()
    );
    assert_eq!(printed.len(), wrote.len());

    let by_id: HashMap<&str, &PrintedSpan> =
        printed.iter().map(|s| (s.span_id.as_str(), s)).collect();
    for w in &wrote {
        let got = by_id
            .get(w.span_id.as_str())
            .unwrap_or_else(|| panic!("rotel did not print span {w:?}"));
        let what = format!("{} {}", w.name, w.span_id);
        assert_eq!(got.service, w.service, "{what}: service.name");
        assert_eq!(got.trace_id, w.trace_id, "{what}: trace id");
        assert_eq!(got.parent_id, w.parent_id, "{what}: parent id");
        assert_eq!(got.name, w.name, "{what}: name");
        assert_eq!(got.kind, w.kind, "{what}: kind");
        assert_eq!(got.status, w.status, "{what}: status");
        assert_eq!(
            got.status_message, w.status_message,
            "{what}: status message"
        );
        assert_eq!(got.attrs, w.attrs, "{what}: attributes");
        assert!(
            w.lo <= got.start && got.start <= got.end && got.end <= w.hi,
            "{what}: start {} and end {} lie within the writer's bounds {}..{}",
            got.start,
            got.end,
            w.lo,
            w.hi
        );
    }
    // The writers really wrote what the test claims to check.
    let kinds: std::collections::HashSet<&str> = wrote.iter().map(|w| w.kind.as_str()).collect();
    assert_eq!(kinds.len(), 5, "every span kind but unspecified: {kinds:?}");
    assert!(
        wrote
            .iter()
            .any(|w| w.status == "STATUS_CODE_ERROR" && !w.status_message.is_empty())
    );
    assert!(
        wrote
            .iter()
            .any(|w| w.attrs.values().any(|v| v.starts_with("Double(")))
    );
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn writers_to_rotel_through_the_sidecar_in_protobuf() {
    through_sidecar_to_rotel("sc-proto", "protobuf", "none");
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn writers_to_rotel_through_the_sidecar_in_json() {
    through_sidecar_to_rotel("sc-json", "json", "none");
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn writers_to_rotel_through_the_sidecar_in_gzip_protobuf() {
    through_sidecar_to_rotel("sc-proto-gzip", "protobuf", "gzip");
}

#[test]
#[ignore = "needs rotel in target/venv (.ci/run)"]
fn writers_to_rotel_through_the_sidecar_in_gzip_json() {
    through_sidecar_to_rotel("sc-json-gzip", "json", "gzip");
}
