//! Head rule, rate limit and counters; tail rules in [`tail`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::batch::Resource;
use crate::sidecar::config::TailConfig;
use ringside::record::{SpanKind, StatusCode};

/// A deterministic source of trace ids.
struct Ids(fastrand::Rng);
impl Ids {
    fn new(seed: u64) -> Ids {
        Ids(fastrand::Rng::with_seed(seed))
    }
    fn trace_id(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.0.u64(..).to_le_bytes());
        id[8..].copy_from_slice(&self.0.u64(..).to_le_bytes());
        id
    }
}

fn span(trace_id: [u8; 16], n: u64) -> Record {
    let mut r = Record::new("op");
    r.trace_id = trace_id;
    r.span_id = (n + 1).to_le_bytes();
    r.trace_flags = 0x03;
    r.kind = SpanKind::Internal as u8;
    r.start = 1_000_000_000;
    r.end = r.start + 1_000;
    r
}

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        service: service.into(),
        ..Resource::default()
    })
}

fn batch(res: &Arc<Resource>, records: Vec<Record>) -> SpanBatch {
    SpanBatch {
        resource: res.clone(),
        records,
    }
}

fn config(ratio: f64) -> SamplingConfig {
    SamplingConfig {
        ratio,
        ..SamplingConfig::default()
    }
}

fn tail_config(ratio: f64) -> SamplingConfig {
    SamplingConfig {
        ratio,
        tail: TailConfig {
            enabled: true,
            keep_errors: true,
            slower_than_ms: 100,
            window_ms: 1000,
            max_traces: 4,
        },
        ..SamplingConfig::default()
    }
}

/// Trace ids of the records kept out of `ids`, one span each.
fn kept_ids(sampler: &mut Sampler, ids: &[[u8; 16]], now: Instant) -> Vec<[u8; 16]> {
    let res = resource("svc");
    let mut b = batch(
        &res,
        ids.iter()
            .enumerate()
            .map(|(i, &id)| span(id, i as u64))
            .collect(),
    );
    sampler.sample(&mut b, now);
    b.records.iter().map(|r| r.trace_id).collect()
}

#[test]
fn threshold_matches_the_specification() {
    assert_eq!(head::threshold(1.0), 0);
    assert_eq!(head::threshold(0.0), 1 << 56);
    assert_eq!(head::threshold(0.5), 1 << 55);
    assert_eq!(head::threshold(0.25), 3 << 54);
    // 10%: th:e666666666666 in the specification's examples (rounded).
    assert_eq!(head::threshold(0.1), 0xe6_6666_6666_6666);
    assert_eq!(head::threshold(2.0), 0, "clamped");
}

#[test]
fn randomness_is_the_low_56_bits_or_rv() {
    let mut r = span([0; 16], 0);
    r.trace_id = [
        0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    ];
    assert_eq!(head::randomness(&r), 0x01_0203_0405_0607);
    r.set_trace_state("vendor=x,ot=th:8;rv:0a0b0c0d0e0f10");
    assert_eq!(head::randomness(&r), 0x0a_0b0c_0d0e_0f10);
    assert_eq!(
        head::explicit_randomness("ot=rv:0a0b"),
        None,
        "rv needs 14 digits"
    );
    assert_eq!(
        head::explicit_randomness("ot=rv:0A0B0C0D0E0F10"),
        None,
        "lowercase only"
    );
    assert_eq!(head::explicit_randomness("other=rv:0a0b0c0d0e0f10"), None);
}

#[test]
fn rv_overrides_the_trace_id() {
    let mut s = Sampler::new(&config(0.5));
    let res = resource("svc");
    // Trace id randomness all ones (kept at any ratio); rv zero (dropped below 1.0).
    let mut r = span([0xff; 16], 0);
    r.set_trace_state("ot=rv:00000000000000");
    let mut b = batch(&res, vec![r]);
    s.sample(&mut b, Instant::now());
    assert!(b.is_empty());
    assert_eq!(s.stats().dropped(Reason::HeadRatio), 1);
}

#[test]
fn two_samplers_with_the_same_ratio_keep_the_same_traces() {
    let mut ids_gen = Ids::new(7);
    let ids: Vec<[u8; 16]> = (0..20_000).map(|_| ids_gen.trace_id()).collect();
    let now = Instant::now();
    let a = kept_ids(&mut Sampler::new(&config(0.3)), &ids, now);
    let b = kept_ids(&mut Sampler::new(&config(0.3)), &ids, now);
    assert_eq!(a, b);
    assert!(!a.is_empty() && a.len() < ids.len());
    // A higher ratio keeps a superset.
    let c = kept_ids(&mut Sampler::new(&config(0.6)), &ids, now);
    assert!(a.iter().all(|id| c.contains(id)));
    assert!(c.len() > a.len());
}

#[test]
fn ratio_quarter_keeps_about_a_quarter() {
    let mut ids_gen = Ids::new(42);
    let ids: Vec<[u8; 16]> = (0..100_000).map(|_| ids_gen.trace_id()).collect();
    let mut s = Sampler::new(&config(0.25));
    let kept = kept_ids(&mut s, &ids, Instant::now()).len();
    let fraction = kept as f64 / ids.len() as f64;
    assert!((fraction - 0.25).abs() < 0.01, "kept {fraction}");
    let st = s.stats();
    assert_eq!(st.kept(Reason::HeadRatio), kept as u64);
    assert_eq!(st.dropped(Reason::HeadRatio), (ids.len() - kept) as u64);
}

#[test]
fn ratio_bounds_keep_all_or_nothing() {
    let mut ids_gen = Ids::new(3);
    let ids: Vec<[u8; 16]> = (0..1000).map(|_| ids_gen.trace_id()).collect();
    assert_eq!(
        kept_ids(&mut Sampler::new(&config(1.0)), &ids, Instant::now()).len(),
        1000
    );
    assert_eq!(
        kept_ids(&mut Sampler::new(&config(0.0)), &ids, Instant::now()).len(),
        0
    );
}

#[test]
fn spans_of_one_trace_agree() {
    let mut ids_gen = Ids::new(11);
    let mut s = Sampler::new(&config(0.5));
    let res = resource("svc");
    for _ in 0..200 {
        let id = ids_gen.trace_id();
        let mut child = span(id, 2);
        child.parent_span_id = [1; 8];
        let mut b = batch(&res, vec![span(id, 1), child]);
        s.sample(&mut b, Instant::now());
        assert!(
            b.is_empty() || b.len() == 2,
            "root and local child decided apart"
        );
    }
}

#[test]
fn remote_parent_flag_decides_when_parent_based() {
    let res = resource("svc");
    let mut sampled = span([0; 16], 1); // randomness 0: the ratio drops it
    sampled.trace_id[0] = 1;
    sampled.flags |= Record::FLAG_PARENT_REMOTE;
    let mut not_sampled = span([0xff; 16], 2); // the ratio keeps it
    not_sampled.flags |= Record::FLAG_PARENT_REMOTE;
    not_sampled.trace_flags = 0x02;
    let mut local_child_of_unsampled = span([0xff; 16], 3);
    local_child_of_unsampled.trace_flags = 0x02;

    let mut s = Sampler::new(&config(0.5));
    let mut b = batch(&res, vec![sampled, not_sampled, local_child_of_unsampled]);
    s.sample(&mut b, Instant::now());
    assert_eq!(
        b.records.iter().map(|r| r.span_id).collect::<Vec<_>>(),
        vec![sampled.span_id]
    );
    let st = s.stats();
    assert_eq!(st.kept(Reason::ParentSampled), 1);
    assert_eq!(st.dropped(Reason::ParentNotSampled), 2);

    // Without parent_based the ratio decides all three.
    let mut s = Sampler::new(&SamplingConfig {
        parent_based: false,
        ..config(0.5)
    });
    let mut b = batch(&res, vec![sampled, not_sampled, local_child_of_unsampled]);
    s.sample(&mut b, Instant::now());
    assert_eq!(b.len(), 2);
    assert_eq!(s.stats().dropped(Reason::HeadRatio), 1);
}

#[test]
fn rate_limit_is_per_service_with_burst() {
    let mut s = Sampler::new(&SamplingConfig {
        rate_limit: 10.0,
        rate_burst: 5.0,
        ..config(1.0)
    });
    let noisy = resource("noisy");
    let quiet = resource("quiet");
    let t0 = Instant::now();
    let mut ids_gen = Ids::new(5);
    let mut many = batch(
        &noisy,
        (0..50).map(|i| span(ids_gen.trace_id(), i)).collect(),
    );
    s.sample(&mut many, t0);
    assert_eq!(many.len(), 5, "the burst");
    let mut few = batch(
        &quiet,
        (0..3).map(|i| span(ids_gen.trace_id(), i)).collect(),
    );
    s.sample(&mut few, t0);
    assert_eq!(few.len(), 3, "another service has its own bucket");
    // Half a second later: 5 new tokens.
    let mut more = batch(
        &noisy,
        (0..50).map(|i| span(ids_gen.trace_id(), i)).collect(),
    );
    s.sample(&mut more, t0 + Duration::from_millis(500));
    assert_eq!(more.len(), 5);
    let st = s.stats();
    assert_eq!(st.dropped(Reason::RateLimited), 90);
    assert_eq!(st.kept(Reason::HeadRatio), 13);
}

#[test]
fn rate_limit_burst_defaults_to_one_second() {
    let mut s = Sampler::new(&SamplingConfig {
        rate_limit: 20.0,
        ..config(1.0)
    });
    let res = resource("svc");
    let mut ids_gen = Ids::new(9);
    let mut b = batch(
        &res,
        (0..100).map(|i| span(ids_gen.trace_id(), i)).collect(),
    );
    s.sample(&mut b, Instant::now());
    assert_eq!(b.len(), 20);
}

#[test]
fn kept_fraction_is_within_one_percent_over_a_million_traces() {
    let res = resource("svc");
    // Relative 1%: at least 3 standard deviations for every ratio here.
    for (seed, ratio) in [(1u64, 0.1), (2, 0.25), (3, 0.5), (4, 0.9)] {
        let mut s = Sampler::new(&config(ratio));
        let mut ids_gen = Ids::new(seed);
        let mut kept = 0usize;
        let total = 1_000_000usize;
        let mut b = batch(&res, Vec::with_capacity(10_000));
        for _ in 0..total / 10_000 {
            b.records.clear();
            b.records
                .extend((0..10_000).map(|i| span(ids_gen.trace_id(), i)));
            s.sample(&mut b, Instant::now());
            kept += b.len();
        }
        let fraction = kept as f64 / total as f64;
        assert!(
            (fraction - ratio).abs() <= ratio * 0.01 + 1e-9,
            "ratio {ratio}: kept {fraction}"
        );
    }
}

mod tail;
