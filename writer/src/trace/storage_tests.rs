use std::collections::HashMap;
use std::path::PathBuf;

use super::*;
use crate::record::{Record, RecordView, StatusCode, Value};
use crate::ring::Consumer;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringside-storage-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `f` with a fresh tracer and returns the records it wrote.
fn spans_of(tag: &str, f: impl FnOnce(&Tracer)) -> Vec<Record> {
    let dir = temp_dir(tag);
    let tracer = Tracer::builder("storage-test")
        .dir(&dir)
        .capacity(64)
        .build();
    f(&tracer);
    let mut consumer = Consumer::open(&tracer.ring_path().unwrap()).unwrap();
    let mut out = Vec::new();
    consumer.read(64, &mut out);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn attrs<'a>(view: &RecordView<'a>) -> HashMap<&'a str, Value<'a>> {
    view.attrs().map(|a| (a.key, a.value)).collect()
}

#[test]
fn file_op_is_a_server_span_with_path_size_operation_and_client() {
    let recs = spans_of("file", |t| {
        let mut span = file_op(
            t,
            None,
            FileOp::Read,
            "/vol1/photos/cat.jpg",
            None,
            "client-3",
        );
        set_size(&mut span, 65536);
    });
    let view = RecordView::new(&recs[0]).unwrap();
    assert_eq!(view.name(), "storage.file.read");
    assert_eq!(view.kind(), SpanKind::Server);
    let a = attrs(&view);
    assert_eq!(a[FILE_PATH], Value::Str("/vol1/photos/cat.jpg"));
    assert_eq!(a[FILE_SIZE], Value::I64(65536));
    assert_eq!(a[OPERATION], Value::Str("read"));
    assert_eq!(a[CLIENT_ID], Value::Str("client-3"));
    assert_eq!(view.dropped(), (0, 0, 0));
}

#[test]
fn metadata_op_records_key_result_and_version_under_its_parent() {
    let recs = spans_of("meta", |t| {
        let parent = t.span("parent");
        let mut span = metadata_op(t, Some(&parent.context()), MetadataOp::Commit, "/a/b");
        set_metadata_result(&mut span, MetadataResult::Hit, Some(7));
        span.end();
        let mut miss = metadata_op(t, Some(&parent.context()), MetadataOp::Lookup, "/a/c");
        set_metadata_result(&mut miss, MetadataResult::Miss, None);
    });
    let parent = RecordView::new(&recs[2]).unwrap();
    let commit = RecordView::new(&recs[0]).unwrap();
    assert_eq!(commit.name(), "storage.metadata.commit");
    assert_eq!(commit.parent_span_id(), Some(parent.span_id()));
    assert_eq!(commit.trace_id(), parent.trace_id());
    let a = attrs(&commit);
    assert_eq!(a[METADATA_KEY], Value::Str("/a/b"));
    assert_eq!(a[METADATA_RESULT], Value::Str("hit"));
    assert_eq!(a[METADATA_VERSION], Value::I64(7));
    let miss = RecordView::new(&recs[1]).unwrap();
    assert_eq!(attrs(&miss)[METADATA_RESULT], Value::Str("miss"));
    assert!(!attrs(&miss).contains_key(METADATA_VERSION));
}

#[test]
fn failed_data_op_keeps_every_attribute_and_the_error() {
    let recs = spans_of("data", |t| {
        let mut span = data_op(t, None, DataOp::Write, "f000123456.v12", 4 << 20, 3, 1);
        record_error(&mut span, "EIO", "injected disk error on node 3");
    });
    let view = RecordView::new(&recs[0]).unwrap();
    assert_eq!(view.name(), "storage.data.write");
    assert_eq!(view.kind(), SpanKind::Server);
    let a = attrs(&view);
    assert_eq!(a[CHUNK_ID], Value::Str("f000123456.v12"));
    assert!(!a.contains_key(OPERATION));
    assert_eq!(a[CHUNK_SIZE], Value::I64(4 << 20));
    assert_eq!(a[NODE_ID], Value::I64(3));
    assert_eq!(a[REPLICA_INDEX], Value::I64(1));
    assert_eq!(a[ERROR_TYPE], Value::Str("EIO"));
    assert_eq!(view.status(), StatusCode::Error);
    assert_eq!(view.status_message(), Some("injected disk error on node 3"));
    assert_eq!(view.dropped(), (0, 0, 0));
}

#[test]
fn failed_transfer_keeps_peer_method_error_and_bytes() {
    let peer: SocketAddr = "127.0.0.1:40123".parse().unwrap();
    let recs = spans_of("net", |t| {
        let span = transfer(t, None, "data/Write", peer);
        end_transfer(span, 4_194_400, 37, Some(("EIO", "replica write failed")));
    });
    let view = RecordView::new(&recs[0]).unwrap();
    assert_eq!(view.name(), "data/Write");
    assert_eq!(view.kind(), SpanKind::Client);
    let a = attrs(&view);
    assert_eq!(a[RPC_METHOD], Value::Str("Write"));
    assert_eq!(a[NETWORK_PEER_ADDRESS], Value::Str("127.0.0.1"));
    assert_eq!(a[NETWORK_PEER_PORT], Value::I64(40123));
    assert_eq!(a[BYTES_SENT], Value::I64(4_194_400));
    assert_eq!(a[BYTES_RECEIVED], Value::I64(37));
    assert_eq!(a[ERROR_TYPE], Value::Str("EIO"));
    assert_eq!(view.status_message(), Some("replica write failed"));
    assert_eq!(view.dropped(), (0, 0, 0));
}

#[test]
fn ipv6_peer_is_written_whole() {
    let peer: SocketAddr = "[fe80::1:2:3:4]:9000".parse().unwrap();
    let recs = spans_of("ipv6", |t| {
        let _span = transfer(t, None, "meta/Lookup", peer);
    });
    let view = RecordView::new(&recs[0]).unwrap();
    assert_eq!(
        attrs(&view)[NETWORK_PEER_ADDRESS],
        Value::Str("fe80::1:2:3:4")
    );
}

#[test]
fn operation_names_follow_the_namespace() {
    assert_eq!(FileOp::Delete.span_name(), "storage.file.delete");
    assert_eq!(
        MetadataOp::Allocate.span_name(),
        "storage.metadata.allocate"
    );
    assert_eq!(DataOp::Verify.as_str(), "verify");
}

#[test]
fn io_errors_map_to_errno_names() {
    let eio = std::io::Error::from_raw_os_error(libc::EIO);
    assert_eq!(io_error_type(&eio), "EIO");
    let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
    assert_eq!(io_error_type(&eof), "unexpected_eof");
}
