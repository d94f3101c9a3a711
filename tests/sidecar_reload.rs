//! SIGHUP reloads the configuration: a new exporter list takes effect without
//! losing spans, and a bad new configuration is refused (key and reason in the
//! log) while the running one keeps working.

mod common;
#[path = "common/roles.rs"]
mod writer_roles;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn role_tracer_writer() {
    if role().as_deref() == Some("tracer_writer") {
        writer_roles::tracer_writer();
    }
}

fn config(
    rings: &std::path::Path,
    spool: &std::path::Path,
    jsonl: &std::path::Path,
    extra: &str,
) -> String {
    format!(
        "[rings]\ndir = {rings:?}\n\n[spool]\ndir = {spool:?}\n\n[metrics]\nlisten = \"\"\n\n\
         [[exporters]]\nkind = \"jsonl\"\npath = {jsonl:?}\n{extra}"
    )
}

/// Runs a writer of `n` spans as writer `id` and returns how many it wrote.
fn write_spans(rings: &std::path::Path, id: u32, n: u32) -> usize {
    run_tracer_writer("role_tracer_writer", rings, id, 1, n.into()).0 as usize
}

#[test]
fn sighup_swaps_exporters_and_refuses_a_bad_config() {
    let tmp = TempDir::new("reload");
    let (rings, spool, log) = (
        tmp.join("rings"),
        tmp.join("spool"),
        tmp.join("sidecar.log"),
    );
    let (first, second) = (tmp.join("first.jsonl"), tmp.join("second.jsonl"));
    let file = tmp.join("ringside.toml");
    std::fs::write(&file, config(&rings, &spool, &first, "")).unwrap();
    let mut sidecar = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_ringside"))
            .args(["run", "--config"])
            .arg(&file)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
        "ringside run",
    );
    wait_for("ring directory", Duration::from_secs(30), || rings.is_dir());

    let written = write_spans(&rings, 1, 300);
    wait_for(
        "first batch in first.jsonl",
        Duration::from_secs(30),
        || read_jsonl(&first).len() == written,
    );

    // Swap the exporter to second.jsonl.
    std::fs::write(&file, config(&rings, &spool, &second, "")).unwrap();
    sidecar.signal(libc::SIGHUP);
    wait_for("reload logged", Duration::from_secs(30), || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("configuration reloaded")
    });
    let written2 = write_spans(&rings, 2, 200);
    wait_for(
        "second batch in second.jsonl",
        Duration::from_secs(30),
        || {
            read_jsonl(&second)
                .iter()
                .filter(|s| s.int("w") == Some(2))
                .count()
                == written2
        },
    );
    assert_eq!(
        read_jsonl(&first).len(),
        written,
        "nothing more went to the removed exporter"
    );

    // A bad configuration is refused, naming the key; spans keep flowing.
    std::fs::write(
        &file,
        config(&rings, &spool, &second, "\n[batch]\nmax_spans = 0\n"),
    )
    .unwrap();
    sidecar.signal(libc::SIGHUP);
    wait_for("refusal logged", Duration::from_secs(30), || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("new configuration refused")
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let refusal = text
        .lines()
        .find(|l| l.contains("new configuration refused"))
        .unwrap();
    assert!(
        refusal.contains("batch.max_spans"),
        "refusal names the key: {refusal}"
    );
    let written3 = write_spans(&rings, 3, 100);
    wait_for(
        "third batch still exported",
        Duration::from_secs(30),
        || {
            read_jsonl(&second)
                .iter()
                .filter(|s| s.int("w") == Some(3))
                .count()
                == written3
        },
    );
    assert!(
        sidecar
            .stop_with(libc::SIGTERM, Duration::from_secs(30))
            .success()
    );
}
