//! The sidecar drains rings of several processes exactly once, and skips bad
//! ring files with a clear message while good rings keep flowing.

mod common;
#[path = "common/roles.rs"]
mod writer_roles;

use std::collections::HashSet;
use std::time::Duration;

use common::*;

#[test]
fn role_tracer_writer() {
    if role().as_deref() == Some("tracer_writer") {
        writer_roles::tracer_writer();
    }
}

/// Two processes × four threads write 1,000,000 spans while the sidecar drains.
#[test]
fn million_spans_from_two_processes_arrive_exactly_once() {
    let tmp = TempDir::new("million");
    let (rings, spool, out, log) = layout(&tmp);
    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &[]);
    let per_thread = 125_000;
    let mut writers: Vec<Proc> = (0..2)
        .map(|w| {
            spawn_role(
                "role_tracer_writer",
                "tracer_writer",
                &[
                    ("RINGSIDE_DIR", rings.display().to_string()),
                    ("WRITER_ID", w.to_string()),
                    ("THREADS", "4".into()),
                    ("PER_THREAD", per_thread.to_string()),
                ],
            )
        })
        .collect();
    let mut written = 0;
    let mut dropped = 0;
    for w in &mut writers {
        let lines = child_lines(w);
        let stats = lines
            .iter()
            .find_map(|l| l.strip_prefix("STATS "))
            .expect("writer stats");
        let nums: Vec<u64> = stats.split(' ').map(|n| n.parse().unwrap()).collect();
        written += nums[0];
        dropped += nums[1];
        assert!(w.wait(Duration::from_secs(60)).success());
    }
    assert_eq!(
        written + dropped,
        2 * 4 * per_thread as u64,
        "every attempt is written or counted as dropped"
    );
    wait_for(
        "rings drained and removed",
        Duration::from_secs(120),
        || ring_files(&rings).is_empty(),
    );
    wait_for("all spans exported", Duration::from_secs(120), || {
        removed_rings(&log).len() == 2 && read_jsonl(&out).len() as u64 >= written
    });
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );

    let spans = read_jsonl(&out);
    let mut seen = HashSet::new();
    for s in &spans {
        let (w, t, i) = (
            s.int("w").unwrap(),
            s.int("t").unwrap(),
            s.int("i").unwrap(),
        );
        assert_eq!(s.int("sum"), Some(checksum(w, t, i)), "torn record {s:?}");
        assert!(seen.insert((w, t, i)), "duplicate span {w}/{t}/{i}");
        assert!(
            s.end >= s.start && s.start > 1_600_000_000_000_000_000,
            "times are Unix ns"
        );
    }
    assert_eq!(spans.len() as u64, written, "delivered = written");
}

/// Bad ring files are reported one by one and skipped; a good ring beside them
/// is drained as usual.
#[test]
fn corrupt_ring_files_are_reported_and_skipped() {
    let tmp = TempDir::new("corrupt");
    let (rings, spool, out, log) = layout(&tmp);

    // A valid ring to copy and damage: 16 records, each with its checksum, in
    // its one lane: slot i at HEADER_SIZE + i * 256.
    use ringside::ring::HEADER_SIZE;
    let template = {
        let ring = ringside::ring::Ring::create(&rings, "template", 16).unwrap();
        for i in 0..16 {
            ring.push(&writer_roles::record(9, 0, i)).unwrap();
        }
        let bytes = std::fs::read(ring.path()).unwrap();
        std::fs::remove_file(ring.path()).unwrap();
        bytes
    };
    let damage = |name: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = template.clone();
        f(&mut b);
        std::fs::write(rings.join(name), b).unwrap();
    };
    damage("badmagic.1.ring", &|b| b[0] = b'X');
    damage("version.2.ring", &|b| b[8] = 99);
    damage("truncated.3.ring", &|b| b.truncate(HEADER_SIZE + 100));
    damage("tiny.4.ring", &|b| b.truncate(100));
    damage("capacity.5.ring", &|b| {
        b[20..24].copy_from_slice(&12u32.to_le_bytes())
    });
    // Garbage in the payload of every other committed record: those records are
    // skipped, the rest arrive.
    damage("garbage.6.ring", &|b| {
        for i in (0..16).step_by(2) {
            let rec = HEADER_SIZE + i * 256 + 8;
            b[rec + 55] = 200; // name length past the payload
        }
    });
    std::os::unix::fs::symlink(tmp.join("elsewhere"), rings.join("link.7.ring")).unwrap();

    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &[]);
    let (written, _) = run_tracer_writer("role_tracer_writer", &rings, 1, 2, 5000);
    wait_for(
        "good ring and garbage ring drained",
        Duration::from_secs(60),
        || {
            let removed = removed_rings(&log);
            removed.iter().any(|r| r["service"] == "writer-1")
                && removed.iter().any(|r| r["service"] == "template")
        },
    );
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );

    let text = std::fs::read_to_string(&log).unwrap();
    let too_short = format!("shorter than the {HEADER_SIZE}-byte header");
    for (file, reason) in [
        ("badmagic.1.ring", "bad magic"),
        ("version.2.ring", "layout version 99"),
        ("truncated.3.ring", "truncated or corrupt"),
        ("tiny.4.ring", too_short.as_str()),
        ("capacity.5.ring", "capacity 12 is not a power of two"),
        ("link.7.ring", "symbolic links are refused"),
    ] {
        assert!(
            text.lines().any(|l| l.contains(file) && l.contains(reason)),
            "no message for {file} ({reason}) in:\n{text}"
        );
    }
    let spans = read_jsonl(&out);
    let good_spans = spans.iter().filter(|s| s.service == "writer-1").count() as u64;
    assert_eq!(good_spans, written, "the good ring flowed whole");
    let from_garbage: Vec<_> = spans.iter().filter(|s| s.service == "template").collect();
    assert_eq!(
        from_garbage.len(),
        8,
        "the valid half of the damaged ring arrived"
    );
    for s in from_garbage {
        let i = s.int("i").unwrap();
        assert_eq!(i % 2, 1);
        assert_eq!(s.int("sum"), Some(checksum(9, 0, i)));
    }
    let garbage = removed_rings(&log)
        .into_iter()
        .find(|r| r["service"] == "template")
        .unwrap();
    assert_eq!(garbage["corrupt"], "8");
}
