//! The HTML report and the timeline SVG rendered by headless Chromium
//! (Debian package `chromium`): the pages load without console errors, the
//! expected chart elements are in the rendered DOM, and screenshots are kept
//! under `target/test-artifacts/` (report.png, timeline.png).
//!
//! Ignored by plain `cargo test` (it needs Chromium); CI runs it with
//! `cargo test -- --include-ignored`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringside::record::{Record, SpanKind, StatusCode};
use ringside_agent::batch::SpoolCursor;
use ringside_agent::batch::{Resource, SpanBatch};
use ringside_agent::store::{Store, generate};

const CHROMIUM: &str = "chromium";
const WIDE_TRACE: [u8; 16] = [0xab; 16];
const WIDE_SPANS: usize = 130;

struct Run {
    stdout: String,
    stderr: String,
}

/// Runs Chromium headless on `url` with `extra` flags, killing it (by its
/// pid, through the child handle) if it runs past a minute.
fn chromium(profile: &Path, url: &str, extra: &[&str]) -> Run {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium is installed (Debian package `chromium`)");
    let out_reader = {
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut out, &mut s).unwrap();
            s
        })
    };
    let err_reader = {
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut err, &mut s).unwrap();
            s
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run {
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// Console messages and failed loads, as Chromium logs them with
/// `--enable-logging=stderr` (`INFO:CONSOLE:<line>] "message", source: ...`;
/// the level is not in the line). The report has no scripts, so any console
/// message at all is unexpected.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || l.contains("Failed to load resource")
                || l.contains("net::ERR_")
        })
        .collect()
}

/// A trace of one root with many sequential children, on two services.
fn wide_trace(t0: u64) -> Vec<SpanBatch> {
    let mut records = Vec::new();
    let mut root = Record::new("scrub pool");
    root.trace_id = WIDE_TRACE;
    root.span_id = [1, 0, 0, 0, 0, 0, 0, 1];
    root.kind = SpanKind::Server as u8;
    root.start = t0;
    root.end = t0 + WIDE_SPANS as u64 * 1_000_000;
    records.push(root);
    for i in 1..WIDE_SPANS as u64 {
        let mut r = Record::new(&format!("scrub object {i} with a long descriptive name"));
        r.trace_id = WIDE_TRACE;
        r.span_id = [2, 0, 0, 0, 0, 0, (i >> 8) as u8, i as u8];
        r.parent_span_id = root.span_id;
        r.kind = SpanKind::Internal as u8;
        r.start = t0 + i * 1_000_000;
        r.end = r.start + 900_000;
        if i % 37 == 0 {
            r.set_status(StatusCode::Error, "checksum mismatch");
        }
        records.push(r);
    }
    let (a, b) = records.split_at(WIDE_SPANS / 2);
    let res = |service: &str| {
        std::sync::Arc::new(Resource {
            service: service.into(),
            pid: 1,
            host: "node9".into(),
            ring_id: 1,
            attributes: Vec::new(),
        })
    };
    vec![
        SpanBatch {
            resource: res("scrubber"),
            records: a.to_vec(),
        },
        SpanBatch {
            resource: res("osd"),
            records: b.to_vec(),
        },
    ]
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[ignore = "needs chromium; CI runs ignored tests"]
fn report_renders_in_chromium_without_console_errors() {
    let dir = std::env::temp_dir().join(format!("ringside-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("profile");

    // The detector must be able to fail: a page with a console error is caught.
    let bad = dir.join("bad.html");
    std::fs::write(
        &bad,
        "<html><body><script>console.error('boom')</script></body></html>",
    )
    .unwrap();
    let run = chromium(
        &profile,
        &format!("file://{}", bad.display()),
        &["--dump-dom"],
    );
    assert!(
        !console_errors(&run.stderr).is_empty(),
        "detector missed a console error:\n{}",
        run.stderr
    );

    let store = dir.join("traces.db");
    let t0 = 1_760_000_000_000_000_000;
    let mut s = Store::open(&store).unwrap();
    s.write(
        &generate::traces(5, 200, t0, 2_000_000),
        SpoolCursor {
            segment: 1,
            offset: 0,
        },
    )
    .unwrap();
    s.write(
        &wide_trace(t0 + 100_000_000),
        SpoolCursor {
            segment: 2,
            offset: 0,
        },
    )
    .unwrap();
    drop(s);

    let html = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args([
            "report",
            "--store",
            store.to_str().unwrap(),
            "--slowest",
            "5",
        ])
        .arg("--out")
        .arg(&html)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = format!("file://{}", html.display());

    let shot = artifacts().join("report.png");
    let _ = std::fs::remove_file(&shot);
    let run = chromium(
        &profile,
        &url,
        &[
            "--window-size=1300,6000",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(
        console_errors(&run.stderr).is_empty(),
        "{:?}",
        console_errors(&run.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(
        png.len() > 50_000,
        "screenshot of a full report is not tiny"
    );

    let run = chromium(&profile, &url, &["--dump-dom"]);
    assert!(
        console_errors(&run.stderr).is_empty(),
        "{:?}",
        console_errors(&run.stderr)
    );
    let dom = run.stdout;
    for id in [
        "summary",
        "percentiles",
        "errors",
        "heatmap",
        "bottlenecks",
        "slowest",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "#{id} missing from the rendered DOM"
        );
    }
    assert_eq!(dom.matches("class=\"waterfall\"").count(), 5);
    for i in 0..5 {
        assert!(dom.contains(&format!("id=\"waterfall-{i}\"")));
    }
    // Percentile chart + heatmap + 5 waterfalls + one inline error-rate bar
    // per operation (8 generated operations + one per span name of the wide
    // trace, whose spans are all named differently).
    let operations = 8 + WIDE_SPANS;
    assert_eq!(dom.matches("<svg").count(), 7 + operations, "svg count");
    let chart =
        &dom[dom.find("id=\"percentile-chart\"").unwrap()..dom.find("id=\"errors\"").unwrap()];
    assert_eq!(
        chart.matches("<rect").count() - 1,
        operations,
        "one p50-p99 bar per operation"
    );
    // The wide trace is the slowest: all its spans are labelled in its
    // waterfall (one label and one duration text per span).
    let first =
        &dom[dom.find("id=\"waterfall-0\"").unwrap()..dom.find("id=\"waterfall-1\"").unwrap()];
    assert!(first.contains("scrub pool"));
    assert!(first.matches("<text").count() >= 2 * WIDE_SPANS);
    assert!(first.matches("<rect").count() >= WIDE_SPANS);

    // The timeline alone, with 130 spans: its rows keep their height.
    let svg = dir.join("wide.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args([
            "timeline",
            "abababababababababababababababab",
            "--store",
            store.to_str().unwrap(),
        ])
        .arg("--out")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    let height: u32 = text
        .split("height=\"")
        .nth(1)
        .and_then(|h| h.split('"').next())
        .and_then(|h| h.parse().ok())
        .unwrap();
    assert!(height >= WIDE_SPANS as u32 * ringside_agent::analyze::chart::waterfall::ROW_HEIGHT);
    let shot = artifacts().join("timeline.png");
    let run = chromium(
        &profile,
        &format!("file://{}", svg.display()),
        &[
            &format!("--window-size=1200,{}", height + 20),
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(
        console_errors(&run.stderr).is_empty(),
        "{:?}",
        console_errors(&run.stderr)
    );
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    std::fs::remove_dir_all(&dir).unwrap();
}
