//! The sidecar's sqlite exporter in the real pipeline: writers emit spans,
//! the sidecar is SIGKILLed while exporting and restarted, and afterwards the
//! store holds every span the rings accepted exactly once, with its
//! attributes, and the analysis commands read it.

mod common;
#[path = "common/roles.rs"]
mod writer_roles;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use ringside_agent::analyze::input::{AttrSelection, Input, SpanQuery};
use ringside_agent::store::Store;

#[test]
fn role_tracer_writer() {
    if role().as_deref() == Some("tracer_writer") {
        writer_roles::tracer_writer();
    }
}

fn stored(path: &Path) -> i64 {
    let Ok(store) = Store::open_read_only(path) else {
        return 0;
    };
    store
        .connection()
        .query_row("SELECT count(*) FROM spans", [], |r| r.get(0))
        .unwrap_or(0)
}

#[test]
fn store_gets_every_span_once_across_a_sigkill() {
    let tmp = TempDir::new("store-kill");
    let (rings, spool, out, log, db) = (
        tmp.join("rings"),
        tmp.join("spool"),
        tmp.join("out.jsonl"),
        tmp.join("sidecar.log"),
        tmp.join("traces.db"),
    );
    std::fs::create_dir_all(&rings).unwrap();
    let extra = ["--store", db.to_str().unwrap()];
    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &extra);
    let mut writer = spawn_role(
        "role_tracer_writer",
        "tracer_writer",
        &[
            ("RINGSIDE_DIR", rings.display().to_string()),
            ("WRITER_ID", "1".into()),
            ("THREADS", "2".into()),
            ("PER_THREAD", "15000".into()),
            ("PAUSE_EVERY", "5".into()),
        ],
    );
    wait_for("some spans stored", Duration::from_secs(60), || {
        stored(&db) > 0
    });
    sidecar.signal(libc::SIGKILL);
    let at_kill = stored(&db);
    sidecar.wait(Duration::from_secs(10));
    let mut sidecar = start_sidecar(&rings, &spool, &out, &log, &extra);

    let lines = child_lines(&mut writer);
    let stats = lines
        .iter()
        .find_map(|l| l.strip_prefix("STATS "))
        .expect("writer stats");
    let written: i64 = stats.split(' ').next().unwrap().parse().unwrap();
    assert!(writer.wait(Duration::from_secs(60)).success());
    wait_for("every span stored", Duration::from_secs(180), || {
        stored(&db) >= written
    });
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );

    assert!(
        at_kill < written,
        "the kill came while spans were still flowing"
    );
    assert_eq!(stored(&db), written, "stored = written, nothing twice");
    let store = Store::open_read_only(&db).unwrap();
    assert!(
        store.cursor().unwrap().is_some(),
        "cursor stored with the spans"
    );
    let spans = Input::Store(store)
        .load(&SpanQuery {
            attributes: AttrSelection::All,
            ..SpanQuery::default()
        })
        .unwrap()
        .spans;
    let distinct: HashSet<(String, String, String)> = spans
        .iter()
        .map(|s| {
            let a = |k: &str| s.attr(k).map(|v| v.to_string()).unwrap_or_default();
            (a("w"), a("t"), a("i"))
        })
        .collect();
    let distinct = distinct.len() as i64;
    assert_eq!(distinct, written, "every (writer, thread, index) once");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args(["stats", "--store", db.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["operations"][0]["count"].as_i64(), Some(written));
}
