//! Tail rules.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

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
    let mut ids_gen = Ids::new(99);
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
fn tail_keeps_every_span_of_every_error_trace() {
    let mut s = Sampler::new(&SamplingConfig {
        tail: TailConfig {
            max_traces: 10_000,
            ..tail_config(0.1).tail
        },
        ..tail_config(0.1)
    });
    let res = resource("svc");
    let mut ids_gen = Ids::new(77);
    const TRACES: usize = 2000;
    const SPANS: u64 = 8;
    let ids: Vec<[u8; 16]> = (0..TRACES).map(|_| ids_gen.trace_id()).collect();
    // Traces with an error, and at which of their spans.
    let errors: Vec<Option<u64>> = (0..TRACES)
        .map(|_| (ids_gen.0.u64(..) % 20 == 0).then(|| ids_gen.0.u64(..) % SPANS))
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

/// A mixed batch: head-kept and head-dropped traces, errors that keep a
/// trace part-way through the batch, and spans held for later.
fn mixed_records(ids: &mut Ids, round: u64) -> Vec<Record> {
    let shared = dropped_id(200 + (round % 3) as u8);
    (0..60u64)
        .map(|i| {
            let id = if i % 4 == 0 { shared } else { ids.trace_id() };
            let mut r = span(id, round * 100 + i);
            if i % 13 == 5 {
                r.set_status(StatusCode::Error, "");
            }
            r
        })
        .collect()
}

#[test]
fn an_aborted_stage_changes_nothing_and_the_retry_counts_once() {
    let cfg = SamplingConfig {
        rate_limit: 500.0,
        rate_burst: 40.0,
        ..tail_config(0.5)
    };
    let (mut once, mut retried) = (Sampler::new(&cfg), Sampler::new(&cfg));
    let res = resource("svc");
    let (mut ids_a, mut ids_b) = (Ids::new(7), Ids::new(7));
    let t0 = Instant::now();
    for round in 0..20u64 {
        let now = t0 + Duration::from_millis(round * 50);
        let mut a = batch(&res, mixed_records(&mut ids_a, round));
        once.sample(&mut a, now);

        let records = mixed_records(&mut ids_b, round);
        // The spool append fails twice: the same records come again.
        for _ in 0..2 {
            let mut failed = batch(&res, records.clone());
            retried.stage(&mut failed, now);
            retried.abort();
        }
        let mut b = batch(&res, records);
        retried.stage(&mut b, now);
        retried.commit();

        let ids = |b: &SpanBatch| b.records.iter().map(|r| r.span_id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b), "round {round}");
        assert_eq!(once.stats(), retried.stats(), "round {round}");
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        once.release(now, &mut out_a);
        retried.release(now, &mut out_b);
        let flat = |v: &Vec<SpanBatch>| v.iter().flat_map(ids).collect::<Vec<_>>();
        assert_eq!(flat(&out_a), flat(&out_b), "round {round}");
    }
    let st = retried.stats();
    assert!(st.kept(Reason::TailError) > 0, "{st:?}");
    assert!(st.dropped(Reason::RateLimited) > 0, "{st:?}");
}

#[test]
fn staged_tail_decisions_match_immediate_ones_within_a_batch() {
    // An error span keeps its trace for the spans after it in the same
    // batch, and releases the spans before it from the buffer.
    let mut s = Sampler::new(&tail_config(0.5));
    let res = resource("svc");
    let t0 = Instant::now();
    let id = dropped_id(9);
    let mut err = span(id, 2);
    err.set_status(StatusCode::Error, "x");
    let mut b = batch(&res, vec![span(id, 1), err, span(id, 3)]);
    s.sample(&mut b, t0);
    assert_eq!(
        b.records.iter().map(|r| r.span_id).collect::<Vec<_>>(),
        vec![span(id, 2).span_id, span(id, 3).span_id]
    );
    let mut out = Vec::new();
    s.release(t0, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].records[0].span_id, span(id, 1).span_id);
    assert_eq!(s.stats().kept(Reason::TailError), 3);
    assert_eq!(s.stats().tail_spans, 0);
}
