// Child-process roles shared by the sidecar tests: included with
// `#[path = "common/roles.rs"] mod writer_roles;`, run through `common::spawn_role`.
#![allow(dead_code)]

use std::time::Duration;

use ringside::record::{Record, Value};
use ringside::ring::Ring;
use ringside::trace::{SpanId, TraceId, Tracer};

use crate::common::checksum;

fn env_i64(key: &str, default: i64) -> i64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes `THREADS` × `PER_THREAD` spans through the Tracer, each carrying its
/// writer id, thread, sequence number and checksum; sleeps `PAUSE_EVERY` spans
/// for a millisecond to stretch the run; prints `STATS written dropped`.
pub fn tracer_writer() {
    let w = env_i64("WRITER_ID", 0);
    let threads = env_i64("THREADS", 4);
    let per = env_i64("PER_THREAD", 1000);
    let pause_every = env_i64("PAUSE_EVERY", 0);
    let tracer = Tracer::new(&format!("writer-{w}"));
    tracer.open().expect("ring");
    std::thread::scope(|s| {
        for t in 0..threads {
            let tracer = &tracer;
            s.spawn(move || {
                for i in 0..per {
                    let mut span = tracer.span("load");
                    span.set_attr("w", w)
                        .set_attr("t", t)
                        .set_attr("i", i)
                        .set_attr("sum", checksum(w, t, i));
                    drop(span);
                    if pause_every > 0 && i % pause_every == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            });
        }
    });
    let stats = tracer.stats().unwrap();
    println!("\nSTATS {} {}", stats.written, stats.dropped);
}

/// A record like the Tracer writes, built by hand for the low-level roles.
pub fn record(w: i64, t: i64, i: i64) -> Record {
    let mut r = Record::new("load");
    r.trace_id = TraceId::random().0;
    r.span_id = SpanId::random().0;
    r.kind = 1;
    r.trace_flags = 0x01; // sampled, as the writer API marks its spans
    r.start = ringside::clock::now();
    r.end = r.start + 1;
    for (k, v) in [("w", w), ("t", t), ("i", i), ("sum", checksum(w, t, i))] {
        r.push_attr(k, Value::I64(v));
    }
    r
}

/// Writes forever, pausing up to `PAUSE_US` microseconds between writing each
/// record and committing it, so a SIGKILL often lands mid-record.
pub fn pausing_writer() {
    let w = env_i64("WRITER_ID", 0);
    let pause = env_i64("PAUSE_US", 200) as u64;
    let ring = Ring::create(
        &ringside::ring::default_dir(),
        &format!("pausing-{w}"),
        1024,
    )
    .unwrap();
    println!("\nREADY");
    let mut i = 0;
    loop {
        let us = (SpanId::random().0[0] as u64 * pause) / 255;
        let _ = ring.push_with_pause(&record(w, 0, i), || {
            std::thread::sleep(Duration::from_micros(us))
        });
        i += 1;
    }
}

/// Thread A writes a record into its slot and stalls for `STALL_MS` before
/// publishing it; thread B meanwhile writes `PER_THREAD` records. Prints
/// `B_DONE`, then `A_RESULT <Ok|Dropped>`.
pub fn stalled_writer() {
    let stall = env_i64("STALL_MS", 2000) as u64;
    let per = env_i64("PER_THREAD", 1000);
    let ring = Ring::create(&ringside::ring::default_dir(), "stalled", 4096).unwrap();
    let (reserved_tx, reserved_rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let ring = &ring;
        let a = s.spawn(move || {
            ring.push_with_pause(&record(0, 0, 0), || {
                reserved_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(stall));
            })
        });
        reserved_rx.recv().unwrap();
        for i in 0..per {
            ring.push(&record(0, 1, i)).unwrap();
        }
        println!("\nB_DONE");
        let result = a.join().unwrap();
        println!(
            "\nA_RESULT {}",
            if result.is_ok() { "Ok" } else { "Dropped" }
        );
    });
    // Stay alive until killed, so the ring is not removed under the test.
    std::thread::sleep(Duration::from_secs(600));
}
