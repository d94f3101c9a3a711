//! The `rs_storage_*` helpers write the same spans as the Rust storage
//! helpers: the same request traced through both is compared record by
//! record (name, kind, status, attributes in order, parent structure). Then
//! each helper is fed bad arguments.

use std::ffi::c_char;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

use ringside::ffi::*;
use ringside::record::{Record, RecordView, Value};
use ringside::ring::Consumer;
use ringside::trace::Tracer;
use ringside::trace::storage::{self, DataOp, FileOp, MetadataOp, MetadataResult};

fn c(s: &str) -> *const c_char {
    s.as_ptr().cast()
}

fn ring_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("c-abi-storage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn records(dir: &Path) -> Vec<Record> {
    let ring = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut consumer = Consumer::open(&ring).unwrap();
    let mut out = Vec::new();
    consumer.read(1000, &mut out);
    out
}

/// What must match between the two: everything but ids and times, with
/// parents given as the index of the parent record.
type Shape = (
    String,
    String,
    String,
    Option<String>,
    Vec<(String, String)>,
    Option<usize>,
);

fn shapes(records: &[Record]) -> Vec<Shape> {
    let views: Vec<RecordView<'_>> = records
        .iter()
        .map(|r| RecordView::new(r).unwrap())
        .collect();
    views
        .iter()
        .map(|v| {
            let attrs = v
                .attrs()
                .map(|a| {
                    let value = match a.value {
                        Value::Str(s) => format!("{s:?}"),
                        other => format!("{other:?}"),
                    };
                    (a.key.to_string(), value)
                })
                .collect();
            let parent = v
                .parent_span_id()
                .and_then(|p| views.iter().position(|o| o.span_id() == p));
            (
                v.name().to_string(),
                v.kind().as_str().to_string(),
                v.status().as_str().to_string(),
                v.status_message().map(str::to_string),
                attrs,
                parent,
            )
        })
        .collect()
}

fn rust_request(tracer: &Tracer) {
    let mut file = storage::file_op(tracer, None, FileOp::Read, "/vol1/a", None, "client-7");
    let file_ctx = file.context();
    let mut meta = storage::metadata_op(tracer, Some(&file_ctx), MetadataOp::Lookup, "/vol1/a");
    storage::set_metadata_result(&mut meta, MetadataResult::Hit, Some(3));
    meta.end();
    storage::set_size(&mut file, 4096);
    let mut data = storage::data_op(tracer, Some(&file_ctx), DataOp::Read, "c-42", 65536, 3, 1);
    let data_ctx = data.context();
    let peer: SocketAddr = "10.0.0.7:7070".parse().unwrap();
    let t = storage::transfer(tracer, Some(&data_ctx), "data/Read", peer);
    storage::end_transfer(t, 128, 65536, None);
    let peer: SocketAddr = "[::1]:7071".parse().unwrap();
    let t = storage::transfer(tracer, Some(&data_ctx), "data/Write", peer);
    storage::end_transfer(t, 64, 0, Some(("ECONNRESET", "peer reset")));
    storage::record_error(&mut data, "EIO", "checksum mismatch");
    data.end();
    file.end();
    let mut write = storage::file_op(tracer, None, FileOp::Write, "/vol1/b", Some(10), "c-8");
    storage::mark_invalid_context(&mut write);
    write.end();
}

/// The same request through the C ABI.
unsafe fn c_request(t: *const rs_tracer_t) {
    let span = || rs_span_t {
        opaque: [0; RS_SPAN_WORDS],
    };
    let (mut file, mut meta, mut data, mut tr, mut write) =
        (span(), span(), span(), span(), span());
    let mut file_ctx = zero_context();
    let mut data_ctx = zero_context();
    // SAFETY: a live tracer, spans and contexts on this stack, strings valid
    // for the lengths given.
    unsafe {
        let ok = |code| assert_eq!(code, RS_OK);
        ok(rs_storage_file_start(
            t,
            &mut file,
            null(),
            RS_FILE_READ,
            c("/vol1/a"),
            7,
            RS_UNKNOWN,
            c("client-7"),
            8,
        ));
        ok(rs_span_context(&file, &mut file_ctx));
        ok(rs_storage_metadata_start(
            t,
            &mut meta,
            &file_ctx,
            RS_METADATA_LOOKUP,
            c("/vol1/a"),
            7,
        ));
        ok(rs_storage_set_metadata_result(
            &mut meta,
            RS_METADATA_HIT,
            3,
        ));
        ok(rs_span_end(&mut meta));
        ok(rs_storage_set_size(&mut file, 4096));
        ok(rs_storage_data_start(
            t,
            &mut data,
            &file_ctx,
            RS_DATA_READ,
            c("c-42"),
            4,
            65536,
            3,
            1,
        ));
        ok(rs_span_context(&data, &mut data_ctx));
        ok(rs_storage_transfer_start(
            t,
            &mut tr,
            &data_ctx,
            c("data/Read"),
            9,
            c("10.0.0.7"),
            8,
            7070,
        ));
        ok(rs_storage_transfer_end(
            &mut tr,
            128,
            65536,
            null(),
            0,
            null(),
            0,
        ));
        ok(rs_storage_transfer_start(
            t,
            &mut tr,
            &data_ctx,
            c("data/Write"),
            10,
            c("0:0::1"),
            6,
            7071,
        ));
        ok(rs_storage_transfer_end(
            &mut tr,
            64,
            0,
            c("ECONNRESET"),
            10,
            c("peer reset"),
            10,
        ));
        ok(rs_span_record_error(
            &mut data,
            c("EIO"),
            3,
            c("checksum mismatch"),
            17,
        ));
        ok(rs_span_end(&mut data));
        ok(rs_span_end(&mut file));
        ok(rs_storage_file_start(
            t,
            &mut write,
            null(),
            RS_FILE_WRITE,
            c("/vol1/b"),
            7,
            10,
            c("c-8"),
            3,
        ));
        ok(rs_storage_mark_invalid_context(&mut write));
        ok(rs_span_end(&mut write));
    }
}

fn zero_context() -> rs_span_context_t {
    rs_span_context_t {
        trace_id: [0; 16],
        span_id: [0; 8],
        flags: 0,
        is_remote: 0,
        trace_state_len: 0,
        trace_state: [0; RS_TRACESTATE_MAX],
    }
}

fn c_tracer(dir: &Path) -> *mut rs_tracer_t {
    let path = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    let mut status = -1;
    // SAFETY: NUL-terminated strings and a status to write.
    let t = unsafe { rs_tracer_new(c"storage".as_ptr(), path.as_ptr(), &mut status) };
    assert_eq!(status, RS_OK);
    t
}

#[test]
fn c_storage_helpers_write_what_the_rust_helpers_write() {
    let rust_dir = ring_dir("rust");
    let c_dir = ring_dir("c");
    let tracer = Tracer::builder("storage").dir(&rust_dir).build();
    rust_request(&tracer);
    let t = c_tracer(&c_dir);
    // SAFETY: a live tracer, freed after its spans ended.
    unsafe {
        c_request(t);
        rs_tracer_free(t);
    }
    let rust = shapes(&records(&rust_dir));
    let from_c = shapes(&records(&c_dir));
    assert_eq!(rust.len(), 6);
    for (r, c) in rust.iter().zip(&from_c) {
        assert_eq!(r, c);
    }
    assert_eq!(rust.len(), from_c.len());
    // And the vocabulary is the documented one.
    let names: Vec<_> = from_c.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "storage.metadata.lookup",
            "data/Read",
            "data/Write",
            "storage.data.read",
            "storage.file.read",
            "storage.file.write",
        ]
    );
    let write_transfer = &from_c[2];
    assert_eq!(write_transfer.0, "data/Write");
    assert!(
        write_transfer
            .4
            .contains(&("network.peer.address".into(), "\"::1\"".into()))
    );
    assert!(
        write_transfer
            .4
            .contains(&("error.type".into(), "\"ECONNRESET\"".into()))
    );
    std::fs::remove_dir_all(&rust_dir).unwrap();
    std::fs::remove_dir_all(&c_dir).unwrap();
}

#[test]
fn c_storage_helpers_refuse_bad_arguments() {
    let dir = ring_dir("errors");
    let t = c_tracer(&dir);
    let mut s = rs_span_t {
        opaque: [0; RS_SPAN_WORDS],
    };
    let bad = b"\xff\xfe";
    let bad = bad.as_ptr().cast::<c_char>();
    // SAFETY: every pointer given is NULL or valid for the length given; the
    // bad arguments are NULLs, lengths, contents and states, never wild memory.
    unsafe {
        let file = |s: *mut rs_span_t, op, path, len| {
            rs_storage_file_start(t, s, null(), op, path, len, 1, c("c"), 1)
        };
        assert_eq!(file(null_mut(), RS_FILE_READ, c("/a"), 2), RS_ERR_NULL);
        assert_eq!(file(&mut s, 0, c("/a"), 2), RS_ERR_INVALID);
        assert_eq!(file(&mut s, 7, c("/a"), 2), RS_ERR_INVALID);
        assert_eq!(file(&mut s, RS_FILE_READ, bad, 2), RS_ERR_UTF8);
        assert_eq!(file(&mut s, RS_FILE_READ, null(), 2), RS_ERR_NULL);
        assert_eq!(
            rs_span_end(&mut s),
            RS_ERR_NOT_STARTED,
            "a failed start leaves no span"
        );
        assert_eq!(
            rs_storage_metadata_start(t, &mut s, null(), 9, c("k"), 1),
            RS_ERR_INVALID
        );
        assert_eq!(
            rs_storage_metadata_start(t, &mut s, null(), RS_METADATA_LOOKUP, bad, 2),
            RS_ERR_UTF8
        );
        assert_eq!(
            rs_storage_data_start(t, &mut s, null(), 0, c("c"), 1, 1, 1, 1),
            RS_ERR_INVALID
        );
        assert_eq!(
            rs_storage_data_start(null(), &mut s, null(), RS_DATA_READ, c("c"), 1, 1, 1, 1),
            RS_ERR_NULL
        );
        let transfer = |s: *mut rs_span_t, ip: &str| {
            rs_storage_transfer_start(t, s, null(), c("data/Read"), 9, c(ip), ip.len(), 1)
        };
        assert_eq!(transfer(&mut s, "10.0.0"), RS_ERR_INVALID);
        assert_eq!(transfer(&mut s, "host.example"), RS_ERR_INVALID);
        assert_eq!(transfer(&mut s, ""), RS_ERR_INVALID);
        assert_eq!(
            rs_storage_transfer_start(t, &mut s, null(), bad, 2, c("::1"), 3, 1),
            RS_ERR_UTF8
        );

        // On spans not started, or NULL.
        for (span, code) in [
            (&mut s as *mut rs_span_t, RS_ERR_NOT_STARTED),
            (null_mut(), RS_ERR_NULL),
        ] {
            assert_eq!(rs_storage_set_size(span, 1), code);
            assert_eq!(
                rs_storage_set_metadata_result(span, RS_METADATA_HIT, 1),
                code
            );
            assert_eq!(rs_storage_mark_invalid_context(span), code);
            assert_eq!(
                rs_storage_transfer_end(span, 1, 1, null(), 0, null(), 0),
                code
            );
        }

        // On a live span: a bad result, bad error text; then ended twice.
        assert_eq!(
            rs_storage_metadata_start(t, &mut s, null(), RS_METADATA_LOOKUP, c("k"), 1),
            RS_OK
        );
        assert_eq!(
            rs_storage_set_metadata_result(&mut s, 3, RS_UNKNOWN),
            RS_ERR_INVALID
        );
        assert_eq!(rs_span_end(&mut s), RS_OK);
        assert_eq!(
            rs_storage_transfer_start(t, &mut s, null(), c("x/y"), 3, c("::1"), 3, 1),
            RS_OK
        );
        assert_eq!(
            rs_storage_transfer_end(&mut s, 1, 1, bad, 2, null(), 0),
            RS_ERR_UTF8
        );
        assert_eq!(
            rs_storage_transfer_end(&mut s, 1, 1, c("E"), 1, null(), 5),
            RS_ERR_NULL
        );
        assert_eq!(
            rs_storage_transfer_end(&mut s, 1, 1, null(), 0, null(), 0),
            RS_OK
        );
        assert_eq!(
            rs_storage_transfer_end(&mut s, 1, 1, null(), 0, null(), 0),
            RS_ERR_ENDED
        );
        assert_eq!(rs_storage_set_size(&mut s, 1), RS_ERR_ENDED);

        assert_eq!(rs_tracer_close(t), RS_OK);
        assert_eq!(file(&mut s, RS_FILE_READ, c("/a"), 2), RS_ERR_CLOSED);
        rs_tracer_free(t);
    }
    // Only the two good spans were written, and the failed calls added nothing.
    let recs = records(&dir);
    let shapes = shapes(&recs);
    assert_eq!(shapes.len(), 2);
    assert_eq!(
        shapes[0].4,
        [("storage.metadata.key".to_string(), "\"k\"".to_string())]
    );
    assert_eq!(shapes[1].0, "x/y");
    assert_eq!(shapes[1].2, "unset");
    std::fs::remove_dir_all(&dir).unwrap();
}
