//! The bench's results for people (two tables) and for programs (JSON with
//! every round, so the numbers can be plotted or re-analysed).

use std::fmt::Write as _;

use anyhow::Context as _;

use super::model::{BenchArgs, MACHINE_BUSY, Mode, Round, Target};
use super::stats::{CONFIDENCE, Estimate, Verdict, quantile};
use super::summary::ModeSummary;

/// How the overheads are computed, for the JSON and the table's header.
pub const METHOD: &str = "modes interleaved in rounds (off, then the tracing modes in an order \
rotated each cycle, off again); each tracing round is compared with the line between the off \
rounds around it; overhead = median of the per-round differences, with the order-statistic \
confidence interval of the median";

/// The results as text: latency, rates, CPU and spans per mode; then each
/// tracing mode's overheads with their intervals.
pub fn table(args: &BenchArgs, results: &[ModeSummary], rounds: &[Round]) -> String {
    let mut out = format!(
        "\n{} clients, {} req/s offered, {} B files; {} rounds of {} s per mode, interleaved, \
         after {} s of warm-up per mode (not counted)\n\
         latency in us from each request's scheduled time (coordinated omission corrected), \
         over all rounds of a mode\n\
         CPU in us per request, median over rounds: cpu = the traced processes (load generator \
         included, the same in every mode), sidecar = what drains the spans (ringside: the ring \
         drain; otel: the OTLP receiver)\n\n",
        args.clients,
        args.rate,
        args.size,
        args.rounds_per_mode(),
        args.round,
        args.warmup
    );
    let _ = writeln!(
        out,
        "{:<6} {:<9} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>7}",
        "target",
        "tracing",
        "rounds",
        "req/s",
        "p50",
        "p99",
        "p99.9",
        "max",
        "cpu",
        "sidecar",
        "spans",
        "dropped"
    );
    for r in results {
        let mark = if r.saturated { "*" } else { "" };
        let _ = writeln!(
            out,
            "{:<6} {:<9} {:>6} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8.1} {:>8.1} {:>9} {:>7}",
            r.target.name(),
            r.mode.name(),
            r.rounds,
            format!("{:.0}{mark}", r.achieved_rate),
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.max_us,
            r.traced_cpu_us_per_req,
            r.sidecar_cpu_us_per_req,
            r.spans,
            r.dropped,
        );
        if r.errors > 0 {
            let _ = writeln!(out, "       ({} requests failed)", r.errors);
        }
    }
    if results.iter().any(|r| r.saturated) {
        let _ = writeln!(
            out,
            "* the offered rate was not achieved ({} of the rounds of these modes fell more than 5 % \
             short): the machine was saturated and their latencies measure a queue, not the tracer",
            results
                .iter()
                .filter(|r| r.saturated)
                .map(|r| format!(
                    "{}/{} {} {}",
                    r.saturated_rounds,
                    r.rounds,
                    r.target.name(),
                    r.mode.name()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out.push_str(&machine_load(rounds));
    let _ = writeln!(
        out,
        "\noverhead against tracing off: median of the per-round differences, {:.0} % interval\n",
        CONFIDENCE * 100.0
    );
    let _ = writeln!(
        out,
        "{:<6} {:<9} {:<11} overhead",
        "target", "tracing", "of"
    );
    for r in results.iter().filter(|r| r.mode != Mode::Off) {
        let off_saturated = results
            .iter()
            .any(|o| o.mode == Mode::Off && o.target == r.target && o.saturated);
        let mark = if r.saturated || off_saturated {
            " *"
        } else {
            ""
        };
        let cpu_bound = if cpu_bound(rounds, r.target) {
            " #"
        } else {
            ""
        };
        for (what, e, unit, busy) in [
            ("p50", &r.p50_overhead, "%", cpu_bound),
            ("p99", &r.p99_overhead, "%", cpu_bound),
            ("traced cpu", &r.traced_cpu_overhead, "us/req", ""),
        ] {
            let _ = writeln!(
                out,
                "{:<6} {:<9} {:<11} {}{mark}{busy}",
                r.target.name(),
                r.mode.name(),
                what,
                e.as_ref().map_or("-".to_string(), |e| describe(e, unit))
            );
        }
    }
    if targets_of(rounds).into_iter().any(|t| cpu_bound(rounds, t)) {
        let _ = writeln!(
            out,
            "# the machine's CPUs were more than {:.0} % busy: latencies include waiting for a \
             CPU, so these latency overheads measure the scheduler as much as the tracer; the \
             CPU rows still hold",
            MACHINE_BUSY * 100.0
        );
    }
    out
}

/// How busy the machine was, per target: the bench shares it, latencies on
/// a machine whose CPUs are all busy include waiting for one, and an
/// overhead that depends on contention changes when the load does.
fn machine_load(rounds: &[Round]) -> String {
    let mut out = String::new();
    for target in targets_of(rounds) {
        let of_target = |f: fn(&Round) -> f64| -> Vec<f64> {
            rounds
                .iter()
                .filter(|r| r.target == target)
                .map(f)
                .collect()
        };
        let cores = of_target(|r| r.other_cpu_cores);
        let q = |p: f64| quantile(&cores, p).unwrap_or(0.0);
        let (lo, mid, hi) = (q(0.0), q(0.5), q(1.0));
        let busy = quantile(&of_target(|r| r.machine_busy), 0.5).unwrap_or(0.0);
        let _ = write!(
            out,
            "{}: the machine's CPUs were {:.0} % busy in the median round; other processes used \
             {mid:.2} cores ({lo:.2} .. {hi:.2})",
            target.name(),
            busy * 100.0
        );
        if hi - lo > LOAD_CHANGE_CORES {
            out.push_str(
                "; the load changed during the run, and a cost that depends on contention \
                 may differ from one run to the next",
            );
        }
        out.push('\n');
    }
    out
}

/// The targets of `rounds`, in the order they ran.
fn targets_of(rounds: &[Round]) -> Vec<Target> {
    let mut targets: Vec<Target> = rounds.iter().map(|r| r.target).collect();
    targets.dedup();
    targets
}

/// Whether `target`'s median round found the machine's CPUs saturated.
fn cpu_bound(rounds: &[Round], target: Target) -> bool {
    let busy: Vec<f64> = rounds
        .iter()
        .filter(|r| r.target == target)
        .map(|r| r.machine_busy)
        .collect();
    quantile(&busy, 0.5).is_some_and(|b| b > MACHINE_BUSY)
}

/// A spread of the other processes' CPU, in cores, that the table points out.
const LOAD_CHANGE_CORES: f64 = 0.5;

/// An overhead as a reader should take it: a signed percentage with its
/// interval, or "no measurable difference" when the interval includes zero;
/// `unit` follows each number.
pub fn describe(e: &Estimate, unit: &str) -> String {
    let interval = match (e.low, e.high) {
        (Some(lo), Some(hi)) => format!("[{lo:+.1} {unit} .. {hi:+.1} {unit}]"),
        _ => String::new(),
    };
    match e.verdict() {
        Verdict::Difference => format!("{:+.1} {unit}  {interval}", e.median),
        Verdict::NoMeasurableDifference => format!("no measurable difference  {interval}"),
        Verdict::TooFewRounds => format!(
            "{:+.1} {unit} (too few rounds for an interval: {} of the 6 needed)",
            e.median, e.rounds
        ),
    }
}

/// Writes the settings, the summaries and every round as JSON.
pub fn write_json(
    args: &BenchArgs,
    results: &[ModeSummary],
    rounds: &[Round],
) -> anyhow::Result<()> {
    let doc = serde_json::json!({
        "clients": args.clients,
        "rate": args.rate,
        "duration_s": args.duration,
        "round_s": args.round,
        "warmup_s": args.warmup,
        "rounds_per_mode": args.rounds_per_mode(),
        "file_size": args.size,
        "confidence": CONFIDENCE,
        "method": METHOD,
        "results": results,
        "rounds": rounds,
    });
    std::fs::write(&args.json, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("cannot write {}", args.json.display()))
}
