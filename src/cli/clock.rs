//! `ringside clock`: what the span clock costs and how far converted span
//! timestamps drift from `CLOCK_REALTIME`.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use ringside::clock::{self, Calibration, TickConverter};

/// Arguments of `ringside clock`.
#[derive(Args, Debug)]
#[command(after_help = "Measures, on this machine:\n  \
    - the cost of one tick read (the span clock) next to CLOCK_MONOTONIC and CLOCK_REALTIME\n    \
      reads: median of 7 runs of 5 million reads each;\n  \
    - for --seconds seconds, once a second: the error of converted ticks against\n    \
      CLOCK_REALTIME, both with the ring header's calibration alone (what a reader\n    \
      without its own clock gets) and with the sidecar's converter (re-anchored every second).\n\n\
    Examples:\n  ringside clock\n  ringside clock --seconds 10 --json")]
pub struct ClockArgs {
    /// How long to watch the drift
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Print one JSON object instead of the table
    #[arg(long)]
    json: bool,
}

/// Median nanoseconds per call of `read` over 7 runs of `n` calls.
fn cost(read: impl Fn() -> u64, n: u32) -> f64 {
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                black_box(read());
            }
            t.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// Runs the measurement.
pub fn run(args: ClockArgs) -> anyhow::Result<ExitCode> {
    const N: u32 = 5_000_000;
    let source = clock::source();
    let tick = cost(clock::now, N);
    let mono = cost(clock::monotonic_ns, N);
    let real = cost(clock::unix_ns, N);
    let header = Calibration::measure();
    let mut sidecar = TickConverter::new();
    if !args.json {
        println!(
            "source {source:?}: tick read {tick:.1} ns, CLOCK_MONOTONIC {mono:.1} ns, CLOCK_REALTIME {real:.1} ns (median of 7 × {N} reads)"
        );
        println!(
            "{:>4}  {:>18}  {:>18}",
            "s", "header error ns", "sidecar error ns"
        );
    }
    let mut samples = Vec::new();
    for s in 1..=args.seconds {
        std::thread::sleep(Duration::from_secs(1));
        sidecar.refresh();
        let (ticks, real_ns) = bracketed(clock::unix_ns);
        let header_err = header.to_unix_ns(ticks) as i64 - real_ns as i64;
        let sidecar_err = sidecar.to_unix_ns(&header, ticks) as i64 - real_ns as i64;
        if !args.json {
            println!("{s:>4}  {header_err:>18}  {sidecar_err:>18}");
        }
        samples.push((s, header_err, sidecar_err));
    }
    let max_abs = |f: fn(&(u64, i64, i64)) -> i64| {
        samples
            .iter()
            .map(|x| f(x).unsigned_abs())
            .max()
            .unwrap_or(0)
    };
    let (header_max, sidecar_max) = (max_abs(|x| x.1), max_abs(|x| x.2));
    if args.json {
        let doc = serde_json::json!({
            "source": format!("{source:?}"),
            "read_ns": {"tick": tick, "monotonic": mono, "realtime": real},
            "seconds": args.seconds,
            "max_abs_error_ns": {"header": header_max, "sidecar": sidecar_max},
            "samples": samples.iter().map(|(s, h, c)| serde_json::json!({"s": s, "header_ns": h, "sidecar_ns": c})).collect::<Vec<_>>(),
        });
        println!("{doc}");
    } else {
        println!(
            "max |error| over {} s: header calibration {header_max} ns, sidecar converter {sidecar_max} ns",
            args.seconds
        );
    }
    Ok(ExitCode::from(super::exit::OK))
}

/// A tick read and `other` read as close together as possible.
fn bracketed(other: impl Fn() -> u64) -> (u64, u64) {
    (0..5)
        .map(|_| {
            let t0 = clock::now();
            let o = other();
            let t1 = clock::now();
            (t1 - t0, t0 + (t1 - t0) / 2, o)
        })
        .min()
        .map(|(_, t, o)| (t, o))
        .unwrap_or_default()
}
