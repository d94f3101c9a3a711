//! The OTLP receiver is away for a while under load, and the sidecar is
//! SIGKILLed and restarted in between: when the receiver returns, every span
//! the rings accepted arrives (counted exactly; a duplicate is allowed only for
//! a batch in flight at a kill), and with a small spool cap the spool stays
//! within its cap while the spans it had to drop are counted.

mod common;
mod fake_otlp;
#[path = "common/roles.rs"]
mod writer_roles;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use fake_otlp::{FakeReceiver, Reply, Request};
use opentelemetry_proto::tonic::common::v1::any_value;

#[test]
fn role_tracer_writer() {
    if role().as_deref() == Some("tracer_writer") {
        writer_roles::tracer_writer();
    }
}

/// Default batch size of the sidecar: the most spans one request carries.
const BATCH: u64 = 8192;

/// `ringside run --config <config>` with stderr appended to `log`.
fn start(config: &Path, log: &Path) -> Proc {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_ringside"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file),
        "ringside run",
    )
}

fn spawn_writers(rings: &Path, writers: u64, threads: u64, per_thread: u64) -> Vec<Proc> {
    (0..writers)
        .map(|w| {
            spawn_role(
                "role_tracer_writer",
                "tracer_writer",
                &[
                    ("RINGSIDE_DIR", rings.display().to_string()),
                    ("WRITER_ID", w.to_string()),
                    ("THREADS", threads.to_string()),
                    ("PER_THREAD", per_thread.to_string()),
                    ("PAUSE_EVERY", "20".into()),
                ],
            )
        })
        .collect()
}

/// Waits for each writer's `STATS written dropped` and returns the sums.
fn writer_totals(writers: &mut [Proc]) -> (u64, u64) {
    let (mut written, mut dropped) = (0, 0);
    for w in writers {
        let lines = child_lines(w);
        let stats = lines
            .iter()
            .find_map(|l| l.strip_prefix("STATS "))
            .expect("writer stats");
        let n: Vec<u64> = stats.split(' ').map(|n| n.parse().unwrap()).collect();
        written += n[0];
        dropped += n[1];
        assert!(w.wait(Duration::from_secs(120)).success());
    }
    (written, dropped)
}

/// Counts every test span (writer, thread, sequence) in the requests that were
/// answered 200; panics on a torn span.
#[derive(Default)]
struct Tally {
    seen: HashMap<(i64, i64, i64), u32>,
    requests_ok: u64,
}

impl Tally {
    fn add(&mut self, requests: Vec<Request>) {
        for r in requests.into_iter().filter(|r| r.answered == 200) {
            self.requests_ok += 1;
            for span in r
                .export_request()
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
            {
                let int = |key: &str| {
                    span.attributes
                        .iter()
                        .find(|kv| kv.key == key)
                        .and_then(|kv| kv.value.as_ref()?.value.clone())
                        .and_then(|v| match v {
                            any_value::Value::IntValue(i) => Some(i),
                            _ => None,
                        })
                        .unwrap_or_else(|| panic!("span without {key}: {span:?}"))
                };
                let (w, t, i) = (int("w"), int("t"), int("i"));
                assert_eq!(int("sum"), checksum(w, t, i), "torn span {w}/{t}/{i}");
                *self.seen.entry((w, t, i)).or_default() += 1;
            }
        }
    }

    fn distinct(&self) -> u64 {
        self.seen.len() as u64
    }

    fn duplicates(&self) -> u64 {
        self.seen.values().map(|&n| u64::from(n) - 1).sum()
    }
}

/// The sidecar's configuration: `extra` goes into the `[rings]` table, and
/// `spool` into `[spool]`; metrics on a free port.
fn config(tmp: &TempDir, endpoint: &str, rings: &str, spool: &str) -> std::path::PathBuf {
    let path = tmp.join("ringside.toml");
    std::fs::write(
        &path,
        format!(
            "[rings]\ndir = \"{}\"\n{rings}\n[spool]\ndir = \"{}\"\n{spool}\n\
             [metrics]\nlisten = \"127.0.0.1:0\"\n\
             [[exporters]]\nkind = \"otlp\"\nendpoint = \"{endpoint}\"\ntimeout_ms = 5000\n",
            tmp.join("rings").display(),
            tmp.join("spool").display(),
        ),
    )
    .unwrap();
    std::fs::create_dir_all(tmp.join("rings")).unwrap();
    path
}

/// 200,000 spans while nothing listens on the receiver's port; the sidecar is
/// killed and restarted while the writers write, and again while it catches
/// up once the receiver is back.
#[test]
fn receiver_outage_and_sidecar_kills_lose_no_accepted_span() {
    let tmp = TempDir::new("outage");
    let port = otlp_sidecar::free_port();
    let endpoint = format!("http://127.0.0.1:{port}/v1/traces");
    let config = config(&tmp, &endpoint, "", "");
    let (rings, log) = (tmp.join("rings"), tmp.join("sidecar.log"));
    let mut sidecar = start(&config, &log);
    let mut writers = spawn_writers(&rings, 2, 2, 50_000);

    // Mid-way through the writing, with the receiver still away.
    wait_for("spans in the spool", Duration::from_secs(60), || {
        dir_bytes(&tmp.join("spool")) > 4 << 20
    });
    sidecar.stop_with(libc::SIGKILL, Duration::from_secs(10));
    sidecar = start(&config, &log);
    let (written, dropped) = writer_totals(&mut writers);
    assert_eq!(written + dropped, 200_000);
    wait_for("rings drained", Duration::from_secs(120), || {
        ring_files(&rings).is_empty()
    });

    // The receiver returns on the same port; kill the sidecar again once
    // some batches were delivered.
    let receiver = FakeReceiver::start_on(port, |_| Reply::ok());
    let mut tally = Tally::default();
    wait_for("first deliveries", Duration::from_secs(120), || {
        tally.add(receiver.requests());
        tally.requests_ok >= 2
    });
    sidecar.stop_with(libc::SIGKILL, Duration::from_secs(10));
    sidecar = start(&config, &log);
    wait_for("every accepted span", Duration::from_secs(180), || {
        tally.add(receiver.requests());
        tally.distinct() >= written
    });
    // Anything still in flight arrives now, or never.
    std::thread::sleep(Duration::from_secs(2));
    tally.add(receiver.requests());
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
    tally.add(receiver.requests());

    assert_eq!(tally.distinct(), written, "every accepted span arrived");
    let duplicates = tally.duplicates();
    eprintln!(
        "written {written}, ring-dropped {dropped}, delivered {} in {} requests, duplicates {duplicates}",
        tally.distinct(),
        tally.requests_ok
    );
    assert!(
        duplicates <= 2 * BATCH,
        "{duplicates} duplicates: at most one batch per kill"
    );
}

/// Bytes of the regular files in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A spool capped at four 64 KiB segments while the receiver is away and
/// writers write 50,000 spans (about 12 MB of records): the spool directory
/// never holds more than the cap plus one segment, and when the receiver
/// returns, delivered + dropped-and-counted = written.
#[test]
fn small_spool_stays_under_its_cap_and_counts_what_it_dropped() {
    const SEGMENT: u64 = 64 << 10;
    const CAP: u64 = 4 * SEGMENT;
    let tmp = TempDir::new("spoolcap");
    let port = otlp_sidecar::free_port();
    let endpoint = format!("http://127.0.0.1:{port}/v1/traces");
    // One drain of a ring is one spool entry, which must fit half a segment
    // (the configuration refuses more): 100 records are about 25 KB.
    let config = config(
        &tmp,
        &endpoint,
        "max_per_ring = 100",
        &format!("max_bytes = {CAP}\nsegment_bytes = {SEGMENT}"),
    );
    let (rings, spool, log) = (
        tmp.join("rings"),
        tmp.join("spool"),
        tmp.join("sidecar.log"),
    );
    let mut sidecar = start(&config, &log);
    let metrics = scrape::metrics_addr(&log);

    // Watch the spool's size while it fills.
    let stop = Arc::new(AtomicBool::new(false));
    let largest = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (stop, largest, spool) = (stop.clone(), largest.clone(), spool.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                largest.fetch_max(dir_bytes(&spool), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let mut writers = spawn_writers(&rings, 1, 2, 25_000);
    let (written, ring_dropped) = writer_totals(&mut writers);
    assert_eq!(written + ring_dropped, 50_000);
    wait_for("rings drained", Duration::from_secs(120), || {
        ring_files(&rings).is_empty()
    });
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let largest = largest.load(Ordering::Relaxed);
    assert!(
        largest <= CAP + SEGMENT,
        "spool directory held {largest} bytes; cap {CAP} + one segment {SEGMENT}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("spool over its size cap"),
        "the spool says it dropped data:\n{text}"
    );

    let receiver = FakeReceiver::start_on(port, |_| Reply::ok());
    let mut tally = Tally::default();
    let lost = |page: &str| {
        scrape::metric(
            page,
            &[
                "ringside_export_spans_total{",
                "exporter=\"otlp\"",
                "result=\"lost_in_spool\"",
            ],
        )
        .unwrap()
    };
    let mut dropped = 0.0;
    wait_for(
        "delivered + lost in the spool = written",
        Duration::from_secs(120),
        || {
            tally.add(receiver.requests());
            dropped = lost(&scrape::page(&metrics));
            tally.distinct() as f64 + dropped == written as f64
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    tally.add(receiver.requests());
    let page = scrape::page(&metrics);
    assert_eq!(lost(&page), dropped, "nothing more lost");
    assert_eq!(tally.distinct() as f64 + dropped, written as f64);
    // The spool's own count also takes in the batch the exporter held in
    // flight (retrying) when its segment was deleted, which it delivered
    // afterwards: at most one batch more.
    let spool_dropped = scrape::metric(&page, &["ringside_spool_dropped_spans_total"]).unwrap();
    assert!(
        (dropped..=dropped + BATCH as f64).contains(&spool_dropped),
        "spool dropped {spool_dropped}, exporter lost {dropped}"
    );
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
    tally.add(receiver.requests());
    eprintln!(
        "written {written}, delivered {}, lost {dropped}, spool dropped {spool_dropped}, \
         spool peak {largest} bytes",
        tally.distinct()
    );
    assert_eq!(tally.duplicates(), 0);
    assert!(dropped > 0.0, "the cap forced drops");
}
