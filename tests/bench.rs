//! `ringside bench` smoke test: every mode runs on both targets, the table and
//! the JSON come out, and the spans of the tracing modes arrived. No timing is
//! asserted; the numbers are for people.

use std::process::Command;

#[test]
fn bench_runs_every_mode_and_reports_spans() {
    let dir = std::env::temp_dir().join(format!("ringside-test-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args([
            "bench",
            "--duration",
            "1",
            "--rate",
            "200",
            "--clients",
            "2",
            "--json",
        ])
        .arg(&json)
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut modes = vec!["off", "ringside"];
    if cfg!(feature = "bench-otel") {
        modes.push("otel");
    }
    for target in ["store", "loop"] {
        for mode in &modes {
            let row = format!("{target:<6} {mode:<9}");
            assert!(stdout.contains(&row), "no row {row:?} in\n{stdout}");
        }
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 2 * modes.len());
    for r in results {
        assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
        assert!(
            r["p99_us"].as_f64().unwrap() >= r["p50_us"].as_f64().unwrap(),
            "{r}"
        );
        let spans = r["spans"].as_u64().unwrap();
        if r["mode"] == "off" {
            assert_eq!(spans, 0);
            assert!(r["p99_overhead_pct"].is_null());
        } else {
            // Each request makes at least a client, a file, a metadata and a
            // data span; all of them arrived.
            assert!(spans >= 4 * r["requests"].as_u64().unwrap(), "{r}");
            assert_eq!(r["dropped"], 0, "{r}");
            assert!(r["p99_overhead_pct"].is_f64(), "{r}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_refuses_bad_options() {
    for args in [&["--rate", "0"][..], &["--duration", "0"], &["--size", "0"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_ringside"))
            .arg("bench")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains("error"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
