//! Decoders of outside input never panic: records read from a ring, ring file
//! headers, trace context headers and binary contexts, and the sidecar's
//! configuration. Each gets arbitrary input and input near the valid shape (a
//! valid value with a few bytes changed), so the checks past the first few also
//! see garbage.

use std::io::Write;

use proptest::prelude::*;
use ringside::record::{EntryView, Record, RecordView, StatusCode, Value};
use ringside::ring::{Consumer, HEADER_SIZE, OpenError, Ring};
use ringside::trace::propagation::{
    BINARY_LEN, extract, from_binary, from_binary_with_state, to_binary_with_state,
};
use ringside::trace::{SpanContext, TraceState};

const RECORD_SIZE: usize = std::mem::size_of::<Record>();

/// A record with every kind of entry, as a writer makes it.
fn full_record() -> Record {
    let mut r = Record::new("read /vol/7");
    r.trace_id = [7; 16];
    r.span_id = [9; 8];
    r.push_attr("bytes", Value::I64(4096));
    r.push_attr("hit", Value::Bool(true));
    r.push_attr("ratio", Value::F64(0.5));
    r.push_event(
        11,
        "retry",
        &[("n", Value::I64(2)), ("why", Value::Str("busy"))],
    );
    r.push_link([3; 16], [4; 8], 1, &[("rel", Value::Str("batch"))]);
    r.set_status(StatusCode::Error, "disk gone");
    r.set_trace_state("k=v");
    r
}

/// Uses every accessor of an accepted record, so a view that validated too
/// little would panic here.
fn read_everything(view: &RecordView<'_>) {
    let _ = (view.name(), view.kind(), view.status(), view.dropped());
    let _ = (view.status_message(), view.trace_state());
    for entry in view.entries() {
        match entry {
            EntryView::Event { attrs, .. } | EntryView::Link { attrs, .. } => attrs.for_each(drop),
            _ => {}
        }
    }
    view.attrs().for_each(drop);
}

fn check_record(bytes: &[u8]) {
    let mut rec: Record = bytemuck::pod_read_unaligned(bytes);
    let _ = format!("{rec:?}");
    if let Ok(view) = RecordView::new(&rec) {
        read_everything(&view);
        rec.map_times(|t| t.wrapping_add(1));
        // Rewriting times changes no structure.
        RecordView::new(&rec).expect("still valid after map_times");
    } else {
        // The sidecar never calls map_times on a rejected record, but it must
        // not fault either.
        rec.map_times(|t| t);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn record_view_survives_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), RECORD_SIZE)
    ) {
        check_record(&bytes);
    }

    #[test]
    fn record_view_survives_damaged_valid_records(
        changes in proptest::collection::vec((0..RECORD_SIZE, any::<u8>()), 1..6),
        payload_len in proptest::option::of(any::<u16>()),
        name_len in proptest::option::of(any::<u8>()),
    ) {
        let mut bytes = bytemuck::bytes_of(&full_record()).to_vec();
        for (at, b) in changes {
            bytes[at] = b;
        }
        let mut rec: Record = bytemuck::pod_read_unaligned(&bytes);
        if let Some(n) = payload_len {
            rec.payload_len = n;
        }
        if let Some(n) = name_len {
            rec.name_len = n;
        }
        check_record(bytemuck::bytes_of(&rec));
    }
}

/// A ring file made by a real writer, its bytes read back.
fn real_ring_bytes(dir: &std::path::Path) -> Vec<u8> {
    let ring = Ring::create(dir, "robust", 8).unwrap();
    ring.push(&full_record()).unwrap();
    let bytes = std::fs::read(ring.path()).unwrap();
    std::fs::remove_file(ring.path()).unwrap();
    bytes
}

/// Opens `bytes` as a ring file and, if that works, reads and commits: a typed
/// error or records, never a panic.
fn open_and_drain(dir: &std::path::Path, bytes: &[u8]) -> Result<usize, OpenError> {
    let path = dir.join("x.ring");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(bytes).unwrap();
    drop(f);
    let result = Consumer::open(&path).map(|mut c| {
        let _ = (c.identity().service(), c.stats(), c.is_drained());
        let mut out = Vec::new();
        let drained = c.read(64, &mut out);
        for r in &out {
            if let Ok(v) = RecordView::new(r) {
                read_everything(&v);
            }
        }
        c.release(c.read_position());
        c.skip_to(u64::MAX);
        drained.records
    });
    std::fs::remove_file(&path).unwrap();
    result
}

fn temp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ringside-robust-{tag}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn consumer_reads_the_unchanged_ring() {
    let dir = temp_dir("ring-ok");
    let bytes = real_ring_bytes(dir.path());
    assert_eq!(open_and_drain(dir.path(), &bytes).unwrap(), 1);
}

#[test]
fn consumer_refuses_short_and_wrong_length_files_with_their_fault() {
    let dir = temp_dir("ring-len");
    let bytes = real_ring_bytes(dir.path());
    for len in [0, 1, HEADER_SIZE - 1] {
        match open_and_drain(dir.path(), &bytes[..len]) {
            Err(OpenError::TooShort(n)) => assert_eq!(n, len as u64),
            other => panic!("{len} bytes: {other:?}"),
        }
    }
    for len in [HEADER_SIZE, bytes.len() - 1, bytes.len() - 256] {
        match open_and_drain(dir.path(), &bytes[..len]) {
            Err(OpenError::Length { expected, found }) => {
                assert_eq!((expected, found), (bytes.len() as u64, len as u64))
            }
            other => panic!("{len} bytes: {other:?}"),
        }
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 256]);
    assert!(matches!(
        open_and_drain(dir.path(), &longer),
        Err(OpenError::Length { .. })
    ));
}

#[test]
fn consumer_refuses_counters_no_writer_can_produce() {
    let dir = temp_dir("ring-counters");
    let bytes = real_ring_bytes(dir.path());
    // The ring has one lane: its writer tail at 4096, its reader head at
    // 4096 + 128 (see ring::protocol::LaneCounters).
    let set = |tail: u64, head: u64| {
        let mut b = bytes.clone();
        b[4096..4104].copy_from_slice(&tail.to_le_bytes());
        b[4224..4232].copy_from_slice(&head.to_le_bytes());
        b
    };
    // Tail more than a capacity ahead of head: the reader would read
    // positions no writer ever published, up to 2^64 of them in one read.
    // Head past tail, and positions at or above 2^63 (whose stamp overflows).
    for (tail, head) in [(1 << 40, 0), (0, 5), (u64::MAX, u64::MAX - 2)] {
        match open_and_drain(dir.path(), &set(tail, head)) {
            Err(OpenError::Counters { .. }) => {}
            other => panic!("tail {tail} head {head}: {other:?}"),
        }
    }
    // A full ring is fine.
    assert!(open_and_drain(dir.path(), &set(9, 1)).is_ok());
}

#[test]
fn consumer_refuses_a_ring_of_the_previous_layout_by_name() {
    let dir = temp_dir("ring-v1");
    let mut bytes = real_ring_bytes(dir.path());
    // The layout version is the u32 after the 8-byte magic.
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    match open_and_drain(dir.path(), &bytes) {
        Err(e @ OpenError::Version(1)) => {
            let text = e.to_string();
            assert!(text.contains("version 1"), "{text}");
            assert!(text.contains("older ringside writer"), "{text}");
        }
        other => panic!("a version 1 ring must be refused: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn consumer_open_survives_damaged_headers(
        changes in proptest::collection::vec((0..HEADER_SIZE, any::<u8>()), 1..8),
        words in proptest::collection::vec((0..HEADER_SIZE / 8, any::<u64>()), 0..3),
        cut in proptest::option::of(0..(HEADER_SIZE + 8 * 256 + 1)),
    ) {
        let dir = temp_dir("ring-fuzz");
        let mut bytes = real_ring_bytes(dir.path());
        for (at, b) in changes {
            bytes[at] = b;
        }
        for (at, w) in words {
            bytes[at * 8..at * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        if let Some(cut) = cut {
            bytes.truncate(cut);
        }
        let _ = open_and_drain(dir.path(), &bytes).map_err(|e| e.to_string());
    }

    #[test]
    fn consumer_open_survives_arbitrary_files(
        bytes in proptest::collection::vec(any::<u8>(), 0..HEADER_SIZE + 600),
    ) {
        let dir = temp_dir("ring-any");
        let _ = open_and_drain(dir.path(), &bytes).map_err(|e| e.to_string());
    }
}

/// Bytes that make traceparent and tracestate parsers work: hex digits,
/// separators, whitespace, multi-byte characters.
fn header_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("00".to_string()),
        Just("-".to_string()),
        Just("4bf92f3577b34da6a3ce929d0e0e4736".to_string()),
        Just("00f067aa0ba902b7".to_string()),
        Just("01".to_string()),
        Just("ff".to_string()),
        Just(",".to_string()),
        Just("=".to_string()),
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("@".to_string()),
        Just("é".to_string()),
        "[a-z0-9]{0,6}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn extract_survives_arbitrary_headers(
        parent in proptest::option::of(header_text()),
        state in proptest::option::of(header_text()),
        raw_parent in ".{0,80}",
    ) {
        let _ = extract(Some(&raw_parent), state.as_deref());
        if let Ok(ctx) = extract(parent.as_deref(), state.as_deref()) {
            // Whatever was accepted is a valid remote context whose state
            // survives a round trip.
            prop_assert!(ctx.is_remote);
            prop_assert!(ctx.trace_id.0 != [0; 16] && ctx.span_id.0 != [0; 8]);
            let mut out = Vec::new();
            to_binary_with_state(&ctx, &mut out);
            let (back, used) = from_binary_with_state(&out).expect("own output decodes");
            prop_assert_eq!(used, out.len());
            prop_assert_eq!(back.trace_state, ctx.trace_state);
        }
    }

    #[test]
    fn bad_traceparent_is_refused_whatever_the_state(
        state in header_text(),
        garbage in "[^0-9a-f]{1,3}",
        at in 0usize..55,
    ) {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut bad = good.as_bytes()[..at].to_vec();
        bad.extend_from_slice(garbage.as_bytes());
        bad.extend_from_slice(&good.as_bytes()[at + 1..]);
        let bad = String::from_utf8_lossy(&bad).into_owned();
        // Replacing one character of a valid header with characters outside
        // lowercase hex always breaks it, except for '-' at a dash position or
        // whitespace added at either end.
        let dash = [2, 35, 52].contains(&at) && garbage == "-";
        let edge = (at == 0 || at == 54) && garbage.chars().all(|c| c == ' ' || c == '\t');
        if !dash && !edge {
            prop_assert!(extract(Some(&bad), Some(&state)).is_err(), "{:?}", bad);
        }
    }

    #[test]
    fn tracestate_garbage_never_fails_a_valid_traceparent(state in header_text()) {
        let ctx = extract(
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some(&state),
        )
        .expect("a bad tracestate never fails the extraction");
        // Kept whole and normalized, or dropped whole: what is kept parses
        // back to itself and holds at most 32 members with unique keys.
        let kept = ctx.trace_state.as_str();
        prop_assert_eq!(TraceState::parse(kept), Some(ctx.trace_state.clone()));
        let keys: Vec<&str> = ctx.trace_state.members().map(|(k, _)| k).collect();
        prop_assert!(keys.len() <= 32);
        let unique: std::collections::HashSet<&str> = keys.iter().copied().collect();
        prop_assert_eq!(unique.len(), keys.len());
        match TraceState::parse(&state) {
            Some(parsed) => prop_assert_eq!(parsed, ctx.trace_state),
            None => prop_assert!(ctx.trace_state.is_empty()),
        }
    }

    #[test]
    fn from_binary_survives_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..BINARY_LEN + 300)
    ) {
        let _ = from_binary(&bytes);
        if let Ok((ctx, used)) = from_binary_with_state(&bytes) {
            prop_assert!(used <= bytes.len());
            let _: SpanContext = ctx;
        }
    }

    #[test]
    fn from_binary_survives_damaged_contexts(
        state in header_text(),
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let ctx = extract(
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some(&state),
        )
        .unwrap();
        let mut out = Vec::new();
        to_binary_with_state(&ctx, &mut out);
        for (at, b) in changes {
            let i = at.index(out.len());
            out[i] = b;
        }
        let n = cut.index(out.len() + 1);
        let _ = from_binary(&out[..n]);
        if let Ok((_, used)) = from_binary_with_state(&out[..n]) {
            prop_assert!(used <= n);
        }
    }
}

mod config {
    use proptest::prelude::*;
    use ringside_agent::sidecar::config::Config;

    /// TOML-shaped text using the configuration's own tables and keys, with
    /// values of every type and size.
    fn config_text() -> impl Strategy<Value = String> {
        let table = prop_oneof![
            Just("[rings]"),
            Just("[spool]"),
            Just("[sampling]"),
            Just("[sampling.tail]"),
            Just("[batch]"),
            Just("[[exporters]]"),
            Just("[metrics]"),
            Just("[resource]"),
            Just("[log]"),
            Just("[x"),
            Just("[[]]"),
        ];
        let key = prop_oneof![
            Just("dir"),
            Just("patience_ms"),
            Just("max_per_ring"),
            Just("idle_poll_ms"),
            Just("allowed_users"),
            Just("max_bytes"),
            Just("segment_bytes"),
            Just("ratio"),
            Just("rate_limit"),
            Just("max_spans"),
            Just("kind"),
            Just("endpoint"),
            Just("path"),
            Just("keep"),
            Just("listen"),
            Just("level"),
            Just("é"),
        ];
        let value = prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| format!("{v:?}")),
            Just("nan".to_string()),
            Just("-inf".to_string()),
            Just("9223372036854775807".to_string()),
            Just("true".to_string()),
            Just("\"otlp\"".to_string()),
            Just("\"jsonl\"".to_string()),
            Just("\"\"".to_string()),
            Just("[\"a\", 1]".to_string()),
            Just("{ a = 1 }".to_string()),
            "\"[^\"\\\\\n]{0,12}\"",
            "[^\n]{0,8}",
        ];
        let line = prop_oneof![
            table.prop_map(str::to_string),
            (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
            "[^\n]{0,20}",
        ];
        proptest::collection::vec(line, 0..12).prop_map(|v| v.join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn config_survives_arbitrary_text(text in ".{0,200}") {
            if let Err(e) = Config::from_toml(&text) {
                prop_assert!(!e.reason.is_empty());
            }
        }

        #[test]
        fn config_survives_config_shaped_text(text in config_text()) {
            match Config::from_toml(&text) {
                // What was accepted passes its own validation again.
                Ok(c) => prop_assert!(c.validate().is_ok()),
                Err(e) => prop_assert!(!e.reason.is_empty(), "{:?}", text),
            }
        }
    }
}

mod analyze_jsonl {
    use proptest::prelude::*;
    use ringside_agent::analyze::input::Skipped;
    use ringside_agent::analyze::input::jsonl::read;
    use ringside_agent::analyze::model::Names;

    /// A value of any JSON type, or text that is not JSON at all.
    fn json_value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            any::<u64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| format!("{v:?}")),
            Just("1e400".to_string()),
            Just("-0".to_string()),
            Just("null".to_string()),
            Just("[]".to_string()),
            Just("{}".to_string()),
            Just("\"4bf92f3577b34da6a3ce929d0e0e4736\"".to_string()),
            Just("\"00f067aa0ba902b7\"".to_string()),
            Just("\"SPAN_KIND_SERVER\"".to_string()),
            Just("\"STATUS_CODE_ERROR\"".to_string()),
            Just("{\"code\": 2, \"message\": \"x\"}".to_string()),
            Just("{\"intValue\": \"99999999999999999999\"}".to_string()),
            Just("{\"doubleValue\": \"nan\"}".to_string()),
            "\"[^\"\\\\]{0,20}\"",
            "[^\n]{0,6}",
        ]
    }

    /// One OTLP/JSON export line with every span field set to an arbitrary value.
    fn otlp_line() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            Just("traceId"),
            Just("spanId"),
            Just("parentSpanId"),
            Just("name"),
            Just("kind"),
            Just("startTimeUnixNano"),
            Just("endTimeUnixNano"),
            Just("status"),
            Just("attributes"),
            Just("events"),
            Just("links"),
        ];
        let fields = proptest::collection::vec((field, json_value()), 0..12);
        (fields, json_value()).prop_map(|(fields, attr)| {
            let span: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("\"{k}\": {v}"))
                .collect();
            format!(
                "{{\"resourceSpans\": [{{\"resource\": {{\"attributes\": [{{\"key\": \"service.name\", \"value\": {attr}}}]}}, \"scopeSpans\": [{{\"spans\": [{{{}}}]}}]}}]}}",
                span.join(", ")
            )
        })
    }

    fn read_all(bytes: &[u8]) -> (usize, Skipped) {
        let (mut names, mut skipped, mut spans) = (Names::default(), Skipped::default(), 0);
        read(bytes, "in.jsonl", &mut names, &mut skipped, |_| spans += 1)
            .expect("reading memory never fails");
        (spans, skipped)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn jsonl_reader_survives_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..400)
        ) {
            read_all(&bytes);
        }

        #[test]
        fn jsonl_reader_survives_otlp_shaped_lines(
            lines in proptest::collection::vec(otlp_line(), 1..4)
        ) {
            let (spans, skipped) = read_all(lines.join("\n").as_bytes());
            // Every span is either read or skipped with a reason; a bad line
            // never stops the lines after it.
            prop_assert!(spans as u64 + skipped.count >= 1);
        }
    }
}
