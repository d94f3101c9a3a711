//! From one target's rounds to one summary per mode: each tracing round's
//! overheads against its neighbouring `off` rounds, and per mode their median
//! with its confidence interval ([`stats`](super::stats)), the latency over
//! all its rounds, CPU time, spans and whether the offered rate was achieved.

use hdrhistogram::Histogram;

use super::model::{Mode, Round, SATURATION_SHORTFALL, Target};
use super::stats::{self, Difference, Estimate};

/// What one mode's stand delivered over the whole run of a target.
pub struct ModeTotals {
    /// The mode.
    pub mode: Mode,
    /// Latencies of all its measured rounds, nanoseconds.
    pub hist: Histogram<u64>,
    /// Spans that arrived where the mode sends them (drained from the rings,
    /// or received by the OTLP receiver), warm-up included.
    pub spans: u64,
    /// Spans lost on the way (ring full; OpenTelemetry: started but never
    /// received).
    pub dropped: u64,
}

/// One mode on one target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModeSummary {
    /// Target driven.
    pub target: Target,
    /// Tracing mode.
    pub mode: Mode,
    /// Measured rounds.
    pub rounds: usize,
    /// Requests in the measured rounds.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests per second achieved over all its rounds.
    pub achieved_rate: f64,
    /// Rounds that fell short of the offered rate.
    pub saturated_rounds: usize,
    /// True when the machine did not keep up: the achieved rate fell short of
    /// the offered one, or more than a tenth of the rounds did. The numbers
    /// then measure a queue rather than the tracer.
    pub saturated: bool,
    /// Latency over all its rounds, microseconds from each request's
    /// scheduled time.
    pub p50_us: f64,
    /// See `p50_us`.
    pub p99_us: f64,
    /// See `p50_us`.
    pub p999_us: f64,
    /// See `p50_us`.
    pub max_us: f64,
    /// Median over rounds of the traced processes' CPU time per request, us.
    pub traced_cpu_us_per_req: f64,
    /// Median over rounds of the sidecar's CPU time per request, us.
    pub sidecar_cpu_us_per_req: f64,
    /// See [`ModeTotals::spans`].
    pub spans: u64,
    /// See [`ModeTotals::dropped`].
    pub dropped: u64,
    /// p50 overhead against `off`, percent: median of the per-round
    /// differences and its interval (tracing modes only).
    pub p50_overhead: Option<Estimate>,
    /// p99 overhead against `off`, percent (tracing modes only).
    pub p99_overhead: Option<Estimate>,
    /// Traced CPU per request against `off`, microseconds per request
    /// (tracing modes only): an absolute difference, because the load
    /// generator's own CPU (the same in every mode) would dilute a ratio.
    pub traced_cpu_overhead: Option<Estimate>,
}

/// Fills every tracing round's overheads and summarises each mode of
/// `totals`; `rounds` are one target's, in the order they ran, and `rate` is
/// the offered rate.
pub fn summarise(rounds: &mut [Round], totals: &[ModeTotals], rate: u32) -> Vec<ModeSummary> {
    let modes: Vec<Mode> = rounds.iter().map(|r| r.mode).collect();
    let is_off: Vec<bool> = modes.iter().map(|&m| m == Mode::Off).collect();
    let p50: Vec<f64> = rounds.iter().map(|r| r.p50_us).collect();
    let p99: Vec<f64> = rounds.iter().map(|r| r.p99_us).collect();
    let cpu: Vec<f64> = rounds.iter().map(|r| r.traced_cpu_us_per_req).collect();
    let mut out = Vec::new();
    for t in totals {
        let mode = t.mode;
        let overhead = |values: &[f64], kind| -> (Vec<(usize, f64)>, Option<Estimate>) {
            if mode == Mode::Off {
                return (Vec::new(), None);
            }
            let diffs = stats::differences(values, &is_off, |i| modes[i] == mode, kind);
            let pct: Vec<f64> = diffs.iter().map(|&(_, d)| d).collect();
            let estimate = stats::median_interval(&pct);
            (diffs, estimate)
        };
        let (p50_diffs, p50_overhead) = overhead(&p50, Difference::Percent);
        let (p99_diffs, p99_overhead) = overhead(&p99, Difference::Percent);
        let (cpu_diffs, traced_cpu_overhead) = overhead(&cpu, Difference::Absolute);
        for (i, d) in p50_diffs {
            rounds[i].p50_overhead_pct = Some(d);
        }
        for (i, d) in p99_diffs {
            rounds[i].p99_overhead_pct = Some(d);
        }
        for (i, d) in cpu_diffs {
            rounds[i].traced_cpu_overhead_us_per_req = Some(d);
        }
        let mine: Vec<&Round> = rounds.iter().filter(|r| r.mode == mode).collect();
        let requests: u64 = mine.iter().map(|r| r.requests).sum();
        let busy: f64 = mine
            .iter()
            .map(|r| r.requests as f64 / r.achieved_rate.max(f64::MIN_POSITIVE))
            .sum();
        let achieved_rate = if busy > 0.0 {
            requests as f64 / busy
        } else {
            0.0
        };
        let saturated_rounds = mine.iter().filter(|r| r.saturated).count();
        let median_of = |f: fn(&Round) -> f64| {
            stats::quantile(&mine.iter().map(|r| f(r)).collect::<Vec<_>>(), 0.5).unwrap_or(0.0)
        };
        let us = |ns: u64| ns as f64 / 1000.0;
        out.push(ModeSummary {
            target: mine.first().map_or(Target::Store, |r| r.target),
            mode,
            rounds: mine.len(),
            requests,
            errors: mine.iter().map(|r| r.errors).sum(),
            achieved_rate,
            saturated_rounds,
            saturated: achieved_rate < f64::from(rate) * (1.0 - SATURATION_SHORTFALL)
                || saturated_rounds * 10 > mine.len(),
            p50_us: us(t.hist.value_at_quantile(0.5)),
            p99_us: us(t.hist.value_at_quantile(0.99)),
            p999_us: us(t.hist.value_at_quantile(0.999)),
            max_us: us(t.hist.max()),
            traced_cpu_us_per_req: median_of(|r| r.traced_cpu_us_per_req),
            sidecar_cpu_us_per_req: median_of(|r| r.sidecar_cpu_us_per_req),
            spans: t.spans,
            dropped: t.dropped,
            p50_overhead,
            p99_overhead,
            traced_cpu_overhead,
        });
    }
    out
}
