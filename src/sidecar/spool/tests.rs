//! Unit tests of the on-disk format: decoders never trust what they read, and
//! recovery keeps exactly the whole entries before any cut.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::format::{self, FILE_HEADER_LEN};
use super::segment::segment_path;
use super::{Spool, SpoolLimits};
use crate::batch::{Resource, SpanBatch};
use ringside::record::Record;

fn sample_batch(n: usize) -> SpanBatch {
    let resource = Arc::new(Resource {
        service: "svc".into(),
        pid: 7,
        host: "h".into(),
        ring_id: 99,
        attributes: vec![("a".into(), "b".into())],
    });
    let records = (0..n)
        .map(|i| {
            let mut r = Record::new("op");
            r.span_id = (i as u64 + 1).to_le_bytes();
            r
        })
        .collect();
    SpanBatch { resource, records }
}

#[test]
fn batch_entry_round_trips() {
    let batch = sample_batch(3);
    let mut buf = Vec::new();
    let len = format::encode_batch(&mut buf, &batch, Some((5, 77)), 123, 40).unwrap();
    assert_eq!(len, buf.len());
    let e = format::parse(&buf).unwrap();
    assert_eq!(
        (e.kind, e.flags, e.unix_ns, e.span_seq),
        (format::KIND_BATCH, format::FLAG_RING_POSITION, 123, 40)
    );
    let (head, resource, raw) = format::decode_batch(e.body).unwrap();
    assert_eq!((head.ring_id, head.end_pos, head.count), (5, 77, 3));
    assert_eq!(resource, *batch.resource);
    assert_eq!(raw, bytemuck::cast_slice::<Record, u8>(&batch.records));
}

#[test]
fn too_long_resource_strings_are_refused_not_truncated() {
    let mut batch = sample_batch(1);
    Arc::make_mut(&mut batch.resource).service = "s".repeat(70_000);
    let mut buf = vec![1, 2, 3];
    assert!(format::encode_batch(&mut buf, &batch, None, 0, 0).is_err());
    assert_eq!(buf, [1, 2, 3], "the buffer is left as it was");
}

#[test]
fn positions_round_trip() {
    let positions = HashMap::from([(1, 10), (u64::MAX, 0), (3, u64::MAX)]);
    let mut buf = Vec::new();
    format::encode_positions(&mut buf, &positions, 0, 0).unwrap();
    let e = format::parse(&buf).unwrap();
    assert_eq!(format::decode_positions(e.body), Some(positions));
}

/// Every cut of a segment opens: the entries wholly before the cut are kept,
/// the rest is gone, and appending works again.
#[test]
fn every_truncation_point_recovers_a_prefix() {
    let dir = std::env::temp_dir().join(format!("ringside-spool-cuts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let limits = SpoolLimits {
        max_bytes: 1 << 30,
        segment_bytes: 1 << 20,
    };
    let mut ends = Vec::new();
    {
        let mut spool = Spool::open(&dir, limits).unwrap();
        for i in 0..3 {
            ends.push(
                spool
                    .append(&sample_batch(i + 1), Some((1, i as u64 + 1)))
                    .unwrap()
                    .offset,
            );
        }
    }
    let path = segment_path(&dir, 1);
    let whole = std::fs::read(&path).unwrap();
    for cut in (FILE_HEADER_LEN..whole.len()).step_by(7) {
        std::fs::write(&path, &whole[..cut]).unwrap();
        let mut spool = Spool::open(&dir, limits).unwrap();
        let kept = ends.iter().filter(|&&end| end as usize <= cut).count();
        assert_eq!(spool.stats().entries, kept as u64, "cut at {cut}");
        let want_pos = HashMap::from([(1, kept as u64)]);
        if kept > 0 {
            assert_eq!(*spool.ring_positions(), want_pos, "cut at {cut}");
        }
        spool.append(&sample_batch(1), None).unwrap();
        drop(spool);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary bytes never make a decoder panic, and a body that decodes
    /// decodes the same way again.
    #[test]
    fn decoders_survive_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = format::declared_len(&bytes);
        if let Some(e) = format::parse(&bytes) {
            let _ = format::decode_batch(e.body);
            let _ = format::decode_positions(e.body);
            let _ = format::decode_forget(e.body);
        }
        let _ = format::decode_batch(&bytes);
        let _ = format::decode_positions(&bytes);
        let _ = format::decode_forget(&bytes);
        let _ = format::check_file_header(&bytes, 1);
    }

    /// One flipped bit anywhere in an entry is caught by the checksum.
    #[test]
    fn any_flipped_bit_is_detected(bit in 0usize..(8 * 400)) {
        let mut buf = Vec::new();
        format::encode_batch(&mut buf, &sample_batch(1), Some((2, 3)), 4, 5).unwrap();
        let bit = bit % (8 * buf.len());
        buf[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(format::parse(&buf).is_none());
    }
}

/// A failed fdatasync keeps every sealed segment it did not get through for
/// the next sync, and that sync covers exactly those (and the active one).
#[test]
fn a_failed_sync_keeps_the_unsynced_segments_for_the_next_one() {
    use std::os::unix::fs::MetadataExt;
    use std::sync::Mutex;

    let dir = std::env::temp_dir().join(format!("ringside-spool-sync-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let limits = SpoolLimits {
        max_bytes: 1 << 30,
        segment_bytes: 64 << 10,
    };
    let mut spool = Spool::open(&dir, limits).unwrap();
    // About 60 KiB per batch: every append past the first seals a segment.
    for i in 0..4 {
        spool.append(&sample_batch(240), Some((1, i + 1))).unwrap();
    }
    let sealed: Vec<u64> = spool
        .unsynced
        .iter()
        .map(|f| f.metadata().unwrap().ino())
        .collect();
    assert_eq!(sealed.len(), 3, "three sealed segments wait for a sync");

    // The disk fails on the second file.
    let synced = Arc::new(Mutex::new(Vec::new()));
    let seen = synced.clone();
    spool.sync_file = Box::new(move |f| {
        let mut seen = seen.lock().unwrap();
        if seen.len() == 1 {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        seen.push(f.metadata()?.ino());
        Ok(())
    });
    let err = spool.sync().expect_err("the injected failure");
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    assert_eq!(*synced.lock().unwrap(), sealed[..1]);
    let kept: Vec<u64> = spool
        .unsynced
        .iter()
        .map(|f| f.metadata().unwrap().ino())
        .collect();
    assert_eq!(
        kept,
        sealed[1..],
        "the failed one and those after it are kept"
    );

    // The disk is back: the next sync covers the kept segments, then the
    // active one.
    let synced = Arc::new(Mutex::new(Vec::new()));
    let seen = synced.clone();
    spool.sync_file = Box::new(move |f| {
        seen.lock().unwrap().push(f.metadata()?.ino());
        Ok(())
    });
    spool.sync().expect("sync");
    let active = std::fs::metadata(segment_path(&dir, spool.active.seq))
        .unwrap()
        .ino();
    assert_eq!(*synced.lock().unwrap(), [sealed[1], sealed[2], active]);
    assert!(spool.unsynced.is_empty());
    drop(spool);
    let _ = std::fs::remove_dir_all(&dir);
}
