//! `ringside bench` smoke test: every mode runs on both targets in
//! interleaved rounds, the tables, the JSON (with every round) and the plot
//! come out, and the spans of the tracing modes arrived. No timing is
//! asserted; the numbers are for people.

use std::process::Command;

#[test]
fn bench_runs_every_mode_in_rounds_and_reports_spans() {
    let dir = std::env::temp_dir().join(format!("ringside-test-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bench.json");
    let svg = dir.join("bench.svg");
    // 6 rounds of 0.2 s per mode: the fewest that give a 95 % interval.
    let out = Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args([
            "bench",
            "--duration",
            "1.2",
            "--round",
            "0.2",
            "--warmup",
            "0.2",
            "--rate",
            "200",
            "--clients",
            "2",
            "--json",
        ])
        .arg(&json)
        .arg("--plot")
        .arg(&svg)
        .arg("--dir")
        .arg(dir.join("work"))
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
        for mode in &modes[1..] {
            let row = format!("{target:<6} {mode:<9} p50 ");
            assert!(
                stdout.contains(&row),
                "no overhead row {row:?} in\n{stdout}"
            );
        }
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["rounds_per_mode"], 6);
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
            assert_eq!(r["rounds"], 7, "{r}");
            assert_eq!(spans, 0);
            assert!(r["p50_overhead"].is_null(), "{r}");
            assert_eq!(r["sidecar_cpu_us_per_req"], 0.0, "{r}");
        } else {
            assert_eq!(r["rounds"], 6, "{r}");
            // Each request makes at least a client, a file, a metadata and a
            // data span; all of them arrived.
            assert!(spans >= 4 * r["requests"].as_u64().unwrap(), "{r}");
            assert_eq!(r["dropped"], 0, "{r}");
            for key in ["p50_overhead", "p99_overhead", "traced_cpu_overhead"] {
                let e = &r[key];
                assert_eq!(e["rounds"], 6, "{r}");
                let (lo, hi) = (e["low"].as_f64().unwrap(), e["high"].as_f64().unwrap());
                let median = e["median"].as_f64().unwrap();
                assert!(lo <= median && median <= hi, "{r}");
            }
        }
    }
    // Every round is there, in order, each tracing round with its overheads.
    let rounds = doc["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2 * (6 * modes.len() + 1));
    for (i, round) in rounds.iter().enumerate() {
        assert_eq!(round["index"], i % (6 * modes.len() + 1), "{round}");
        let tracing = round["mode"] != "off";
        assert_eq!(round["p50_overhead_pct"].is_f64(), tracing, "{round}");
        assert!(round["requests"].as_u64().unwrap() > 0, "{round}");
    }
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("p50 overhead"),
        "{svg:.200}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_refuses_bad_options() {
    for args in [
        &["--rate", "0"][..],
        &["--duration", "0"],
        &["--size", "0"],
        &["--round", "0"],
        &["--duration", "1", "--round", "2"],
        &["--warmup", "-1"],
        &["--round", "NaN"],
    ] {
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
