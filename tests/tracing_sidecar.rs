//! The `tracing` layer (crate `ringside-tracing`) with the sidecar draining:
//! the crate's example daemon (a gateway reading chunks from a server over
//! HTTP on 127.0.0.1, context in W3C headers) runs in this process under a
//! registry with an EnvFilter, a fmt layer and the ringside layer; `ringside
//! run` exports JSONL. Every span arrives once with its name, kind, parent
//! (across the HTTP hop too), typed attributes, events, links and status.

mod common;
#[path = "../tracing/examples/tracing_daemon.rs"]
mod tracing_daemon;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};

use common::jsonl_sidecar::JsonlSidecar;
use common::{JsonSpan, TempDir, chunk_server};
use ringside::trace::Tracer;
use ringside_tracing::RingsideLayer;
use tracing::{info, info_span};
use tracing_subscriber::prelude::*;

/// What the fmt layer printed, to show it still works beside ringside's.
#[derive(Clone, Default)]
struct Printed(Arc<Mutex<Vec<u8>>>);

impl Write for Printed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn tracing_spans_reach_the_exporter_through_the_sidecar() {
    let tmp = TempDir::new("tracing-sidecar");
    let sidecar = JsonlSidecar::start(&tmp);

    let printed = Printed::default();
    let fmt_out = printed.clone();
    let tracer = Tracer::builder("chunk-server").dir(&sidecar.rings).build();
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info,noisy=off"))
        .with(tracing_subscriber::fmt::layer().with_writer(move || fmt_out.clone()))
        .with(RingsideLayer::new(tracer.clone()))
        .init();

    // Five reads, one trace each across the HTTP hop; chunk 3 fails.
    assert_eq!(tracing_daemon::run(5), [200, 200, 200, 500, 200]);
    // Field types, a link, a filtered span and an event outside any span.
    {
        let cause = info_span!("queue.enqueue");
        let flush = info_span!(
            parent: None,
            "queue.flush",
            big = u64::MAX,
            shape = ?("a", 1),
            delta = -5i64,
            on = true,
        );
        flush.follows_from(&cause);
        let _hidden = info_span!(target: "noisy", "filtered.out");
        info!("outside any span");
    }

    let expected = 5 * 3 + 2;
    let spans = sidecar.collect("the tracing spans", expected);
    assert_eq!(tracer.stats().unwrap().written, expected as u64);
    let fmt_text = String::from_utf8(printed.0.lock().unwrap().clone()).unwrap();
    assert!(
        fmt_text.contains("chunk served"),
        "fmt layer output: {fmt_text}"
    );

    let by_id: HashMap<&str, &JsonSpan> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent = |s: &JsonSpan| by_id.get(s.parent_span_id.as_str()).copied();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for s in &spans {
        *names.entry(s.name.as_str()).or_default() += 1;
        assert_eq!(s.service, "chunk-server");
        assert!(s.end >= s.start && s.start > 0, "{s:?}");
        let chunk = s.int("storage.chunk.index");
        match s.name.as_str() {
            "gateway.read" => {
                assert_eq!(
                    s.str("code.namespace"),
                    Some("tracing_sidecar::tracing_daemon")
                );
                chunk_server::check_gateway_read(s);
            }
            "chunk.read" => {
                chunk_server::check_chunk_read(s, parent(s), "Input/output error (os error 5)");
                if chunk == Some(3) {
                    assert_eq!(s.int("storage.size"), None);
                }
            }
            "read_chunk" => chunk_server::check_disk_read(s, parent(s)),
            "queue.flush" => {
                assert_eq!(s.parent_span_id, "");
                assert_eq!(s.str("big"), Some("18446744073709551615"));
                assert_eq!(s.str("shape"), Some(r#"("a", 1)"#));
                assert_eq!(s.int("delta"), Some(-5));
                assert_eq!(s.attrs["on"]["boolValue"], true);
                let cause = spans.iter().find(|c| c.name == "queue.enqueue").unwrap();
                assert_ne!(cause.trace_id, s.trace_id);
                let links = s.raw["links"].as_array().expect("a link");
                assert_eq!(links.len(), 1);
                assert_eq!(links[0]["spanId"], cause.span_id.as_str());
                assert_eq!(links[0]["traceId"], cause.trace_id.as_str());
            }
            "queue.enqueue" => assert!(s.raw["events"].is_null(), "no event outside spans"),
            other => panic!("unexpected span {other}"),
        }
    }
    assert_eq!(names["gateway.read"], 5);
    assert_eq!(names["chunk.read"], 5);
    assert_eq!(names["read_chunk"], 5);
    let traces: HashSet<_> = spans.iter().map(|s| &s.trace_id).collect();
    assert_eq!(
        traces.len(),
        5 + 2,
        "one trace per read, one per queue span"
    );
}
