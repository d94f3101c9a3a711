//! The stage against a reference count: exact calls whatever the sampling
//! ratio, percentiles within the histogram's stated error, exemplars only
//! from kept spans, the series limit and staleness.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringside::record::{Record, SpanKind, StatusCode, Value};

use super::histogram::RELATIVE_ERROR;
use super::*;
use crate::batch::Resource;
use crate::sidecar::config::SamplingConfig;
use crate::sidecar::sample::Sampler;

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        service: service.into(),
        attributes: vec![("storage.node".into(), "node-r".into())],
        ..Resource::default()
    })
}

fn span(rng: &mut fastrand::Rng, name: &str, ns: u64, status: StatusCode) -> Record {
    let mut r = Record::new(name);
    r.trace_id = rng.u128(1..).to_le_bytes();
    r.span_id = rng.u64(1..).to_le_bytes();
    r.trace_flags = 0x01;
    r.kind = SpanKind::Server as u8;
    r.start = 1_700_000_000_000_000_000;
    r.end = r.start + ns;
    if status != StatusCode::Unset {
        r.set_status(status, "");
    }
    r
}

fn exact_quantile(sorted: &[u64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1] as f64
}

#[test]
fn counts_are_exact_before_sampling_and_exemplars_come_from_kept_spans() {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut stage = SpanMetrics::new(&SpanMetricsConfig::default());
    let mut sampler = Sampler::new(&SamplingConfig {
        ratio: 0.01,
        ..SamplingConfig::default()
    });
    let res = resource("data-3");
    // name -> (calls, errors, durations)
    let mut truth: HashMap<&str, (u64, u64, Vec<u64>)> = HashMap::new();
    let mut kept = HashSet::new();
    for _ in 0..40 {
        let mut records = Vec::new();
        for _ in 0..2500 {
            let (name, base) = if rng.bool() {
                ("read", 200_000)
            } else {
                ("write", 3_000_000)
            };
            let ns = base + rng.u64(0..base * 4);
            let status = if rng.u8(..) < 13 {
                StatusCode::Error
            } else {
                StatusCode::Unset
            };
            let t = truth.entry(name).or_default();
            t.0 += 1;
            t.1 += (status == StatusCode::Error) as u64;
            t.2.push(ns);
            records.push(span(&mut rng, name, ns, status));
        }
        let mut batch = SpanBatch {
            resource: res.clone(),
            records,
        };
        stage.observe(&batch);
        sampler.sample(&mut batch, Instant::now());
        stage.offer_kept(&batch);
        kept.extend(batch.records.iter().map(|r| r.span_id));
    }
    assert!(
        !kept.is_empty() && kept.len() < 3000,
        "ratio 0.01 kept {}",
        kept.len()
    );

    let mut merged: HashMap<String, (u64, u64, Fine)> = HashMap::new();
    let mut exemplars = 0;
    for (labels, s) in stage.series() {
        let l = labels.expect("no overflow under the limit");
        assert_eq!(l.service, "data-3");
        assert_eq!(l.kind, SpanKind::Server);
        let m = merged.entry(l.name.clone()).or_default();
        m.0 += s.fine.count;
        if l.status == StatusCode::Error {
            m.1 += s.fine.count;
        }
        m.2.merge(&s.fine);
        assert_eq!(s.classic.iter().sum::<u64>(), s.fine.count);
        for x in s.exemplars.iter().flatten() {
            assert!(kept.contains(&x.span_id), "exemplar of a dropped span");
            exemplars += 1;
        }
    }
    assert!(exemplars > 0);
    for (name, (calls, errors, durations)) in &mut truth {
        let (c, e, fine) = &merged[*name];
        assert_eq!((c, e), (&*calls, &*errors), "{name}");
        durations.sort_unstable();
        for q in [0.5, 0.99, 0.999] {
            let want = exact_quantile(durations, q);
            let got = fine.quantile(q).unwrap() as f64;
            assert!(
                (got - want).abs() / want <= RELATIVE_ERROR,
                "{name} q{q}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn series_beyond_the_limit_go_to_the_overflow_series() {
    let mut rng = fastrand::Rng::with_seed(1);
    let config = SpanMetricsConfig {
        max_series: 1000,
        ..SpanMetricsConfig::default()
    };
    let mut stage = SpanMetrics::new(&config);
    let res = resource("svc");
    for chunk in 0..100 {
        let records = (0..1000)
            .map(|i| {
                span(
                    &mut rng,
                    &format!("op-{}", chunk * 1000 + i),
                    5000,
                    StatusCode::Ok,
                )
            })
            .collect();
        stage.observe(&SpanBatch {
            resource: res.clone(),
            records,
        });
    }
    let stats = stage.stats();
    assert_eq!(stats.series, 1000);
    assert_eq!(stats.overflow_spans, 99_000);
    let overflow: Vec<_> = stage.series().filter(|(l, _)| l.is_none()).collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(overflow[0].1.fine.count, 99_000);
    // A known series still counts in its own.
    stage.observe(&SpanBatch {
        resource: res.clone(),
        records: vec![span(&mut rng, "op-0", 5000, StatusCode::Ok)],
    });
    assert_eq!(stage.stats().overflow_spans, 99_000);
}

#[test]
fn stale_series_are_dropped_and_counted() {
    let mut rng = fastrand::Rng::with_seed(2);
    let config = SpanMetricsConfig {
        stale_after_s: 60,
        ..SpanMetricsConfig::default()
    };
    let mut stage = SpanMetrics::new(&config);
    let res = resource("svc");
    let records = ["a", "b", "c"]
        .iter()
        .map(|n| span(&mut rng, n, 1000, StatusCode::Unset))
        .collect();
    stage.observe(&SpanBatch {
        resource: res.clone(),
        records,
    });
    stage.sweep(Instant::now());
    assert_eq!(stage.stats().series, 3);
    stage.sweep(Instant::now() + Duration::from_secs(61));
    assert_eq!(stage.stats().series, 0);
    assert_eq!(stage.stats().stale_series, 3);
    // A new span of a dropped series starts it again.
    stage.observe(&SpanBatch {
        resource: res,
        records: vec![span(&mut rng, "b", 1000, StatusCode::Unset)],
    });
    let names: Vec<String> = stage.series().map(|(l, _)| l.unwrap().name).collect();
    assert_eq!(names, ["b"]);
}

#[test]
fn dimensions_come_from_span_then_resource_attributes() {
    let mut rng = fastrand::Rng::with_seed(3);
    let config = SpanMetricsConfig {
        dimensions: vec!["storage.node".into(), "absent".into()],
        ..SpanMetricsConfig::default()
    };
    let mut stage = SpanMetrics::new(&config);
    let mut own = span(&mut rng, "op", 1000, StatusCode::Unset);
    own.push_attr("storage.node", Value::Str("node-s"));
    let inherited = span(&mut rng, "op", 1000, StatusCode::Unset);
    stage.observe(&SpanBatch {
        resource: resource("svc"),
        records: vec![own, inherited],
    });
    let mut values: Vec<Vec<String>> = stage.series().map(|(l, _)| l.unwrap().dimensions).collect();
    values.sort();
    assert_eq!(values, [["node-r", ""], ["node-s", ""]]);
}

#[test]
fn typed_dimension_values_are_their_text_cut_to_the_longest_part() {
    let mut rng = fastrand::Rng::with_seed(5);
    let config = SpanMetricsConfig {
        dimensions: vec!["n".into(), "f".into(), "b".into()],
        ..SpanMetricsConfig::default()
    };
    let mut stage = SpanMetrics::new(&config);
    let mut small = span(&mut rng, "op", 1000, StatusCode::Unset);
    small.push_attr("n", Value::I64(i64::MIN));
    small.push_attr("f", Value::F64(0.25));
    small.push_attr("b", Value::Bool(true));
    let mut huge = span(&mut rng, "op", 1000, StatusCode::Unset);
    huge.push_attr("f", Value::F64(1e300));
    stage.observe(&SpanBatch {
        resource: resource("svc"),
        records: vec![small, huge],
    });
    let mut values: Vec<Vec<String>> = stage.series().map(|(l, _)| l.unwrap().dimensions).collect();
    values.sort();
    let cut = 1e300f64.to_string()[..series::MAX_PART].to_string();
    assert_eq!(
        values,
        [
            vec![String::new(), cut, String::new()],
            vec![i64::MIN.to_string(), "0.25".into(), "true".into()],
        ]
    );
}

#[test]
fn keys_round_trip_and_garbage_is_refused() {
    let mut rng = fastrand::Rng::with_seed(4);
    let long = "é".repeat(200);
    let rec = span(&mut rng, "op", 1, StatusCode::Error);
    let mut buf = Vec::new();
    assert!(series::pack(&mut buf, &resource(&long), &rec, &[]));
    let l = series::unpack(&buf).unwrap();
    assert!(l.service.len() <= series::MAX_PART && long.starts_with(&l.service));
    assert_eq!((l.name.as_str(), l.status), ("op", StatusCode::Error));
    assert_eq!(series::unpack(&[9, 0, 1, b'a', 1, b'b']), None);
    assert_eq!(series::unpack(&[1, 0, 5, b'a']), None);
}

#[test]
fn bad_configuration_names_the_key() {
    let bad = [
        SpanMetricsConfig {
            max_series: 0,
            ..SpanMetricsConfig::default()
        },
        SpanMetricsConfig {
            buckets: vec![0.1, 0.01],
            ..SpanMetricsConfig::default()
        },
        SpanMetricsConfig {
            stale_after_s: 0,
            ..SpanMetricsConfig::default()
        },
    ];
    let keys: Vec<_> = bad.iter().map(|c| c.validate().unwrap_err().0).collect();
    assert_eq!(keys, ["max_series", "buckets", "stale_after_s"]);
}
