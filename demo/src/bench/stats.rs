//! The bench's statistics, pure functions of numbers: each measured round of a
//! tracing mode is compared with the `off` rounds around it, and the per-round
//! differences are summarised by their median and a distribution-free
//! confidence interval of that median.
//!
//! **Baseline.** Rounds run in a fixed interleaved sequence, every tracing
//! round between two `off` rounds. A round's baseline is the straight line
//! between the nearest `off` round before it and the nearest after it, read at
//! the round's position: drift of the machine that is linear over those few
//! rounds (a slowly filling page cache, another job ramping up) cancels
//! exactly, and slower drift nearly so.
//!
//! **Interval.** The order-statistic interval of the median: with `n` i.i.d.
//! differences, the number below the true median is Binomial(n, 1/2), so the
//! `k`-th smallest and `k`-th largest bound the median with probability
//! `1 - 2 P(B < k)`; `k` is the largest that keeps that at 95 % or more. It
//! assumes nothing about the shape of the distribution (latency differences
//! are skewed and have outliers), is exact rather than resampled, and gives
//! the same answer every time for the same rounds, so a reader can recompute
//! it from the JSON. Caveat: neighbouring rounds share an `off` round, so
//! their differences are slightly correlated, and the true coverage is a
//! little below the nominal one.

/// Nominal coverage of the intervals.
pub const CONFIDENCE: f64 = 0.95;

/// The median of per-round differences with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// Median of the differences.
    pub median: f64,
    /// Lower bound of the interval; `None` with too few rounds for one.
    pub low: Option<f64>,
    /// Upper bound of the interval; `None` with too few rounds for one.
    pub high: Option<f64>,
    /// The interval's coverage by the binomial bound (at least [`CONFIDENCE`]).
    pub confidence: f64,
    /// Number of differences.
    pub rounds: usize,
}

/// What an estimate lets a reader conclude.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// The interval excludes zero: a difference of about `median`.
    Difference,
    /// The interval includes zero.
    NoMeasurableDifference,
    /// Fewer than six rounds: no interval at 95 %.
    TooFewRounds,
}

impl Estimate {
    /// Whether the interval tells a difference from none.
    pub fn verdict(&self) -> Verdict {
        match (self.low, self.high) {
            (Some(lo), Some(hi)) if lo <= 0.0 && hi >= 0.0 => Verdict::NoMeasurableDifference,
            (Some(_), Some(_)) => Verdict::Difference,
            _ => Verdict::TooFewRounds,
        }
    }
}

/// The median of `values` and its order-statistic confidence interval;
/// `None` if there are no values. NaNs are left out.
pub fn median_interval(values: &[f64]) -> Option<Estimate> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let (k, confidence) = order_statistic_rank(n, CONFIDENCE);
    let (low, high) = match k {
        Some(k) => (Some(v[k - 1]), Some(v[n - k])),
        None => (None, None),
    };
    Some(Estimate {
        median,
        low,
        high,
        confidence,
        rounds: n,
    })
}

/// The largest rank `k` (1-based) such that `[x_(k), x_(n+1-k)]` covers the
/// median with probability at least `level`, and that probability; `None`
/// when even the full range falls short (n < 6 at 95 %).
pub fn order_statistic_rank(n: usize, level: f64) -> (Option<usize>, f64) {
    let tail = (1.0 - level) / 2.0;
    // cdf[j] = P(B <= j), B ~ Binomial(n, 1/2), from log-pmfs so that large n
    // does not underflow 0.5^n.
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0.0f64;
    let mut cdf = 0.0f64;
    let mut best = None;
    let mut coverage = 0.0;
    for j in 0..n.div_ceil(2) {
        cdf += (ln_choose + ln_half_n).exp();
        // Rank k = j + 1 misses the median with probability 2 P(B <= j).
        if cdf <= tail {
            best = Some(j + 1);
            coverage = 1.0 - 2.0 * cdf;
        } else {
            break;
        }
        ln_choose += ((n - j) as f64).ln() - ((j + 1) as f64).ln();
    }
    (best, coverage)
}

/// The order of the rounds for `modes` modes (0 is the baseline, `off`) and
/// `rounds` measured rounds of each: a cycle is the baseline, then every
/// other mode once, their order rotated by one from each cycle to the next
/// (so no mode always follows the baseline); a last baseline round closes the
/// sequence, so every other round has a baseline round on both sides.
pub fn interleaved(modes: usize, rounds: usize) -> Vec<usize> {
    let others = modes.saturating_sub(1);
    let mut sequence = Vec::with_capacity(rounds * modes + 1);
    for cycle in 0..rounds {
        sequence.push(0);
        sequence.extend((0..others).map(|j| 1 + (cycle + j) % others));
    }
    sequence.push(0);
    sequence
}

/// The baseline under round `i`: the line between the nearest baseline round
/// before `i` and the nearest after it, at `i`; one side's value if only one
/// exists; `None` if there is no baseline round at all.
pub fn baseline_at(values: &[f64], is_baseline: &[bool], i: usize) -> Option<f64> {
    let before = (0..i).rev().find(|&j| is_baseline[j]);
    let after = (i + 1..values.len()).find(|&j| is_baseline[j]);
    match (before, after) {
        (Some(b), Some(a)) => {
            let t = (i - b) as f64 / (a - b) as f64;
            Some(values[b] + (values[a] - values[b]) * t)
        }
        (Some(j), None) | (None, Some(j)) => Some(values[j]),
        (None, None) => None,
    }
}

/// How a round is set against its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    /// `(value / baseline - 1) * 100`.
    Percent,
    /// `value - baseline`, in the values' unit.
    Absolute,
}

/// Each selected round's value against its baseline, as `(round index,
/// difference)`. Rounds whose baseline is missing (or, for percentages, not
/// positive) are left out.
pub fn differences(
    values: &[f64],
    is_baseline: &[bool],
    selected: impl Fn(usize) -> bool,
    kind: Difference,
) -> Vec<(usize, f64)> {
    (0..values.len())
        .filter(|&i| selected(i) && !is_baseline[i])
        .filter_map(|i| {
            let base = baseline_at(values, is_baseline, i)?;
            match kind {
                Difference::Percent => (base > 0.0).then(|| (i, (values[i] / base - 1.0) * 100.0)),
                Difference::Absolute => Some((i, values[i] - base)),
            }
        })
        .collect()
}

/// The `q`-quantile (0..=1) of `values` by nearest rank; `None` if empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank - 1])
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
