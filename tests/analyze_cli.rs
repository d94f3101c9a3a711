//! The analysis commands end to end: a store and JSONL files filled with
//! generated traces, the `ringside` binary run against them, exit codes and
//! JSON output checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ringside_agent::analyze::input::{AttrSelection, Input, SpanQuery};
use ringside_agent::batch::SpoolCursor;
use ringside_agent::export::Exporter;
use ringside_agent::export::jsonl::JsonlExporter;
use ringside_agent::store::{Store, generate};

const TRACES: usize = 120;
const T0: u64 = 1_760_000_000_000_000_000;

struct Fixture {
    dir: PathBuf,
    store: PathBuf,
    jsonl: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(tag: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("ringside-analyze-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let batches = generate::traces(11, TRACES, T0, 1_000_000);
    let store = dir.join("traces.db");
    Store::open(&store)
        .unwrap()
        .write(
            &batches,
            SpoolCursor {
                segment: 1,
                offset: 0,
            },
        )
        .unwrap();
    let jsonl = dir.join("spans.jsonl");
    let mut e = JsonlExporter::new(&jsonl, 0, 1);
    e.export(
        &batches,
        SpoolCursor {
            segment: 1,
            offset: 0,
        },
    )
    .unwrap();
    Fixture { dir, store, jsonl }
}

fn ringside(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringside"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn slowest_trace(store: &Path) -> String {
    let out = ringside(&[
        "search",
        "--store",
        s(store),
        "--sort",
        "longest",
        "--limit",
        "1",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    json(&out)["traces"][0]["trace_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn trace_and_critical_path_found_missing_and_bad() {
    let f = fixture("trace");
    let id = slowest_trace(&f.store);
    let out = ringside(&["trace", &id, "--store", s(&f.store), "--json"]);
    assert_eq!(code(&out), 0);
    let v = json(&out);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), generate::SPANS_PER_TRACE);
    assert_eq!(rows[0]["name"], "GET /object");
    assert_eq!(rows[0]["depth"], 0);
    // The slowest replica's disk read carries the trace.
    let disk_on_path = rows
        .iter()
        .filter(|r| r["name"] == "disk read" && r["critical"] == true)
        .count();
    assert_eq!(disk_on_path, 1);

    let out = ringside(&["critical-path", &id, "--store", s(&f.store), "--json"]);
    assert_eq!(code(&out), 0);
    let v = json(&out);
    let sum: u64 = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["duration_ns"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, v["total_ns"].as_u64().unwrap());
    assert_eq!(sum, rows[0]["duration_ns"].as_u64().unwrap());

    let table = ringside(&["trace", &id, "--store", s(&f.store)]);
    assert_eq!(code(&table), 0);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("disk read [internal]") && text.contains('*'),
        "{text}"
    );

    let missing = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        code(&ringside(&["trace", missing, "--store", s(&f.store)])),
        1
    );
    assert_eq!(
        code(&ringside(&[
            "critical-path",
            missing,
            "--store",
            s(&f.store)
        ])),
        1
    );
    assert_eq!(
        code(&ringside(&["trace", "xyz", "--store", s(&f.store)])),
        2
    );
    let nowhere = f.dir.join("nope.db");
    let out = ringside(&["trace", &id, "--store", s(&nowhere)]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.db"));
}

#[test]
fn search_filters_and_exit_codes() {
    let f = fixture("search");
    let out = ringside(&[
        "search",
        "--store",
        s(&f.store),
        "--status",
        "error",
        "--limit",
        "1000",
        "--json",
    ]);
    assert_eq!(code(&out), 0);
    let traces = json(&out)["traces"].as_array().unwrap().clone();
    assert!(!traces.is_empty());
    assert!(traces.iter().all(|t| t["errors"].as_u64().unwrap() > 0));

    let out = ringside(&[
        "search",
        "--store",
        s(&f.store),
        "--attr",
        "file.path=/pool/obj7",
        "--json",
    ]);
    assert_eq!(code(&out), 0);
    assert_eq!(json(&out)["traces"].as_array().unwrap().len(), 1);

    let out = ringside(&[
        "search",
        "--store",
        s(&f.store),
        "--min-duration",
        "5ms",
        "--sort",
        "shortest",
        "--json",
    ]);
    let found = json(&out)["traces"].as_array().unwrap().clone();
    assert!(
        found
            .iter()
            .all(|t| t["duration_ns"].as_u64().unwrap() >= 5_000_000)
    );
    let d: Vec<u64> = found
        .iter()
        .map(|t| t["duration_ns"].as_u64().unwrap())
        .collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]));

    assert_eq!(
        code(&ringside(&[
            "search",
            "--store",
            s(&f.store),
            "--service",
            "nobody"
        ])),
        1
    );
    // A window before any span: nothing.
    assert_eq!(
        code(&ringside(&[
            "search",
            "--store",
            s(&f.store),
            "--until",
            "2020-01-01T00:00:00Z"
        ])),
        1
    );
    assert_eq!(
        code(&ringside(&[
            "search",
            "--store",
            s(&f.store),
            "--since",
            "yesterday-ish"
        ])),
        2
    );
    assert_eq!(
        code(&ringside(&[
            "search",
            "--store",
            s(&f.store),
            "--attr",
            "novalue"
        ])),
        2
    );
    assert_eq!(
        code(&ringside(&[
            "search",
            "--store",
            s(&f.store),
            "--min-duration",
            "fast"
        ])),
        2
    );
}

#[test]
fn stats_match_the_generated_counts() {
    let f = fixture("stats");
    let out = ringside(&["stats", "--store", s(&f.store), "--json"]);
    assert_eq!(code(&out), 0);
    let v = json(&out);
    let ops = v["operations"].as_array().unwrap();
    let disk = ops.iter().find(|o| o["operation"] == "disk read").unwrap();
    assert_eq!(disk["count"], 3 * TRACES as u64);
    assert_eq!(disk["service"], "osd");
    let p50 = disk["p50_ns"].as_u64().unwrap();
    let p99 = disk["p99_ns"].as_u64().unwrap();
    assert!(
        disk["min_ns"].as_u64().unwrap() <= p50
            && p50 <= p99
            && p99 <= disk["max_ns"].as_u64().unwrap()
    );

    let out = ringside(&[
        "stats",
        "--store",
        s(&f.store),
        "--group-by",
        "target.node",
        "--service",
        "gateway",
        "--json",
    ]);
    let groups: Vec<String> = json(&out)["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["operation"] == "osd read")
        .map(|o| o["group"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(groups, ["osd0", "osd1", "osd2", "osd3", "osd4", "osd5"]);
    assert!(
        String::from_utf8(ringside(&["stats", "--help"]).stdout)
            .unwrap()
            .contains("nearest-rank")
    );
}

#[test]
fn bottlenecks_rank_the_slow_disk_first() {
    let f = fixture("bottlenecks");
    let out = ringside(&["bottlenecks", "--store", s(&f.store), "--json"]);
    assert_eq!(code(&out), 0);
    let v = json(&out);
    assert_eq!(v["traces"], TRACES as u64);
    assert_eq!(v["critical_path"][0]["operation"], "disk read");
    assert_eq!(v["critical_path"][0]["severity"], "high");
    // With a minimum above every count nothing is ranked.
    let out = ringside(&[
        "bottlenecks",
        "--store",
        s(&f.store),
        "--min-samples",
        "100000",
        "--json",
    ]);
    assert_eq!(code(&out), 1);
    assert!(!json(&out)["too_few_samples"].as_array().unwrap().is_empty());
}

#[test]
fn jsonl_input_matches_the_store_and_survives_bad_lines() {
    let f = fixture("jsonl");
    let full = SpanQuery {
        attributes: AttrSelection::All,
        ..SpanQuery::default()
    };
    let key = |s: &ringside_agent::analyze::model::SpanRow| (s.trace_id, s.span_id);
    let mut from_store = Input::store(&f.store).unwrap().load(&full).unwrap().spans;
    let mut from_jsonl = Input::Jsonl(vec![f.jsonl.clone()])
        .load(&full)
        .unwrap()
        .spans;
    from_store.sort_by_key(key);
    from_jsonl.sort_by_key(key);
    assert_eq!(from_store.len(), TRACES * generate::SPANS_PER_TRACE);
    assert_eq!(from_jsonl.len(), from_store.len());
    for (a, b) in from_store.iter().zip(&from_jsonl) {
        assert_eq!(a, b);
    }

    // Garbage between good lines, and a line as the Collector's file
    // exporter writes it (string timestamps, numeric kind, empty status).
    let mut text = std::fs::read_to_string(&f.jsonl).unwrap();
    text.push_str("not json at all\n{\"resourceSpans\": 7}\n");
    text.push_str(concat!(
        r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"collector-svc"}}]},"#,
        r#""scopeSpans":[{"scope":{},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","#,
        r#""parentSpanId":"","name":"collected","kind":2,"startTimeUnixNano":"1760000000000000000","#,
        r#""endTimeUnixNano":"1760000000002000000","attributes":[{"key":"bytes","value":{"intValue":"4096"}}],"status":{}},"#,
        r#"{"traceId":"short","spanId":"eee19b7ec3c1b175","name":"bad","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#,
        "\n"
    ));
    let mixed = f.dir.join("mixed.jsonl");
    std::fs::write(&mixed, text).unwrap();
    let loaded = Input::Jsonl(vec![mixed.clone()]).load(&full).unwrap();
    assert_eq!(loaded.skipped.count, 3, "{:?}", loaded.skipped.examples);
    let collected = loaded
        .spans
        .iter()
        .find(|s| &*s.name == "collected")
        .unwrap();
    assert_eq!(&*collected.service, "collector-svc");
    assert_eq!(collected.duration_ns(), 2_000_000);

    let out = ringside(&[
        "trace",
        "5b8efff798038103d269b633813fc60c",
        "--jsonl",
        s(&mixed),
    ]);
    assert_eq!(code(&out), 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("skipped 3"), "{err}");
    let out = ringside(&["stats", "--jsonl", s(&f.dir.join("absent.jsonl"))]);
    assert_eq!(code(&out), 2);
}

#[test]
fn timeline_and_report_are_written() {
    let f = fixture("pictures");
    let id = slowest_trace(&f.store);
    let svg_path = f.dir.join("trace.svg");
    let out = ringside(&[
        "timeline",
        &id,
        "--store",
        s(&f.store),
        "--out",
        s(&svg_path),
    ]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("disk read"));
    // One label per span, a duration per span.
    assert!(svg.matches("<text").count() >= 2 * generate::SPANS_PER_TRACE);

    let html_path = f.dir.join("report.html");
    let out = ringside(&[
        "report",
        "--store",
        s(&f.store),
        "--slowest",
        "4",
        "--out",
        s(&html_path),
    ]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&html_path).unwrap();
    for id in [
        "summary",
        "percentiles",
        "errors",
        "heatmap",
        "bottlenecks",
        "slowest",
        "waterfall-3",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "missing #{id}");
    }
    assert!(!html.contains("waterfall-4"));
    assert!(
        !html.contains("http://") || !html.contains("src=\"http"),
        "no external fetches"
    );
    assert!(!html.contains("<script"));
}
