//! The reader across lanes and restarts: hand-off marks make a restarted
//! reader resume exactly where the next stage's copy ends.

use super::*;
use crate::record::{Record, Value};
use crate::ring::Ring;

fn rec(n: i64) -> Record {
    let mut r = Record::new("r");
    r.trace_id = [1; 16];
    r.span_id = [2; 8];
    r.kind = 1;
    r.push_attr("n", Value::I64(n));
    r
}

fn n_of(r: &Record) -> i64 {
    match crate::record::RecordView::new(r)
        .unwrap()
        .attrs()
        .next()
        .unwrap()
        .value
    {
        Value::I64(n) => n,
        other => panic!("{other:?}"),
    }
}

/// A ring with `threads` threads having written `per` records each (each
/// thread on its own lane), and its path.
fn ring_with(dir: &Path, threads: i64, per: i64) -> Ring {
    let ring = Ring::create(dir, "consumer-test", 4096).unwrap();
    assert_eq!(ring.lanes(), 16);
    std::thread::scope(|s| {
        for t in 0..threads {
            let ring = &ring;
            s.spawn(move || {
                for i in 0..per {
                    ring.push(&rec(t * 1000 + i)).unwrap();
                }
            });
        }
    });
    ring
}

fn read_all(c: &mut Consumer) -> Vec<i64> {
    let mut out = Vec::new();
    while c.read(7, &mut out).records > 0 {}
    let mut got: Vec<i64> = out.iter().map(n_of).collect();
    got.sort_unstable();
    got
}

fn want(threads: i64, per: i64) -> Vec<i64> {
    let mut v: Vec<i64> = (0..threads)
        .flat_map(|t| (0..per).map(move |i| t * 1000 + i))
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn reads_every_lane_and_releases_by_mark() {
    let dir = tempfile::tempdir().unwrap();
    let ring = ring_with(dir.path(), 3, 50);
    let mut c = Consumer::open(ring.path()).unwrap();
    assert_eq!((c.read_position(), c.released()), (0, 0));
    assert_eq!(read_all(&mut c), want(3, 50));
    assert!(c.is_drained());
    let mark = c.read_position();
    assert!(mark > c.released());
    c.release(mark);
    assert_eq!((c.read_position(), c.released()), (mark, mark));
    assert_eq!(ring.stats().released, 150);
    assert_eq!(ring.stats().written, 150);
}

#[test]
fn restart_before_release_reads_everything_again() {
    let dir = tempfile::tempdir().unwrap();
    let ring = ring_with(dir.path(), 2, 20);
    let mut c = Consumer::open(ring.path()).unwrap();
    assert_eq!(read_all(&mut c).len(), 40);
    drop(c); // killed before the spool had them
    let mut c = Consumer::open(ring.path()).unwrap();
    assert_eq!(read_all(&mut c), want(2, 20));
}

#[test]
fn restart_after_the_spool_took_a_mark_skips_exactly_that_mark() {
    let dir = tempfile::tempdir().unwrap();
    let ring = ring_with(dir.path(), 2, 20);
    let mut c = Consumer::open(ring.path()).unwrap();
    let mut out = Vec::new();
    c.read(25, &mut out);
    let spooled = c.read_position();
    drop(c); // killed after the spool recorded `spooled`, before release
    // Writers carry on meanwhile.
    std::thread::scope(|s| {
        s.spawn(|| ring.push(&rec(5000)).unwrap());
    });
    let mut c = Consumer::open(ring.path()).unwrap();
    c.skip_to(spooled - 1); // an older mark changes nothing
    c.skip_to(spooled);
    let mut rest = read_all(&mut c);
    rest.extend(out.iter().map(n_of));
    rest.sort_unstable();
    let mut all = want(2, 20);
    all.push(5000);
    assert_eq!(rest, all, "nothing lost, nothing twice");
}

#[test]
fn crash_between_confirming_and_moving_heads_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let ring = ring_with(dir.path(), 2, 10);
    let mut c = Consumer::open(ring.path()).unwrap();
    assert_eq!(read_all(&mut c).len(), 20);
    let mark = c.read_position();
    // The first step of `release` only: the mark is confirmed, heads not moved.
    c.ring.view().marks.released.store(mark, Relaxed);
    drop(c);
    let mut c = Consumer::open(ring.path()).unwrap();
    assert_eq!(c.released(), mark);
    assert!(read_all(&mut c).is_empty());
}

#[test]
fn a_failed_hand_off_rewinds_and_never_reuses_its_mark() {
    let dir = tempfile::tempdir().unwrap();
    let ring = ring_with(dir.path(), 1, 10);
    let mut c = Consumer::open(ring.path()).unwrap();
    assert_eq!(read_all(&mut c).len(), 10);
    let failed = c.read_position();
    c.rewind();
    assert_eq!(read_all(&mut c), want(1, 10));
    let next = c.read_position();
    assert!(next > failed);
    c.release(failed); // stale: ignored
    assert_eq!(c.released(), 0);
    c.release(next);
    assert_eq!(c.released(), next);
}

#[test]
fn a_killed_writers_unfinished_record_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let ring = ring_with(dir.path(), 1, 3);
    // A writer dies inside its fourth record: its stamp is in the slot at the
    // tail, the tail never moved. Simulated by writing the stamp by hand.
    let path = ring.path().to_path_buf();
    {
        let mut c = Consumer::open(&path).unwrap();
        let view = c.ring.view();
        let lane = (0..view.lane_count())
            .find(|&i| view.lane(i).published() == 3)
            .unwrap();
        let l = view.lane(lane);
        l.slots[3].stamp.store(4, Relaxed);
        assert_eq!(c.count_abandoned(), 0, "the writer is alive");
        // As once the writer process is gone (its liveness lock with it).
        assert_eq!(c.count_unfinished(), 1);
        assert_eq!(c.count_unfinished(), 0);
        assert_eq!(read_all(&mut c).len(), 3);
    }
    drop(ring);
    let mut c = Consumer::open(&path).unwrap();
    assert_eq!(c.count_unfinished(), 0, "not again after a restart");
    let s = c.stats();
    assert_eq!((s.written, s.abandoned), (4, 1));
}
