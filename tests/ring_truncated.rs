//! A ring file truncated while the sidecar has it mapped: the sidecar's SIGBUS
//! guard (`src/sidecar/sigbus.rs`) turns the fault into zero pages, the ring is
//! dropped and reported, and a bystander ring's spans all arrive.

mod common;

use std::time::Duration;

use common::*;
use ringside::trace::Tracer;

#[test]
fn a_ring_truncated_under_the_sidecar_is_dropped_and_a_bystander_keeps_flowing() {
    let tmp = TempDir::new("truncated");
    let (rings, spool, out, log) = layout(&tmp);
    let bystander = Tracer::builder("bystander").dir(&rings).build();
    let victim = Tracer::builder("victim").dir(&rings).build();
    for i in 0..100 {
        bystander.span("before").set_attr("i", i as i64);
    }
    // The victim writes from a thread that ends (and gives its lane back)
    // before the file is cut: after that, its own mapping would fault too.
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..100 {
                victim.span("before").set_attr("i", i as i64);
            }
        });
    });
    let victim_ring = victim.ring_path().expect("the victim's ring exists");
    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &[]);
    wait_for("the first 200 spans", Duration::from_secs(30), || {
        read_jsonl(&out).len() >= 200
    });

    // Cut the victim's ring below its header while the sidecar has it mapped.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&victim_ring)
        .unwrap()
        .set_len(4096)
        .unwrap();
    for i in 0..300 {
        bystander.span("after").set_attr("i", i as i64);
    }
    wait_for(
        "the bystander's later spans",
        Duration::from_secs(30),
        || {
            read_jsonl(&out)
                .iter()
                .filter(|s| s.service == "bystander" && s.name == "after")
                .count()
                >= 300
        },
    );
    wait_for(
        "the shrunk ring to be reported",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("ring file shrank while mapped")
        },
    );
    assert!(
        sidecar
            .child
            .as_mut()
            .unwrap()
            .try_wait()
            .unwrap()
            .is_none(),
        "the sidecar is still running"
    );
    let spans = read_jsonl(&out);
    let after = spans
        .iter()
        .filter(|s| s.service == "bystander" && s.name == "after")
        .count();
    assert_eq!(after, 300, "every bystander span once");
    let status = sidecar.stop_with(libc::SIGTERM, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    // The victim's own mapping is past the file's end now: never touch it.
    std::mem::forget(victim);
}
