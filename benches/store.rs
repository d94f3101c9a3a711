//! The local trace store at scale: builds stores of 1 M and 10 M generated
//! spans (the sidecar's write path), runs each analysis command on them as
//! the `ringside` binary and prints its wall time (median of 3) and peak RSS
//! (largest of 3), then measures export latency with retention deleting as
//! fast as spans arrive.
//!
//! `cargo bench --bench store` (stores under `target/bench-store/`, about
//! 150 MB per million spans). `RINGSIDE_BENCH_SPANS=1000000,3000000` picks
//! other sizes. Targets (issue 14): peak RSS ≤ 150 MB for every command at
//! 10 M spans; stats ≤ 8 s, search ≤ 2 s, bottlenecks and report ≤ 20 s,
//! `trace <id>` ≤ 50 ms. Numbers are printed, not asserted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ringside_agent::batch::SpoolCursor;
use ringside_agent::export::Exporter;
use ringside_agent::export::sqlite::{SqliteConfig, SqliteExporter};
use ringside_agent::store::{Store, generate};

/// Traces per transaction: 7 000 spans, close to the sidecar's batch of 8 192.
const PER_TX: usize = 500;
/// Spool bytes per trace (14 spans of 256 bytes); the cursor passed with each
/// write moves through 16 MiB segments as the sidecar's does, and the store
/// fsyncs each time it leaves one behind.
const TRACE_BYTES: u64 = generate::SPANS_PER_TRACE as u64 * 256;
const MS: u64 = 1_000_000;

fn cursor(traces: usize) -> SpoolCursor {
    let bytes = traces as u64 * TRACE_BYTES;
    SpoolCursor {
        segment: bytes >> 24,
        offset: bytes & ((1 << 24) - 1),
    }
}

fn remove_store(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Writes `traces` traces ending now, one per ms; returns the write time.
fn build(path: &Path, traces: usize) -> (u64, Duration) {
    remove_store(path);
    let t0 = ringside::clock::unix_ns() - traces as u64 * MS;
    let mut store = Store::open(path).unwrap();
    let (mut spans, mut spent, mut done) = (0, Duration::ZERO, 0);
    while done < traces {
        let n = PER_TX.min(traces - done);
        let batches = generate::traces(done as u64, n, t0 + done as u64 * MS, MS);
        let t = Instant::now();
        spans += store.write(&batches, cursor(done + n)).unwrap().inserted;
        spent += t.elapsed();
        done += n;
    }
    (spans, spent)
}

/// Runs `ringside args` to the end; its wall time and peak RSS in bytes.
///
/// The child is started with a plain `fork` and `execv`, not `Command`:
/// `ru_maxrss` counts the memory map a process ran in before `exec`, and
/// `Command`'s `posix_spawn` runs the child in the parent's map (whose peak
/// includes cargo's and the store writer's), while `fork` gives it a copy
/// whose peak is the parent's current, small, RSS.
fn run(exe: &str, args: &[&str]) -> (Duration, u64) {
    use std::ffi::CString;
    let exe = CString::new(exe).unwrap();
    let mut argv: Vec<CString> = vec![exe.clone()];
    argv.extend(args.iter().map(|a| CString::new(*a).unwrap()));
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let devnull = CString::new("/dev/null").unwrap();
    let t = Instant::now();
    // SAFETY: the child only calls async-signal-safe functions (open, dup2,
    // execv, _exit) on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: see the fork above; every pointer is to a live CString.
        unsafe {
            let null = libc::open(devnull.as_ptr(), libc::O_WRONLY);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            libc::execv(exe.as_ptr(), argv_ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; both pointers are to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = t.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "ringside {args:?} failed: status {status}"
    );
    (wall, usage.ru_maxrss as u64 * 1024)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The `ringside` binaries compared: this build, and the one named by
/// `RINGSIDE_BENCH_BASELINE` if set (e.g. a build from before a change, run
/// on the same store in the same run, so the ratio holds on a noisy machine).
fn binaries() -> Vec<String> {
    let mut out = vec![env!("CARGO_BIN_EXE_ringside").to_string()];
    out.extend(std::env::var("RINGSIDE_BENCH_BASELINE").ok());
    out
}

fn commands(path: &Path, out: &Path) {
    let store = path.to_str().unwrap();
    let report = out.to_str().unwrap();
    let cases: [(&str, Vec<&str>); 7] = [
        ("stats", vec!["stats"]),
        (
            "stats --group-by target.node",
            vec!["stats", "--group-by", "target.node"],
        ),
        (
            "search --limit 10 --since 100d",
            vec!["search", "--limit", "10", "--since", "100d"],
        ),
        (
            "search --status error --limit 10",
            vec!["search", "--status", "error", "--limit", "10"],
        ),
        (
            "search --sort longest --limit 10",
            vec!["search", "--sort", "longest", "--limit", "10"],
        ),
        (
            "bottlenecks --since 100d",
            vec!["bottlenecks", "--since", "100d"],
        ),
        (
            "report --since 100d",
            vec!["report", "--since", "100d", "--out", report],
        ),
    ];
    let bins = binaries();
    if bins.len() > 1 {
        println!(
            "| command | time (median of 3) | peak RSS (max of 3) | baseline time | baseline RSS |"
        );
        println!("|---|---|---|---|---|");
    } else {
        println!("| command | time (median of 3) | peak RSS (max of 3) |");
        println!("|---|---|---|");
    }
    for (name, args) in cases {
        let mut args = args;
        args.extend(["--store", store]);
        let mut row = format!("| `ringside {name}` |");
        // Interleaved: this build, the baseline, this build, ...
        let mut runs: Vec<Vec<(Duration, u64)>> = vec![Vec::new(); bins.len()];
        for _ in 0..3 {
            for (b, bin) in bins.iter().enumerate() {
                runs[b].push(run(bin, &args));
            }
        }
        for r in runs {
            let rss = r.iter().map(|r| r.1).max().unwrap();
            let wall = median(r.into_iter().map(|r| r.0).collect());
            row.push_str(&format!(
                " {:.2} s | {} MB |",
                wall.as_secs_f64(),
                rss >> 20
            ));
        }
        println!("{row}");
    }
    let ids: Vec<String> = {
        let s = Store::open_read_only(path).unwrap();
        let n: i64 = s
            .connection()
            .query_row("SELECT max(id) FROM traces", [], |r| r.get(0))
            .unwrap();
        let mut stmt = s
            .connection()
            .prepare("SELECT lower(hex(trace_id)) FROM traces WHERE id % ?1 = 0 LIMIT 21")
            .unwrap();
        stmt.query_map([(n / 21).max(1)], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let runs: Vec<(Duration, u64)> = ids
        .iter()
        .map(|id| run(&bins[0], &["trace", id, "--store", store]))
        .collect();
    let rss = runs.iter().map(|r| r.1).max().unwrap();
    let wall = median(runs.into_iter().map(|r| r.0).collect());
    println!(
        "| `ringside trace <id>` ({} ids, process start included) | {:.1} ms | {} MB |",
        ids.len(),
        wall.as_secs_f64() * 1e3,
        rss >> 20
    );
}

/// Exports 1.4 M spans into a store capped at 64 MiB (about 0.4 M spans),
/// so that from the first tenth on every export deletes as much as it
/// writes; prints export latency with and without the cap.
fn retention(dir: &Path) {
    let batches_n = 200;
    for max_bytes in [0u64, 64 << 20] {
        let path = dir.join("retention.db");
        remove_store(&path);
        let config = SqliteConfig {
            path: path.clone(),
            max_age_s: 0,
            max_bytes,
        };
        let mut exporter = SqliteExporter::from_config(&config).unwrap();
        let t0 = ringside::clock::unix_ns() - (batches_n * PER_TX) as u64 * MS;
        let mut times = Vec::new();
        for i in 0..batches_n {
            let done = i * PER_TX;
            let batches = generate::traces(done as u64, PER_TX, t0 + done as u64 * MS, MS);
            let t = Instant::now();
            exporter.export(&batches, cursor(done + PER_TX)).unwrap();
            times.push(t.elapsed());
        }
        let total: Duration = times.iter().sum();
        times.sort();
        let store = Store::open_read_only(&path).unwrap();
        let spans: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM spans", [], |r| r.get(0))
            .unwrap();
        let file = std::fs::metadata(&path).unwrap().len();
        println!(
            "max_bytes {:>9}: {} exports of {} spans: {:.0} spans/s, export p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} spans kept, data {} MB, file {} MB",
            if max_bytes == 0 {
                "none".to_string()
            } else {
                format!("{} MiB", max_bytes >> 20)
            },
            batches_n,
            PER_TX * generate::SPANS_PER_TRACE,
            (batches_n * PER_TX * generate::SPANS_PER_TRACE) as f64 / total.as_secs_f64(),
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() * 99 / 100].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
            spans,
            store.used_bytes().unwrap() >> 20,
            file >> 20,
        );
        drop(store);
        remove_store(&path);
    }
}

/// Builds the store in a child process (this binary with `--build PATH
/// TRACES`), so that this process stays small: a forked child's peak RSS
/// starts at its parent's current RSS (see [`run`]), and the writer's
/// 128 MiB page cache would show in every command's number.
fn build_in_child(path: &Path, traces: usize) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--build", path.to_str().unwrap(), &traces.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--build") {
        let path = PathBuf::from(&args[i + 1]);
        let traces: usize = args[i + 2].parse().unwrap();
        let (written, spent) = build(&path, traces);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "\n{written} spans: written in {:.1} s ({:.0} spans/s, {PER_TX} traces per transaction), {} MB",
            spent.as_secs_f64(),
            written as f64 / spent.as_secs_f64(),
            size >> 20
        );
        return;
    }
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-store");
    std::fs::create_dir_all(&dir).unwrap();
    let sizes: Vec<usize> = std::env::var("RINGSIDE_BENCH_SPANS")
        .unwrap_or_else(|_| "1000000,10000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("RINGSIDE_BENCH_SPANS: span counts"))
        .collect();
    for spans in sizes {
        let traces = spans.div_ceil(generate::SPANS_PER_TRACE);
        let path = dir.join(format!("traces-{spans}.db"));
        build_in_child(&path, traces);
        commands(&path, &dir.join("report.html"));
        remove_store(&path);
    }
    println!("\nretention (sqlite exporter, {PER_TX} traces per export):");
    retention(&dir);
}
