//! Which lane a thread writes. A thread takes a free lane of a ring the first
//! time it writes there and keeps it in a thread-local until it exits (or
//! until it writes to more than [`HELD_MAX`] rings at once), so the write path
//! is: find the held lane, check room against the cached head, copy, publish.
//!
//! When its lane is full a thread moves to the free lane with the most room,
//! and failing that writes through the guest lane, so a ring nobody drains
//! fills completely before it drops. Threads that find no free lane at all
//! (more threads than lanes) also write through the guest lane, one record at a
//! time under a try-lock; so does a signal handler that interrupts a write of
//! its own thread (the thread-local is busy then).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::mapping::Mapping;
use super::protocol::{OWNED, PushError, RingRef};
use crate::record::Record;

/// Rings a thread keeps a lane in at once; writing to one more gives back the
/// lane of the one written longest ago. Taking a lane scans the ring's lanes
/// (tens of cache misses), so a thread that writes to more rings than this in
/// turn pays that scan on every span: 8 covers a process that hosts several
/// services (the bench's in-process store writes to 6 rings from one thread;
/// with 4 it took a lane per span). The array is 8 entries of about 56 bytes,
/// searched from the most recently taken.
const HELD_MAX: usize = 8;

/// A lane this thread holds in one ring, or the note that it found none.
struct Held {
    ring: Arc<Mapping>,
    /// The lane held, or [`RingRef::GUEST_LANE`] when every lane was taken:
    /// the thread writes through the guest lane and looks for a free lane
    /// again only when the claim generation moved past `no_lane_at`.
    lane: usize,
    no_lane_at: u64,
    /// [`FORKS`] when the lane was taken: in a child process the lane is the
    /// parent thread's, never ours.
    forks: u32,
    /// (released mark, claim generation) when this thread last found its lane,
    /// every free lane and the guest lane full: it looks again only once one
    /// of them moved.
    full_at: Option<(u64, u64)>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.forks != FORKS.load(Ordering::Relaxed) || self.lane == RingRef::GUEST_LANE {
            return; // the parent's lane, or none: nothing to give back
        }
        let view = self.ring.view();
        view.lane(self.lane).give_back();
        view.ring.claims.fetch_add(1, Ordering::Relaxed);
    }
}

thread_local! {
    static HELD: RefCell<[Option<Held>; HELD_MAX]> =
        const { RefCell::new([const { None }; HELD_MAX]) };
}

/// Bumped in every child process right after `fork`.
static FORKS: AtomicU32 = AtomicU32::new(0);

extern "C" fn after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Makes forked children forget their parent's lanes. Called when a ring is
/// created.
pub(super) fn watch_forks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a handler that only increments an atomic, which is
        // async-signal-safe as a fork child handler must be.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
}

/// Writes `rec` into `ring` from the calling thread's lane.
#[inline(always)]
pub(super) fn push(
    ring: &Arc<Mapping>,
    rec: &Record,
    between: impl FnOnce(),
) -> Result<(), PushError> {
    let view = ring.view();
    if view.lane_count() == 1 {
        return view.push_as_guest(rec, between);
    }
    let mut between = Some(between);
    let done = HELD.try_with(|held| {
        let mut held = held.try_borrow_mut().ok()?;
        let between = between.take()?;
        Some(push_held(&mut held, ring, view, rec, between))
    });
    match (done, between) {
        (Ok(Some(result)), _) => result,
        // Thread-local gone (thread exiting) or busy (a signal handler
        // interrupted a write of this thread): the guest lane.
        (_, Some(between)) => view.push_as_guest(rec, between),
        (_, None) => Err(PushError::Busy),
    }
}

#[inline(always)]
fn push_held(
    held: &mut [Option<Held>; HELD_MAX],
    ring: &Arc<Mapping>,
    view: RingRef<'_>,
    rec: &Record,
    between: impl FnOnce(),
) -> Result<(), PushError> {
    let forks = FORKS.load(Ordering::Relaxed);
    let at = held.iter().position(|h| {
        h.as_ref()
            .is_some_and(|h| Arc::ptr_eq(&h.ring, ring) && h.forks == forks)
    });
    let h = match at {
        Some(i) => held[i].as_mut(),
        None => take_new(held, ring, view, forks),
    };
    let Some(h) = h else {
        return view.push_as_guest(rec, between);
    };
    if h.lane == RingRef::GUEST_LANE && !retake(h, view) {
        return view.push_as_guest(rec, between);
    }
    let lane = view.lane(h.lane);
    // SAFETY: this thread holds `h.lane` (taken as OWNED, given back only when
    // `h` is dropped), and the thread-local is borrowed, so no other code of
    // this thread writes the lane meanwhile.
    if let Some(tail) = unsafe { lane.room() } {
        // SAFETY: as above; `tail` is from `room` just now.
        unsafe { lane.write(tail, rec, between) };
        return Ok(());
    }
    push_full(h, view, rec, between)
}

/// A thread without a lane looks for one again, if a lane was given back
/// since it last looked.
#[cold]
#[inline(never)]
fn retake(h: &mut Held, view: RingRef<'_>) -> bool {
    let claims = view.ring.claims.load(Ordering::Relaxed);
    if claims == h.no_lane_at {
        return false;
    }
    match take_lane(view, false) {
        Some(lane) => {
            h.lane = lane;
            h.full_at = None;
            true
        }
        None => {
            h.no_lane_at = claims;
            false
        }
    }
}

/// The thread's lane is full: move to a free lane with room, else the guest
/// lane, else drop.
#[cold]
#[inline(never)]
fn push_full(
    h: &mut Held,
    view: RingRef<'_>,
    rec: &Record,
    between: impl FnOnce(),
) -> Result<(), PushError> {
    let now = (
        view.marks.released.load(Ordering::Relaxed),
        view.ring.claims.load(Ordering::Relaxed),
    );
    if h.full_at != Some(now) {
        if let Some(next) = take_lane(view, true) {
            view.lane(h.lane).give_back();
            view.ring.claims.fetch_add(1, Ordering::Relaxed);
            h.lane = next;
            h.full_at = None;
            let lane = view.lane(next);
            // SAFETY: we just took `next` as OWNED; `h` now holds it.
            if let Some(tail) = unsafe { lane.room() } {
                // SAFETY: as above.
                unsafe { lane.write(tail, rec, between) };
                return Ok(());
            }
        }
        return match view.push_as_guest(rec, between) {
            Err(PushError::Full) => {
                h.full_at = Some(now);
                Err(PushError::Full)
            }
            other => other,
        };
    }
    // SAFETY: this thread holds `h.lane`.
    unsafe { view.lane(h.lane).count_drop() };
    Err(PushError::Full)
}

/// Takes a lane for a thread that holds none in this ring, or notes that none
/// was free (the thread then writes through the guest lane), and records it in
/// the thread-local (evicting the oldest entry if all are used).
#[cold]
#[inline(never)]
fn take_new<'h>(
    held: &'h mut [Option<Held>; HELD_MAX],
    ring: &Arc<Mapping>,
    view: RingRef<'_>,
    forks: u32,
) -> Option<&'h mut Held> {
    let claims = view.ring.claims.load(Ordering::Relaxed);
    let lane = take_lane(view, false).unwrap_or(RingRef::GUEST_LANE);
    // Entries of a parent process are forgotten, not given back (their drop
    // sees the fork count changed); the oldest entry falls off the end.
    held.rotate_right(1);
    held[0] = Some(Held {
        ring: ring.clone(),
        lane,
        no_lane_at: claims,
        forks,
        full_at: None,
    });
    held[0].as_mut()
}

/// Takes the free owned-lane (any lane but the guest lane) with the most room;
/// with `need_room`, only one that has room. `None` if there is none.
fn take_lane(view: RingRef<'_>, need_room: bool) -> Option<usize> {
    // Each failed CAS means another thread took a lane; after as many tries as
    // there are lanes, give up rather than spin.
    for _ in 0..view.lane_count() {
        let best = (0..view.lane_count())
            .filter(|&i| i != RingRef::GUEST_LANE)
            .map(|i| (i, view.lane(i)))
            .filter(|(_, l)| l.is_free())
            .map(|(i, l)| (i, l.room_hint()))
            .filter(|&(_, room)| room > 0 || !need_room)
            .max_by_key(|&(i, room)| (room, std::cmp::Reverse(i)))?;
        if view.lane(best.0).try_take(OWNED) {
            return Some(best.0);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::record::Record;
    use crate::ring::{Consumer, Ring};

    fn rec(n: u64) -> Record {
        let mut r = Record::new("lane");
        r.trace_id = [1; 16];
        r.span_id = n.max(1).to_be_bytes();
        r.kind = 1;
        r
    }

    #[test]
    fn one_thread_fills_every_lane_before_it_drops() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Ring::create(dir.path(), "lanes", 1024).unwrap();
        assert_eq!(ring.lanes(), 4);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..1100 {
                    let _ = ring.push(&rec(i));
                }
            });
        });
        let stats = ring.stats();
        assert_eq!((stats.written, stats.dropped), (1024, 76));
        let mut c = Consumer::open(ring.path()).unwrap();
        let mut out = Vec::new();
        while c.read(100, &mut out).records > 0 {}
        assert_eq!(out.len(), 1024);
    }

    #[test]
    fn threads_beyond_the_lanes_share_the_guest_lane_and_all_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Ring::create(dir.path(), "guests", 512).unwrap();
        assert_eq!(ring.lanes(), 2, "one owned lane, one guest lane");
        let (threads, per) = (4u64, 200u64);
        let barrier = std::sync::Barrier::new(threads as usize);
        std::thread::scope(|s| {
            for t in 0..threads {
                let (ring, barrier) = (&ring, &barrier);
                s.spawn(move || {
                    barrier.wait(); // all alive at once: one owns, three are guests
                    for i in 0..per {
                        let _ = ring.push(&rec(t * 1000 + i + 1));
                    }
                });
            }
        });
        let stats = ring.stats();
        assert_eq!(stats.written + stats.dropped, threads * per);
        let mut c = Consumer::open(ring.path()).unwrap();
        let mut out = Vec::new();
        while c.read(100, &mut out).records > 0 {}
        assert_eq!(out.len() as u64, stats.written);
        let mut ids: Vec<_> = out.iter().map(|r| u64::from_be_bytes(r.span_id)).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len() as u64, stats.written, "each record once");
    }
}
