use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::record::{SpanKind, StatusCode};
use crate::sidecar::config::TailConfig;
use crate::sidecar::spans::Resource;

/// A deterministic generator (splitmix64) for trace ids.
struct Ids(u64);
impl Ids {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn trace_id(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&self.next_u64().to_le_bytes());
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
    let mut ids_gen = Ids(7);
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
    let mut ids_gen = Ids(42);
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
    let mut ids_gen = Ids(3);
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
    let mut ids_gen = Ids(11);
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
    let mut ids_gen = Ids(5);
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
    let mut ids_gen = Ids(9);
    let mut b = batch(
        &res,
        (0..100).map(|i| span(ids_gen.trace_id(), i)).collect(),
    );
    s.sample(&mut b, Instant::now());
    assert_eq!(b.len(), 20);
}

/// A trace id the head drops at ratio 0.5 (randomness 0).
fn dropped_id(n: u8) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[0] = n;
    id
}

#[test]
fn tail_keeps_an_error_trace_and_releases_its_held_spans() {
    let mut s = Sampler::new(&tail_config(0.5));
    let res = resource("svc");
    let t0 = Instant::now();
    let id = dropped_id(1);
    let mut b = batch(&res, vec![span(id, 1), span(id, 2)]);
    s.sample(&mut b, t0);
    assert!(b.is_empty());
    assert_eq!(s.stats().tail_spans, 2);

    let mut err = span(id, 3);
    err.set_status(StatusCode::Error, "disk full");
    let mut b = batch(&res, vec![err]);
    s.sample(&mut b, t0 + Duration::from_millis(10));
    assert_eq!(b.len(), 1, "the error span passes at once");

    let mut out = Vec::new();
    s.release(t0 + Duration::from_millis(20), &mut out);
    assert_eq!(out.len(), 1);
    assert!(Arc::ptr_eq(&out[0].resource, &res));
    assert_eq!(
        out[0].records.iter().map(|r| r.span_id).collect::<Vec<_>>(),
        vec![span(id, 1).span_id, span(id, 2).span_id]
    );

    // Later spans of the trace pass while its window lasts.
    let mut b = batch(&res, vec![span(id, 4)]);
    s.sample(&mut b, t0 + Duration::from_millis(500));
    assert_eq!(b.len(), 1);
    let st = s.stats();
    assert_eq!(st.kept(Reason::TailError), 4);
    assert_eq!(st.tail_spans, 0);
}

#[test]
fn tail_keeps_a_slow_trace() {
    let mut s = Sampler::new(&tail_config(0.5));
    let res = resource("svc");
    let t0 = Instant::now();
    let id = dropped_id(2);
    let mut slow = span(id, 1);
    slow.end = slow.start + 100_000_000;
    let mut b = batch(&res, vec![span(id, 0), slow]);
    s.sample(&mut b, t0);
    assert_eq!(
        b.records.iter().map(|r| r.span_id).collect::<Vec<_>>(),
        vec![slow.span_id]
    );
    let mut out = Vec::new();
    s.release(t0, &mut out);
    assert_eq!(out.iter().map(SpanBatch::len).sum::<usize>(), 1);
    assert_eq!(s.stats().kept(Reason::TailSlow), 2);
}

#[test]
fn tail_drops_traces_whose_window_ends_without_a_match() {
    let mut s = Sampler::new(&tail_config(0.5));
    let res = resource("svc");
    let t0 = Instant::now();
    let mut b = batch(
        &res,
        vec![
            span(dropped_id(3), 1),
            span(dropped_id(3), 2),
            span(dropped_id(4), 3),
        ],
    );
    s.sample(&mut b, t0);
    let mut out = Vec::new();
    s.release(t0 + Duration::from_millis(999), &mut out);
    assert_eq!(s.stats().tail_spans, 3, "still inside the window");
    s.release(t0 + Duration::from_millis(1000), &mut out);
    assert!(out.is_empty());
    let st = s.stats();
    assert_eq!(st.dropped(Reason::TailExpired), 3);
    assert_eq!((st.tail_traces, st.tail_spans), (0, 0));

    // An error after the window starts a new window; the old spans are gone.
    let mut err = span(dropped_id(3), 9);
    err.set_status(StatusCode::Error, "");
    let mut b = batch(&res, vec![err]);
    s.sample(&mut b, t0 + Duration::from_millis(1500));
    assert_eq!(b.len(), 1);
    s.release(t0 + Duration::from_millis(1500), &mut out);
    assert!(out.is_empty());
}

#[test]
fn tail_full_buffer_decides_the_oldest_trace_early() {
    let mut s = Sampler::new(&tail_config(0.5)); // max_traces 4
    let res = resource("svc");
    let t0 = Instant::now();
    for n in 0..6u8 {
        let mut b = batch(
            &res,
            vec![span(dropped_id(10 + n), 1), span(dropped_id(10 + n), 2)],
        );
        s.sample(&mut b, t0 + Duration::from_millis(n as u64));
    }
    let st = s.stats();
    assert_eq!(st.tail_traces, 4);
    assert_eq!(
        st.dropped(Reason::TailBufferFull),
        4,
        "two traces of two spans decided early"
    );
    // The evicted oldest trace is gone: an error now keeps only itself.
    let mut err = span(dropped_id(10), 3);
    err.set_status(StatusCode::Error, "");
    let mut b = batch(&res, vec![err]);
    s.sample(&mut b, t0 + Duration::from_millis(10));
    let mut out = Vec::new();
    s.release(t0 + Duration::from_millis(10), &mut out);
    assert!(out.is_empty());
    // The newest trace is still held whole.
    let mut err = span(dropped_id(15), 3);
    err.set_status(StatusCode::Error, "");
    let mut b = batch(&res, vec![err]);
    s.sample(&mut b, t0 + Duration::from_millis(11));
    s.release(t0 + Duration::from_millis(11), &mut out);
    assert_eq!(out.iter().map(SpanBatch::len).sum::<usize>(), 2);
}

#[test]
fn tail_span_cap_bounds_memory() {
    let mut s = Sampler::new(&tail_config(0.5));
    s.tail.as_mut().unwrap().set_max_spans(5);
    let res = resource("svc");
    let t0 = Instant::now();
    let mut b = batch(&res, (0..3).map(|i| span(dropped_id(20), i)).collect());
    s.sample(&mut b, t0);
    let mut b = batch(&res, (0..4).map(|i| span(dropped_id(21), i)).collect());
    s.sample(&mut b, t0);
    let st = s.stats();
    assert!(st.tail_spans <= 5);
    // Trace 20 (3 spans) was decided early to make room for trace 21.
    assert_eq!(st.dropped(Reason::TailBufferFull), 3);
    assert_eq!(st.tail_spans, 4);
    // One trace alone larger than the cap: the excess is dropped and counted.
    let mut b = batch(&res, (0..3).map(|i| span(dropped_id(21), 10 + i)).collect());
    s.sample(&mut b, t0);
    let st = s.stats();
    assert_eq!(st.tail_spans, 5);
    assert_eq!(st.dropped(Reason::TailBufferFull), 5);
}

#[test]
fn tail_releases_group_by_resource() {
    let mut s = Sampler::new(&tail_config(0.5));
    let a = resource("a");
    let b_res = resource("b");
    let t0 = Instant::now();
    let id = dropped_id(30);
    s.sample(&mut batch(&a, vec![span(id, 1)]), t0);
    s.sample(&mut batch(&b_res, vec![span(id, 2)]), t0);
    s.sample(&mut batch(&a, vec![span(id, 3)]), t0);
    let mut err = span(id, 4);
    err.set_status(StatusCode::Error, "");
    s.sample(&mut batch(&b_res, vec![err]), t0);
    let mut out = Vec::new();
    s.release(t0, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].resource.service.as_str(), out[0].len()), ("a", 2));
    assert_eq!((out[1].resource.service.as_str(), out[1].len()), ("b", 1));
}

#[test]
fn counts_add_up_to_spans_seen() {
    let mut s = Sampler::new(&SamplingConfig {
        rate_limit: 1000.0,
        ..tail_config(0.3)
    });
    let res = resource("svc");
    let mut ids_gen = Ids(99);
    let t0 = Instant::now();
    let mut total = 0u64;
    let mut released = 0u64;
    for round in 0..50u64 {
        let now = t0 + Duration::from_millis(round * 100);
        let records: Vec<Record> = (0..100)
            .map(|i| {
                let mut r = span(ids_gen.trace_id(), i);
                if i % 37 == 0 {
                    r.set_status(StatusCode::Error, "");
                }
                r
            })
            .collect();
        total += records.len() as u64;
        s.sample(&mut batch(&res, records), now);
        let mut out = Vec::new();
        s.release(now, &mut out);
        released += out.iter().map(|b| b.len() as u64).sum::<u64>();
    }
    s.release(t0 + Duration::from_secs(60), &mut Vec::new());
    let st = s.stats();
    assert_eq!(st.kept_total() + st.dropped_total(), total);
    assert_eq!(st.tail_spans, 0);
    assert!(st.kept(Reason::TailError) > 0 && st.dropped(Reason::TailBufferFull) > 0);
    let _ = released;
}

#[test]
fn reconfigure_changes_rules_and_keeps_counters() {
    let mut s = Sampler::new(&tail_config(0.5));
    let res = resource("svc");
    let t0 = Instant::now();
    s.sample(&mut batch(&res, vec![span(dropped_id(40), 1)]), t0);
    assert_eq!(s.stats().tail_spans, 1);
    s.reconfigure(&config(1.0));
    let st = s.stats();
    assert_eq!(
        st.dropped(Reason::TailExpired),
        1,
        "held spans dropped when the tail rules go"
    );
    assert_eq!(st.tail_spans, 0);
    let mut b = batch(&res, vec![span(dropped_id(41), 1)]);
    s.sample(&mut b, t0);
    assert_eq!(b.len(), 1, "ratio 1.0 now");
    s.reconfigure(&config(0.0));
    let mut b = batch(&res, vec![span([0xff; 16], 1)]);
    s.sample(&mut b, t0);
    assert!(b.is_empty());
}

#[test]
fn kept_fraction_is_within_one_percent_over_a_million_traces() {
    let res = resource("svc");
    // Relative 1%: at least 3 standard deviations for every ratio here.
    for (seed, ratio) in [(1u64, 0.1), (2, 0.25), (3, 0.5), (4, 0.9)] {
        let mut s = Sampler::new(&config(ratio));
        let mut ids_gen = Ids(seed);
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

#[test]
fn tail_keeps_every_span_of_every_error_trace() {
    let mut s = Sampler::new(&SamplingConfig {
        tail: TailConfig {
            max_traces: 10_000,
            ..tail_config(0.1).tail
        },
        ..tail_config(0.1)
    });
    let res = resource("svc");
    let mut ids_gen = Ids(77);
    const TRACES: usize = 2000;
    const SPANS: u64 = 8;
    let ids: Vec<[u8; 16]> = (0..TRACES).map(|_| ids_gen.trace_id()).collect();
    // Traces with an error, and at which of their spans.
    let errors: Vec<Option<u64>> = (0..TRACES)
        .map(|_| (ids_gen.next_u64() % 20 == 0).then(|| ids_gen.next_u64() % SPANS))
        .collect();
    // Spans interleaved across 50 traces in flight at a time.
    let t0 = Instant::now();
    let mut kept: HashSet<([u8; 16], u64)> = HashSet::new();
    let mut out = Vec::new();
    for group in 0..TRACES / 50 {
        let mut records = Vec::new();
        for n in 0..SPANS {
            for t in group * 50..(group + 1) * 50 {
                let mut r = span(ids[t], n);
                if errors[t] == Some(n) {
                    r.set_status(StatusCode::Error, "io error");
                }
                records.push(r);
            }
        }
        let now = t0 + Duration::from_millis(group as u64 * 10);
        let mut b = batch(&res, records);
        s.sample(&mut b, now);
        s.release(now, &mut out);
        for r in b
            .records
            .iter()
            .copied()
            .chain(out.drain(..).flat_map(|b| b.records))
        {
            kept.insert((r.trace_id, u64::from_le_bytes(r.span_id) - 1));
        }
    }
    s.release(t0 + Duration::from_secs(3600), &mut out);
    assert!(out.is_empty());
    let threshold = head::threshold(0.1);
    let mut error_traces = 0;
    for t in 0..TRACES {
        let n_kept = (0..SPANS).filter(|&n| kept.contains(&(ids[t], n))).count() as u64;
        let head_keeps = head::randomness(&span(ids[t], 0)) >= threshold;
        if errors[t].is_some() {
            error_traces += 1;
            assert_eq!(n_kept, SPANS, "error trace {t} lost spans");
        } else if head_keeps {
            assert_eq!(n_kept, SPANS, "head-kept trace {t} split");
        } else {
            assert_eq!(n_kept, 0, "trace {t} without error kept");
        }
    }
    assert!(error_traces > 50, "{error_traces}");
    let st = s.stats();
    assert_eq!(st.dropped(Reason::TailBufferFull), 0);
    assert_eq!(
        st.kept_total() + st.dropped_total(),
        (TRACES as u64) * SPANS
    );
}
