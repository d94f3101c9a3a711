//! Every C ABI function fed bad arguments: NULL pointers, strings that are not
//! UTF-8 or too long, out-of-range values, small buffers, a closed tracer, a
//! span never started or ended twice. Each gets its own error code, nothing
//! crashes, and a failed call leaves the span as it was (checked by reading
//! the span back from the ring).

use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};

use ringside::ffi::*;
use ringside::record::{RecordView, Value};
use ringside::ring::Consumer;

mod c_abi_args;

use c_abi_args::{BAD_UTF8, c, some_context, zero_context};

fn ring_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("c-abi-errors-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tracer writing to `dir`.
fn tracer(dir: &std::path::Path) -> *mut rs_tracer_t {
    let path = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let mut status = -1;
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    let t = unsafe { rs_tracer_new(c"errors".as_ptr(), path.as_ptr(), &mut status) };
    assert_eq!(status, RS_OK);
    assert!(!t.is_null());
    t
}

fn zero_span() -> rs_span_t {
    rs_span_t {
        opaque: [0; RS_SPAN_WORDS],
    }
}

#[test]
fn strerror_names_every_code_and_survives_unknown_ones() {
    let mut seen = std::collections::HashSet::new();
    for code in RS_OK..=RS_ERR_INTERNAL {
        // SAFETY: every pointer given is NULL or valid for the length given; the
        // bad arguments are NULLs, lengths, contents and states, never wild memory.
        let text = unsafe { CStr::from_ptr(rs_strerror(code)) }
            .to_str()
            .unwrap();
        assert!(!text.is_empty() && text != "unknown status", "code {code}");
        assert!(seen.insert(text), "code {code} shares its text");
    }
    for code in [-1, RS_ERR_INTERNAL + 1, i32::MAX, i32::MIN] {
        // SAFETY: every pointer given is NULL or valid for the length given; the
        // bad arguments are NULLs, lengths, contents and states, never wild memory.
        let text = unsafe { CStr::from_ptr(rs_strerror(code)) };
        assert_eq!(text, c"unknown status");
    }
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    let version = unsafe { CStr::from_ptr(rs_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn tracer_functions_refuse_bad_arguments() {
    let mut status = -1;
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    let new = |service: *const c_char, dir: *const c_char, status: &mut rs_status_t| unsafe {
        rs_tracer_new(service, dir, status)
    };
    assert!(new(null(), null(), &mut status).is_null());
    assert_eq!(status, RS_ERR_NULL);
    assert!(new(c(b"ab\xff\0"), null(), &mut status).is_null());
    assert_eq!(status, RS_ERR_UTF8);
    assert!(
        new(
            c(&[b'x'; 65].iter().chain(b"\0").copied().collect::<Vec<_>>()),
            null(),
            &mut status
        )
        .is_null()
    );
    assert_eq!(status, RS_ERR_TOO_LONG);
    assert!(new(c(b"\0"), null(), &mut status).is_null());
    assert_eq!(status, RS_ERR_INVALID);
    let long_dir: Vec<u8> = std::iter::repeat_n(b'd', RS_MAX_PATH + 1)
        .chain([0])
        .collect();
    assert!(new(c"svc".as_ptr(), c(&long_dir), &mut status).is_null());
    assert_eq!(status, RS_ERR_TOO_LONG);
    // A NULL status pointer is fine.
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    assert!(unsafe { rs_tracer_new(null(), null(), null_mut()) }.is_null());

    // A ring directory that cannot hold a ring.
    let t = new(
        c"svc".as_ptr(),
        c"/proc/no-such-ring-dir".as_ptr(),
        &mut status,
    );
    assert_eq!(status, RS_OK);
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    assert_eq!(unsafe { rs_tracer_open(t) }, RS_ERR_RING);
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    unsafe { rs_tracer_free(t) };

    // NULL, and memory that is not a tracer.
    let not_a_tracer = [0u64; 64];
    let fake = not_a_tracer.as_ptr().cast::<rs_tracer_t>();
    let mut stats = rs_ring_stats_t::default();
    for t in [null(), fake] {
        let code = if t.is_null() {
            RS_ERR_NULL
        } else {
            RS_ERR_INVALID
        };
        // SAFETY: every pointer given is NULL or valid for the length given; the
        // bad arguments are NULLs, lengths, contents and states, never wild memory.
        unsafe {
            assert_eq!(rs_tracer_open(t), code);
            assert_eq!(rs_tracer_close(t), code);
            assert_eq!(rs_tracer_stats(t, &mut stats), code);
            let mut span = zero_span();
            assert_eq!(
                rs_span_start(t, &mut span, c(b"x"), 1, RS_SPAN_KIND_INTERNAL, null()),
                code
            );
            assert_eq!(rs_span_end(&mut span), RS_ERR_NOT_STARTED);
            rs_tracer_free(t.cast_mut());
        }
    }
    assert_eq!(
        not_a_tracer, [0; 64],
        "memory that is not a tracer is left alone"
    );

    let dir = ring_dir("tracer");
    let t = tracer(&dir);
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    assert_eq!(unsafe { rs_tracer_stats(t, null_mut()) }, RS_ERR_NULL);
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    unsafe { rs_tracer_free(t) };
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_closed_tracer_starts_and_writes_nothing() {
    let dir = ring_dir("closed");
    let t = tracer(&dir);
    let mut stats = rs_ring_stats_t::default();
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    unsafe {
        assert_eq!(rs_tracer_open(t), RS_OK);
        let mut open_span = zero_span();
        assert_eq!(
            rs_span_start(
                t,
                &mut open_span,
                c(b"before"),
                6,
                RS_SPAN_KIND_INTERNAL,
                null()
            ),
            RS_OK
        );
        assert_eq!(rs_tracer_close(t), RS_OK);
        assert_eq!(rs_tracer_close(t), RS_ERR_CLOSED);
        assert_eq!(rs_tracer_open(t), RS_ERR_CLOSED);
        let mut span = zero_span();
        assert_eq!(
            rs_span_start(t, &mut span, c(b"after"), 5, RS_SPAN_KIND_INTERNAL, null()),
            RS_ERR_CLOSED
        );
        assert_eq!(
            rs_span_set_i64(&mut span, c(b"k"), 1, 1),
            RS_ERR_NOT_STARTED
        );
        assert_eq!(rs_span_end(&mut span), RS_ERR_NOT_STARTED);
        // A span open across the close ends without being written.
        assert_eq!(rs_span_end(&mut open_span), RS_ERR_CLOSED);
        assert_eq!(rs_span_end(&mut open_span), RS_ERR_ENDED);
        assert_eq!(
            rs_tracer_stats(t, &mut stats),
            RS_OK,
            "stats work when closed"
        );
        rs_tracer_free(t);
    }
    assert_eq!((stats.written, stats.dropped, stats.lost), (0, 0, 0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn span_functions_refuse_bad_arguments_and_change_nothing() {
    let dir = ring_dir("span");
    let t = tracer(&dir);
    let big = vec![b'a'; RS_MAX_STRING + 1];
    let long_key = [b'k'; 256];
    let mut ctx = zero_context();
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    unsafe {
        // Starting.
        let mut s = zero_span();
        let start = |s: &mut rs_span_t, name: &[u8], len: usize, kind, parent| {
            rs_span_start(t, s, c(name), len, kind, parent)
        };
        assert_eq!(
            rs_span_start(t, null_mut(), c(b"x"), 1, RS_SPAN_KIND_INTERNAL, null()),
            RS_ERR_NULL
        );
        assert_eq!(
            rs_span_start(t, &mut s, null(), 3, RS_SPAN_KIND_INTERNAL, null()),
            RS_ERR_NULL
        );
        assert_eq!(
            start(
                &mut s,
                BAD_UTF8,
                BAD_UTF8.len(),
                RS_SPAN_KIND_INTERNAL,
                null()
            ),
            RS_ERR_UTF8
        );
        assert_eq!(
            start(&mut s, &big, big.len(), RS_SPAN_KIND_INTERNAL, null()),
            RS_ERR_TOO_LONG
        );
        for kind in [0, 6, 256 + 1, u32::MAX] {
            assert_eq!(start(&mut s, b"x", 1, kind, null()), RS_ERR_INVALID);
        }
        let mut bad_parent = some_context();
        bad_parent.trace_state_len = (RS_TRACESTATE_MAX + 1) as u16;
        assert_eq!(
            start(&mut s, b"x", 1, RS_SPAN_KIND_INTERNAL, &bad_parent),
            RS_ERR_INVALID
        );
        bad_parent.trace_state_len = 2;
        bad_parent.trace_state[0] = b'\n' as c_char;
        assert_eq!(
            start(&mut s, b"x", 1, RS_SPAN_KIND_INTERNAL, &bad_parent),
            RS_ERR_INVALID
        );

        // Every call on a span that failed to start, or on NULL.
        for (span, code) in [
            (&mut s as *mut rs_span_t, RS_ERR_NOT_STARTED),
            (null_mut(), RS_ERR_NULL),
        ] {
            assert_eq!(rs_span_set_kind(span, RS_SPAN_KIND_SERVER), code);
            assert_eq!(rs_span_set_status(span, RS_STATUS_OK, null(), 0), code);
            assert_eq!(rs_span_record_error(span, c(b"E"), 1, c(b"m"), 1), code);
            assert_eq!(rs_span_set_str(span, c(b"k"), 1, c(b"v"), 1), code);
            assert_eq!(rs_span_set_i64(span, c(b"k"), 1, 1), code);
            assert_eq!(rs_span_set_f64(span, c(b"k"), 1, 1.0), code);
            assert_eq!(rs_span_set_bool(span, c(b"k"), 1, true), code);
            assert_eq!(rs_span_add_event(span, c(b"e"), 1, null(), 0), code);
            assert_eq!(rs_span_add_link(span, &some_context(), null(), 0), code);
            assert_eq!(rs_span_context(span, &mut ctx), code);
            assert_eq!(rs_span_end(span), code);
        }

        // A live span: each bad call fails and leaves it as it was.
        let parent = some_context();
        assert_eq!(
            start(&mut s, b"good", 4, RS_SPAN_KIND_SERVER, &parent),
            RS_OK
        );
        assert_eq!(rs_span_set_kind(&mut s, 0), RS_ERR_INVALID);
        assert_eq!(rs_span_set_status(&mut s, 3, null(), 0), RS_ERR_INVALID);
        assert_eq!(
            rs_span_set_status(&mut s, RS_STATUS_ERROR, c(BAD_UTF8), BAD_UTF8.len()),
            RS_ERR_UTF8
        );
        assert_eq!(
            rs_span_set_status(&mut s, RS_STATUS_ERROR, null(), 4),
            RS_ERR_NULL
        );
        assert_eq!(
            rs_span_record_error(&mut s, null(), 1, c(b"m"), 1),
            RS_ERR_NULL
        );
        assert_eq!(
            rs_span_record_error(&mut s, c(b"E"), 1, c(&big), big.len()),
            RS_ERR_TOO_LONG
        );
        assert_eq!(
            rs_span_set_str(&mut s, c(&long_key), long_key.len(), c(b"v"), 1),
            RS_ERR_TOO_LONG
        );
        assert_eq!(rs_span_set_str(&mut s, null(), 1, c(b"v"), 1), RS_ERR_NULL);
        assert_eq!(rs_span_set_str(&mut s, c(b"k"), 1, null(), 1), RS_ERR_NULL);
        assert_eq!(
            rs_span_set_str(&mut s, c(BAD_UTF8), BAD_UTF8.len(), c(b"v"), 1),
            RS_ERR_UTF8
        );
        assert_eq!(
            rs_span_set_str(&mut s, c(b"k"), 1, c(BAD_UTF8), BAD_UTF8.len()),
            RS_ERR_UTF8
        );
        assert_eq!(
            rs_span_set_str(&mut s, c(b"k"), 1, c(&big), big.len()),
            RS_ERR_TOO_LONG
        );
        assert_eq!(
            rs_span_set_i64(&mut s, c(BAD_UTF8), BAD_UTF8.len(), 1),
            RS_ERR_UTF8
        );
        assert_eq!(rs_span_set_f64(&mut s, null(), 2, 1.0), RS_ERR_NULL);
        assert_eq!(
            rs_span_set_bool(&mut s, c(&long_key), long_key.len(), true),
            RS_ERR_TOO_LONG
        );

        let attrs = [rs_attr_t {
            key: rs_str_t {
                ptr: c(b"a"),
                len: 1,
            },
            kind: RS_VALUE_I64,
            value: rs_value_t { as_i64: 1 },
        }; RS_MAX_EVENT_ATTRS + 1];
        let mut bad_kind = attrs[0];
        bad_kind.kind = 99;
        let mut bad_str = attrs[0];
        bad_str.kind = RS_VALUE_STR;
        bad_str.value.as_str = rs_str_t {
            ptr: c(BAD_UTF8),
            len: BAD_UTF8.len(),
        };
        assert_eq!(
            rs_span_add_event(&mut s, c(b"e"), 1, null(), 1),
            RS_ERR_NULL
        );
        assert_eq!(
            rs_span_add_event(&mut s, c(b"e"), 1, attrs.as_ptr(), attrs.len()),
            RS_ERR_TOO_LONG
        );
        assert_eq!(
            rs_span_add_event(&mut s, c(b"e"), 1, &bad_kind, 1),
            RS_ERR_INVALID
        );
        assert_eq!(
            rs_span_add_event(&mut s, c(b"e"), 1, &bad_str, 1),
            RS_ERR_UTF8
        );
        assert_eq!(
            rs_span_add_event(&mut s, c(BAD_UTF8), BAD_UTF8.len(), null(), 0),
            RS_ERR_UTF8
        );
        assert_eq!(rs_span_add_link(&mut s, null(), null(), 0), RS_ERR_NULL);
        assert_eq!(
            rs_span_add_link(&mut s, &zero_context(), null(), 0),
            RS_ERR_INVALID
        );
        assert_eq!(
            rs_span_add_link(&mut s, &parent, &bad_kind, 1),
            RS_ERR_INVALID
        );
        assert_eq!(rs_span_context(&s, null_mut()), RS_ERR_NULL);

        // Then good calls, and the end; ending twice is refused.
        assert_eq!(rs_span_set_i64(&mut s, c(b"ok"), 2, 7), RS_OK);
        assert_eq!(
            rs_span_add_event(&mut s, c(b"e"), 1, attrs.as_ptr(), 1),
            RS_OK
        );
        assert_eq!(rs_span_end(&mut s), RS_OK);
        assert_eq!(rs_span_end(&mut s), RS_ERR_ENDED);
        assert_eq!(rs_span_set_i64(&mut s, c(b"late"), 4, 1), RS_ERR_ENDED);
        assert_eq!(rs_span_set_kind(&mut s, RS_SPAN_KIND_CLIENT), RS_ERR_ENDED);
        assert_eq!(
            rs_span_context(&s, &mut ctx),
            RS_OK,
            "an ended span still has a context"
        );
        rs_tracer_free(t);
    }

    // Exactly the one span, with exactly the good calls' effects.
    let ring = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut consumer = Consumer::open(&ring).unwrap();
    let mut records = Vec::new();
    consumer.read(100, &mut records);
    assert_eq!(records.len(), 1);
    let v = RecordView::new(&records[0]).unwrap();
    assert_eq!(v.name(), "good");
    assert_eq!(v.kind(), ringside::record::SpanKind::Server);
    assert_eq!(v.status(), ringside::record::StatusCode::Unset);
    let attrs: Vec<_> = v.attrs().map(|a| (a.key, a.value)).collect();
    assert_eq!(attrs, [("ok", Value::I64(7))]);
    assert_eq!(
        v.entries().count(),
        3,
        "trace state, attribute, event: {:?}",
        v.entries().collect::<Vec<_>>()
    );
    assert_eq!(v.span_id(), ctx.span_id);
    assert_eq!(v.trace_id(), some_context().trace_id);
    std::fs::remove_dir_all(&dir).unwrap();
}
