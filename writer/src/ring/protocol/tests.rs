//! Protocol tests on heap memory (so they also run under Miri): a naive model
//! checked against one lane, threads on their own lanes and on the guest lane,
//! and the partial copy.

use super::*;
use crate::record::Record;
use bytemuck::Zeroable;
use std::collections::VecDeque;

/// A record carrying `n` in its header and in 8 payload bytes, so a torn copy
/// shows as a mismatch.
pub(super) fn rec(n: u64) -> Record {
    let mut r = Record::zeroed();
    r.start = n;
    r.end = !n;
    r.payload[..8].copy_from_slice(&n.to_le_bytes());
    r.payload_len = 8;
    r
}

/// The value of a record made by `rec`, checked whole.
pub(super) fn value(r: &Record) -> u64 {
    assert_eq!(r.end, !r.start, "torn header");
    assert_eq!(r.payload_len, 8);
    assert_eq!(r.payload[..8], r.start.to_le_bytes(), "torn payload");
    r.start
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn one_lane_matches_a_naive_model() {
    let cap = 8;
    let ring = HeapRing::new(1, cap);
    let lane = ring.view().lane(0);
    // In the lane, not yet released; `read` of them were read.
    let mut held: VecDeque<u64> = VecDeque::new();
    let mut read = 0usize;
    let (mut seed, mut next, mut read_pos) = (0x1234_5678_9abc_def1u64, 0u64, 0u64);
    let mut out = Record::zeroed();
    let steps = if cfg!(miri) { 2_000 } else { 200_000 };
    for _ in 0..steps {
        match xorshift(&mut seed) % 4 {
            0 | 1 => {
                assert!(lane.try_take(OWNED));
                // SAFETY: taken just above, given back below.
                let got = unsafe { lane.push(&rec(next), || ()) };
                lane.give_back();
                if held.len() < cap {
                    assert_eq!(got, Ok(()));
                    held.push_back(next);
                } else {
                    assert_eq!(got, Err(PushError::Full));
                }
                next += 1;
            }
            2 => {
                if read < held.len() {
                    assert!(read_pos < lane.published());
                    assert!(lane.read(read_pos, &mut out));
                    assert_eq!(value(&out), held[read]);
                    read += 1;
                    read_pos += 1;
                } else {
                    assert_eq!(read_pos, lane.published());
                }
            }
            _ => {
                let n = (xorshift(&mut seed) as usize) % (read + 1);
                lane.release(lane.head() + n as u64);
                held.drain(..n);
                read -= n;
            }
        }
        assert_eq!(lane.published() - lane.head(), held.len() as u64);
    }
}

#[test]
fn a_lane_is_taken_by_one_thread_at_a_time() {
    let ring = HeapRing::new(2, 8);
    let lane = ring.view().lane(1);
    assert!(lane.try_take(OWNED));
    assert!(!lane.try_take(OWNED) && !lane.try_take(GUEST));
    lane.give_back();
    assert!(lane.is_free() && lane.try_take(GUEST));
}

#[test]
fn stale_bytes_past_the_used_payload_are_never_read() {
    let ring = HeapRing::new(1, 8);
    let view = ring.view();
    let lane = view.lane(0);
    let mut long = rec(1);
    long.payload.fill(0xee);
    long.payload_len = crate::record::PAYLOAD_SIZE as u16;
    for i in 0..8 {
        view.push_as_guest(&long, || ()).unwrap();
        lane.release(i + 1);
    }
    // The slot of position 8 holds a full payload of 0xee from position 0.
    view.push_as_guest(&rec(2), || ()).unwrap();
    let mut out = Record::zeroed();
    assert!(lane.read(8, &mut out));
    assert_eq!(value(&out), 2);
    assert!(
        out.payload[8..].iter().all(|&b| b == 0),
        "stale bytes leaked"
    );
}

#[test]
fn forged_slot_is_refused_by_its_stamp() {
    let ring = HeapRing::new(1, 8);
    let view = ring.view();
    view.push_as_guest(&rec(7), || ()).unwrap();
    // Claim a second position without writing it.
    view.lanes[0].writer.tail.store(2, Ordering::Release);
    let mut out = Record::zeroed();
    assert!(view.lane(0).read(0, &mut out));
    assert!(!view.lane(0).read(1, &mut out));
}

#[test]
fn unfinished_record_of_a_dead_writer_is_found_once() {
    let ring = HeapRing::new(1, 8);
    let view = ring.view();
    let lane = view.lane(0);
    assert!(!lane.unfinished());
    assert!(lane.try_take(OWNED));
    // SAFETY: held by this thread.
    let tail = unsafe { lane.room() }.unwrap();
    // The writer dies inside `write`: the stamp is stored, the tail is not.
    lane.slots[0].stamp.store(tail + 1, Ordering::Relaxed);
    assert!(lane.unfinished());
    assert!(!lane.unfinished(), "counted once");
}

#[test]
fn threads_on_own_and_guest_lanes_deliver_every_record_exactly_once() {
    let owners = 3u64;
    let guests = 2u64;
    let per = if cfg!(miri) { 40 } else { 100_000 };
    let ring = HeapRing::new(4, 16);
    let view = ring.view();
    let done = std::sync::atomic::AtomicU64::new(0);
    let pushed = std::sync::atomic::AtomicU64::new(0);
    let seen = std::thread::scope(|s| {
        for t in 0..owners + guests {
            let (done, pushed) = (&done, &pushed);
            s.spawn(move || {
                let own = (t < owners).then(|| view.lane(1 + t as usize));
                if let Some(l) = own {
                    assert!(l.try_take(OWNED));
                }
                for i in 0..per {
                    let r = rec((t << 32) | i);
                    let ok = match own {
                        // SAFETY: taken above, never given back.
                        Some(l) => unsafe { l.push(&r, || ()) }.is_ok(),
                        None => view.push_as_guest(&r, || ()).is_ok(),
                    };
                    pushed.fetch_add(ok as u64, Ordering::Relaxed);
                }
                done.fetch_add(1, Ordering::Release);
            });
        }
        let mut seen = vec![Vec::new(); (owners + guests) as usize];
        let mut pos = [0u64; 4];
        let mut out = Record::zeroed();
        loop {
            let finished = done.load(Ordering::Acquire) == owners + guests;
            let mut any = false;
            for (i, p) in pos.iter_mut().enumerate() {
                let lane = view.lane(i);
                let tail = lane.published();
                while *p < tail {
                    assert!(lane.read(*p, &mut out));
                    let v = value(&out);
                    seen[(v >> 32) as usize].push(v & 0xffff_ffff);
                    *p += 1;
                    any = true;
                }
                lane.release(*p);
            }
            if finished && !any {
                break;
            }
            std::thread::yield_now();
        }
        seen
    });
    let mut total = 0;
    for per_thread in &seen {
        // Each thread's records arrive in its own order, each once.
        assert!(per_thread.windows(2).all(|w| w[0] < w[1]));
        total += per_thread.len() as u64;
    }
    assert_eq!(total, pushed.load(Ordering::Relaxed));
    let guest_drops = view.ring.dropped.load(Ordering::Relaxed);
    assert!(total + guest_drops <= (owners + guests) * per);
}
