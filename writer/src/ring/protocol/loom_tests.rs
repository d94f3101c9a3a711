//! Model checking of the lane protocol with loom: every interleaving of the
//! writers and the reader, on the same code writers and the sidecar run.
//! Loom's cells also report any overlap of a writer's copy into a slot with
//! the reader's copy out of it, i.e. a torn record.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release -p ringside --lib loom -- --nocapture`
//!
//! Without a preemption bound loom explores every interleaving that differs
//! in the order of dependent operations (it skips reorderings of independent
//! ones), so the runs are exhaustive; the counts are small because a lane has
//! one writer and few atomic operations per record: 34 for the wrap-around,
//! 4 for the stalled writer, 16 for the guest lane, 10 for the hand-over
//! (printed with `--nocapture`). Each model asserts its count did not shrink,
//! so that a change which takes the scheduling points out of a model fails
//! instead of passing on one run.
//!
//! The reader yields between its looks at a lane: without a scheduling point
//! there, loom's first schedule runs the reader to the end before the writer
//! and finds nothing to reorder. Checked by mutation: publishing `tail` with
//! Relaxed instead of Release fails three of the four models (the hand-over
//! model does not read slots).

use super::*;
use crate::record::Record;
use bytemuck::Zeroable;
use loom::sync::Arc;
use loom::thread;

/// Runs `f` under `loom::model` and checks that loom explored at least
/// `at_least` interleavings (the count is printed): a model that loom runs
/// once, because nothing in it is a scheduling point, proves nothing.
fn explore(at_least: usize, f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    loom::model(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let runs = runs.load(Ordering::Relaxed);
    println!("loom explored {runs} interleavings");
    assert!(runs >= at_least, "loom explored only {runs} interleavings");
}

fn rec(n: u64) -> Record {
    let mut r = Record::zeroed();
    r.start = n;
    r.end = !n;
    r.payload[..8].copy_from_slice(&n.to_le_bytes());
    r.payload_len = 8;
    r
}

fn value(r: &Record) -> u64 {
    assert_eq!(r.end, !r.start, "torn header");
    assert_eq!(r.payload[..8], r.start.to_le_bytes(), "torn payload");
    r.start
}

/// Reads lane `i` from `*pos` up to what is published, releasing as it goes.
fn drain_lane(view: RingRef<'_>, i: usize, pos: &mut u64, got: &mut Vec<u64>) {
    let lane = view.lane(i);
    let tail = lane.published();
    let mut out = Record::zeroed();
    while *pos < tail {
        assert!(
            lane.read(*pos, &mut out),
            "published slot without its stamp"
        );
        got.push(value(&out));
        *pos += 1;
        lane.release(*pos);
    }
}

/// One writer pushes three records through a lane of two slots while the
/// reader drains and releases: the writer wraps around onto slots the reader
/// has just read. Every record arrives whole, in order, or was refused as full.
#[test]
fn loom_lane_wraps_around_under_the_reader() {
    explore(34, || {
        let ring = Arc::new(HeapRing::new(1, 2));
        let writer = {
            let ring = ring.clone();
            thread::spawn(move || {
                let lane = ring.view().lane(0);
                assert!(lane.try_take(OWNED));
                let mut accepted = Vec::new();
                for n in 1..=3 {
                    // SAFETY: taken above, given back below.
                    if unsafe { lane.push(&rec(n), || ()) }.is_ok() {
                        accepted.push(n);
                    }
                }
                lane.give_back();
                accepted
            })
        };
        let view = ring.view();
        let (mut pos, mut got) = (0, Vec::new());
        drain_lane(view, 0, &mut pos, &mut got);
        thread::yield_now();
        drain_lane(view, 0, &mut pos, &mut got);
        thread::yield_now();
        let accepted = writer.join().unwrap();
        drain_lane(view, 0, &mut pos, &mut got);
        assert_eq!(got, accepted);
        assert!(accepted.len() >= 2, "two slots always take two records");
    });
}

/// Writer A stalls anywhere inside its record (loom tries every point) while
/// writer B fills its own lane: B's records are readable as soon as B
/// published them, whatever A is doing, and A's record arrives whole once A
/// publishes it. Nothing is abandoned and nothing waits.
#[test]
fn loom_stalled_writer_holds_up_nothing() {
    explore(4, || {
        let ring = Arc::new(HeapRing::new(2, 2));
        let a = {
            let ring = ring.clone();
            thread::spawn(move || {
                let lane = ring.view().lane(0);
                assert!(lane.try_take(OWNED));
                // SAFETY: taken above.
                unsafe { lane.push(&rec(100), thread::yield_now) }.unwrap();
            })
        };
        let view = ring.view();
        let b = view.lane(1);
        assert!(b.try_take(OWNED));
        for n in 1..=2 {
            // SAFETY: taken above.
            unsafe { b.push(&rec(n), || ()) }.unwrap();
        }
        let (mut pa, mut pb) = (0, 0);
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        thread::yield_now();
        drain_lane(view, 0, &mut pa, &mut got_a);
        drain_lane(view, 1, &mut pb, &mut got_b);
        assert_eq!(got_b, [1, 2], "B's records never wait for A");
        a.join().unwrap();
        drain_lane(view, 0, &mut pa, &mut got_a);
        assert_eq!(got_a, [100]);
    });
}

/// Two threads without a lane of their own write through the guest lane
/// while the reader drains it: the try-lock keeps them from writing the lane
/// at once (loom's cell would report it), a busy lane is a counted drop, and
/// everything accepted arrives whole.
#[test]
fn loom_guest_lane_is_exclusive() {
    explore(16, || {
        let ring = Arc::new(HeapRing::new(2, 2));
        let other = {
            let ring = ring.clone();
            thread::spawn(move || ring.view().push_as_guest(&rec(7), || ()).is_ok())
        };
        let view = ring.view();
        let mine = view.push_as_guest(&rec(8), || ()).is_ok();
        let (mut pos, mut got) = (0, Vec::new());
        drain_lane(view, RingRef::GUEST_LANE, &mut pos, &mut got);
        let theirs = other.join().unwrap();
        drain_lane(view, RingRef::GUEST_LANE, &mut pos, &mut got);
        got.sort_unstable();
        let mut want: Vec<u64> = [(theirs, 7), (mine, 8)]
            .iter()
            .filter(|(ok, _)| *ok)
            .map(|&(_, n)| n)
            .collect();
        want.sort_unstable();
        assert_eq!(got, want);
        let dropped = view.ring.dropped.load(Ordering::Relaxed);
        assert_eq!(dropped + want.len() as u64, 2);
    });
}

/// A lane given back by one thread and taken by the next: the new holder sees
/// the old holder's tail and cached head (Release/Acquire on `owner`), so it
/// continues at the right position while the reader drains.
#[test]
fn loom_lane_handed_between_threads_continues_its_positions() {
    explore(10, || {
        let ring = Arc::new(HeapRing::new(2, 2));
        let first = {
            let ring = ring.clone();
            thread::spawn(move || {
                let lane = ring.view().lane(1);
                if lane.try_take(OWNED) {
                    // SAFETY: taken just now.
                    unsafe { lane.push(&rec(1), || ()) }.unwrap();
                    lane.give_back();
                    true
                } else {
                    false
                }
            })
        };
        let view = ring.view();
        let lane = view.lane(1);
        let mine = lane.try_take(OWNED);
        if mine {
            // SAFETY: taken just now.
            unsafe { lane.push(&rec(2), || ()) }.unwrap();
            lane.give_back();
        }
        let theirs = first.join().unwrap();
        let (mut pos, mut got) = (0, Vec::new());
        drain_lane(view, 1, &mut pos, &mut got);
        assert_eq!(got.len(), mine as usize + theirs as usize);
        assert!(mine || theirs, "a free lane is taken by one of them");
    });
}
