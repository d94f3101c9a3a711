//! Faults around the sidecar: writers killed mid-record, a writer thread stalled
//! mid-record, and the sidecar itself killed while draining.

mod common;
#[path = "common/roles.rs"]
mod writer_roles;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;

#[test]
fn role_pausing_writer() {
    if role().as_deref() == Some("pausing_writer") {
        writer_roles::pausing_writer();
    }
}

#[test]
fn role_stalled_writer() {
    if role().as_deref() == Some("stalled_writer") {
        writer_roles::stalled_writer();
    }
}

#[test]
fn role_tracer_writer() {
    if role().as_deref() == Some("tracer_writer") {
        writer_roles::tracer_writer();
    }
}

fn random_below(n: u64) -> u64 {
    u64::from_le_bytes(ringside::trace::SpanId::random().0) % n
}

/// Writers SIGKILLed at random points, often while copying a record into its
/// slot: the sidecar emits no torn record, counts each record begun but never
/// published as abandoned, and accounts for every one: delivered + abandoned =
/// written.
#[test]
fn writers_killed_mid_record_are_skipped_and_counted() {
    let tmp = TempDir::new("killwriter");
    let (rings, spool, out, log) = layout(&tmp);
    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &[]);
    let rounds = 12;
    for w in 0..rounds {
        let mut writer = spawn_role(
            "role_pausing_writer",
            "pausing_writer",
            &[
                ("RINGSIDE_DIR", rings.display().to_string()),
                ("WRITER_ID", w.to_string()),
                ("PAUSE_US", "300".into()),
            ],
        );
        let rx = stdout_lines(&mut writer);
        expect_line(&rx, "READY", Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(20 + random_below(80)));
        writer.stop_with(libc::SIGKILL, Duration::from_secs(10));
    }
    wait_for(
        "every killed writer's ring drained and removed",
        Duration::from_secs(60),
        || removed_rings(&log).len() == rounds as usize,
    );
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );

    let spans = read_jsonl(&out);
    let mut per_writer: HashMap<i64, HashSet<i64>> = HashMap::new();
    for s in &spans {
        let (w, i) = (s.int("w").unwrap(), s.int("i").unwrap());
        assert_eq!(s.int("sum"), Some(checksum(w, 0, i)), "torn record {s:?}");
        assert!(
            per_writer.entry(w).or_default().insert(i),
            "duplicate {w}/{i}"
        );
    }
    let mut abandoned_total = 0;
    for ring in removed_rings(&log) {
        let w: i64 = ring["service"]
            .trim_start_matches("pausing-")
            .parse()
            .unwrap();
        let written: u64 = ring["written"].parse().unwrap();
        let abandoned: u64 = ring["abandoned"].parse().unwrap();
        let delivered = per_writer.get(&w).map_or(0, |s| s.len() as u64);
        assert_eq!(
            delivered + abandoned,
            written,
            "writer {w}: delivered + abandoned = written"
        );
        assert!(
            abandoned <= 1,
            "a single-threaded writer has at most one record in flight"
        );
        abandoned_total += abandoned;
    }
    // With a 300 µs pause inside each record, most kills land mid-record.
    assert!(
        abandoned_total >= 1,
        "no kill landed mid-record in {rounds} rounds"
    );
}

/// A live writer thread stalled mid-record (here for 10 s, as under CPU
/// throttling or SIGSTOP) holds up nothing: the other thread's later records
/// arrive while it is stalled, nothing is abandoned or torn, and the stalled
/// record itself arrives whole once its thread resumes and publishes it.
/// (Layout version 1 abandoned such a record after the sidecar's patience and
/// dropped it as late; single-writer lanes need neither.)
#[test]
fn stalled_writer_holds_up_nothing_and_its_record_arrives_when_it_resumes() {
    let tmp = TempDir::new("stalled");
    let (rings, spool, out, log) = layout(&tmp);
    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &["--patience-ms", "200"]);
    let mut writer = spawn_role(
        "role_stalled_writer",
        "stalled_writer",
        &[
            ("RINGSIDE_DIR", rings.display().to_string()),
            ("STALL_MS", "10000".into()),
            ("PER_THREAD", "1000".into()),
        ],
    );
    let rx = stdout_lines(&mut writer);
    expect_line(&rx, "B_DONE", Duration::from_secs(30));
    // Thread A is still stalled (for 10 s) with its record half-way; B's 1000
    // later records arrive meanwhile, and A's does not.
    wait_for(
        "records written after the stalled one",
        Duration::from_secs(8),
        || {
            read_jsonl(&out)
                .iter()
                .filter(|s| s.int("t") == Some(1))
                .count()
                == 1000
        },
    );
    assert!(read_jsonl(&out).iter().all(|s| s.int("t") == Some(1)));
    assert_eq!(expect_line(&rx, "A_RESULT", Duration::from_secs(30)), "Ok");
    wait_for(
        "the stalled record, once published",
        Duration::from_secs(8),
        || read_jsonl(&out).iter().any(|s| s.int("t") == Some(0)),
    );
    let ring = ring_files(&rings).pop().expect("ring of the live writer");
    let stats = ringside::ring::Consumer::open(&ring).unwrap().stats();
    assert_eq!((stats.written, stats.abandoned), (1001, 0));
    writer.stop_with(libc::SIGKILL, Duration::from_secs(10));
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
    let spans = read_jsonl(&out);
    assert_eq!(spans.len(), 1001, "every record once");
    for s in &spans {
        let (t, i) = (s.int("t").unwrap(), s.int("i").unwrap());
        assert_eq!(s.int("sum"), Some(checksum(0, t, i)), "torn record {s:?}");
    }
}

/// The sidecar SIGKILLed again and again while writers write: the union of its
/// output has every accepted span exactly once.
#[test]
fn sidecar_killed_while_draining_loses_and_duplicates_nothing() {
    let tmp = TempDir::new("killsidecar");
    let (rings, spool, out, log) = layout(&tmp);
    let per_thread = 40_000;
    let mut writers: Vec<Proc> = (0..2)
        .map(|w| {
            spawn_role(
                "role_tracer_writer",
                "tracer_writer",
                &[
                    ("RINGSIDE_DIR", rings.display().to_string()),
                    ("WRITER_ID", w.to_string()),
                    ("THREADS", "2".into()),
                    ("PER_THREAD", per_thread.to_string()),
                    ("PAUSE_EVERY", "40".into()),
                ],
            )
        })
        .collect();
    let receivers: Vec<_> = writers.iter_mut().map(stdout_lines).collect();
    let mut kills = 0;
    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &[]);
    while writers
        .iter_mut()
        .any(|w| w.child.as_mut().unwrap().try_wait().unwrap().is_none())
    {
        std::thread::sleep(Duration::from_millis(100 + random_below(300)));
        sidecar.stop_with(libc::SIGKILL, Duration::from_secs(10));
        kills += 1;
        sidecar = start_sidecar(&rings, &spool, &out, &log, &[]);
    }
    let mut written = 0;
    for rx in &receivers {
        let stats = expect_line(rx, "STATS", Duration::from_secs(10));
        written += stats.split(' ').next().unwrap().parse::<u64>().unwrap();
    }
    wait_for("rings drained", Duration::from_secs(120), || {
        ring_files(&rings).is_empty()
    });
    wait_for("all spans exported", Duration::from_secs(120), || {
        read_jsonl(&out).len() as u64 >= written
    });
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
    assert!(kills >= 2, "the sidecar was killed {kills} times");

    let spans = read_jsonl(&out);
    let mut seen = HashSet::new();
    for s in &spans {
        let (w, t, i) = (
            s.int("w").unwrap(),
            s.int("t").unwrap(),
            s.int("i").unwrap(),
        );
        assert_eq!(s.int("sum"), Some(checksum(w, t, i)), "torn record");
        assert!(
            seen.insert((w, t, i)),
            "duplicate span {w}/{t}/{i} after {kills} kills"
        );
    }
    assert_eq!(
        spans.len() as u64,
        written,
        "every accepted span arrived once after {kills} kills"
    );
}
