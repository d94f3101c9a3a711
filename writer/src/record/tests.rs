use super::*;
use bytemuck::Zeroable;

fn ids(r: &mut Record) {
    r.trace_id = [7; 16];
    r.span_id = [9; 8];
    r.kind = SpanKind::Server as u8;
}

#[test]
fn round_trip_of_every_entry_kind() {
    let mut r = Record::new("storage.read");
    ids(&mut r);
    r.push_attr("file.path", Value::Str("/vol/a/b"));
    r.push_attr("file.size", Value::I64(-4096));
    r.push_attr("ratio", Value::F64(0.25));
    r.push_attr("hit", Value::Bool(true));
    r.push_event(42, "retry", &[("attempt", Value::I64(2))]);
    r.push_link([1; 16], [2; 8], 1, &[]);
    r.set_trace_state("ot=th:8");
    r.set_status(StatusCode::Error, "disk gone");

    let v = RecordView::new(&r).expect("valid");
    assert_eq!(v.name(), "storage.read");
    assert_eq!(v.kind(), SpanKind::Server);
    assert_eq!(v.status(), StatusCode::Error);
    assert_eq!(v.status_message(), Some("disk gone"));
    assert_eq!(v.trace_state(), Some("ot=th:8"));
    let attrs: Vec<_> = v.attrs().map(|a| (a.key, a.value)).collect();
    assert_eq!(
        attrs,
        vec![
            ("file.path", Value::Str("/vol/a/b")),
            ("file.size", Value::I64(-4096)),
            ("ratio", Value::F64(0.25)),
            ("hit", Value::Bool(true)),
        ]
    );
    let mut events = 0;
    let mut links = 0;
    for e in v.entries() {
        match e {
            EntryView::Event {
                time, name, attrs, ..
            } => {
                events += 1;
                assert_eq!((time, name), (42, "retry"));
                assert_eq!(
                    attrs.map(|a| a.value).collect::<Vec<_>>(),
                    vec![Value::I64(2)]
                );
            }
            EntryView::Link {
                trace_id,
                span_id,
                attrs,
                ..
            } => {
                links += 1;
                assert_eq!((trace_id, span_id, attrs.count()), ([1; 16], [2; 8], 0));
            }
            _ => {}
        }
    }
    assert_eq!((events, links), (1, 1));
    assert_eq!(v.dropped(), (0, 0, 0));
}

#[test]
fn long_strings_are_cut_at_a_char_boundary_and_marked() {
    let name = "é".repeat(100); // 200 bytes
    let mut r = Record::new(&name);
    ids(&mut r);
    let v = RecordView::new(&r).unwrap();
    assert!(v.name_truncated());
    assert!(v.name().len() <= MAX_NAME && v.name().chars().all(|c| c == 'é'));

    let mut r = Record::new("x");
    ids(&mut r);
    let long = "ü".repeat(150); // 300 bytes, more than fits
    r.push_attr("file.path", Value::Str(&long));
    let v = RecordView::new(&r).unwrap();
    let a = v.attrs().next().unwrap();
    assert!(a.truncated);
    match a.value {
        Value::Str(s) => {
            assert!(!s.is_empty() && s.chars().all(|c| c == 'ü') && long.starts_with(s))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn attributes_that_do_not_fit_are_counted() {
    let mut r = Record::new("n");
    ids(&mut r);
    for i in 0..40 {
        r.push_attr("some.counter", Value::I64(i));
    }
    let v = RecordView::new(&r).unwrap();
    let kept = v.attrs().count();
    assert_eq!(kept + r.dropped_attrs as usize, 40);
    assert!(kept > 5);
    // A key longer than 255 bytes is refused whole, never cut.
    let mut r = Record::new("n");
    r.push_attr(&"k".repeat(300), Value::Bool(true));
    assert_eq!((r.dropped_attrs, r.payload_len), (1, 1));
}

#[test]
fn events_and_links_are_all_or_nothing() {
    let mut r = Record::new("n");
    ids(&mut r);
    let big = "v".repeat(200);
    r.push_attr("a", Value::Str(&"w".repeat(150)));
    let before = r.payload_len;
    r.push_event(
        1,
        "ev",
        &[("k", Value::Str(&big)), ("k2", Value::Str(&big))],
    );
    r.push_link([1; 16], [1; 8], 0, &[("k", Value::Str(&big))]);
    assert_eq!(r.payload_len, before);
    assert_eq!((r.dropped_events, r.dropped_links), (1, 1));
    RecordView::new(&r).unwrap();
}

#[test]
fn status_replaces_and_keeps_message_for_errors_only() {
    let mut r = Record::new("n");
    ids(&mut r);
    r.push_attr("a", Value::I64(1));
    r.set_status(StatusCode::Error, "first");
    r.set_status(StatusCode::Error, "second");
    let v = RecordView::new(&r).unwrap();
    assert_eq!(v.status_message(), Some("second"));
    assert_eq!(v.attrs().count(), 1);
    r.set_status(StatusCode::Ok, "ignored");
    let v = RecordView::new(&r).unwrap();
    assert_eq!((v.status(), v.status_message()), (StatusCode::Ok, None));
}

#[test]
fn garbage_is_rejected_without_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut valid = Record::new("storage.write");
    ids(&mut valid);
    valid.push_attr("file.path", Value::Str("/a"));
    valid.push_event(5, "e", &[("k", Value::I64(1))]);
    let mut accepted = 0;
    for i in 0..200_000 {
        let mut r = if i % 2 == 0 { valid } else { Record::zeroed() };
        let bytes = bytemuck::bytes_of_mut(&mut r);
        for _ in 0..(next() % 8 + 1) {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = next() as u8;
        }
        // The lookup for validated records must not panic on garbage either.
        let found = (r.attr("file.path"), r.attr("k"));
        if let Ok(v) = RecordView::new(&r) {
            accepted += 1;
            let find = |key: &str| v.attrs().find(|a| a.key == key).map(|a| a.value);
            assert_eq!(found, (find("file.path"), find("k")));
            // Every accessor must stay in bounds on whatever was accepted.
            let _ = (
                v.name(),
                v.status_message(),
                v.trace_state(),
                v.attrs().count(),
            );
            for e in v.entries() {
                if let EntryView::Event { attrs, .. } | EntryView::Link { attrs, .. } = e {
                    let _ = attrs.count();
                }
            }
        }
    }
    assert!(accepted > 0, "some mutations leave the record valid");
}

#[test]
fn attr_finds_a_span_attribute_as_attrs_does() {
    let mut r = Record::new("storage.read");
    ids(&mut r);
    r.push_event(1, "retry", &[("only.in.event", Value::I64(1))]);
    r.push_attr("file.size", Value::I64(-4096));
    r.push_link([1; 16], [2; 8], 1, &[("only.in.link", Value::Bool(true))]);
    r.push_attr("file.size", Value::I64(1));
    r.push_attr("hit", Value::Bool(false));
    r.set_status(StatusCode::Error, "file.size");
    // Cut to the room left, and marked truncated.
    r.push_attr("file.path", Value::Str(&"x".repeat(300)));
    let v = RecordView::new(&r).expect("valid");
    for key in [
        "file.size",
        "file.path",
        "hit",
        "only.in.event",
        "only.in.link",
        "file",
        "",
        "storage.read",
    ] {
        let expected = v.attrs().find(|a| a.key == key).map(|a| a.value);
        assert_eq!(r.attr(key), expected, "{key}");
    }
    assert_eq!(
        r.attr("file.size"),
        Some(Value::I64(-4096)),
        "the first one"
    );
    assert_eq!(r.attr("only.in.event"), None, "not an event's attribute");
    assert_eq!(r.attr("hit"), Some(Value::Bool(false)));
    assert!(matches!(r.attr("file.path"), Some(Value::Str(s)) if !s.is_empty() && s.len() < 300));
}

#[test]
fn cut_utf8_never_splits_a_character() {
    let s = "aé€😀";
    for max in 0..=s.len() + 1 {
        let c = cut_utf8(s, max);
        assert!(c.len() <= max && s.starts_with(c));
    }
}

#[test]
fn map_times_rewrites_span_and_event_times() {
    let mut r = Record::new("n");
    ids(&mut r);
    r.start = 10;
    r.end = 20;
    r.push_attr("a", Value::I64(1));
    r.push_event(15, "e1", &[("k", Value::Bool(true))]);
    r.push_event(17, "e2", &[]);
    r.map_times(|t| t * 1000);
    let v = RecordView::new(&r).unwrap();
    assert_eq!((v.start(), v.end()), (10_000, 20_000));
    let times: Vec<u64> = v
        .entries()
        .filter_map(|e| match e {
            EntryView::Event { time, .. } => Some(time),
            _ => None,
        })
        .collect();
    assert_eq!(times, vec![15_000, 17_000]);
}
