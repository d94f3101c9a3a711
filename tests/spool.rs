//! The spool's behaviour through its public API: round trips, independent
//! readers, restarts, ring positions, the size cap, waiting, seeking, stats.
//! Damage on disk is in `spool_recovery.rs`, a killed appender in
//! `spool_crash.rs`.

mod spool_support;

use std::collections::HashMap;
use std::fs;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use ringside_agent::sidecar::spool::{Spool, SpoolLimits};
use spool_support::*;

const ROOMY: SpoolLimits = SpoolLimits {
    max_bytes: 1 << 30,
    segment_bytes: 1 << 20,
};
/// A long wait: a test relying on a wake-up hangs (and fails) without it.
const FOREVER: Duration = Duration::from_secs(3600);

#[test]
fn append_read_ack_round_trip_is_exact_and_read_does_not_advance() {
    let dir = test_dir("round-trip");
    let mut spool = Spool::open(&dir, ROOMY).unwrap();
    let (a, b) = (resource("svc-a", 11), resource("svc-b", 22));
    let sent = [batch(&a, 0, 3), batch(&b, 100, 2), batch(&a, 3, 4)];
    let mut last = None;
    for (i, s) in sent.iter().enumerate() {
        last = Some(
            spool
                .append(s, Some((s.resource.ring_id, 10 + i as u64)))
                .unwrap(),
        );
    }
    let mut reader = spool.reader("otlp").unwrap();
    assert_eq!(reader.name(), "otlp");

    let first = reader.read(usize::MAX, usize::MAX).unwrap();
    assert_eq!(first.lost_spans, 0);
    assert_eq!(
        Some(first.next),
        last,
        "next is the cursor after the last entry"
    );
    assert_eq!(first.batches.len(), sent.len());
    for (got, want) in first.batches.iter().zip(&sent) {
        assert_eq!(*got.resource, *want.resource);
        assert_eq!(got.records.len(), want.records.len());
        assert!(
            got.records
                .iter()
                .zip(&want.records)
                .all(|(g, w)| same_record(g, w))
        );
    }
    assert!(
        Arc::ptr_eq(&first.batches[0].resource, &first.batches[2].resource),
        "one Arc per ring"
    );

    // Reading again without an ack returns the same data plus what came since.
    spool.append(&batch(&b, 102, 1), None).unwrap();
    let again = reader.read(usize::MAX, usize::MAX).unwrap();
    assert_eq!(ids(&again.batches), [0, 1, 2, 100, 101, 3, 4, 5, 6, 102]);

    // Limits: at least one whole entry, then whole entries within the limits.
    let one = reader.read(1, 1).unwrap();
    assert_eq!(
        ids(&one.batches),
        [0, 1, 2],
        "a first entry above the limits comes whole"
    );
    let by_spans = reader.read(5, usize::MAX).unwrap();
    assert_eq!(ids(&by_spans.batches), [0, 1, 2, 100, 101]);
    let by_bytes = reader.read(usize::MAX, 5 * 248).unwrap();
    assert_eq!(ids(&by_bytes.batches), [0, 1, 2, 100, 101]);

    reader.ack(by_spans.next).unwrap();
    let rest = reader.read(usize::MAX, usize::MAX).unwrap();
    assert_eq!(ids(&rest.batches), [3, 4, 5, 6, 102]);
    reader.ack(rest.next).unwrap();
    let none = reader.read(usize::MAX, usize::MAX).unwrap();
    assert!(none.batches.is_empty());
    assert_eq!(none.next, rest.next);
    assert_eq!(spool.stats().pending_spans, 0);
}

#[test]
fn readers_are_independent() {
    let dir = test_dir("independent");
    let mut spool = Spool::open(&dir, ROOMY).unwrap();
    let r = resource("svc", 1);
    let mut fast = spool.reader("fast").unwrap();
    let mut slow = spool.reader("slow").unwrap();
    for i in 0..5 {
        spool.append(&batch(&r, i * 10, 10), Some((1, i))).unwrap();
    }
    let (got, lost, _) = drain(&mut fast);
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    assert_eq!(lost, 0);
    assert_eq!(
        spool.stats().pending_spans,
        50,
        "the slow reader has acknowledged nothing"
    );
    let (got, _, _) = drain(&mut slow);
    assert_eq!(
        got,
        (0..50).collect::<Vec<_>>(),
        "the fast reader's acks took nothing from the slow one"
    );
    assert!(
        spool.reader("fast").is_err(),
        "one reader per name at a time"
    );
}

#[test]
fn restart_resumes_each_reader_at_its_ack_without_loss_or_duplicates() {
    let dir = test_dir("restart");
    let small = SpoolLimits {
        max_bytes: 1 << 30,
        segment_bytes: 8 << 10,
    };
    let r = resource("svc", 3);
    let (a_acked, b_acked);
    {
        let mut spool = Spool::open(&dir, small).unwrap();
        for i in 0..20 {
            spool
                .append(&batch(&r, i * 5, 5), Some((3, i + 1)))
                .unwrap();
        }
        assert!(
            spool.stats().segments > 3,
            "the data spans several segments"
        );
        let mut a = spool.reader("a").unwrap();
        let mut b = spool.reader("b").unwrap();
        let read_a = a.read(20, usize::MAX).unwrap();
        a.ack(read_a.next).unwrap();
        a_acked = ids(&read_a.batches);
        let read_b = b.read(70, usize::MAX).unwrap();
        b.ack(read_b.next).unwrap();
        b_acked = ids(&read_b.batches);
        // Read but not acknowledged: must come again after the restart.
        let _ = a.read(1000, usize::MAX).unwrap();
    }
    assert_eq!(a_acked.len(), 20);
    assert_eq!(b_acked.len(), 70);

    let mut spool = Spool::open(&dir, small).unwrap();
    assert_eq!(spool.recovery_report().corrupt_entries, 0);
    spool.append(&batch(&r, 100, 5), Some((3, 21))).unwrap();
    for (name, acked) in [("a", &a_acked), ("b", &b_acked)] {
        let mut reader = spool.reader(name).unwrap();
        let (rest, lost, _) = drain(&mut reader);
        assert_eq!(lost, 0);
        let mut all = acked.clone();
        all.extend(rest);
        assert_eq!(
            all,
            (0..105).collect::<Vec<_>>(),
            "reader {name}: each span exactly once"
        );
    }
}

#[test]
fn ring_positions_survive_reopen_and_deletion_of_their_segments() {
    let dir = test_dir("positions");
    let small = SpoolLimits {
        max_bytes: 1 << 30,
        segment_bytes: 8 << 10,
    };
    let (r1, r2, r3) = (resource("one", 1), resource("two", 2), resource("three", 3));
    {
        let mut spool = Spool::open(&dir, small).unwrap();
        let mut reader = spool.reader("only").unwrap();
        spool.append(&batch(&r1, 0, 5), Some((1, 500))).unwrap();
        spool.append(&batch(&r2, 5, 5), Some((2, 700))).unwrap();
        spool.append(&batch(&r3, 10, 5), Some((3, 900))).unwrap();
        spool.append(&batch(&r2, 15, 0), Some((2, 750))).unwrap(); // position only
        for i in 0..30 {
            spool.append(&batch(&r1, 100 + i, 1), None).unwrap(); // not tied to a ring
        }
        spool.forget_ring(3).unwrap();
        let (got, _, _) = drain(&mut reader);
        assert_eq!(got.len(), 45);
        let names_before = segments(&dir);
        assert!(
            names_before.len() <= 2,
            "acknowledged segments were deleted: {names_before:?}"
        );
        assert!(
            !names_before
                .iter()
                .any(|p| p.ends_with("00000000000000000001.seg"))
        );
        spool.sync().unwrap();
    }
    let spool = Spool::open(&dir, small).unwrap();
    let want = HashMap::from([(1, 500), (2, 750)]);
    assert_eq!(*spool.ring_positions(), want);
}

#[test]
fn size_cap_drops_oldest_and_counts_loss_for_the_lagging_reader_only() {
    let dir = test_dir("cap");
    let limits = SpoolLimits {
        max_bytes: 40 << 10,
        segment_bytes: 8 << 10,
    };
    let mut spool = Spool::open(&dir, limits).unwrap();
    let r = resource("svc", 9);
    let mut fast = spool.reader("fast").unwrap();
    let mut slow = spool.reader("slow").unwrap();
    let mut fast_got = Vec::new();
    let total = 400u64;
    for i in 0..total / 4 {
        spool.append(&batch(&r, i * 4, 4), Some((9, i))).unwrap();
        let (got, lost, _) = drain(&mut fast);
        assert_eq!(lost, 0);
        fast_got.extend(got);
    }
    assert_eq!(fast_got, (0..total).collect::<Vec<_>>());
    let stats = spool.stats();
    assert!(stats.bytes <= limits.max_bytes, "{stats:?}");
    assert!(stats.dropped_spans > 0, "{stats:?}");

    let peek = slow.read(8, usize::MAX).unwrap();
    assert_eq!(peek.lost_spans, stats.dropped_spans);
    let peek_again = slow.read(8, usize::MAX).unwrap();
    assert_eq!(
        peek_again.lost_spans, peek.lost_spans,
        "repeated until the ack"
    );
    assert_eq!(ids(&peek_again.batches), ids(&peek.batches));
    let (slow_got, lost, _) = drain(&mut slow);
    assert_eq!(lost, stats.dropped_spans, "counted once over the acks");
    assert_eq!(
        slow_got.len() as u64 + lost,
        total,
        "every span is either read or counted lost"
    );
    let first = total - slow_got.len() as u64;
    assert_eq!(
        slow_got,
        (first..total).collect::<Vec<_>>(),
        "the oldest went first"
    );
    let again = slow.read(usize::MAX, usize::MAX).unwrap();
    assert_eq!(again.lost_spans, 0, "the ack cleared it");
}

#[test]
fn wait_wakes_on_append_from_another_thread_and_returns_on_close() {
    let dir = test_dir("wait");
    let mut spool = Spool::open(&dir, ROOMY).unwrap();
    let r = resource("svc", 10);
    let mut reader = spool.reader("waiter").unwrap();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let mut got = Vec::new();
        while got.len() < 3 {
            reader.wait(FOREVER);
            let read = reader.read(usize::MAX, usize::MAX).unwrap();
            let new = ids(&read.batches);
            reader.ack(read.next).unwrap();
            if !new.is_empty() {
                tx.send(new.clone()).unwrap();
            }
            got.extend(new);
        }
        reader.wait(FOREVER); // returns only through close
        assert!(reader.is_closed());
        got
    });
    spool.append(&batch(&r, 0, 1), None).unwrap();
    assert_eq!(rx.recv().unwrap(), [0]);
    spool.append(&batch(&r, 1, 2), None).unwrap();
    let mut second = rx.recv().unwrap();
    if second.len() < 2 {
        second.extend(rx.recv().unwrap());
    }
    assert_eq!(second, [1, 2]);
    spool.close();
    assert_eq!(waiter.join().unwrap(), [0, 1, 2]);
}

#[test]
fn retained_readers_only_pin_segments() {
    let dir = test_dir("retain");
    let small = SpoolLimits {
        max_bytes: 1 << 30,
        segment_bytes: 8 << 10,
    };
    let r = resource("svc", 12);
    {
        let spool = Spool::open(&dir, small).unwrap();
        drop(spool.reader("gone").unwrap());
    }
    let mut spool = Spool::open(&dir, small).unwrap();
    let mut kept = spool.reader("kept").unwrap();
    for i in 0..30 {
        spool.append(&batch(&r, i * 5, 5), None).unwrap();
    }
    drain(&mut kept);
    assert!(
        spool.stats().segments > 2,
        "the old reader still pins the data"
    );
    spool.retain_readers(&["kept"]).unwrap();
    assert_eq!(spool.stats().segments, 1);
    assert!(!dir.join("cursor.gone").exists());
}

#[test]
fn seek_positions_a_reader_and_clamps() {
    let dir = test_dir("seek");
    let mut spool = Spool::open(&dir, ROOMY).unwrap();
    let r = resource("svc", 13);
    let c1 = spool.append(&batch(&r, 0, 2), None).unwrap();
    spool.append(&batch(&r, 2, 2), None).unwrap();
    let mut reader = spool.reader("jsonl").unwrap();
    reader.seek(c1);
    assert_eq!(
        ids(&reader.read(usize::MAX, usize::MAX).unwrap().batches),
        [2, 3]
    );
    reader.seek(Default::default());
    assert_eq!(
        ids(&reader.read(usize::MAX, usize::MAX).unwrap().batches),
        [0, 1, 2, 3]
    );
    let mut far = c1;
    far.segment += 1000;
    reader.seek(far);
    assert!(
        reader
            .read(usize::MAX, usize::MAX)
            .unwrap()
            .batches
            .is_empty()
    );
    spool.append(&batch(&r, 4, 1), None).unwrap();
    assert_eq!(
        ids(&reader.read(usize::MAX, usize::MAX).unwrap().batches),
        [4]
    );
}

#[test]
fn stats_count_pending_spans_and_their_age() {
    let dir = test_dir("stats");
    let mut spool = Spool::open(&dir, ROOMY).unwrap();
    let r = resource("svc", 14);
    assert_eq!(spool.stats().pending_spans, 0);
    assert_eq!(spool.stats().oldest_pending_unix_ns, None);
    let before = ringside::clock::unix_ns();
    spool.append(&batch(&r, 0, 3), None).unwrap();
    spool.append(&batch(&r, 3, 2), None).unwrap();
    let mut reader = spool.reader("one").unwrap();
    let stats = spool.stats();
    assert_eq!(
        (stats.pending_spans, stats.entries, stats.segments),
        (5, 2, 1)
    );
    assert!(
        stats.oldest_pending_unix_ns.is_some_and(|t| t >= before),
        "{stats:?}"
    );
    assert_eq!(stats.bytes, fs::metadata(&segments(&dir)[0]).unwrap().len());
    let first = reader.read(3, usize::MAX).unwrap();
    reader.ack(first.next).unwrap();
    assert_eq!(spool.stats().pending_spans, 2);
    drain(&mut reader);
    assert_eq!(spool.stats().pending_spans, 0);
    assert_eq!(spool.stats().oldest_pending_unix_ns, None);
}
