//! Protocol tests on heap memory (so they also run under Miri): a naive model
//! checked against the real code, and threads hammering one ring.

use super::*;
use crate::record::Record;
use bytemuck::Zeroable;
use std::collections::VecDeque;

fn rec(n: u64) -> Record {
    let mut r = Record::zeroed();
    r.start = n;
    r.end = !n;
    r
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The model: a bounded FIFO of values, reads move a cursor, commits free.
struct Model {
    cap: usize,
    committed: VecDeque<u64>, // handed off? no: in ring, not yet committed by consumer
    read: usize,              // how many of `committed` were read
    dropped: u64,
}

#[test]
fn matches_a_naive_model() {
    let cap = 8;
    let ring = HeapRing::new(cap);
    let view = ring.view();
    let mut model = Model {
        cap,
        committed: VecDeque::new(),
        read: 0,
        dropped: 0,
    };
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut next_value = 0u64;
    let mut read_pos = 0u64;
    let mut out = Record::zeroed();
    let steps = if cfg!(miri) { 2_000 } else { 200_000 };
    for _ in 0..steps {
        match xorshift(&mut seed) % 4 {
            0 | 1 => {
                let got = view.push(&rec(next_value));
                if model.committed.len() < model.cap {
                    assert!(got.is_ok());
                    model.committed.push_back(next_value);
                } else {
                    assert_eq!(got, Err(PushError::Full));
                    model.dropped += 1;
                }
                next_value += 1;
            }
            2 => {
                let state = view.state(read_pos, &mut out);
                if model.read < model.committed.len() {
                    assert_eq!(state, SlotState::Committed);
                    assert_eq!(out.start, model.committed[model.read]);
                    assert_eq!(out.end, !out.start);
                    model.read += 1;
                    read_pos += 1;
                } else {
                    assert_eq!(state, SlotState::Empty);
                }
            }
            _ => {
                // Commit part of what was read.
                let n = (xorshift(&mut seed) as usize) % (model.read + 1);
                view.release(view.head() + n as u64);
                model.committed.drain(..n);
                model.read -= n;
            }
        }
        assert_eq!(
            view.counters.drops.dropped.load(Ordering::Relaxed),
            model.dropped
        );
        assert_eq!(view.tail() - view.head(), model.committed.len() as u64);
    }
}

#[test]
fn late_writer_loses_to_abandon_and_counts_it() {
    let ring = HeapRing::new(8);
    let view = ring.view();
    let pos = view.reserve().unwrap();
    let before = view.stamp_before_write(pos);
    view.write(pos, &rec(1));
    let mut out = Record::zeroed();
    let SlotState::InProgress(seen) = view.state(pos, &mut out) else {
        panic!("reserved slot must be in progress");
    };
    assert!(view.abandon(pos, seen));
    assert_eq!(view.commit(pos, before), Err(PushError::Late));
    assert_eq!(view.counters.drops.late.load(Ordering::Relaxed), 1);
    assert_eq!(view.counters.consumer.abandoned.load(Ordering::Relaxed), 1);
    // A restarted reader skips it without counting it again.
    assert_eq!(view.state(pos, &mut out), SlotState::Abandoned);
    view.release(pos + 1);
    // The slot is reusable a lap later.
    for i in 0..8 {
        view.push(&rec(i)).unwrap();
    }
    assert_eq!(view.push(&rec(9)), Err(PushError::Full));
}

#[test]
fn abandon_fails_once_committed() {
    let ring = HeapRing::new(8);
    let view = ring.view();
    let pos = view.reserve().unwrap();
    let before = view.stamp_before_write(pos);
    view.write(pos, &rec(5));
    view.commit(pos, before).unwrap();
    assert!(!view.abandon(pos, before));
    let mut out = Record::zeroed();
    assert_eq!(view.state(pos, &mut out), SlotState::Committed);
    assert_eq!(out.start, 5);
}

#[test]
fn threads_deliver_every_record_exactly_once() {
    let producers = 4u64;
    let per = if cfg!(miri) { 50 } else { 200_000 };
    let ring = HeapRing::new(64);
    let view = ring.view();
    let done = std::sync::atomic::AtomicU64::new(0);
    let delivered = std::thread::scope(|s| {
        for t in 0..producers {
            let done = &done;
            s.spawn(move || {
                for i in 0..per {
                    let _ = view.push(&rec((t << 32) | i));
                }
                done.fetch_add(1, Ordering::Release);
            });
        }
        let mut seen = vec![Vec::new(); producers as usize];
        let mut out = Record::zeroed();
        let mut pos = 0;
        loop {
            match view.state(pos, &mut out) {
                SlotState::Committed => {
                    assert_eq!(out.end, !out.start, "torn record");
                    seen[(out.start >> 32) as usize].push(out.start & 0xffff_ffff);
                    pos += 1;
                    if pos % 16 == 0 {
                        view.release(pos);
                    }
                }
                SlotState::Empty
                    if done.load(Ordering::Acquire) == producers && pos == view.tail() =>
                {
                    break;
                }
                _ => {
                    view.release(pos);
                    std::hint::spin_loop();
                    std::thread::yield_now();
                }
            }
        }
        seen
    });
    let mut total = 0;
    for per_thread in &delivered {
        // Each producer's records arrive in its own order, each once.
        assert!(per_thread.windows(2).all(|w| w[0] < w[1]));
        total += per_thread.len() as u64;
    }
    let dropped = view.counters.drops.dropped.load(Ordering::Relaxed);
    assert_eq!(total + dropped, producers * per);
    assert_eq!(total, view.tail());
}
