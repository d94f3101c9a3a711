//! Model checking of the slot protocol with loom: every interleaving of two
//! producers and one consumer, on the same code writers and the sidecar run.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release -p ringside --lib loom`

use super::*;
use crate::record::Record;
use bytemuck::Zeroable;
use loom::sync::Arc;
use loom::thread;

fn rec(n: u64) -> Record {
    let mut r = Record::zeroed();
    r.start = n;
    r.end = !n;
    r
}

/// Reads until `want` positions are accounted for (read or abandoned), giving up
/// on a position after it was seen in progress `patience` times. Returns the
/// values read.
fn consume(view: RingRef<'_>, want: u64, patience: usize) -> Vec<u64> {
    let mut got = Vec::new();
    let mut pos = 0;
    let mut waited = 0;
    let mut out = Record::zeroed();
    while pos < want {
        match view.state(pos, &mut out) {
            SlotState::Committed => {
                assert_eq!(out.end, !out.start, "torn record");
                got.push(out.start);
                pos += 1;
                view.release(pos);
                waited = 0;
            }
            SlotState::Abandoned => pos += 1,
            SlotState::InProgress(seen) if waited >= patience => {
                if view.abandon(pos, seen) {
                    pos += 1;
                    view.release(pos);
                }
                waited = 0;
            }
            SlotState::InProgress(_) => {
                waited += 1;
                thread::yield_now();
            }
            SlotState::Empty => thread::yield_now(),
        }
    }
    got
}

#[test]
fn two_producers_one_consumer_exactly_once() {
    loom::model(|| {
        let ring = Arc::new(HeapRing::new(2));
        let producers: Vec<_> = (1..=2u64)
            .map(|v| {
                let ring = ring.clone();
                thread::spawn(move || ring.view().push(&rec(v)).is_ok())
            })
            .collect();
        let got = consume(ring.view(), 2, usize::MAX);
        let ok: usize = producers
            .into_iter()
            .map(|p| p.join().unwrap() as usize)
            .sum();
        assert_eq!(ok, 2, "two records fit in two slots");
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, vec![1, 2]);
    });
}

#[test]
fn full_ring_drops_and_counts_while_consumer_frees() {
    loom::model(|| {
        // One slot, two producers: the second either finds the slot freed by the
        // consumer or counts a drop; it never overwrites an unread record (loom
        // would report the data race on the record cell).
        let ring = Arc::new(HeapRing::new(1));
        let finished = Arc::new(AtomicU64::new(0));
        let producers: Vec<_> = (1..=2u64)
            .map(|v| {
                let (ring, finished) = (ring.clone(), finished.clone());
                thread::spawn(move || {
                    let ok = ring.view().push(&rec(v)).is_ok();
                    finished.fetch_add(1, Ordering::Release);
                    ok
                })
            })
            .collect();
        let view = ring.view();
        let mut got = Vec::new();
        let mut out = Record::zeroed();
        let mut pos = 0;
        loop {
            let all_done = finished.load(Ordering::Acquire) == 2;
            match view.state(pos, &mut out) {
                SlotState::Committed => {
                    assert_eq!(out.end, !out.start, "torn record");
                    got.push(out.start);
                    pos += 1;
                    view.release(pos);
                }
                SlotState::Empty if all_done => break,
                _ => thread::yield_now(),
            }
        }
        let ok: usize = producers
            .into_iter()
            .map(|p| p.join().unwrap() as usize)
            .sum();
        let dropped = view.counters.drops.dropped.load(Ordering::Relaxed) as usize;
        assert_eq!(ok + dropped, 2);
        assert_eq!(got.len(), ok);
        if got.len() == 2 {
            assert_ne!(got[0], got[1]);
        }
    });
}

#[test]
fn abandon_races_commit_with_one_winner() {
    loom::model(|| {
        let ring = Arc::new(HeapRing::new(2));
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || ring.view().push(&rec(7)))
        };
        // An impatient consumer: abandons as soon as it sees the position in
        // progress.
        let got = consume(ring.view(), 1, 0);
        let pushed = producer.join().unwrap();
        let view = ring.view();
        let abandoned = view.counters.consumer.abandoned.load(Ordering::Relaxed);
        let late = view.counters.drops.late.load(Ordering::Relaxed);
        match pushed {
            Ok(_) => assert_eq!((got, abandoned, late), (vec![7], 0, 0)),
            Err(PushError::Late) => assert_eq!((got.len(), abandoned, late), (0, 1, 1)),
            Err(PushError::Full) => panic!("ring cannot be full"),
        }
    });
}
