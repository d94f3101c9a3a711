//! The statistics on synthetic latency sets: a known shift is detected, no
//! shift gives an interval that includes zero, and drift across the run is
//! cancelled by interleaving where back-to-back ordering reports it as an
//! overhead. Seeded, so every run sees the same numbers.

use super::*;

/// A seeded generator.
struct Rng(fastrand::Rng);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0.f64()
    }

    /// About N(0, 1) (Irwin-Hall of twelve uniforms).
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
    }
}

/// Per-round p50 of 500 skewed latencies (log-normal, median 300 us) for
/// each round of `sequence`, where mode 0 is `off`; a mode's rounds are
/// `shift` slower (a factor), the machine drifts by `drift(fraction of the
/// run)` (a factor), and each round has its own jitter of a few percent.
fn round_p50s(sequence: &[usize], shift: f64, drift: impl Fn(f64) -> f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng(fastrand::Rng::with_seed(seed));
    let len = sequence.len() as f64;
    sequence
        .iter()
        .enumerate()
        .map(|(i, &mode)| {
            let factor = drift(i as f64 / len)
                * if mode == 0 { 1.0 } else { shift }
                * (0.03 * rng.normal()).exp();
            let lat: Vec<f64> = (0..500)
                .map(|_| 300.0 * factor * (0.5 * rng.normal()).exp())
                .collect();
            quantile(&lat, 0.5).unwrap()
        })
        .collect()
}

/// The estimate of mode 1's p50 overhead over the rounds of `sequence`.
fn overhead(sequence: &[usize], p50s: &[f64]) -> Estimate {
    let is_off: Vec<bool> = sequence.iter().map(|&m| m == 0).collect();
    let diffs: Vec<f64> = differences(p50s, &is_off, |i| sequence[i] == 1, Difference::Percent)
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    median_interval(&diffs).unwrap()
}

/// All `off` rounds first, then all of mode 1: how the bench used to run.
fn back_to_back(rounds: usize) -> Vec<usize> {
    let mut s = vec![0; rounds + 1];
    s.extend(std::iter::repeat_n(1, rounds));
    s
}

#[test]
fn known_shift_is_detected() {
    let seq = interleaved(2, 20);
    for seed in 1..=5 {
        let e = overhead(&seq, &round_p50s(&seq, 1.10, |_| 1.0, seed));
        assert_eq!(e.verdict(), Verdict::Difference, "{e:?}");
        assert!(e.low.unwrap() <= 10.0 && e.high.unwrap() >= 10.0, "{e:?}");
        assert!(e.low.unwrap() > 3.0, "{e:?}");
    }
}

#[test]
fn no_shift_interval_includes_zero() {
    let seq = interleaved(2, 20);
    for seed in 1..=5 {
        let e = overhead(&seq, &round_p50s(&seq, 1.0, |_| 1.0, seed));
        assert_eq!(e.verdict(), Verdict::NoMeasurableDifference, "{e:?}");
        assert!(e.median.abs() < 6.0, "{e:?}");
    }
}

#[test]
fn interleaving_cancels_drift_that_back_to_back_reports() {
    // The machine slows down by half over the run; the mode costs nothing.
    let drift = |t: f64| 1.0 + 0.5 * t;
    let seq = interleaved(2, 20);
    let e = overhead(&seq, &round_p50s(&seq, 1.0, drift, 7));
    assert_eq!(e.verdict(), Verdict::NoMeasurableDifference, "{e:?}");
    let seq = back_to_back(20);
    let p50s = round_p50s(&seq, 1.0, drift, 7);
    let e = overhead(&seq, &p50s);
    assert_eq!(e.verdict(), Verdict::Difference, "{e:?}");
    assert!(e.median > 5.0, "back to back blames the drift: {e:?}");
    // The single-number comparison of the old bench is fooled as well.
    let median_of = |mode: usize| {
        let v: Vec<f64> = (0..seq.len())
            .filter(|&i| seq[i] == mode)
            .map(|i| p50s[i])
            .collect();
        median_interval(&v).unwrap().median
    };
    assert!(median_of(1) / median_of(0) > 1.15);
}

#[test]
fn a_step_in_the_load_moves_only_the_rounds_around_it() {
    // Another job starts halfway and everything gets 40 % slower; the mode
    // still costs 10 %.
    let step = |t: f64| if t < 0.5 { 1.0 } else { 1.4 };
    let seq = interleaved(2, 20);
    let e = overhead(&seq, &round_p50s(&seq, 1.10, step, 3));
    assert_eq!(e.verdict(), Verdict::Difference, "{e:?}");
    assert!(e.low.unwrap() <= 10.0 && e.high.unwrap() >= 10.0, "{e:?}");
}

#[test]
fn order_statistic_ranks_match_the_binomial() {
    assert_eq!(order_statistic_rank(5, 0.95).0, None);
    let (k, c) = order_statistic_rank(6, 0.95);
    assert_eq!(k, Some(1));
    assert!((c - (1.0 - 2.0 / 64.0)).abs() < 1e-12);
    // n = 20: P(B <= 5) = 0.0207, P(B <= 6) = 0.0577.
    let (k, c) = order_statistic_rank(20, 0.95);
    assert_eq!(k, Some(6));
    assert!((c - 0.958_611).abs() < 1e-5, "{c}");
    // Large n does not underflow: about n/2 - 1.96 sqrt(n)/2.
    let (k, _) = order_statistic_rank(2000, 0.95);
    assert!((955..=958).contains(&k.unwrap()), "{k:?}");
}

#[test]
fn interval_has_the_ranks_and_too_few_rounds_have_none() {
    let v: Vec<f64> = (1..=20).map(f64::from).collect();
    let e = median_interval(&v).unwrap();
    assert_eq!((e.median, e.low, e.high), (10.5, Some(6.0), Some(15.0)));
    let e = median_interval(&[3.0, 1.0, 2.0]).unwrap();
    assert_eq!((e.median, e.low), (2.0, None));
    assert_eq!(e.verdict(), Verdict::TooFewRounds);
    assert!(median_interval(&[]).is_none());
    assert!(median_interval(&[f64::NAN]).is_none());
}

#[test]
fn baseline_is_the_line_between_the_neighbouring_off_rounds() {
    let values = [100.0, 0.0, 0.0, 130.0, 0.0];
    let off = [true, false, false, true, false];
    assert_eq!(baseline_at(&values, &off, 1), Some(110.0));
    assert_eq!(baseline_at(&values, &off, 2), Some(120.0));
    assert_eq!(baseline_at(&values, &off, 4), Some(130.0));
    assert_eq!(baseline_at(&[1.0], &[false], 0), None);
    let values = [100.0, 121.0, 120.0, 130.0];
    let d = differences(&values, &off[..4], |_| true, Difference::Percent);
    assert_eq!(d.len(), 2);
    assert!((d[0].1 - 10.0).abs() < 1e-9 && d[1].1.abs() < 1e-9, "{d:?}");
    let d = differences(&values, &off[..4], |i| i == 1, Difference::Absolute);
    assert_eq!(d, vec![(1, 11.0)]);
}

#[test]
fn interleaved_sequence_brackets_every_tracing_round_with_off() {
    for modes in [2, 3] {
        let seq = interleaved(modes, 7);
        assert_eq!(seq.first(), Some(&0));
        assert_eq!(seq.last(), Some(&0));
        for m in 0..modes {
            let want = if m == 0 { 8 } else { 7 };
            assert_eq!(seq.iter().filter(|&&x| x == m).count(), want);
        }
        for (i, &m) in seq.iter().enumerate() {
            if m != 0 {
                let before = seq[..i].iter().rev().position(|&x| x == 0).unwrap();
                let after = seq[i + 1..].iter().position(|&x| x == 0).unwrap();
                assert!(before + after <= modes - 2, "{seq:?} at {i}");
            }
        }
    }
    // The order of the tracing modes turns from one cycle to the next.
    assert_eq!(interleaved(3, 2), vec![0, 1, 2, 0, 2, 1, 0]);
}
